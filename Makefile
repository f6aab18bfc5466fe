PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PV_PORT ?= 8000
export PV_PORT

.PHONY: install demo serve test migrate bench clean

$(BIN)/pv-service: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(BIN)/pv-service

install: $(BIN)/pv-service

demo: install
	$(BIN)/pv-service demo --port $(PV_PORT)

serve: install
	$(BIN)/pv-service serve --port $(PV_PORT)

migrate: install
	$(BIN)/pv-service migrate

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
