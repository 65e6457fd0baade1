#!/usr/bin/env bash
# Throughput and peak memory of Sluice on Logstash's benchmark cases, with data generated here.
# Usage: scripts/bench.sh path/to/sluice
set -euo pipefail
BIN=${1:-.build/release/sluice}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
N=${BENCH_EVENTS:-2000000}
LINES=${BENCH_LINES:-1000000}

# stdin data: one line per event.
python3 - "$WORK/lines.txt" "$LINES" <<'PY'
import sys, random
random.seed(7)
path, n = sys.argv[1], int(sys.argv[2])
services = ["checkout", "search", "auth", "billing"]
levels = ["info", "info", "info", "warn", "error", "debug"]
with open(path, "w") as f:
    for i in range(n):
        f.write('{"service":"%s","level":"%s","status":"%d","latency_ms":"%d.%d","msg":"request %d"}\n' % (
            random.choice(services), random.choice(levels), random.choice([200, 200, 200, 404, 500, 503]),
            random.randint(1, 2000), random.randint(0, 9), i))
PY

cat > "$WORK/baseline.conf" <<CONF
input { generator { count => $N } }
output { null { } }
CONF
cat > "$WORK/dots.conf" <<'CONF'
input { stdin { } }
output { stdout { codec => dots } }
CONF
cat > "$WORK/mutate.conf" <<'CONF'
input { stdin { codec => json_lines } }
filter {
  mutate { convert => { "status" => "integer" "latency_ms" => "float" } lowercase => ["level"] rename => { "msg" => "message" } }
  if [status] >= 500 or [level] == "error" {
    mutate { add_tag => ["alert"] add_field => { "route" => "alerts-%{service}" } }
  } else if [level] == "debug" {
    drop { }
  } else {
    mutate { add_field => { "route" => "main-%{service}" } }
  }
}
output { null { } }
CONF

# Logstash's apache case: combined-format access log lines through grok and date.
python3 - "$WORK/access.log" "$LINES" <<'PY'
import sys, random
random.seed(11)
path, n = sys.argv[1], int(sys.argv[2])
paths = ["/", "/index.html", "/search?q=logs", "/api/v1/items/42", "/static/app.js"]
agents = ['"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"', '"curl/8.5.0"']
with open(path, "w") as f:
    for i in range(n):
        f.write('%d.%d.%d.%d - - [%02d/Nov/2026:%02d:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" %s\n' % (
            10, random.randint(0, 255), random.randint(0, 255), random.randint(1, 254), random.randint(1, 28),
            random.randint(0, 23), random.randint(0, 59), random.randint(0, 59), random.choice(paths),
            random.choice([200, 200, 304, 404, 500]), random.randint(100, 50000), random.choice(agents)))
PY
# Issue 14's plain case (Fluent Bit's tail → null): the apache lines as plain text, nothing parsed.
cat > "$WORK/plain.conf" <<'CONF'
input { stdin { } }
output { null { } }
CONF
cat > "$WORK/apache.conf" <<'CONF'
input { stdin { } }
filter {
  grok { match => { "message" => "%{COMBINEDAPACHELOG}" } }
  date { match => [ "timestamp", "dd/MMM/yyyy:HH:mm:ss Z" ] }
}
output { stdout { codec => dots } }
CONF
# The ruby filter's case (issue 17): a snippet that reads two fields and sets one, on the embedded interpreter.
cat > "$WORK/ruby.conf" <<'CONF'
input { stdin { codec => json_lines } }
filter { ruby { code => "event.set('score', event.get('status').to_i * 1000 + event.get('latency_ms').to_f)" } }
output { null { } }
CONF

# Prints one result line: start and end times, name, workers, events, and "peak-RSS-KB user-s system-s".
report() {
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); rss,u,k=sys.argv[6].split(); cpu=float(u)+float(k); print('%-22s -w %s  %10.0f events/s  %6.1f MB peak RSS  %9.0f events/CPU-s  (%d events in %.2f s)' % (sys.argv[3], sys.argv[4], int(sys.argv[5])/s, int(rss)/1024, int(sys.argv[5])/max(cpu, 0.001), int(sys.argv[5]), s))" "$@"
}

