# Two entry points (README): `make demo` runs the main job on samples/, `make test` runs
# lint and the whole test suite. Both create .venv themselves from Python 3.11 and the index.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
RUN    ?= demo-run

.PHONY: demo test lint venv dev clean

$(VENV)/bin/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3

venv: $(VENV)/bin/activate

$(VENV)/.dev-installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install --quiet torch==2.13.0  # first: the local CPU wheel, not a CUDA build
	$(PIP) install --quiet -e ".[dev,embeddings]"
	@touch $@

dev: $(VENV)/.dev-installed

demo: venv
	$(PIP) install --quiet -e .
	$(VENV)/bin/instructforge ingest samples --out $(RUN)
	@echo "demo done: run folder $(RUN)/ (journal $(RUN)/run.sqlite)"

lint: dev
	$(VENV)/bin/ruff check generator tests benchmarks
	$(VENV)/bin/ruff format --check generator tests benchmarks

test: lint
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(RUN) .pytest_cache .ruff_cache
