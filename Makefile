# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs requirements.txt and the package itself (editable, so
#               `import transformer_jax` works from any directory), trains configs/default.py on the embedded data and
#               prints the test BLEU (runs/demo is the workdir; rerunning resumes it).
#   make test   creates .venv if needed and runs the test suite, changing nothing outside the repository (the
#               explorer's browser test skips, saying what to install, where Debian's chromium and chromium-driver are
#               missing; CI's .ci/run installs them).
#   make demo-multi30k MULTI30K_DIR=DIR   trains configs/multi30k_ende.py on the Multi30k files in DIR (under 30 min on
#               2 CPU cores) and prints test2016 BLEU; DIR is filled by `python -m transformer_jax.data.multi30k`.
# The package is installed with --no-deps: requirements.txt is the environment; pyproject.toml's ranges are for
# installing into another one (pip install -e .).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo
MULTI30K_DIR ?= data/multi30k
MULTI30K_WORKDIR ?= runs/multi30k

.PHONY: demo demo-multi30k test lint clean-demo

$(VENV)/installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: $(VENV)/installed
	$(PY) -m transformer_jax.main --config=configs/default.py --workdir=$(WORKDIR)

demo-multi30k: $(VENV)/installed
	$(PY) -m transformer_jax.main --config=configs/multi30k_ende.py --config.multi30k_dir=$(MULTI30K_DIR) \
	    --workdir=$(MULTI30K_WORKDIR)

test: $(VENV)/installed
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/installed
	$(PY) -m ruff check .

clean-demo:
	rm -rf $(WORKDIR)