# Runs one case and prints: name, workers, events/s, peak RSS, and events per CPU-second (user + system time of
# all threads: the rate one core would give, the unit Fluent Bit's parser figures are quoted in).
run_case() {
  local name=$1 workers=$2 conf=$3 input=$4 events=$5
  local start end usage
  start=$(date +%s.%N)
  usage=$( { /usr/bin/time -f '%M %U %S' "$BIN" -f "$conf" -w "$workers" --log.level error --path.data "$WORK/data" ${EXTRA:-} < "$input" > /dev/null; } 2>&1 | tail -n 1)
  end=$(date +%s.%N)
  report "$start" "$end" "$name" "$workers" "$events" "$usage"
}

command -v /usr/bin/time >/dev/null || { echo "installing time"; (apt-get install -y -qq time >/dev/null 2>&1); }

# The generated inputs are written out before timing starts, so that their writeback does not compete.
sync
echo "Sluice benchmark ($(nproc) cores)"
for w in 1 2; do run_case "baseline (generator)" "$w" "$WORK/baseline.conf" /dev/null "$N"; done
# The cost of metrics: the same baseline with metric.collect off (3 runs each, best kept).
best_rate() {
  local best=0 r
  for _ in 1 2 3; do
    local start end
    start=$(date +%s.%N)
    "$BIN" -f "$WORK/baseline.conf" -w 2 --log.level error --api.enabled false "$@" < /dev/null > /dev/null
    end=$(date +%s.%N)
    r=$(python3 -c "import sys; print(int(int(sys.argv[3]) / (float(sys.argv[2]) - float(sys.argv[1]))))" "$start" "$end" "$N")
    [ "$r" -gt "$best" ] && best=$r
  done
  echo "$best"
}
WITH=$(best_rate)
WITHOUT=$(best_rate -S metric.collect=false)
python3 -c "import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); print('metrics overhead (baseline -w 2): %d events/s with, %d without: %.1f%%' % (a, b, 100.0 * (b - a) / b))" "$WITH" "$WITHOUT"
for w in 1 2; do run_case "stdin -> dots" "$w" "$WORK/dots.conf" "$WORK/lines.txt" "$LINES"; done
for w in 1 2; do run_case "mutate + conditionals" "$w" "$WORK/mutate.conf" "$WORK/lines.txt" "$LINES"; done
for w in 1 2; do run_case "plain lines -> null" "$w" "$WORK/plain.conf" "$WORK/access.log" "$LINES"; done
for w in 1 2; do run_case "apache (grok + date)" "$w" "$WORK/apache.conf" "$WORK/access.log" "$LINES"; done
for w in 1 2; do run_case "ruby (get 2, set 1)" "$w" "$WORK/ruby.conf" "$WORK/lines.txt" "$LINES"; done

