# `make test` and `make demo` set everything up on a fresh machine first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint demo serve bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy bot

test: lint
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/whatsapp-bot demo

serve: $(STAMP)
	$(BIN)/whatsapp-bot serve

# Every benchmark, then a summary of their MET/MISSED lines; fails only when one crashed.
bench: $(STAMP)
	@$(BIN)/python bench/_run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
