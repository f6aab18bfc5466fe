PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PV_PORT ?= 8000
export PV_PORT
# The suite runs on two workers (pytest-xdist; every database test has its own schema or file), which
# took a clean clone's run to 7.6 minutes on a quiet 2-core machine (13 minutes with other work running);
# PYTEST_ARGS replaces it.
PYTEST_ARGS ?= -n 2
# The service defaults to production (it then needs real keys); the demo and benchmarks run as
# development, with random keys kept in the git-ignored .pv-local-keys.json.
demo bench-intake bench-signals bench-compliance: export PV_ENVIRONMENT ?= development

.PHONY: install test-tools demo serve test migrate clean bench-deps bench-intake bench-signals bench-compliance

$(BIN)/pv-service: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/pv-service

install: $(BIN)/pv-service

# Browser tests drive Debian's chromium (Playwright's own browser download does not work here);
# the export tests render PDF pages to PNG with poppler's pdftoppm.
test-tools:
	@command -v chromium >/dev/null && command -v pdftoppm >/dev/null || \
		(apt-get update -q && apt-get install -y -q chromium poppler-utils)

demo: install
	$(BIN)/pv-service demo --port $(PV_PORT)

serve: install
	$(BIN)/pv-service serve --port $(PV_PORT)

migrate: install
	$(BIN)/pv-service migrate

test: install test-tools
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# Benchmarks are run by hand; results go to docs/benchmarks.md.
bench-deps: install
	command -v wrk >/dev/null || (apt-get update -q && apt-get install -y -q wrk)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'

bench-intake: install bench-deps
	$(BIN)/python bench/intake.py

bench-signals: install
	$(BIN)/python bench/signals.py

bench-compliance: install
	$(BIN)/python bench/compliance.py
