"""The describe entry point: text and JSON output, and a clean error for a bad file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from entrypoints.describe import main
from tests.conftest import PUBLISHED, ROOT


def test_describe_json(capsys) -> None:
    path = PUBLISHED[0].parent / "be543f6a3d1eadc9a42496f0b40871d82d4931df.json"
    assert main([str(path), "--num-classes", "18", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["archid"] == path.stem and info["num_params"] == 303_713
    assert info["macs"] > 0 and info["blocks"][1]["block"] == "down0"


def test_describe_bad_file_exits_2_with_one_paragraph(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    proc = subprocess.run(
        [sys.executable, "-m", "entrypoints.describe", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "bad.json" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_describe_bad_image_size(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "entrypoints.describe", str(PUBLISHED[0]), "--image-size", "100"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "image size 100" in proc.stderr


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
