# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs the package itself (editable, so `import transformer_jax` works from any
#               directory) with its dependencies at the versions of requirements.txt, trains configs/default.py on the
#               embedded data and prints the test BLEU (runs/demo is the workdir; rerunning resumes it).
#   make test   creates .venv if needed, installs the rest of requirements.txt (the export engines, the test tools)
#               and runs the test suite, changing nothing outside the repository (the
#               explorer's browser test skips, saying what to install, where Debian's chromium and chromium-driver are
#               missing; CI's .ci/run installs them).
#   make demo-multi30k MULTI30K_DIR=DIR   trains configs/multi30k_ende.py on the Multi30k files in DIR (under 30 min on
#               2 CPU cores) and prints test2016 BLEU; DIR is filled by `python -m transformer_jax.data.multi30k`.
# requirements.txt pins every package (a constraint file for the package's own dependencies); pyproject.toml's
# ranges are for installing into another environment (pip install -e .).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo
MULTI30K_DIR ?= data/multi30k
MULTI30K_WORKDIR ?= runs/multi30k

.PHONY: demo demo-multi30k test lint clean-demo

# Training needs only the package's own dependencies (pyproject.toml), at requirements.txt's versions: the export
# engines and the test tools (torch alone is ~750 MB) are left for `make test`; a fresh install takes ~0.7x as long.
$(VENV)/installed-train: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.txt -e .
	touch $@

$(VENV)/installed: $(VENV)/installed-train
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/installed-train
	$(PY) -m transformer_jax.main --config=configs/default.py --workdir=$(WORKDIR)

demo-multi30k: $(VENV)/installed-train
	$(PY) -m transformer_jax.main --config=configs/multi30k_ende.py --config.multi30k_dir=$(MULTI30K_DIR) \
	    --workdir=$(MULTI30K_WORKDIR)

test: $(VENV)/installed
	$(PY) -m ruff check .
	$(PY) -m pytest

lint: $(VENV)/installed
	$(PY) -m ruff check .

clean-demo:
	rm -rf $(WORKDIR)
