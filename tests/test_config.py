from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mri_sr.config import load_config, validate_config, write_section
from mri_sr.errors import MriSrError

REPO = Path(__file__).resolve().parents[1]



def test_default_config_file_is_valid_and_complete():
    config = load_config(REPO / "configs" / "default.yaml")
    assert config["scales"] and config["data"]["sources"][0]["path"] == "builtin:mni152"
    assert config["data"]["degradation"]["kind"] == "kspace" and config["data"]["degradation"]["noise_sigma"] > 0


@pytest.mark.parametrize("config,key", [
    ({"scael": [4]}, "scael"),
    ({"data": {"degradaton": {}}}, "data.degradaton"),
    ({"data": {"sources": [{"path": "x.nii", "volum": 1}]}}, "data.sources.0.volum"),
])
def test_unknown_key_is_named(tmp_path, config, key):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(MriSrError, match=rf"c\.yaml: unknown config key '{key}'"):
        load_config(path)


def test_wrong_value_names_key():
    with pytest.raises(MriSrError, match=r"config key 'scales\.0'"):
        validate_config({"scales": [5]})


def test_write_section_rewrites_only_on_change(tmp_path):
    config = validate_config({})
    path = write_section(config, ["seed", "data"], tmp_path / "data.yaml")
    first = (tmp_path / "data.yaml").stat().st_mtime_ns
    write_section(config, ["seed", "data"], path)
    assert (tmp_path / "data.yaml").stat().st_mtime_ns == first
    config["seed"] = 7
    write_section(config, ["seed", "data"], path)
    assert yaml.safe_load((tmp_path / "data.yaml").read_text())["seed"] == 7
    assert load_config(path)["seed"] == 7


def test_atomic_output_respects_umask_and_leaves_nothing_on_failure(tmp_path):
    import os

    from mri_sr.fsutil import atomic_path

    with atomic_path(tmp_path / "out.txt") as tmp:
        tmp.write_text("done")
    assert (tmp_path / "out.txt").read_text() == "done"
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "failed.txt") as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer crashed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
