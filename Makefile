# closedlost: `make run` for a local demo, `make test` for the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
# Two test processes (this machine has 2 cores); each has its own test database and Redis database.
PYTEST_ARGS ?= -n 2
# The demo's one address: `make run PORT=8001` serves and prints that port (honcho gets it with -p,
# otherwise it would hand the first process PORT=5000).
PORT ?= 8000
ADDRESS := http://127.0.0.1:$(PORT)
VAR_DIR := $(or $(CLOSEDLOST_VAR_DIR),var)

.PHONY: run serve test venv devenv lint migrate demo vendor bench clean var

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "closedlost needs Python 3.11 or newer")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

venv: $(VENV)/.runtime
devenv: $(VENV)/.dev

var:
	mkdir -p $(VAR_DIR)/celery/queue $(VAR_DIR)/celery/processed $(VAR_DIR)/celery/control

migrate: venv var
	$(BIN)/python manage.py migrate --noinput

demo: migrate
	$(BIN)/python manage.py seed_demo

# Web app on $(ADDRESS) plus a Celery worker that also runs beat (-B).
run: demo
	$(BIN)/python manage.py collectstatic --noinput -v0
	@echo "closedlost: $(ADDRESS)  (alice / closedlost-alice, bob / closedlost-bob, carol / closedlost-carol)"
	SITE_URL=$(ADDRESS) $(BIN)/honcho start -f Procfile -p $(PORT)

# The production process types on this machine (README, "Deploying"): gunicorn, worker, one beat.
# Needs the production environment (DJANGO_PRODUCTION=1, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL, ...).
serve: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/honcho start -f Procfile.production -p $(PORT) web worker beat

lint: devenv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The whole suite on real PostgreSQL and Redis (started here if installed but stopped).
test: devenv
	@scripts/ensure-services.sh
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DATABASE_URL=$(PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python manage.py makemigrations --check --dry-run
	DATABASE_URL=$(PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python manage.py check
	DJANGO_PRODUCTION=1 SECRET_KEY=ci-only-$$(date +%s)-a-long-random-looking-secret-key-value ALLOWED_HOSTS=closedlost.example EMAIL_HOST=mail.closedlost.example \
	  DATABASE_URL=$(PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python manage.py check --deploy --fail-level WARNING
	DATABASE_URL=$(PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest -p no:cacheprovider $(PYTEST_ARGS)

# Refresh the pinned front-end files in static/vendor from the package registry.
vendor:
	npm ci --no-audit --no-fund
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/css/bootstrap.min.css.map \
	   node_modules/bootstrap/dist/js/bootstrap.bundle.min.js node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map \
	   node_modules/chart.js/dist/chart.umd.min.js node_modules/chart.js/dist/chart.umd.min.js.map \
	   node_modules/htmx.org/dist/htmx.min.js static/vendor/

bench: devenv
	@scripts/ensure-services.sh
	DATABASE_URL=$(PG_URL) $(BIN)/python bench/bench_close.py
	DATABASE_URL=$(PG_URL) $(BIN)/python bench/bench_dashboard.py
	DATABASE_URL=$(PG_URL) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/bench_followups.py
	DATABASE_URL=$(PG_URL:/postgres=/closedlost_bench_outbox) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/bench_outbox.py
	DATABASE_URL=$(PG_URL:/postgres=/closedlost_bench_crm) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/bench_crm.py
	DATABASE_URL=$(PG_URL:/postgres=/closedlost_bench_crm) REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python bench/bench_ingest.py
	DATABASE_URL=$(PG_URL) $(BIN)/python bench/bench_surveys.py
	DATABASE_URL=$(PG_URL) $(BIN)/python bench/bench_import.py

clean:
	rm -rf $(VENV) var staticfiles test-output
