# `make search` and `make test` set everything up on a fresh clone; later runs reuse .venv.
SYSTEM_PYTHON := $(shell command -v python3)
PYTHON ?= $(SYSTEM_PYTHON)
VENV := .venv
PY := $(VENV)/bin/python
# The stamp names the requirements' hash, so editing requirements.txt reinstalls.
STAMP := $(VENV)/.installed-$(shell sha1sum requirements.txt | cut -c1-12)
export RAY_AUTH_MODE ?= disabled

.PHONY: setup search test ui clean

setup: $(STAMP)

$(STAMP): requirements.txt
	rm -f $(VENV)/.installed-*
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@# PYTHONDONTWRITEBYTECODE may be set: compile once here so imports stay fast.
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null 2>&1 || true
	touch $@

# `mlflow run --env-manager local` runs `python`: the one in .venv/bin, first on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

search: $(STAMP)
	mlflow run . -e search --env-manager local --experiment-name hourglass-nas \
		-P search_config=confs/quickstart.yaml

test: $(STAMP)
	$(PY) -m pytest -q tests

ui: $(STAMP)
	mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

clean:
	rm -rf $(VENV) .cache mlflow.db optuna.db mlartifacts outputs
