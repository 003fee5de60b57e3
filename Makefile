# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench clean generate demo demo-needs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A project made from the template starts without the files derived from its service.yml and
# routes (copier.yml): its first `make run` or `make test` writes them. Only when missing: a stale
# one fails the tests instead of being silently rewritten.
DERIVED := alerts/slo.yml
$(DERIVED): | $(STAMP)
	$(BIN)/python -m generate

run: $(STAMP) | $(DERIVED)
	$(BIN)/python -m app

# The Mongo store tests run on FerretDB, built once per machine from the Go module proxy (cached
# by content hash); without Go they skip and say why. MONGO_TEST_URI points them at a real MongoDB.
# The fault matrix (tests/faults) puts Toxiproxy, built and cached the same way, in front of it;
# Sloth (tests/sloth), built the same way, validates slo/sloth.yml.
test: $(STAMP) | $(DERIVED)
	FERRETDB_BIN="$$(tests/ferretdb/build.sh || true)" \
	TOXIPROXY_BIN="$$(tests/toxiproxy/build.sh || true)" \
	SLOTH_BIN="$$(tests/sloth/build.sh || true)" \
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The load benchmark (bench/run.py): wrk from Debian, the FastAPI peer in its own venv, and the
# service with OpenTelemetry's aiohttp instrumentation (the `bench` extra) in another: its pins
# would move the service's own OpenTelemetry packages.
bench: $(STAMP) bench/.venv-peer/.installed bench/.venv-package/.installed
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python bench/run.py

bench/.venv-peer/.installed: bench/requirements-peer.txt
	$(PYTHON) -m venv bench/.venv-peer
	bench/.venv-peer/bin/pip install --quiet -r bench/requirements-peer.txt
	touch $@

bench/.venv-package/.installed: pyproject.toml
	$(PYTHON) -m venv bench/.venv-package
	bench/.venv-package/bin/pip install --quiet -e '.[bench]'
	touch $@

# The demo (README, quick start): the service on FerretDB behind Toxiproxy, Prometheus and
# Alertmanager from Debian, loopback trace and Sentry receivers; a few minutes of extension-shaped
# traffic through a database incident, then a report in demo-report/ (DEMO_ARGS="--out DIR").
# No Docker: FerretDB and Toxiproxy are built and cached like the tests' (Go, first run only).
demo: demo-needs $(STAMP) | $(DERIVED)
	FERRETDB_BIN="$$(tests/ferretdb/build.sh)" TOXIPROXY_BIN="$$(tests/toxiproxy/build.sh)" \
	$(BIN)/python -m demo $(DEMO_ARGS)

# Checked first, before any install: one line saying what is missing.
demo-needs:
	@test -d demo || { echo "make demo needs the example domain: this project was made without it (include_example_domain), so demo/ is not here" >&2; exit 1; }
	@command -v prometheus >/dev/null || { echo "make demo needs Prometheus: apt-get install prometheus" >&2; exit 1; }
	@command -v prometheus-alertmanager >/dev/null || { echo "make demo needs Alertmanager: apt-get install prometheus-alertmanager" >&2; exit 1; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy app

# Everything derived from service.yml and the route table (alerts and their promtool tests,
# dashboards, the PrometheusRule, prometheus.yml, the Sloth spec); `--check` names stale files.
generate: $(STAMP)
	$(BIN)/python -m generate

clean:
	rm -rf $(VENV) .pytest_cache
