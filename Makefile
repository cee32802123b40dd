# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs requirements.txt, trains configs/default.py on the embedded data and
#               prints the test BLEU (runs/demo is the workdir; rerunning resumes it).
#   make test   creates .venv if needed and runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo

.PHONY: demo test clean-demo

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/installed
	$(PY) -m transformer_jax.main --config=configs/default.py --workdir=$(WORKDIR)

test: $(VENV)/installed
	$(PY) -m pytest

clean-demo:
	rm -rf $(WORKDIR)
