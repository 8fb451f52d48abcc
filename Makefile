# lmscore — the two commands: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP  := $(VENV)/.installed

.PHONY: run test test-sqlite test-postgres bench lint install demo services-up services-down clean

$(BIN)/python:
	$(PYTHON) -c 'import ensurepip' 2>/dev/null || bash scripts/apt-install.sh python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall when a distribution's metadata changes (new dependency or entry point).
$(STAMP): $(BIN)/python setup.cfg pyproject.toml $(wildcard plugins/*/pyproject.toml) constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test,prod]' $(addprefix -e ,$(PLUGINS))
	touch $(STAMP)

install: $(STAMP)

instance/lms.toml: | $(STAMP)
	$(BIN)/lms init --path instance/lms.toml

# bubblewrap is the default code-grading sandbox; without it (not root, no apt) the demo still
# runs and learners' code answers wait for a trainer instead.
demo: install instance/lms.toml
	@command -v bwrap >/dev/null || bash scripts/apt-install.sh bubblewrap \
	  || echo "make: no bubblewrap, so code answers will wait for a trainer (docs/code-grading.md)"
	$(BIN)/lms db upgrade
	$(BIN)/lms demo load

run: demo
	$(BIN)/lms serve --host 127.0.0.1 --port 5000

# The whole suite on SQLite and on PostgreSQL (with Redis), the two passes side by side;
# scripts/services.sh installs both servers when absent, runs throwaway ones bound to
# 127.0.0.1 and stops them afterwards.
test: install
	bash scripts/test.sh

test-sqlite: install
	LMSCORE_TEST_BACKENDS=sqlite bash scripts/test.sh

test-postgres: install
	LMSCORE_TEST_BACKENDS=postgresql bash scripts/test.sh

# PostgreSQL and Redis kept running between commands: `eval "$$(make -s services-up)"`.
services-up:
	@bash scripts/services.sh up

services-down:
	@bash scripts/services.sh down

bench: install
	bash scripts/bench.sh

lint: install
	$(BIN)/ruff check lmscore plugins tests bench

clean:
	rm -rf $(VENV) build *.egg-info plugins/*/*.egg-info .pytest_cache test-artifacts