# Network inputs: a load generator (scripts/netload.py, 4 connections) sends to a running sluice whose output
# writes one dot per event; the rate is events over the time from the first send to the last dot.
net_case() {
  local name=$1 workers=$2 input=$3 mode=$4 events=$5
  local port start end usage
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  echo "input { $input } output { stdout { codec => dots } }" | sed "s/PORT/$port/" > "$WORK/net.conf"
  : > "$WORK/net.dots"
  /usr/bin/time -f '%M %U %S' -o "$WORK/net.time" "$BIN" -f "$WORK/net.conf" -w "$workers" --log.level error \
    --path.data "$WORK/data" > "$WORK/net.dots" &
  local pid=$!
  until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port)).close()" 2>/dev/null; do sleep 0.05; done
  start=$(date +%s.%N)
  python3 "$(dirname "$0")/netload.py" "$mode" "$port" "$events" 4
  while [ "$(stat -c %s "$WORK/net.dots")" -lt "$events" ]; do sleep 0.02; done
  end=$(date +%s.%N)
  pkill -INT -f "^$BIN -f $WORK/net.conf" || true  # sluice itself: time ignores SIGINT while its child runs
  wait $pid || true
  usage=$(tail -n 1 "$WORK/net.time")
  report "$start" "$end" "$name" "$workers" "$events" "$usage"
}
# The file input tailing the apache log from the beginning: time from start until every line is out.
file_case() {
  local name=$1 workers=$2 file=$3 events=$4
  local start end usage
  echo "input { file { path => \"$file\" start_position => \"beginning\" sincedb_path => \"/dev/null\" stat_interval => 0.1 } } output { stdout { codec => dots } }" > "$WORK/file.conf"
  : > "$WORK/file.dots"
  start=$(date +%s.%N)
  /usr/bin/time -f '%M %U %S' -o "$WORK/file.time" "$BIN" -f "$WORK/file.conf" -w "$workers" --log.level error \
    --path.data "$WORK/data" > "$WORK/file.dots" &
  local pid=$!
  while [ "$(stat -c %s "$WORK/file.dots")" -lt "$events" ]; do sleep 0.02; done
  end=$(date +%s.%N)
  pkill -INT -f "^$BIN -f $WORK/file.conf" || true
  wait $pid || true
  usage=$(tail -n 1 "$WORK/file.time")
  report "$start" "$end" "$name" "$workers" "$events" "$usage"
}
for w in 1 2; do file_case "file tail (apache)" "$w" "$WORK/access.log" "$LINES"; done
NET_N=${BENCH_NET_EVENTS:-2000000}
for w in 1 2; do net_case "tcp json_lines" "$w" 'tcp { port => PORT host => "127.0.0.1" codec => json_lines }' tcp "$NET_N"; done
net_case "beats (compressed)" 2 'beats { port => PORT host => "127.0.0.1" }' beats "$NET_N"
net_case "http JSON arrays" 2 'http { port => PORT host => "127.0.0.1" }' http "$NET_N"

# The persisted queue (Logstash's page format on disk), drained at the end so every event is processed: default
# checkpointing (every 1,024 writes and acks), then a checkpoint with fsync on every write (queue.checkpoint.writes: 1).
PQ="-S queue.type=persisted -S queue.drain=true -S path.queue=$WORK/queue"
EXTRA="$PQ" run_case "PQ baseline" 2 "$WORK/baseline.conf" /dev/null "$N"
EXTRA="$PQ" run_case "PQ apache" 2 "$WORK/apache.conf" "$WORK/access.log" "$LINES"
EXTRA="$PQ -S queue.checkpoint.writes=1" run_case "PQ baseline, writes: 1" 2 "$WORK/baseline.conf" /dev/null "$N"
EXTRA="$PQ -S queue.checkpoint.writes=1" run_case "PQ apache, writes: 1" 2 "$WORK/apache.conf" "$WORK/access.log" "$LINES"
# Memory with a 1 GB queue on disk: fill it behind an output that never delivers (killed once intake blocks at
# queue.max_bytes), then drain it.
PQ_FILL=${BENCH_PQ_FILL:-2500000}
cat > "$WORK/fill.conf" <<CONF
input { generator { count => $PQ_FILL message => "$(python3 -c 'print("x" * 400)')" } }
output { pipeline { send_to => "nowhere" } }
CONF
cat > "$WORK/drain.conf" <<'CONF'
input { stdin { } }
output { null { } }
CONF
fill_queue() {
  /usr/bin/time -f '%M' -o "$WORK/fill.rss" "$BIN" -f "$WORK/fill.conf" -w 2 --log.level error --path.data "$WORK/data" \
    -S queue.type=persisted -S path.queue="$WORK/bigqueue" > /dev/null 2>&1 &
  local pid=$! waited=0
  # Until the queue holds about 1 GB (du counts the reserved pages) or intake blocks at queue.max_bytes.
  while [ "$(du -sm "$WORK/bigqueue" 2>/dev/null | cut -f1 || true)" -lt 1000 ] 2>/dev/null || [ ! -d "$WORK/bigqueue" ]; do
    [ $waited -ge 180 ] && break
    sleep 1; waited=$((waited + 1))
  done
  sleep 3
  pkill -9 -f "^$BIN -f $WORK/fill.conf" || true  # sluice only: time must survive to report
  wait $pid 2>/dev/null || true
  tail -n 1 "$WORK/fill.rss"
}
fill_rss=$(fill_queue)
queued=$("$BIN" queue stats "$WORK/bigqueue/main" | python3 -c "import sys, json; d = json.load(sys.stdin); print(d['unacked_events'], d['queue_size_in_bytes'])")
echo "PQ fill: $(echo "$queued" | cut -d' ' -f1) events, $(( $(echo "$queued" | cut -d' ' -f2) / 1048576 )) MB on disk, peak RSS $(( ${fill_rss:-0} / 1024 )) MB while filling"
EXTRA="-S queue.type=persisted -S queue.drain=true -S path.queue=$WORK/bigqueue" run_case "PQ drain of 1 GB" 2 "$WORK/drain.conf" /dev/null "$(echo "$queued" | cut -d' ' -f1)"

