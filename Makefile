# Two entry points for a fresh machine with Python 3.11:
#   make run   sets up .venv, simulates the bundled default scenario and sweeps it
#              for break-even rates (figures and CSVs in out/default-sweep)
#   make test  sets up .venv (with the torch extra) and runs every test
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test setup setup-all bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.core: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# torch>=2.4 from the `real` extra; where pip is capped by a local constraints
# file (as on our build machines) the capped release installs from local disk.
# dask and parquet: the sweep's Dask executor and Parquet runs file (their tests need them).
$(VENV)/.all: $(VENV)/.core
	$(BIN)/pip install --quiet -e '.[real,cloud,dask,parquet,dev]'
	touch $@

setup: $(VENV)/.core
setup-all: $(VENV)/.all

run: $(VENV)/.core
	$(BIN)/spotsim run scenarios/default.yaml --replications 200
	$(BIN)/spotsim sweep scenarios/default.yaml --replications 50 --out out/default-sweep

test: $(VENV)/.all
	$(BIN)/python -m pytest -q

bench: $(VENV)/.core
	$(BIN)/python benchmarks/bench_run.py

clean:
	rm -rf $(VENV) *.egg-info
