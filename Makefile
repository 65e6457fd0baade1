# Sluice: `make run` builds and runs the quickstart pipeline; `make test` runs every test.
SWIFT ?= swift
RELEASE := .build/release/sluice

.PHONY: deps build run test bench clean

# System packages the build needs (idempotent, quiet when present).
deps:
	@dpkg -s libpcre2-dev >/dev/null 2>&1 || { \
		echo "installing libpcre2-dev"; \
		(apt-get update -qq && apt-get install -y -qq libpcre2-dev) >/dev/null; }

build: deps
	$(SWIFT) build -c release --product sluice

run: build
	$(RELEASE) -f examples/quickstart.conf -w 1 < examples/quickstart.log

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test

bench: build
	@bash scripts/bench.sh $(RELEASE)

clean:
	rm -rf .build
