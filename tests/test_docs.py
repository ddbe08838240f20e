"""Generated pages are current, the README quotes only stored figures, benchmarks store results."""

from __future__ import annotations

import datetime
import json
import re
import sys
from pathlib import Path

import pytest

from benchmarks import figures
from benchmarks.figures import print_figures
from nas.config import Config, flatten_config
from tools import config_docs, results
from tools.results import figure_in_results, readme_figures

ROOT = Path(__file__).resolve().parent.parent
RESULTS_PAGE = ROOT / "docs" / "results.md"
CONFIG_PAGE = ROOT / "docs" / "configuration.md"


def test_results_page_is_generated_from_the_stored_results() -> None:
    page = results.render_page(ROOT / "benchmarks" / "results", ROOT / "benchmarks")
    assert RESULTS_PAGE.is_file(), "docs/results.md is missing: run python -m tools.results"
    assert RESULTS_PAGE.read_text() == page, "docs/results.md is stale: run python -m tools.results"


def test_configuration_page_is_generated_from_the_config() -> None:
    page = config_docs.render_page()
    stale = "docs/configuration.md is stale: run python -m tools.config_docs"
    assert CONFIG_PAGE.is_file() and CONFIG_PAGE.read_text() == page, stale
    missing = [key for key in flatten_config(Config()) if f"`{key}`" not in page]
    assert not missing, f"keys missing from docs/configuration.md: {missing}"
    assert page.count("| `search.hv_ref` | mapping of str to float | `{val_miou: 0.0, ") == 1


def test_readme_quotes_only_figures_of_stored_results() -> None:
    page = RESULTS_PAGE.read_text()
    quoted = readme_figures((ROOT / "README.md").read_text())
    unstored = [figure for figure in quoted if not figure_in_results(figure, page)]
    assert not unstored, (
        f"README.md quotes {len(unstored)} figures that no stored result in docs/results.md "
        f"holds: {', '.join(unstored)}. A figure without a stored result may not be quoted: run "
        "the benchmark that measures it (it stores its result in benchmarks/results/), then "
        "python -m tools.results, or drop the figure."
    )


README_SAMPLE = """TPE beat random by 1.10-1.13x on Python 3.11, MLflow 3.17, ONNX Runtime 1.32,
torch 2.13.

```
speedup 9.99 and 4x
```

Inline `0.77` and ``a `0.66` b`` are code; [a link](https://x.io/v2.5/page) and
http://127.0.0.1:5000 are not figures, nor is version 2.60.0 or conv3x3.

    python -m entrypoints.select --min-miou 0.55

Latency fell 2x to 0.156 ms (p90 3.8ms), 397 parameters, -0.012 at worst, 1.13x again.
"""


def test_readme_figures_reads_prose_only() -> None:
    assert readme_figures(README_SAMPLE) == ["1.10", "1.13x", "2x", "0.156", "3.8", "-0.012"]
    assert readme_figures("- one\n\n    indented after a list item: 0.5\n") == ["0.5"]
    assert readme_figures("~~~\n1.5\n~~~\nthen 2.5") == ["2.5"]


def test_figure_in_results_rounds_the_page_to_the_figure() -> None:
    page = "| speedup | 1.1303 |\n| miou | 0.2391 |\n| params | 397 |\n| half | 0.125 |\n`78277a6`"
    for figure in ("1.13", "1.13x", "1.1303", "1.13030", "0.24", "0.239", "397", "0.13", "0.2"):
        assert figure_in_results(figure, page), figure
    for figure in ("1.14", "0.12", "0.3", "1.2", "398", "1", "78277", "2.5", "2.5x", "-1.13"):
        assert not figure_in_results(figure, page), figure
    assert figure_in_results("0.00001", "| tiny | 1e-05 |")
    assert not figure_in_results("397", "| params | 396.8 |")


def _store(monkeypatch: pytest.MonkeyPatch, folder: Path, figures: dict) -> None:
    monkeypatch.setenv("NAS_BENCH_RESULTS", str(folder))
    monkeypatch.setattr(sys, "argv", ["benchmarks/bench_latency.py", "--image-size", "256"])
    print_figures(figures)


