# Two commands on a fresh machine: `make run` and `make test`. Both create (or reuse)
# the virtual environment in .venv and install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=

.PHONY: run test lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file changes.
$(VENV)/.app-installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -r requirements-dev.txt
	touch $@ $(VENV)/.app-installed

run: $(VENV)/.app-installed  ## install and launch the app (make run ARGS="--profile tiny")
	$(BIN)/python app.py $(ARGS)

# Two workers (pytest-xdist), a test file each at a time: tiny models run one thread
# (runtime/devices.py) and many tests wait on an app, a server or a browser, so two
# keep both cores of a laptop or a CI machine busy (about 7 min instead of 11).
test: $(VENV)/.dev-installed  ## install and run the test suite, offline, on tiny models
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