# useragent: 1,000 user agents from uap-core's tests, 500,000 events (LRU hits after each agent's first parse), and
# every distinct agent of those tests once (all misses: the full pattern walk). geoip: addresses of the small test
# City database (Tests/Support/mmdb), found and not found.
UA_N=${BENCH_UA_EVENTS:-500000}
python3 - "$WORK" "$UA_N" <<'PY'
import sys, json, random
work, n = sys.argv[1], int(sys.argv[2])
agents = []
for f in ("test_ua.yaml", "test_os.yaml", "test_device.yaml"):
    for line in open("/usr/share/uap-core/tests/" + f, encoding="utf-8"):
        line = line.strip()
        if line.startswith("- user_agent_string:"):
            v = line.split(":", 1)[1].strip()
            if len(v) > 1 and v[0] == v[-1] and v[0] in "'\"":
                v = v[1:-1].replace("''", "'") if v[0] == "'" else v[1:-1]
            agents.append(v)
unique = list(dict.fromkeys(agents))
random.seed(5)
pool = unique[:1000]
with open(work + "/agents.jsonl", "w") as f:
    for _ in range(n): f.write(json.dumps({"agent": random.choice(pool)}) + "\n")
with open(work + "/agents-unique.jsonl", "w") as f:
    for a in unique: f.write(json.dumps({"agent": a}) + "\n")
with open(work + "/agents-unique.count", "w") as f: f.write(str(len(unique)))
ips = ["8.8.8.8", "81.2.69.142", "1.130.0.1", "2001:db8:1::5", "10.0.0.1"]
with open(work + "/ips.jsonl", "w") as f:
    for _ in range(n * 2): f.write(json.dumps({"ip": random.choice(ips)}) + "\n")
# Random addresses for the bundled GeoLite2 City: 9 in 10 IPv4, the rest in allocated IPv6 /32s.
v6 = [(0x2001, 0x4860), (0x2a03, 0x2880), (0x2606, 0x4700), (0x2a00, 0x1450), (0x2400, 0xcb00), (0x2a01, 0x4f8)]
with open(work + "/random-ips.jsonl", "w") as f:
    for i in range(n * 2):
        if i % 10 == 9:
            ip = ":".join("%x" % g for g in list(random.choice(v6)) + [random.randrange(65536) for _ in range(6)])
        else:
            ip = ".".join(str(random.randrange(256)) for _ in range(4))
        f.write(json.dumps({"ip": ip}) + "\n")
