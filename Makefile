# mlapi: `make run` serves on http://127.0.0.1:8000 (`make run HOST=0.0.0.0`: to a class), `make test` runs the tests.
VENV    ?= .venv
PYTHON  ?= python3
HOST    ?= 127.0.0.1
PORT    ?= 8000
WORKERS ?= 2
BIN     := $(VENV)/bin
FLASK   := $(BIN)/flask --app mlapi

.PHONY: install run train test lint bench translations clean

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml setup.py src/mlapi/sentiment/_kernel.pyx
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

run: install
	$(FLASK) train all --missing
	MLAPI_LISTEN=$(HOST):$(PORT) $(BIN)/gunicorn --preload --workers $(WORKERS) --bind $(HOST):$(PORT) wsgi:app

train: install
	$(FLASK) train all

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench wsgi.py gunicorn.conf.py

bench: install
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || \
		{ echo "make bench needs wrk: apt-get install wrk (as root)"; exit 1; }
	$(FLASK) train all --missing
	$(BIN)/python bench/compare.py

# The pages' catalogs: extract the messages (babel.cfg), add new ones to pt_BR's messages.po (translate them there,
# tests/test_translations.py names any left), compile messages.mo; commit all three.
translations: install
	$(BIN)/pybabel extract -F babel.cfg --add-location=file --sort-output --project=mlapi -o src/mlapi/translations/messages.pot .
	$(BIN)/pybabel update -i src/mlapi/translations/messages.pot -d src/mlapi/translations --ignore-obsolete --width=120
	$(BIN)/pybabel compile -d src/mlapi/translations --statistics

clean:
	rm -rf $(VENV) artifacts var build .pytest_cache .ruff_cache src/mlapi/sentiment/_kernel.c src/mlapi/sentiment/_kernel.*.so
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
