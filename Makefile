# Small on purpose: `python3 bootstrap.py up|test` does the real work. `make` lists the targets.
VENV := .venv/bin
PORT ?= 7531

.PHONY: help test lint fmt fastpath worker serve

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

test:  ## set up .venv if needed, then run the whole test suite
	python3 bootstrap.py test

lint:  ## ruff check and format check
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .

fmt:  ## format and fix what ruff can
	$(VENV)/ruff format .
	$(VENV)/ruff check --fix .

fastpath:  ## the fast path alone (starts the embedded Redis if needed)
	$(VENV)/python manage.py runfastpath

worker:  ## a Celery worker alone (needs Redis up: run fastpath or `blueplane up` first)
	$(VENV)/celery -A blueplane worker --loglevel INFO

serve:  ## the web server alone (uvicorn: admin, API) on BLUEPLANE_BIND (127.0.0.1):7531, or PORT=...
	$(VENV)/python manage.py migrate
	$(VENV)/python manage.py runweb --port $(PORT)