PY
MMDB="$(cd "$(dirname "$0")/.." && pwd)/Tests/Support/mmdb/GeoLite2-City-Test.mmdb"
cat > "$WORK/useragent.conf" <<'CONF'
input { stdin { codec => json_lines } }
filter { useragent { source => "agent" target => "ua" } }
output { null { } }
CONF
cat > "$WORK/geoip.conf" <<CONF
input { stdin { codec => json_lines } }
filter { geoip { source => "ip" target => "geo" database => "$MMDB" } }
output { null { } }
CONF
if [ -f /usr/share/uap-core/regexes.yaml ]; then
  for w in 1 2; do run_case "useragent (LRU hits)" "$w" "$WORK/useragent.conf" "$WORK/agents.jsonl" "$UA_N"; done
  run_case "useragent (all misses)" 2 "$WORK/useragent.conf" "$WORK/agents-unique.jsonl" "$(cat "$WORK/agents-unique.count")"
fi
for w in 1 2; do run_case "geoip (City)" "$w" "$WORK/geoip.conf" "$WORK/ips.jsonl" "$((UA_N * 2))"; done
# The bundled GeoLite2 City (no `database`; `make deps` installs it), random addresses: nearly every event misses
# the record cache and decodes a record.
cat > "$WORK/geoip-bundled.conf" <<'CONF'
input { stdin { codec => json_lines } }
filter { geoip { source => "ip" target => "geo" } }
output { null { } }
CONF
if [ -f /usr/local/share/sluice/GeoLite2-City.mmdb ] || [ -n "${SLUICE_GEOIP_DATABASE:-}" ]; then
  for w in 1 2; do run_case "geoip (bundled GeoLite2 City, random addresses)" "$w" "$WORK/geoip-bundled.conf" "$WORK/random-ips.jsonl" "$((UA_N * 2))"; done
fi

# Dead letter queue: 1 KB events whose condition cannot be evaluated go to the DLQ (write), then are read back
# by the dead_letter_queue input (read); and the cost of routing 1% of a stream to the DLQ.
DLQ_N=${BENCH_DLQ_EVENTS:-200000}
PAD=$(python3 -c "print('x' * 1000)")
cat > "$WORK/dlq-write.conf" <<CONF
input { generator { count => $DLQ_N codec => json message => '{"n":"not a number","pad":"$PAD"}' } }
filter { if [n] > 1 { } }
output { null { } }
CONF
cat > "$WORK/dlq-read.conf" <<CONF
input { dead_letter_queue { path => "$WORK/dlqdata/dead_letter_queue" commit_offsets => false exit_at_end => true } }
output { null { } }
CONF
python3 - "$WORK" "$N" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
good = '{"n":1,"msg":"ok"}'
bad = '{"n":"x","msg":"bad"}'
for name, lines in (("route0", [good] * 100), ("route1", [good] * 99 + [bad])):
    with open(f"{work}/{name}.conf", "w") as f:
        items = ", ".join("'%s'" % l for l in lines)
        f.write("input { generator { count => %d codec => json lines => [%s] } }\n" % (n // 100, items))
        f.write("filter { if [n] > 0 { } }\noutput { null { } }\n")
PY

dlq_case() {
  local name=$1 conf=$2 events=$3
  local start end
  start=$(date +%s.%N)
  "$BIN" -f "$conf" -w 2 --log.level error --path.data "$WORK/dlqdata" -S dead_letter_queue.enable=true < /dev/null > /dev/null
  end=$(date +%s.%N)
  local bytes
  bytes=$(du -sb "$WORK/dlqdata/dead_letter_queue/main" | cut -f1)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[4]); b=int(sys.argv[5]); print('%-22s -w 2  %10.0f entries/s  %6.1f MB/s  (%d entries, %.1f MB, %.2f s)' % (sys.argv[3], n/s, b/s/1e6, n, b/1e6, s))" "$start" "$end" "$name" "$events" "$bytes"
}
# The DLQ syncs its segments: write the generated input files out first, so that their writeback does not compete.
sync
dlq_case "DLQ write (1 KB)" "$WORK/dlq-write.conf" "$DLQ_N"
dlq_case "DLQ read (1 KB)" "$WORK/dlq-read.conf" "$DLQ_N"
rm -rf "$WORK/dlqdata"

# DLQ operations on 1,000,000 small entries: stats with the signature grouping, the whole listing as JSON lines, and
# a listing selected by signature (every entry's reason normalised); entries/s and peak RSS of each command.
ADMIN_N=${BENCH_DLQ_ADMIN_ENTRIES:-1000000}
cat > "$WORK/dlq-fill.conf" <<CONF
input { generator { count => $ADMIN_N codec => json message => '{"n":"not a number"}' } }
filter { if [n] > 1 { } }
output { null { } }
CONF
"$BIN" -f "$WORK/dlq-fill.conf" -w 2 --log.level error --path.data "$WORK/admindata" -S dead_letter_queue.enable=true < /dev/null > /dev/null
admin_case() {
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$WORK/admin.rss" "$BIN" dlq "$@" --path.data "$WORK/admindata" > /dev/null
  end=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); n=int(sys.argv[4]); print('%-22s      %10.0f entries/s  %6.1f MB peak RSS  (%d entries, %.2f s)' % (sys.argv[3], n/s, int(sys.argv[5])/1024, n, s))" "$start" "$end" "$name" "$ADMIN_N" "$(tail -n 1 "$WORK/admin.rss")"
}
admin_case "DLQ stats (1M)" stats --json
admin_case "DLQ list (1M)" list
signature=$("$BIN" dlq stats --json --path.data "$WORK/admindata" | python3 -c "import json,sys; print(json.load(sys.stdin)['signatures'][0]['id'])")
admin_case "DLQ list by signature" list --signature "$signature"
rm -rf "$WORK/admindata"

