# batch-bridge developer commands. Run as root on a Debian 12 machine (the lab needs it).
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin

.PHONY: setup venv lab-up lab-down lab-status demo translate-demo test lint unit bench

## setup: everything on a fresh machine: Python env, then both labs built (cached) and started
setup: venv lab-up

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

lab-up:
	lab/kube up
	lab/batch up

lab-down:
	-lab/batch down
	-lab/kube down

lab-status:
	-lab/kube status
	-lab/batch status

## demo: the main job: the examples translated, created as the bridge, run for real as alice
demo: venv
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
