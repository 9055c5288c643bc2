# The two entry points the README documents. Each creates .venv on first use and installs what it needs:
# torch==2.13.0 first (a local CPU wheel; otherwise pip pulls a multi-GB CUDA build), then the package.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lix-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m lix_integrations.demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	scripts/install-test-servers.sh
	LIX_REQUIRE_REDIS=1 $(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/semantic.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