# Redrive: a first run fills the DLQ with small entries; a second one (stdin kept open through a FIFO, null output, the
# API on a free loopback port) takes POST /_redrive, and the rate is entries over the time until GET /_sluice/dlq/main
# reports none left (polled every 0.2 s). CPU and peak RSS are the second run's, start-up and idling included.
REDRIVE_N=${BENCH_DLQ_REDRIVE_ENTRIES:-200000}
cat > "$WORK/redrive-fill.conf" <<CONF
input { generator { count => $REDRIVE_N codec => json message => '{"n":"not a number"}' } }
filter { if [n] > 1 { } }
output { null { } }
CONF
redrive_case() {
  local port pid
  rm -rf "$WORK/redrivedata" "$WORK/redrive.in"
  "$BIN" -f "$WORK/redrive-fill.conf" -w 2 --log.level error --path.data "$WORK/redrivedata" -S dead_letter_queue.enable=true \
    --api.enabled false < /dev/null > /dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  mkfifo "$WORK/redrive.in"
  exec 9<>"$WORK/redrive.in"  # a writer that never writes: stdin stays open until fd 9 is closed
  /usr/bin/time -f '%M %U %S' -o "$WORK/redrive.time" "$BIN" -e 'input { stdin { } } output { null { } }' -w 2 \
    --log.level error --path.data "$WORK/redrivedata" -S dead_letter_queue.enable=true --api.http.port "$port" \
    < "$WORK/redrive.in" 9>&- > /dev/null &  # 9>&-: the only writer is this shell's fd 9
  pid=$!
  python3 - "$port" "$REDRIVE_N" > "$WORK/redrive.seconds" <<'PY'
import json, sys, time, urllib.request
port, n = sys.argv[1], int(sys.argv[2])
base = "http://127.0.0.1:%s/_sluice/dlq/main" % port
def entries():
    with urllib.request.urlopen(base, timeout=60) as r:
        return json.load(r)["entries"]
for _ in range(1200):
    try:
        if entries() == n:
            break
    except OSError:
        pass
    time.sleep(0.05)
else:
    sys.exit("the DLQ of the redrive run never showed %d entries" % n)
start = time.perf_counter()
request = urllib.request.Request(base + "/_redrive", data=b"", method="POST", headers={"sluice-xsrf": "1"})
urllib.request.urlopen(request, timeout=60).read()
while entries() > 0:
    time.sleep(0.2)
print(time.perf_counter() - start)
PY
  exec 9>&-  # stdin ends: the pipeline drains and exits
  wait $pid || true
  python3 -c "import sys; s=float(sys.argv[1]); n=int(sys.argv[2]); rss,u,k=sys.argv[3].split(); cpu=float(u)+float(k); print('%-22s -w 2  %10.0f entries/s  %6.1f MB peak RSS  %9.0f entries/CPU-s  (%d entries in %.2f s)' % ('DLQ redrive -> null', n/s, int(rss)/1024, n/max(cpu, 0.001), n, s))" \
    "$(cat "$WORK/redrive.seconds")" "$REDRIVE_N" "$(tail -n 1 "$WORK/redrive.time")"
  rm -rf "$WORK/redrivedata" "$WORK/redrive.in"
}
redrive_case
EXTRA="-S dead_letter_queue.enable=true" run_case "json, 0% to DLQ" 2 "$WORK/route0.conf" /dev/null "$N"
EXTRA="-S dead_letter_queue.enable=true" run_case "json, 1% to DLQ" 2 "$WORK/route1.conf" /dev/null "$N"

