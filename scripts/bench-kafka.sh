#!/usr/bin/env bash
# Kafka transfers through Sluice against kcat (librdkafka's own command-line client) on the same server in the same
# run: stdin -> kafka output against `kcat -P`, and kafka input -> null against `kcat -C`, each as a rate and as a
# ratio to kcat's (issue 13's target: >= 0.8). The server is noida-db's Kafka protocol on a free loopback port
# (`make test-deps` installs it and kcat); both clients see the same server, so the ratio is what Sluice adds.
# Usage: scripts/bench-kafka.sh path/to/sluice [events]
set -euo pipefail
BIN=${1:-.build/release/sluice}
N=${2:-${BENCH_KAFKA_EVENTS:-200000}}
if ! command -v noida-db >/dev/null 2>&1 || ! command -v kcat >/dev/null 2>&1; then
  echo "kafka: skipped (noida-db or kcat is not installed; run make test-deps)"
  exit 0
fi
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
setsid noida-db start --only kafka --kafka-port "$PORT" --data-dir "$WORK/server" --host 127.0.0.1 >/dev/null 2>&1 &
SERVER=$!
trap 'kill -- -"$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
BROKER="127.0.0.1:$PORT"
until kcat -b "$BROKER" -L -m 2 >/dev/null 2>&1; do sleep 0.2; done

# One JSON line per message, about 100 bytes, as the other cases' data.
python3 - "$WORK/lines.txt" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write('{"service":"checkout","level":"info","status":"200","latency_ms":"%d.5","msg":"request %d"}\n' % (i % 2000, i))
PY

now() { date +%s.%N; }
rate() { python3 -c "import sys; print(int(int(sys.argv[1]) / (float(sys.argv[3]) - float(sys.argv[2]))))" "$N" "$1" "$2"; }
ratio() { python3 -c "import sys; print('%.2f' % (int(sys.argv[1]) / int(sys.argv[2])))" "$1" "$2"; }

# Produce: kcat -P (one message per line, waits for every delivery report) against sluice's kafka output (acks 1,
# each batch's delivery reports awaited before the next) sending the same bytes: the line as read, no JSON work
# (ECS off, so that no `[event][original]` copy is added).
start=$(now); kcat -P -b "$BROKER" -t kcat-in -l "$WORK/lines.txt"; end=$(now)
KCAT_P=$(rate "$start" "$end")
cat > "$WORK/produce.conf" <<CONF
input { stdin { } }
output { kafka { bootstrap_servers => "$BROKER" topic_id => "sluice-in" codec => plain { format => "%{message}" } } }
CONF
start=$(now)
"$BIN" -f "$WORK/produce.conf" -w 2 --log.level error --api.enabled false --pipeline.ecs_compatibility disabled \
  --path.data "$WORK/data-p" < "$WORK/lines.txt"
end=$(now)
SLUICE_P=$(rate "$start" "$end")
echo "stdin -> kafka (-w 2): sluice $SLUICE_P events/s, kcat -P $KCAT_P messages/s: ratio $(ratio "$SLUICE_P" "$KCAT_P")"

# Consume the topic kcat filled, from the beginning, to its end: kcat -G (a balanced consumer group, as sluice's input
# always is: the same transfer, group join included) and kcat -C (partition assigned directly, no group) against
# sluice's kafka input in a new group, stopped once its dots output shows every event.
# The server is slower for the first read of a topic: one unmeasured read first, so every client meets the same server.
kcat -C -b "$BROKER" -t kcat-in -o beginning -e -q > /dev/null
# kcat stops after N messages (-c), as sluice is timed up to its Nth event: waiting for the end-of-partition
# signal instead would add the server's fetch wait (0.5-1 s) to kcat's time.
start=$(now); kcat -b "$BROKER" -G kcat-bench -X auto.offset.reset=earliest -c "$N" -q kcat-in > /dev/null; end=$(now)
KCAT_G=$(rate "$start" "$end")
start=$(now); kcat -C -b "$BROKER" -t kcat-in -o beginning -c "$N" -q > /dev/null; end=$(now)
KCAT_C=$(rate "$start" "$end")
cat > "$WORK/consume.conf" <<CONF
input { kafka { bootstrap_servers => "$BROKER" topics => ["kcat-in"] group_id => "bench" auto_offset_reset => "earliest" } }
output { stdout { codec => dots } }
CONF
start=$(now)
"$BIN" -f "$WORK/consume.conf" -w 2 --log.level error --api.enabled false --pipeline.ecs_compatibility disabled \
  --path.data "$WORK/data-c" > "$WORK/dots" &
SLUICE=$!
until [ "$(stat -c %s "$WORK/dots")" -ge "$N" ]; do sleep 0.02; done
end=$(now)
kill -INT "$SLUICE"; wait "$SLUICE" || true
SLUICE_C=$(rate "$start" "$end")
echo "kafka -> null (-w 2): sluice $SLUICE_C events/s, kcat -G $KCAT_G messages/s: ratio $(ratio "$SLUICE_C" "$KCAT_G"); kcat -C (no group) $KCAT_C messages/s: ratio $(ratio "$SLUICE_C" "$KCAT_C")"
