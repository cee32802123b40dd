# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs requirements.txt and the package itself (editable, so
#               `import transformer_jax` works from any directory), trains configs/default.py on the embedded data and
#               prints the test BLEU (runs/demo is the workdir; rerunning resumes it).
#   make test   creates .venv if needed, installs Debian's chromium and chromedriver when missing (the explorer's
#               browser test), and runs the test suite.
#   make demo-multi30k MULTI30K_DIR=DIR   trains configs/multi30k_ende.py on the Multi30k files in DIR (30 minutes on
#               2 CPU cores) and prints test2016 BLEU; DIR is filled by `python -m transformer_jax.data.multi30k`.
# The package is installed with --no-deps: requirements.txt is the environment; pyproject.toml's ranges are for
# installing into another one (pip install -e .).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo
MULTI30K_DIR ?= data/multi30k
MULTI30K_WORKDIR ?= runs/multi30k

.PHONY: demo demo-multi30k test chromium clean-demo

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

test: $(VENV)/installed chromium
	$(PY) -m pytest

# The explorer's test drives a headless Chromium (tests/test_explore.py); CI runs as root on a clean machine. If the
# install fails the suite still runs: that test skips on a developer's machine and fails under CI.
chromium:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  ($$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium chromium-driver) \
	    || echo "warning: could not install chromium and chromium-driver (apt-get); the explorer's browser test needs them"; \
	fi

clean-demo:
	rm -rf $(WORKDIR)
