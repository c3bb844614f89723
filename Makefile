# The two set-up commands (README): `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test install lint format worker beat bench bench-overview

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q ".[dev]"
	touch $@

install: $(BIN)/.installed

## Run the product on the embedded default: migrate, demo data, serve console + API
## on http://$(HOST):$(PORT) (e.g. `make run PORT=8801`); the demo prints that address.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo --base-url http://$(HOST):$(PORT)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

## Run the tests (on SQLite; with DATABASE_URL and REDIS_URL set, also the service tests).
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

worker: install
	$(BIN)/celery -A config worker -Q default,sms,voice -l info

beat: install
	$(BIN)/celery -A config beat -l info

## Benchmarks (PostgreSQL, Redis and wrk on this machine): see docs/performance.md.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

## The overview at 1,000,000 verifications (PostgreSQL): see docs/performance.md.
bench-overview: install
	$(BIN)/python -m bench.overview $(BENCH_ARGS)
