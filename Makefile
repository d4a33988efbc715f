# The single entry point: `make run` serves the whole thing on embedded defaults, `make test` runs the suite.
PYTHON ?= python3.11
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
# uv installs exactly the versions pinned in uv.lock. It is pinned too, so every clone resolves and installs alike.
UV_VERSION := 0.13.9
UV := $(BIN)/uv
UV_STAMP := $(VENV)/.uv-$(UV_VERSION)

.PHONY: install lock run test lint typecheck bench browser clean docs

$(UV_STAMP):
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "uv==$(UV_VERSION)"
	touch $(UV_STAMP)

# --locked stops when pyproject.toml changed without `make lock`; --inexact leaves pip and uv, which live in .venv
# beside the locked packages. The project itself is installed editable, as before. --compile-bytecode writes the
# packages' .pyc files once: where PYTHONDONTWRITEBYTECODE is set (as on the CI machines) every process would
# otherwise compile Django, Celery and the rest from source as it starts (about 3 s each: every test worker).
$(STAMP): pyproject.toml uv.lock $(UV_STAMP)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(VENV) $(UV) sync --locked --inexact --compile-bytecode --extra dev \
		|| { echo "If uv.lock is out of date with pyproject.toml: run make lock, and commit uv.lock." >&2; exit 1; }
	touch $(STAMP)

install: $(STAMP)

# After changing dependencies in pyproject.toml: resolve again, rewrite uv.lock and commit it (versions already
# pinned stay unless the change needs others; `.venv/bin/uv lock --upgrade` moves everything to the newest releases).
lock: $(UV_STAMP)
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(VENV) $(UV) lock

# caniemail (email-client support data) for the email checks in the suite.
node_modules/.package-lock.json: package-lock.json
	npm ci --silent --no-audit --no-fund

# Web on 127.0.0.1:$(PORT), a Celery worker and beat, SQLite and a file broker under var/, mail in var/outbox/.
# honcho numbers ports per process; SITE_URL pins the one the web process really uses for links in emails.
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_sample
	SITE_URL="$${SITE_URL:-http://127.0.0.1:$(PORT)}" PATH="$(BIN):$$PATH" \
		$(BIN)/python -m config.devrun -f Procfile.dev start --port $(PORT)

# Headless Chromium for the page tests (Debian's build; Playwright's own download is not used).
browser:
	@test -x /usr/bin/chromium || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium; } \
		|| echo "Chromium is missing: install Debian's chromium package for the page tests."

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy config digest subscribers

# mypy with django-stubs and celery-types, configured in pyproject.toml ([tool.mypy]).
typecheck: install
	$(BIN)/mypy config digest subscribers

# Uses PostgreSQL and Redis on 127.0.0.1 when they answer (and DATABASE_URL / REDIS_URL are not set).
test: install node_modules/.package-lock.json browser lint
	. .ci/test-env && $(BIN)/pytest

# The configuration reference (README's tables, .env.example, deploy/env.example), generated from config/variables/.
docs: install
	$(BIN)/python -m config.variables --write

bench: install
	. .ci/test-env && $(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) var staticfiles node_modules
