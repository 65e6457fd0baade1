# Sluice: `make run` builds and runs the quickstart pipeline; `make test` runs every test.
SWIFT ?= swift
RELEASE := .build/release/sluice

NOIDA_DB_VERSION := 0.2.3

.PHONY: deps test-deps build run test bench clean

# System packages the build needs: PCRE2 (grok), zlib (gzip), jemalloc (the process allocator) and uap-core (the
# useragent filter's regexes.yaml), plus logrotate (the file input's rotation tests). Installed when missing; quiet
# when present.
SYSTEM_PACKAGES := libpcre2-dev zlib1g-dev libjemalloc-dev uap-core logrotate
# The independent clients the input tests drive: logger (util-linux, bsdutils), curl, openssl (test certificates).
TEST_PACKAGES := bsdutils curl openssl
PYLOGBEAT_VERSION := 2.1.0

deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		(apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null; \
	fi

# What the integration tests start or drive: noida-db (an Elasticsearch-compatible server), pylogbeat (a beats
# client), logger, curl and openssl (idempotent, quiet when present).
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		(apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null; \
	fi
	@python3 -m pip show pylogbeat 2>/dev/null | grep -qx 'Version: $(PYLOGBEAT_VERSION)' || { \
		echo "installing pylogbeat $(PYLOGBEAT_VERSION)"; \
		python3 -m pip install -q --disable-pip-version-check pylogbeat==$(PYLOGBEAT_VERSION) >/dev/null 2>&1; }
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
