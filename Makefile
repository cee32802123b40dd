# Two commands do all the set-up on a fresh machine:
#   make demo   creates .venv, installs requirements.txt, trains configs/default.py on the embedded data and
#               prints the test BLEU (runs/demo is the workdir; rerunning resumes it).
#   make test   creates .venv if needed, installs Debian's chromium and chromedriver when missing (the explorer's
#               browser test), and runs the test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKDIR ?= runs/demo

.PHONY: demo test chromium clean-demo

$(VENV)/installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

demo: $(VENV)/installed
	$(PY) -m transformer_jax.main --config=configs/default.py --workdir=$(WORKDIR)

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
