# Two commands on a fresh machine: `make run` and `make test`. Both create (or reuse)
# the virtual environment in .venv and install what they need first, from the locks in
# requirements/ (app.txt, dev.txt, cuda.txt), each pinning the whole tree; requirements.txt
# pulls in the app's. `make lock` and `make upgrade` make the locks from the *.in files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARGS ?=
# One resolution for every platform and Python 3.11+. The CUDA packages that only PyPI's CUDA
# build of torch brings go to cuda.txt, not to the app's lock (requirements/cuda.in says why).
COMPILE := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --custom-compile-command "make lock"
LOCKS = $(COMPILE) $(1) --excludes requirements/cuda-only.txt requirements/app.in -o requirements/app.txt \
	&& $(COMPILE) $(1) requirements/cuda.in -o requirements/cuda.txt \
	&& $(COMPILE) $(1) --excludes requirements/cuda-only.txt requirements/dev.in -o requirements/dev.txt

.PHONY: run test lint format lock upgrade clean

# The venv's own pip is replaced by the locked one before anything else is installed.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$$(grep '^pip==' requirements/app.txt)"

# Stamps: reinstall only when a lock changes.
$(VENV)/.app-installed: requirements.txt requirements/app.txt requirements/cuda.txt | $(BIN)/python
	$(BIN)/python -m pip install -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements.txt requirements/app.txt requirements/cuda.txt requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install -r requirements/dev.txt -c requirements/cuda.txt
	touch $@ $(VENV)/.app-installed

run: $(VENV)/.app-installed  ## install and launch the app (make run ARGS="--profile tiny")
	$(BIN)/python app.py $(ARGS)

# Two workers (pytest-xdist), a test file each at a time: tiny models run one thread
# (runtime/devices.py) and many tests wait on an app, a server or a browser, so two
# keep both cores of a laptop or a CI machine busy (about 7 min instead of 11); the
# longest files first (tests/conftest.py), so that both workers end together.
test: $(VENV)/.dev-installed  ## install and run the test suite, offline, on tiny models
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=15

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(VENV)/.dev-installed
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# After editing requirements/*.in: the locks again, keeping every version that still fits.
lock: $(BIN)/uv
	$(call LOCKS,)

# Every package to its newest release within the ranges of requirements/*.in; then `make test`
# says whether they work (and `git diff requirements/` what moved).
upgrade: $(BIN)/uv
	$(call LOCKS,--upgrade)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$$(grep '^uv==' requirements/dev.txt)"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
