# batch-bridge developer commands. Run as root on a Debian 12 machine (the lab needs it).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup venv lab-up lab-down lab-status bridge-up bridge-down demo translate-demo test lint unit bench

## setup: everything on a fresh machine: Python env, both labs built (cached) and started, the bridge
setup: venv lab-up bridge-up

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lab-up:
	lab/kube up
	lab/batch up

lab-down: bridge-down
	-lab/batch down
	-lab/kube down

## bridge-up: the Slurm adapter daemon as bbridge against the lab (lab/bridge up)
bridge-up: lab-up
	lab/bridge up

bridge-down:
	-lab/bridge down

lab-status:
	-lab/kube status
	-lab/batch status
	-lab/bridge status

## demo: the main job: alice's sbatch/squeue/sacct/scancel on the lab, jobs run on Kubernetes
demo: venv bridge-up
	lab/demo

## translate-demo: one translation, no lab needed
translate-demo: venv
	$(BIN)/batch-bridge translate examples/slurm/array.sh --config examples/config/lab.yaml \
		--user alice --uid 2001 --gid 2001 --groups 3000 --submit-dir /lab/gpfs/home/alice --job-id 1234

## lint: ruff, mypy --strict, import-linter
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## unit: the tests that need no lab
unit: venv
	$(PY) -m pytest -m "not integration"

## test: lint, then every test tier (the fixtures bring the labs up if they are not)
test: lint
	$(PY) -m pytest

bench: venv
	$(PY) benchmarks/translate.py

## bench-lab: the Slurm adapter's figures on the lab (intake, latencies, arrays, RPCs, memory)
bench-lab: venv bridge-up
	$(PY) benchmarks/slurm_adapter.py
