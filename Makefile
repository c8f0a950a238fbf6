# make run  : create .venv if missing, install synthgate, run the main job on its embedded default
# make test : create .venv if missing, install synthgate with test extras, lint, type-check, test
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CODE   := pipeline robots scenarios validation deploy synthgate
# pytest-xdist workers for `make test` (the tests are single-threaded: two workers on two cores
# took the CI tier from 18.2 to 9.9 min on a slow 2-core host); PYTEST_WORKERS=0 runs in one process
PYTEST_WORKERS ?= 2

.PHONY: run test lint slow clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c 'import sys; assert sys.version_info >= (3, 11), "synthgate needs Python >= 3.11, found " + sys.version'
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/synthgate run

lint: $(STAMP)
	$(BIN)/ruff check $(CODE) tests benchmarks studies
	$(BIN)/ruff format --check $(CODE) tests benchmarks studies
	$(BIN)/mypy $(CODE) studies

test: lint
	$(BIN)/python -m pytest -m "not slow" -q -n $(PYTEST_WORKERS) --durations=15

slow: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
