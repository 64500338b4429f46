# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORPUS ?= $(abspath ../shared/corpus)

.PHONY: venv test lint demo clean

$(BIN)/luigi-exporter: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/luigi-exporter

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: venv lint
	LUIGI_EXPORTER_CORPUS=$${LUIGI_EXPORTER_CORPUS:-$(CORPUS)} $(BIN)/pytest -q

demo: venv
	-$(BIN)/python -m exporter.demo --run-dir $${DEMO_DIR:-/tmp/luigi-exporter-demo}/run --workers 4 \
		--fail SWOTAnalysisTask --speed 0.2
	$(BIN)/luigi-exporter replay $${DEMO_DIR:-/tmp/luigi-exporter-demo}/run/log.txt

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
