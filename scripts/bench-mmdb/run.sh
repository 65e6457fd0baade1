#!/usr/bin/env bash
# Sluice's MMDB reader against libmaxminddb (MaxMind's C library, Debian's libmaxminddb-dev) on the same 1,000,000
# addresses (9 in 10 IPv4) of a City database, one thread, addresses parsed before timing: the tree walk alone, the
# whole record decoded, and the fields the geoip filter writes. Throwaway, not part of the build: the Swift side
# compiles copies of Sources/SluicePlugins/Filters/Geoip/MaxMindDB.swift (its private members opened up) and
# MMDBRecord.swift (the in-place reads the geoip filter uses).
#   scripts/bench-mmdb/run.sh [/path/to/GeoLite2-City.mmdb]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
db=${1:-/usr/local/share/sluice/GeoLite2-City.mmdb}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg -s libmaxminddb-dev >/dev/null 2>&1 || { echo "installing libmaxminddb-dev"; apt-get install -y -qq libmaxminddb-dev >/dev/null; }
python3 - "$work/ips.txt" <<'PY'
import random, sys
random.seed(1224)
v6 = [(0x2001,0x4860),(0x2a03,0x2880),(0x2606,0x4700),(0x2a00,0x1450),(0x2400,0xcb00),(0x2a01,0x4f8),(0x2607,0xf8b0),(0x2a02,0x26f0)]
with open(sys.argv[1], "w") as f:
    for i in range(1_000_000):
        if i % 10 == 9:
            f.write(":".join("%x" % g for g in list(random.choice(v6)) + [random.randrange(65536) for _ in range(6)]) + "\n")
        else:
            f.write(".".join(str(random.randrange(256)) for _ in range(4)) + "\n")
PY
sed -e 's/^import SluiceCore$//' -e 's/    private func byte(/    func byte(/' -e 's/    private func bigEndian(/    func bigEndian(/' \
    -e 's/    private let dataStart/    let dataStart/' -e 's/    private let dataSize/    let dataSize/' -e 's/    private var bytes:/    var bytes:/' \
    "$here/../../Sources/SluicePlugins/Filters/Geoip/MaxMindDB.swift" > "$work/MaxMindDB.swift"
flock /tmp/sluice-build.lock gcc -O2 -o "$work/bench-c" "$here/libmaxminddb.c" -lmaxminddb
cp "$here/../../Sources/SluicePlugins/Filters/Geoip/MMDBRecord.swift" "$work/MMDBRecord.swift"
flock /tmp/sluice-build.lock swiftc -O -wmo -enforce-exclusivity=unchecked "$work/MaxMindDB.swift" "$work/MMDBRecord.swift" \
    "$here/main.swift" -o "$work/bench-swift"
"$work/bench-c" "$db" "$work/ips.txt"
"$work/bench-swift" "$db" "$work/ips.txt"
