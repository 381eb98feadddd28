# Two commands do all set-up: `make demo` and `make test`. Both create .venv when it is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test nbtest pytest sync-check colab lint bench clean miniature

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall only when the project's declared dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	# The official Wav2CLIP package, only for the equivalence test: --no-deps keeps torchaudio out.
	$(BIN)/pip install -q --no-deps "wav2clip==0.1.0"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/metamusic demo

# nbdev-clean + nbdev-export must leave notebooks and package exactly as committed.
sync-check: $(STAMP)
	$(BIN)/nbdev-clean
	$(BIN)/nbdev-export
	@drift="$$(git status --porcelain -- metamusic nbs)"; \
	if [ -n "$$drift" ]; then \
	  echo "Notebooks and package out of sync (or uncommitted) after nbdev-clean + nbdev-export:"; \
	  echo "$$drift"; exit 1; fi

# The Colab tier: Colab's package stack (colab/constraints.txt) on Python 3.13 in .venv-colab; installing metamusic must change
# none of it, and the widget-kernel tests and the Colab tutorial must pass there. Skipped, saying so, without Python 3.13.
colab: $(STAMP)
	$(BIN)/python colab/tier.py --venv .venv-colab --uv $(BIN)/uv

# One pytest run: every notebook in nbs/ is a test item, beside the tests in tests/.
test: sync-check colab
	$(BIN)/python -m pytest tests

# Retrain the miniature world's models into metamusic/miniature_models: deterministic (1 CPU thread per process), about 14 minutes on 2 idle cores (CPU seconds per model in metamusic/miniature_models/metrics.json).
miniature: $(STAMP)
	$(BIN)/python -m metamusic.miniature train

bench: $(STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/python -m pyflakes metamusic || true

clean:
	rm -rf $(VENV) .venv-colab build dist *.egg-info

# Deliberate breaks (mutate/mutations.py), each applied to a copy of the package and its notebook; every one must
# turn its tests red. Slow (a test run per mutation); not part of `make test`.
.PHONY: mutate
mutate: $(STAMP)
	$(BIN)/python mutate/run.py