# Start-up to first event: time until the first output byte appears on stdout (best of 5).
startup_ms() {
  python3 - "$BIN" "$1" <<'PY'
import subprocess, sys, time
best = None
for _ in range(5):
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.argv[1], "-e", sys.argv[2], "--log.level", "error"], stdout=subprocess.PIPE)
    p.stdout.read(1)
    dt = (time.perf_counter() - t0) * 1000
    p.wait()
    best = dt if best is None else min(best, dt)
print("%.1f ms (best of 5)" % best)
PY
}
echo "start-up to first event: $(startup_ms 'input { generator { count => 1 } } output { stdout { codec => dots } }')"
# The same with a useragent filter: the ~1,200 uap-core patterns are read and compiled before the first event.
if [ -f /usr/share/uap-core/regexes.yaml ]; then
  echo "start-up to first event with useragent: $(startup_ms 'input { generator { count => 1 } } filter { useragent { source => "message" } } output { stdout { codec => dots } }')"
fi

# redis list -> null: redis-server on a free loopback port (no persistence) holds REDIS_N JSON items, pushed by
# redis-cli --pipe before timing; the rate is items over the time from sluice's start until the list and the
# input's processing lists are empty (an item is removed only once the null output has its event). Skipped when
# redis-server is not installed (`make test-deps`).
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
  REDIS_N=${BENCH_REDIS_EVENTS:-1000000}
  REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no >/dev/null 2>&1 &
  REDIS_PID=$!
  until redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1; do sleep 0.05; done
  echo "input { redis { port => $REDIS_PORT key => \"bench\" data_type => \"list\" } } output { null { } }" > "$WORK/redis.conf"
  # Items left in the list and in every processing list of it.
  redis_left() {
    redis-cli -p "$REDIS_PORT" EVAL "local n = redis.call('LLEN', KEYS[1]) for _, k in ipairs(redis.call('KEYS', KEYS[1] .. ':sluice:processing:*')) do n = n + redis.call('LLEN', k) end return n" 1 bench
  }
  redis_case() {
    local workers=$1 start end usage pid
    python3 - "$REDIS_N" <<'PY' | redis-cli -p "$REDIS_PORT" --pipe >/dev/null
import sys
n = int(sys.argv[1])
out = sys.stdout
for c in range(0, n, 1000):
    items = ['{"service":"checkout","level":"info","status":"200","msg":"request %d"}' % i for i in range(c, min(c + 1000, n))]
    args = ["RPUSH", "bench"] + items
    out.write("*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a), a) for a in args))
PY
    start=$(date +%s.%N)
    /usr/bin/time -f '%M %U %S' -o "$WORK/redis.time" "$BIN" -f "$WORK/redis.conf" -w "$workers" --log.level error \
      --path.data "$WORK/data" --api.enabled false > /dev/null &
    pid=$!
    while [ "$(redis_left)" != 0 ]; do sleep 0.02; done
    end=$(date +%s.%N)
    kill -INT "$(pgrep -P "$pid")" 2>/dev/null || true  # sluice itself, by pid: time ignores SIGINT while its child runs
    wait "$pid" || true
    usage=$(tail -n 1 "$WORK/redis.time")
    report "$start" "$end" "redis list -> null" "$workers" "$REDIS_N" "$usage"
  }
  for w in 1 2; do redis_case "$w"; done
  redis-cli -p "$REDIS_PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$REDIS_PID" 2>/dev/null || true
else
  echo "redis list -> null: skipped (redis-server is not installed; run make test-deps)"
fi

# Kafka: stdin -> kafka and kafka -> null against kcat on the same server (scripts/bench-kafka.sh).
bash "$(dirname "$0")/bench-kafka.sh" "$BIN"

# generator -> elasticsearch (noida-db on a free loopback port): events/s, bulk size and request latency, and the
# ratio to the same run with the null output. Skipped when noida-db is not installed (`make test-deps`).
if command -v noida-db >/dev/null 2>&1; then
  ES_N=${BENCH_ES_EVENTS:-200000}
  ES_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  setsid noida-db start --only elasticsearch --elasticsearch-port "$ES_PORT" --data-dir "$WORK/es" --host 127.0.0.1 \
    </dev/null >/dev/null 2>&1 &
  ES_PID=$!
  # setsid makes the server a process group of its own: stop the wrapper and the server binary together.
  trap 'kill -INT -- -$ES_PID 2>/dev/null; wait $ES_PID 2>/dev/null; rm -rf "$WORK"' EXIT
  for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$ES_PORT/" >/dev/null && break; sleep 0.05; done
  cat > "$WORK/es.conf" <<CONF
input { generator { count => $ES_N } }
output { elasticsearch { hosts => ["127.0.0.1:$ES_PORT"] index => "bench" } }
CONF
  cat > "$WORK/es-null.conf" <<CONF
input { generator { count => $ES_N } }
output { null { } }
CONF
  es_rate() {
    local start end
    start=$(date +%s.%N)
    "$BIN" -f "$1" -w 2 --log.level "${2:-error}" --path.data "$WORK/esdata" < /dev/null > "$WORK/es.log" 2>&1
    end=$(date +%s.%N)
    python3 -c "import sys; print(int(sys.argv[3]) / (float(sys.argv[2]) - float(sys.argv[1])))" "$start" "$end" "$ES_N"
  }
  NULL_RATE=$(es_rate "$WORK/es-null.conf")
  ES_RATE=$(es_rate "$WORK/es.conf")
  COUNT=$(curl -s -XPOST "http://127.0.0.1:$ES_PORT/bench/_refresh" >/dev/null; curl -s "http://127.0.0.1:$ES_PORT/bench/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
  # A second run at debug level, for the size and latency of each bulk request.
  es_rate "$WORK/es.conf" debug >/dev/null
  python3 - "$WORK/es.log" "$ES_RATE" "$NULL_RATE" "$COUNT" "$ES_N" <<'PY'
import re, sys, statistics
log, rate, null_rate, count, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4], sys.argv[5]
rows = [tuple(map(int, m.groups())) for m in re.finditer(r":actions=>(\d+), :bytes=>(\d+), :duration_ms=>(\d+)", open(log).read())]
actions = [r[0] for r in rows]; size = [r[1] for r in rows]; ms = sorted(r[2] for r in rows)
p = lambda q: ms[min(len(ms) - 1, int(q * len(ms)))] if ms else 0
print("generator -> elasticsearch -w 2  %10.0f events/s  (%s of %s indexed; null output %0.f events/s, ratio %.2f)" % (rate, count, n, null_rate, rate / null_rate))
if rows:
    print("  bulk requests: %d, %.0f actions / %.0f KB each (uncompressed); latency p50 %d ms, p99 %d ms, max %d ms" % (
        len(rows), statistics.mean(actions), statistics.mean(size) / 1024, p(0.5), p(0.99), ms[-1]))
PY
else
  echo "generator -> elasticsearch: skipped (noida-db is not installed; run make test-deps)"
fi
