"""The describe entry point: text and JSON output, and a clean error for a bad file."""

from __future__ import annotations

import json
from pathlib import Path

from entrypoints.cli import run_main
from entrypoints.describe import main
from tests.conftest import PUBLISHED, ROOT


def test_describe_json(capsys) -> None:
    path = PUBLISHED[0].parent / "be543f6a3d1eadc9a42496f0b40871d82d4931df.json"
    assert main([str(path), "--num-classes", "18", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["archid"] == path.stem and info["num_params"] == 303_713
    assert info["macs"] > 0 and info["blocks"][1]["block"] == "down0"


def test_describe_bad_file_exits_2_with_one_paragraph(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    assert run_main(lambda: main([str(bad)])) == 2  # as the command line runs it
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "bad.json" in err and "Traceback" not in err


def test_describe_bad_image_size(capsys) -> None:
    assert run_main(lambda: main([str(PUBLISHED[0]), "--image-size", "100"])) == 2
    assert "image size 100" in capsys.readouterr().err


def test_describe_latency_json(capsys) -> None:
    path = PUBLISHED[0].parent / "be543f6a3d1eadc9a42496f0b40871d82d4931df.json"
    assert main([str(path), "--image-size", "64", "--latency", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert 0 < info["latency_ms"] <= info["latency_p90_ms"]
    assert info["latency_threads"] == 1 and info["latency_runs"] >= 30


def test_describe_reads_its_defaults_from_the_config(capsys) -> None:
    tiny = ROOT / "confs" / "tiny.yaml"
    assert main([str(PUBLISHED[0]), "--config", str(tiny), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["image_size"], info["num_classes"]) == (64, 19)  # tiny.yaml's, the default's
