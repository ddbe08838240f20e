# `make search` and `make test` set everything up on a fresh clone; later runs reuse .venv.
SYSTEM_PYTHON := $(shell command -v python3)
PYTHON ?= $(SYSTEM_PYTHON)
VENV := .venv
PY := $(VENV)/bin/python
# The stamps name the hash of the pins and the package settings, so editing any of them
# reinstalls: .installed-* the runtime list and `nas` itself, .dev-* the test and lint tools.
HASH := $(shell cat requirements.txt requirements-dev.txt pyproject.toml | sha1sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(HASH)
DEV_STAMP := $(VENV)/.dev-$(HASH)
export RAY_AUTH_MODE ?= disabled

.PHONY: setup search front test lint docs ui dashboard clean cluster-up cluster-down

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	rm -f $(VENV)/.installed-* $(VENV)/.dev-*
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	@# PYTHONDONTWRITEBYTECODE may be set: compile once here so imports stay fast.
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $@

$(DEV_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $@

# `mlflow run --env-manager local` runs `python`: the one in .venv/bin, first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

search: $(STAMP)
	mlflow run . -e search --env-manager local --experiment-name hourglass-nas \
		-P search_config=confs/quickstart.yaml

# The latest search's front trained to the end (a short final recipe), with the partial-vs-final
# table: docs/search.md, "Training the whole front".
front: $(STAMP)
	mlflow run . -e train --env-manager local --experiment-name hourglass-nas \
		-P arch=models:/face-seg-hourglass -P epochs=16

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Two pytest-xdist workers, a test file at a time each (a file's fixtures are made once), the
# longest files first (tests/conftest.py).
test: lint
	$(PY) -m pytest -q -n 2 --dist loadfile tests

# docs/results.md from the stored benchmark results, docs/configuration.md from nas/config.py.
docs: $(STAMP)
	$(PY) -m tools.results
	$(PY) -m tools.config_docs

# Prints (and, with a browser, opens) the latest search's candidates as a runs table.
ui: $(STAMP)
	$(PY) -m entrypoints.ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

# The Optuna study in optuna-dashboard (a test and lint tool: requirements-dev.txt).
dashboard: $(DEV_STAMP)
	@echo "optuna-dashboard on http://127.0.0.1:8080 (Ctrl-C stops it)"
	$(VENV)/bin/optuna-dashboard sqlite:///optuna.db --host 127.0.0.1 --port 8080

# The scale-out stack on this machine (cluster/stack.py): only `export` lines on stdout, so that
# `eval "$$(make -s cluster-up)"` points the search at it.
cluster-up:
	@$(MAKE) -s $(DEV_STAMP) >&2
	@$(PY) -m cluster.stack up

cluster-down:
	@$(MAKE) -s $(STAMP) >&2
	@$(PY) -m cluster.stack down

clean:
	rm -rf $(VENV) .cache mlflow.db optuna.db mlartifacts outputs
