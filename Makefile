# tidewire developer commands; every target sets up .venv itself on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS := $(VENV)/.deps-installed

.PHONY: install test test-pythons lint conformance demo demo-cluster bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip setuptools wheel

$(DEPS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,lint,bench]' --config-settings editable_mode=strict
	touch $(DEPS)

# The strict editable install links each file: re-link so new modules are seen.
install: $(DEPS)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . --config-settings editable_mode=strict

# The whole suite under coverage (started before pytest loads our plugin, which imports
# tidewire); protocol/'s line coverage is printed and must stay >= 95%. The
# protocol tests run twice: with the compiled accelerator (when built) and without.
test: install
	$(BIN)/coverage run -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)
	$(BIN)/coverage report --fail-under=95
	@echo "tests/protocol again on the pure-Python path (no compiled _speedups):"
	TIDEWIRE_NO_EXTENSIONS=1 $(BIN)/python -m pytest -q -p no:cacheprovider tests/protocol

# The unit suites on every Python the README names, each in its own venv with the C
# extension built (and checked to be there), then again on the pure-Python path. The
# interpreters come from pyenv, or from PATH as python3.X.
UNIT_SUITES := tests/protocol tests/server tests/client tests/interop tests/design
PYTHONS ?= 3.10 3.11 3.12 3.13
test-pythons:
	@set -e; for v in $(PYTHONS); do \
	  py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v.*/bin/python3 2>/dev/null | sort -V | tail -1); \
	  [ -n "$$py" ] || py=$$(command -v python$$v) || { echo "Python $$v not found"; exit 1; }; \
	  venv=.venv-$$v; echo "== Python $$v ($$py)"; \
	  [ -x $$venv/bin/python ] || { $$py -m venv $$venv && $$venv/bin/pip install -q -U pip setuptools wheel; }; \
	  $$venv/bin/pip install -q -e '.[unit]' --config-settings editable_mode=strict; \
	  $$venv/bin/python -c "from tidewire.protocol.frames import HAS_SPEEDUPS; assert HAS_SPEEDUPS, 'no C extension'"; \
	  $$venv/bin/python -m pytest -q -p no:cacheprovider $(UNIT_SUITES); \
	  TIDEWIRE_NO_EXTENSIONS=1 $$venv/bin/python -m pytest -q -p no:cacheprovider tests/protocol; \
	done

lint: install
	$(BIN)/ruff check protocol server client tests demos bench
	$(BIN)/ruff format --check protocol server client tests demos bench
	$(BIN)/mypy -p tidewire.protocol -p tidewire.server -p tidewire.client
	$(BIN)/mypy demos/echo.py demos/echo_client.py demos/chat/app.py demos/chat/cli.py demos/chat/store.py demos/chat/cluster.py demos/toolbar_demo.py

conformance: install
	$(BIN)/python tests/conformance/run.py

demo: install
	$(BIN)/python demos/chat/app.py --host 127.0.0.1 --port 8080

# The chat on 2 gunicorn workers sharing rooms, presence and history through a local
# redis-server (Debian's, on 127.0.0.1:6390 in a temp dir); Ctrl+C stops both.
demo-cluster: install
	$(BIN)/python demos/chat/cluster.py --host 127.0.0.1 --port 8080 --workers 2 --redis-port 6390

bench: install
	$(BIN)/python bench/run.py $(ARGS)

clean:
	rm -rf $(VENV) .venv-3.* build *.egg-info reports
