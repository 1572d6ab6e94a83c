from __future__ import annotations

import base64
import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from mri_sr.evaluate import evaluate
from mri_sr.report import build_report

SUBJECT = "patient-jane-doe"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class ReportParser(HTMLParser):
    """Collects every <img> src and every table as rows of cells (attrs, text, bold)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.tables: list[dict] = []
        self._cell: dict | None = None
        self._row_attrs: dict = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "table":
            self.tables.append({"attrs": attrs, "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append({"attrs": attrs, "cells": []})
        elif tag in ("td", "th") and self.tables:
            self._cell = {"tag": tag, "attrs": attrs, "text": "", "bold": False}
            self.tables[-1]["rows"][-1]["cells"].append(self._cell)
        elif tag == "b" and self._cell is not None:
            self._cell["bold"] = True

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data


def write_run(folder: Path) -> None:
    """A run folder in the documented format: log.jsonl (training and validation lines) and summary.json."""
    folder.mkdir(parents=True)
    lines = []
    for it in range(10, 101, 10):
        lines.append({"iteration": it, "time": it * 0.1, "learning_rate": 1e-4,
                      "losses": {"pixel": 1.0 / it, "perceptual": 0.5 / it}})
        if it % 50 == 0:
            lines.append({"iteration": it, "time": it * 0.1, "val_psnr": 25.0 + it / 50, "val_ssim": 0.8})
    (folder / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (folder / "summary.json").write_text(json.dumps({
        "model": "srresnet", "scale": 2, "iterations": 100, "wall_seconds": 12.5, "device": "cpu",
        "best_val_psnr": 27.0, "bicubic_val_psnr": 26.0, "version": "0.1.0"}))


@pytest.fixture(scope="module")
def report(tmp_path_factory, prepared_x2, make_checkpoint, tiny_benchmark):
    """Build a report over bicubic + a checkpoint on MRI and on a natural benchmark, with one run."""
    root = tmp_path_factory.mktemp("report")
    metrics = root / "metrics"
    results = [
        evaluate("bicubic", str(prepared_x2), 2, str(metrics / "mri_bicubic.json"), mask=True,
                 images_dir=str(metrics / "mri_bicubic")),
        evaluate(str(make_checkpoint(2)), str(prepared_x2), 2, str(metrics / "mri_srresnet.json"),
                 images_dir=str(metrics / "mri_srresnet")),
        evaluate("bicubic", str(tiny_benchmark), 2, str(metrics / "nat_bicubic.json"),
                 images_dir=str(metrics / "nat_bicubic")),
        evaluate(str(make_checkpoint(2, 3)), str(tiny_benchmark), 2, str(metrics / "nat_srresnet.json"),
                 images_dir=str(metrics / "nat_srresnet")),
    ]
    write_run(root / "runs" / "srresnet")
    config = root / "config.yaml"
    config.write_text(f"seed: 0  # a comment\nscales: [2]\ndata:\n  sources:\n    - path: /scans/{SUBJECT}.nii.gz\n"
                      f"      subject: {SUBJECT}\n    - path: builtin:mni152\n")
    out = root / "out" / "report.html"
    build_report(sorted(str(p) for p in metrics.glob("*.json")),
                 [str(root / "runs" / "srresnet"), str(root / "runs" / "missing")], str(out), str(config))
    parser = ReportParser()
    html = out.read_text()
    parser.feed(html)
    return {"results": results, "html": html, "parser": parser, "out": out}


def test_every_image_is_an_embedded_png(report):
    images = report["parser"].images
    # 3 MRI panels + 2 natural panels + 1 training-curve figure.
    assert len(images) == 6
    for src in images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(data)) as img:
            img.verify()


def summary_tables(parser):
    return {(t["attrs"]["data-dataset"], int(t["attrs"]["data-scale"])): t
            for t in parser.tables if t["attrs"].get("class") == "summary"}


def test_each_method_and_dataset_has_a_row_with_the_best_values_in_bold(report):
    tables = summary_tables(report["parser"])
    assert set(tables) == {("mri:x2", 2), ("Tiny", 2)}
    for result in report["results"]:
        table = tables[(result["dataset"], result["scale"])]
        rows = {r["attrs"].get("data-method"): r for r in table["rows"][1:]}
        assert result["method"] in rows
        cells = {c["attrs"].get("data-key"): c for c in rows[result["method"]]["cells"]}
        assert float(cells["psnr"]["attrs"]["data-value"]) == result["psnr"]
        assert cells["psnr"]["text"] == f"{result['psnr']:.2f} ± {result['psnr_std']:.2f}"
        for key in ("psnr", "ssim"):
            best = max(r[key] for r in report["results"] if r["dataset"] == result["dataset"])
            assert cells[key]["bold"] == (result[key] == best)
    mri_columns = [c["attrs"].get("data-key") for c in tables[("mri:x2", 2)]["rows"][0]["cells"]]
    assert {"volume_psnr", "volume_ssim", "masked_psnr"} <= set(mri_columns)


def test_csv_rows_match_the_metrics_files(report):
    with open(report["out"].with_suffix(".csv"), newline="") as f:
        rows = {(r["dataset"], int(r["scale"]), r["method"]): r for r in csv.DictReader(f)}
    assert len(rows) == len(report["results"]) == 4
    for result in report["results"]:
        row = rows[(result["dataset"], result["scale"], result["method"])]
        for key in ("psnr", "psnr_std", "ssim", "ssim_std", "lr_consistency_psnr"):
            assert float(row[key]) == result[key]
        assert int(row["images"]) == len(result["images"])
        assert row["kind"] == result["kind"]
    mri_bicubic = rows[("mri:x2", 2, "bicubic")]
    assert float(mri_bicubic["masked_psnr"]) == report["results"][0]["masked"]["psnr"]
    assert float(mri_bicubic["volume_psnr"]) == report["results"][0]["volume_psnr"]


def test_per_image_tables_runs_metadata_and_no_identifying_data(report):
    parser, html = report["parser"], report["html"]
    per_image = [t for t in parser.tables if t["attrs"].get("class") == "per-images"]
    assert {t["attrs"]["data-dataset"] for t in per_image} == {"mri:x2", "Tiny"}
    names = [r["cells"][0]["text"] for t in per_image for r in t["rows"][1:]]
    assert {i["name"] for r in report["results"] for i in r["images"]} == set(names)
    runs = next(t for t in parser.tables if t["attrs"].get("class") == "runs")
    assert [c["text"] for c in runs["rows"][1]["cells"]][:2] == ["srresnet", "srresnet"]
    assert "missing: no training log." in html
    metadata = {r["cells"][0]["text"]: r["cells"][1]["text"] for r in
                next(t for t in parser.tables if t["attrs"].get("class") == "metadata")["rows"]}
    assert metadata["git commit"] == "unknown" or len(metadata["git commit"]) == 40
    assert "seed: 0" in html and "builtin:mni152" in html and "&lt;redacted 1&gt;" in html
    assert SUBJECT not in html and SUBJECT not in report["out"].with_suffix(".csv").read_text()
    assert "<script" not in html
    assert sorted(p.name for p in report["out"].parent.iterdir()) == ["report.csv", "report.html"]


def test_a_method_given_twice_is_a_one_line_error(cli, report, tmp_path):
    first = report["out"].parent.parent / "metrics" / "nat_bicubic.json"
    code, _, err = cli("report", "--metrics", first, first, "--out", tmp_path / "r.html")
    assert code == 1 and "bicubic" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli("report", "--metrics", tmp_path / "none.json", "--out", tmp_path / "r.html")
    assert code == 1 and "none.json" in err
    assert not (tmp_path / "r.html").exists()


def test_hfen_is_a_column_with_the_lowest_value_in_bold(report):
    tables = summary_tables(report["parser"])
    for result in report["results"]:
        rows = {r["attrs"].get("data-method"): r for r in tables[(result["dataset"], result["scale"])]["rows"][1:]}
        cells = {c["attrs"].get("data-key"): c for c in rows[result["method"]]["cells"]}
        assert float(cells["hfen"]["attrs"]["data-value"]) == result["hfen"]
        best = min(r["hfen"] for r in report["results"] if r["dataset"] == result["dataset"])
        assert cells["hfen"]["bold"] == (result["hfen"] == best)
    assert not [t for t in report["parser"].tables if t["attrs"].get("class") == "ablation"]


def test_ablation_runs_get_the_ablation_table(tmp_path, prepared_x2, make_checkpoint):
    runs = {"srrescycgan": str(make_checkpoint(2)), "srrescycgan_no_tv": "bicubic",
            "srrescycgan_no_tv_identity": "nearest"}
    paths = [str(tmp_path / f"{name}.json") for name in runs]
    results = [evaluate(method, str(prepared_x2), 2, path, name=name)
               for (name, method), path in zip(runs.items(), paths)]
    out = tmp_path / "report.html"
    build_report(paths, [], str(out))
    parser = ReportParser()
    parser.feed(out.read_text())
    assert "SRResCycGAN ablation" in out.read_text()
    (table,) = [t for t in parser.tables if t["attrs"].get("class") == "ablation"]
    rows = {r["attrs"]["data-method"]: {c["attrs"].get("data-key"): c for c in r["cells"]} for r in table["rows"][1:]}
    assert list(rows) == list(runs)
    for result in results:
        assert rows[result["method"]]["hfen"]["text"].startswith(f"{result['hfen']:.4f}")
        assert rows[result["method"]]["psnr"]["bold"] == (result["psnr"] == max(r["psnr"] for r in results))


def test_srgan_without_perceptual_term_gets_its_own_table(tmp_path, prepared_x2, make_checkpoint):
    runs = {"srgan": str(make_checkpoint(2)), "srgan_no_perceptual": "bicubic", "srrescycgan": "nearest"}
    paths = [str(tmp_path / f"{name}.json") for name in runs]
    for (name, method), path in zip(runs.items(), paths):
        evaluate(method, str(prepared_x2), 2, path, name=name)
    out = tmp_path / "report.html"
    build_report(paths, [], str(out))
    parser = ReportParser()
    parser.feed(out.read_text())
    (table,) = [t for t in parser.tables if t["attrs"].get("class") == "ablation"]
    assert table["attrs"]["data-model"] == "srgan"
    assert [r["attrs"]["data-method"] for r in table["rows"][1:]] == ["srgan", "srgan_no_perceptual"]
    assert "SRGAN with and without the perceptual term" in out.read_text()
    assert "SRResCycGAN ablation" not in out.read_text()
