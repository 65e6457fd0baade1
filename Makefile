# Sluice: `make run` builds and runs the quickstart pipeline; `make test` runs every test.
SWIFT ?= swift
RELEASE := .build/release/sluice

NOIDA_DB_VERSION := 0.2.3

.PHONY: deps test-deps build run test bench clean

# System packages the build and the useragent filter need (idempotent, quiet when present).
deps:
	@dpkg -s libpcre2-dev >/dev/null 2>&1 || { \
		echo "installing libpcre2-dev"; \
		(apt-get update -qq && apt-get install -y -qq libpcre2-dev) >/dev/null; }
	@dpkg -s zlib1g-dev >/dev/null 2>&1 || { \
		echo "installing zlib1g-dev"; \
		(apt-get update -qq && apt-get install -y -qq zlib1g-dev) >/dev/null; }
	@dpkg -s uap-core >/dev/null 2>&1 || { \
		echo "installing uap-core (the useragent filter's regexes.yaml)"; \
		(apt-get update -qq && apt-get install -y -qq uap-core) >/dev/null; }

# What the integration tests start: noida-db, an Elasticsearch-compatible server (idempotent, quiet when present).
test-deps:
	@python3 -m pip show noida-db 2>/dev/null | grep -qx 'Version: $(NOIDA_DB_VERSION)' || { \
		echo "installing noida-db $(NOIDA_DB_VERSION)"; \
		python3 -m pip install -q --disable-pip-version-check noida-db==$(NOIDA_DB_VERSION) >/dev/null 2>&1 || \
		echo "warning: noida-db could not be installed; the Elasticsearch integration tests will be skipped"; }

build: deps
	$(SWIFT) build -c release --product sluice

run: build
	$(RELEASE) -f examples/quickstart.conf -w 1 < examples/quickstart.log

test: deps test-deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: build test-deps
	@bash scripts/bench.sh $(RELEASE)

clean:
	rm -rf .build
