# The two commands the README gives: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test lint fmt bench venv migrate demo clean-var

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

# The site on http://127.0.0.1:8000 with a Celery worker, beat, and (without GLOBAL_API_KEY)
# the local simulated model endpoint, all on the embedded default: SQLite and a disk broker.
run: demo
	$(BIN)/honcho start -f Procfile.dev

# The whole suite. Test runs keep their database and broker in var/test, away from `make run`.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	EVALSITE_VAR_DIR=$(CURDIR)/var/test $(BIN)/python manage.py makemigrations --check --dry-run
	EVALSITE_VAR_DIR=$(CURDIR)/var/test $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/generation.py
	$(BIN)/python bench/review_load.py
	$(BIN)/python bench/report.py

clean-var:
	rm -rf var