def test_print_figures_stores_the_result_it_prints(monkeypatch, capsys, tmp_path) -> None:
    figures = {"speedup": 1.130349, "archs": 15, "broken": float("nan"), "name": "a|b"}
    _store(monkeypatch, tmp_path / "results", figures)
    out, err = capsys.readouterr()
    assert out == '{"speedup": 1.1303, "archs": 15, "broken": null, "name": "a|b"}\n'
    (path,) = (tmp_path / "results").glob("*.json")
    assert path.name in err and len(err.splitlines()) == 1
    record = json.loads(path.read_text())
    assert list(record) == ["benchmark", "date", "commit", "dirty", "machine", "command"] + (
        ["seconds", "figures"] if "seconds" in record else ["figures"]
    )
    date = datetime.datetime.fromisoformat(record["date"])
    assert date.utcoffset() == datetime.timedelta(0) and date.microsecond == 0
    assert re.fullmatch(r"[0-9a-f]{40}|", record["commit"]) and isinstance(record["dirty"], bool)
    assert path.name == f"bench_latency-{record['date'][:10]}-{record['commit'][:7]}.json" or (
        not record["commit"]
    )
    assert {"cpu", "cores", "memory_gib"} <= set(record["machine"])
    assert record["command"] == "python -m benchmarks.bench_latency --image-size 256"
    assert record["figures"] == {"speedup": 1.1303, "archs": 15, "broken": None, "name": "a|b"}
    _store(monkeypatch, tmp_path / "results", {"archs": 16})
    (second,) = {p.name for p in (tmp_path / "results").glob("*.json")} - {path.name}
    assert second == path.name.replace(".json", "-2.json") or record["date"][:10] not in second


def test_print_figures_stores_nothing_when_told_not_to(monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(figures, "RESULTS", tmp_path / "default")  # not the repository's folder
    for value in ("", "0"):
        monkeypatch.setenv("NAS_BENCH_RESULTS", value)
        print_figures({"archs": 15})
        assert capsys.readouterr() == ('{"archs": 15}\n', "")
    assert not list(tmp_path.rglob("*"))


def test_a_stored_result_renders_as_stored(monkeypatch, capsys, tmp_path) -> None:
    _store(monkeypatch, tmp_path, {"speedup": 1.130349, "archs": 15, "broken": float("nan")})
    _store(monkeypatch, tmp_path, {"speedup": 2.0, "series": [1, 2.5]})
    page = results.render_page(tmp_path, ROOT / "benchmarks")
    assert page == results.render_page(tmp_path, ROOT / "benchmarks")
    assert page.count("## bench_latency\n\nRepeatability of the latency objective") == 1
    assert page.count("`python -m benchmarks.bench_latency --image-size 256`") == 2
    assert page.index("| speedup | 2.0 |") < page.index("| speedup | 1.1303 |")  # newest first
    assert "| archs | 15 |" in page and "| broken | – |" in page and "| series | [1,2.5] |" in page
    assert figure_in_results("1.13x", page) and not figure_in_results("1.14", page)


def test_a_malformed_result_is_one_error_naming_the_file(monkeypatch, capsys, tmp_path) -> None:
    (tmp_path / "bench_x-broken.json").write_text('{"benchmark": "bench_x"')
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    assert results.main([]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error: ") and "bench_x-broken.json is not valid JSON" in err
    (tmp_path / "bench_x-broken.json").write_text('{"benchmark": "bench_x"}')
    with pytest.raises(results.ResultError, match="bench_x-broken.json needs the key 'date'"):
        results.load_results(tmp_path)


def test_check_writes_nothing_and_fails_when_stale(capsys, tmp_path) -> None:
    page = tmp_path / "page.md"
    assert results.write_or_check(page, "text\n", "python -m tools.x", check=True) == 1
    assert not page.exists() and "python -m tools.x" in capsys.readouterr().err
    assert results.write_or_check(page, "text\n", "python -m tools.x", check=False) == 0
    assert results.write_or_check(page, "text\n", "python -m tools.x", check=True) == 0
    assert results.write_or_check(page, "new\n", "python -m tools.x", check=True) == 1
    assert page.read_text() == "text\n"
