from __future__ import annotations

import csv
import hashlib

import numpy as np

from mri_sr.config import validate_config
from mri_sr.data.prepare import prepare
from mri_sr.io import Volume, load_volume, save_nifti


def digest(folder):
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def read_manifest(folder):
    with open(folder / "manifest.csv") as f:
        return list(csv.DictReader(f))


def test_default_config_on_mni_template_is_deterministic(tmp_path):
    config = validate_config({})
    assert config["data"]["sources"] == [{"path": "builtin:mni152", "volume": None, "series": None}]
    prepare(config, 4, tmp_path / "a")
    prepare(validate_config({}), 4, tmp_path / "b")
    assert digest(tmp_path / "a") == digest(tmp_path / "b")

    rows = read_manifest(tmp_path / "a")
    splits = {r["split"] for r in rows}
    assert splits == {"train", "val", "test"}
    hr = np.load(tmp_path / "a" / "shards" / "mni152-test-hr.npy")
    lr = np.load(tmp_path / "a" / "shards" / "mni152-test-lr.npy")
    assert hr.shape[0] == lr.shape[0] == sum(r["split"] == "test" for r in rows)
    assert hr.shape[1:] == (196, 232) and lr.shape[1:] == (49, 58)
    assert hr.dtype == np.float32 and 0 <= hr.min() and hr.max() <= 1
    # The manifest's normalisation maps the template's voxels onto the stored slice.
    row = next(r for r in rows if r["split"] == "test")
    template = load_volume("builtin:mni152").data
    original = template[:196, :232, int(row["slice_index"])]
    expected = np.clip((original - float(row["norm_low"])) / (float(row["norm_high"]) - float(row["norm_low"])), 0, 1)
    np.testing.assert_allclose(hr[int(row["row"])], expected, atol=1e-6)


def test_several_subjects_are_split_by_subject_with_kspace_and_noise(tmp_path):
    template = load_volume("builtin:mni152")
    sources = []
    for i in range(4):
        data = template.data[40:140:2, 40:180:2, 60:120:2] * (1 + 0.1 * i)
        save_nifti(Volume(data, np.diag([2.0, 2.0, 2.0, 1.0]), "t"), tmp_path / f"sub{i}.nii.gz")
        sources.append({"path": str(tmp_path / f"sub{i}.nii.gz")})
    config = validate_config({"seed": 3, "data": {
        "sources": sources, "hr_patch_size": 32, "degradation": {"kind": "kspace", "noise_sigma": 0.01}}})
    prepare(config, 2, tmp_path / "out")
    rows = read_manifest(tmp_path / "out")
    by_subject = {}
    for r in rows:
        by_subject.setdefault(r["subject"], set()).add(r["split"])
    assert sorted(by_subject) == ["sub0", "sub1", "sub2", "sub3"]
    assert all(len(s) == 1 for s in by_subject.values())
    assert {next(iter(s)) for s in by_subject.values()} == {"train", "val", "test"}
    assert {r["degradation"] for r in rows} == {"kspace"} and {r["noise_sigma"] for r in rows} == {"0.01"}
    lr = np.load(next((tmp_path / "out" / "shards").glob("*-lr.npy")))
    assert lr.shape[1:] == (25, 35)


def test_near_empty_slices_are_dropped(tmp_path):
    data = np.zeros((40, 40, 20), np.float32)
    data[5:35, 5:35, 4:16] = np.random.default_rng(0).random((30, 30, 12)) + 1
    save_nifti(Volume(data, np.eye(4), "t"), tmp_path / "box.nii.gz")
    config = validate_config({"data": {"sources": [{"path": str(tmp_path / "box.nii.gz")}],
                                       "hr_patch_size": 16, "split": {"slab_gap": 0}}})
    prepare(config, 2, tmp_path / "out")
    kept = sorted(int(r["slice_index"]) for r in read_manifest(tmp_path / "out"))
    assert kept == list(range(4, 16))


def test_volume_all_gives_one_slab_per_time_point_and_only_forces_a_split(tmp_path):
    template = load_volume("builtin:mni152")
    crop = template.data[40:140:2, 40:180:2, 60:120:2]
    data = np.stack([crop, crop.max() - crop, crop ** 2], axis=-1)
    save_nifti(Volume(data, np.diag([2.0, 2.0, 2.0, 1.0]), "t"), tmp_path / "four_d.nii.gz")
    source = {"path": str(tmp_path / "four_d.nii.gz"), "volume": "all"}
    config = validate_config({"data": {"sources": [source], "hr_patch_size": 32, "split": {"slab_gap": 1}}})
    prepare(config, 2, tmp_path / "all")
    rows = read_manifest(tmp_path / "all")
    assert {r["volume_index"] for r in rows} == {"0", "1", "2"}
    for k in range(3):
        mine = [r for r in rows if r["volume_index"] == str(k)]
        assert {r["split"] for r in mine} == {"train", "val", "test"}
        assert {r["shard"] for r in mine} == {f"four_d-v{k}-{s}" for s in ("train", "val", "test")}
    # Each time point is normalised on its own: the inverted one is not the first one rescaled.
    hr0 = np.load(tmp_path / "all" / "shards" / "four_d-v0-test-hr.npy")
    hr1 = np.load(tmp_path / "all" / "shards" / "four_d-v1-test-hr.npy")
    assert hr0.shape == hr1.shape and np.corrcoef(hr0.ravel(), hr1.ravel())[0, 1] < 0

    config["data"]["split"]["only"] = "test"
    prepare(config, 2, tmp_path / "test_only")
    assert {r["split"] for r in read_manifest(tmp_path / "test_only")} == {"test"}
