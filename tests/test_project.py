"""Project files: one dependency list in four places, the dev list, the MLproject entry points,
the Makefile's lint and install steps, CI = README."""

from __future__ import annotations

import importlib
import re
import sys
import tomllib

import pytest
import yaml

from tests.conftest import ROOT


def _requirements(name: str = "requirements.txt") -> list[str]:
    lines = (ROOT / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_environment_files_agree() -> None:
    pins = _requirements()
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", pin) for pin in pins), pins
    assert "torch==2.13.0" in pins and "mlflow==3.17.2" in pins
    python_env = yaml.safe_load((ROOT / "python_env.yaml").read_text())
    assert python_env["dependencies"] == pins
    conda = yaml.safe_load((ROOT / "conda.yaml").read_text())
    pip_section = next(d for d in conda["dependencies"] if isinstance(d, dict))["pip"]
    assert pip_section == pins
    assert f"python={python_env['python']}" in conda["dependencies"]


def test_pyproject_repeats_the_runtime_and_dev_pins() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == _requirements()
    dev = _requirements("requirements-dev.txt")
    assert project["optional-dependencies"]["dev"] == dev
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", pin) for pin in dev), dev
    assert "pytest==9.2.0" in dev and not any(pin.startswith("pytest") for pin in _requirements())


def test_makefile_installs_the_package_and_lints_before_testing() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile
    assert "ruff check ." in makefile and "ruff format --check ." in makefile
    assert re.search(r"^test: lint$", makefile, re.MULTILINE)


def test_mlproject_entry_points() -> None:
    project = yaml.safe_load((ROOT / "MLproject").read_text())
    assert project["python_env"] == "python_env.yaml"
    for name, entry in project["entry_points"].items():
        module = re.search(r"python -m (entrypoints\.\w+)", entry["command"]).group(1)
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), name
        for param in entry.get("parameters", {}):
            assert "{" + param + "}" in entry["command"], (name, param)


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make search" in readme
    commands = [
        line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))
    ]
    assert commands == ["make test"]


def test_makefile_serves_the_ui_and_the_dashboard_on_loopback() -> None:
    makefile = (ROOT / "Makefile").read_text()
    ui = re.search(r"^ui: .*\n\t(.*)$", makefile, re.MULTILINE).group(1)
    assert "entrypoints.ui" in ui and "--host 127.0.0.1" in ui
    dashboard = re.search(r"^dashboard: .*\n(?:\t.*\n)*", makefile, re.MULTILINE).group(0)
    assert "optuna-dashboard sqlite:///optuna.db --host 127.0.0.1" in dashboard
    assert "$(DEV_STAMP)" in dashboard.splitlines()[0]  # a dev requirement, not a runtime one
    runtime = _requirements()
    assert not any(pin.startswith("optuna-dashboard") for pin in runtime)
    assert any(
        pin.startswith("optuna-dashboard==") for pin in _requirements("requirements-dev.txt")
    )


def test_every_tool_and_benchmark_says_what_it_does_with_help(monkeypatch, capsys) -> None:
    """What users and benchmarks run lives in tools/ and benchmarks/ (never in tests/), and each
    answers --help."""
    scripts = [p for p in sorted((ROOT / "tools").glob("*.py")) if "def main(" in p.read_text()]
    scripts += sorted((ROOT / "benchmarks").glob("bench_*.py"))
    assert len(scripts) > 10
    for path in scripts:
        module = importlib.import_module(f"{path.parent.name}.{path.stem}")
        monkeypatch.setattr(sys, "argv", [path.name, "--help"])
        with pytest.raises(SystemExit) as exit_:
            module.main()
        assert exit_.value.code == 0 and "usage:" in capsys.readouterr().out, path
    main = re.compile(r"^if __name__ == .__main__.:", re.MULTILINE)
    in_tests = [p.name for p in (ROOT / "tests").glob("*.py") if main.search(p.read_text())]
    assert not in_tests, f"tests/ holds scripts: {in_tests}"
