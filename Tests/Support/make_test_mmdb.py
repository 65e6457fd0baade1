#!/usr/bin/env python3
"""Writes the small MaxMind DB (MMDB 2.0) files the geoip tests read, with made-up records for a few networks.

Besides the bundled (real, 2019) GeoLite2 City, the tests build their own small files: a GeoLite2-City-shaped, a GeoLite2-Country-shaped and
a GeoLite2-ASN-shaped file, following the public format spec (binary search tree + data section + metadata). The
writer covers what the reader must handle: every record size (24, 28, 32 bits), IPv4 and IPv6 trees (IPv4 networks
of an IPv6 tree live under ::/96), pointers (repeated map keys and records point at their first copy), extended
types (uint32, uint64, uint128, array, boolean, float), pointers of 2 and 3 bytes, and sizes that need the 29/30-byte
size forms.

Run from the package root to regenerate the files under Tests/Support/mmdb/ (not under Tests/Fixtures/, where every
folder is a golden case):
    python3 Tests/Support/make_test_mmdb.py Tests/Support/mmdb
The output is deterministic (fixed build_epoch), so regenerating changes nothing unless this script changes.
Check the files with an independent reader: `mmdblookup --file F --ip 8.8.8.8` (Debian's mmdb-bin) or
`python3 -c 'import maxminddb; print(maxminddb.open_database(F).get("8.8.8.8"))'`.
"""

import ipaddress
import os
import struct
import sys

# Types (spec § "Output Data Section").
POINTER, STRING, DOUBLE, BYTES, UINT16, UINT32, MAP, INT32, UINT64, UINT128, ARRAY, BOOLEAN, FLOAT = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 14, 15)


class Typed:
    """A value with an explicit MMDB type (plain Python values get a default type)."""

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value


def uint16(v): return Typed(UINT16, v)
def uint32(v): return Typed(UINT32, v)
def uint64(v): return Typed(UINT64, v)
def uint128(v): return Typed(UINT128, v)
def int32(v): return Typed(INT32, v)
def float32(v): return Typed(FLOAT, v)


class DataWriter:
    """The data section. Identical strings (map keys included) and identical records are written once; later
    uses are pointers, as MaxMind's own writer does."""

    def __init__(self, share=True):
        self.out = bytearray()
        self.seen = {}
        self.share = share

    def control(self, kind, size):
        head = bytearray()
        if size < 29:
            first, extra = size, b""
        elif size < 29 + 256:
            first, extra = 29, bytes([size - 29])
        elif size < 285 + 65536:
            first, extra = 30, struct.pack(">H", size - 285)
        else:
            first, extra = 31, struct.pack(">I", size - 65821)[1:]
        if kind <= 7:
            head.append((kind << 5) | first)
        else:
            head.append(first)
            head.append(kind - 7)
        return bytes(head) + extra

    def pointer(self, offset):
        if offset < 2048:
            return bytes([0x20 | (offset >> 8), offset & 0xFF])
        if offset < 2048 + 524288:
            v = offset - 2048
            return bytes([0x28 | (v >> 16), (v >> 8) & 0xFF, v & 0xFF])
        if offset < 526336 + 134217728:
            v = offset - 526336
            return bytes([0x30 | (v >> 24), (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF])
        return bytes([0x38]) + struct.pack(">I", offset)

    @staticmethod
    def key(value):
        if isinstance(value, Typed):
            return ("T", value.kind, DataWriter.key(value.value))
        if isinstance(value, dict):
            return ("M", tuple((k, DataWriter.key(v)) for k, v in value.items()))
        if isinstance(value, list):
            return ("A", tuple(DataWriter.key(v) for v in value))
        return (type(value).__name__, value)

    def write(self, value):
        """Appends `value` (or a pointer to an earlier copy); returns the offset it starts at."""
        k = self.key(value)
        if self.share and isinstance(value, (str, dict)) and k in self.seen:
            at = len(self.out)
            self.out += self.pointer(self.seen[k])
            return at
        at = len(self.out)
        if isinstance(value, (str, dict)):
            self.seen[k] = at
        self.out += self.encode(value)
        return at

    def encode(self, value):
        if isinstance(value, Typed):
            kind, v = value.kind, value.value
        elif isinstance(value, bool):
            kind, v = BOOLEAN, value
        elif isinstance(value, str):
            kind, v = STRING, value
        elif isinstance(value, float):
            kind, v = DOUBLE, value
        elif isinstance(value, int):
            kind, v = UINT32, value
        elif isinstance(value, dict):
            kind, v = MAP, value
        elif isinstance(value, list):
            kind, v = ARRAY, value
        elif isinstance(value, bytes):
            kind, v = BYTES, value
        else:
            raise TypeError(value)
        if kind == STRING:
            raw = v.encode("utf-8")
            return self.control(STRING, len(raw)) + raw
        if kind == BYTES:
            return self.control(BYTES, len(v)) + v
        if kind == DOUBLE:
            return self.control(DOUBLE, 8) + struct.pack(">d", v)
        if kind == FLOAT:
            return self.control(FLOAT, 4) + struct.pack(">f", v)
        if kind == BOOLEAN:
            return self.control(BOOLEAN, 1 if v else 0)
        if kind == INT32:
            raw = struct.pack(">i", v).lstrip(b"\x00") if v >= 0 else struct.pack(">i", v)
            return self.control(INT32, len(raw)) + raw
        if kind in (UINT16, UINT32, UINT64, UINT128):
            raw = v.to_bytes(16, "big").lstrip(b"\x00")
            return self.control(kind, len(raw)) + raw
        if kind == MAP:
            # Keys and values are written in place (recursively), so pointers to them are valid offsets.
            saved, self.out = self.out, self.out + self.control(MAP, len(v))
            for key, item in v.items():
                self.write(key)
                self.write(item)
            encoded = bytes(self.out[len(saved):])
            self.out = saved
            return encoded
        if kind == ARRAY:
            saved, self.out = self.out, self.out + self.control(ARRAY, len(v))
            for item in v:
                self.write(item)
            encoded = bytes(self.out[len(saved):])
            self.out = saved
            return encoded
        raise TypeError(kind)


def build(path, database_type, entries, ip_version=6, record_size=28, description="Sluice test data"):
    """Writes an MMDB file mapping each (network, record) of `entries` to its record."""
    bits = 128 if ip_version == 6 else 32
    data = DataWriter()
    # A node is [left, right]; a child is ("node", index), ("data", offset) or None (no data).
    nodes = [[None, None]]
    for network, record in entries:
        net = ipaddress.ip_network(network)
        if net.version == 4 and ip_version == 6:
            value, prefix = int(net.network_address), 96 + net.prefixlen
        elif net.version == ip_version:
            value, prefix = int(net.network_address), net.prefixlen
        else:
            raise ValueError(f"{network} does not fit an IPv{ip_version} tree")
        offset = data.write(record)
        node = 0
        for depth in range(prefix):
            bit = (value >> (bits - 1 - depth)) & 1
            last = depth == prefix - 1
            child = nodes[node][bit]
            if last:
                if child is not None and child[0] == "node":
                    raise ValueError(f"{network} overlaps a more specific network")
                nodes[node][bit] = ("data", offset)
            else:
                if child is None:
                    nodes.append([None, None])
                    nodes[node][bit] = ("node", len(nodes) - 1)
                    child = nodes[node][bit]
                elif child[0] == "data":
                    raise ValueError(f"{network} lies inside another network")
                node = child[1]
    node_count = len(nodes)

    def record_value(child):
        if child is None:
            return node_count
        if child[0] == "node":
            return child[1]
        return node_count + 16 + child[1]

    tree = bytearray()
    for left, right in nodes:
        l, r = record_value(left), record_value(right)
        if record_size == 24:
            tree += l.to_bytes(3, "big") + r.to_bytes(3, "big")
        elif record_size == 28:
            tree += (l & 0xFFFFFF).to_bytes(3, "big")
            tree.append(((l >> 24) << 4) | (r >> 24))
            tree += (r & 0xFFFFFF).to_bytes(3, "big")
        elif record_size == 32:
            tree += l.to_bytes(4, "big") + r.to_bytes(4, "big")
        else:
            raise ValueError(record_size)

    meta = DataWriter(share=False)
    meta.write({
        "binary_format_major_version": uint16(2),
        "binary_format_minor_version": uint16(0),
        "build_epoch": uint64(1700000000),
        "database_type": database_type,
        "description": {"en": description},
        "ip_version": uint16(ip_version),
        "languages": ["en", "de"],
        "node_count": uint32(node_count),
        "record_size": uint16(record_size),
    })
    with open(path, "wb") as f:
        f.write(bytes(tree) + b"\x00" * 16 + bytes(data.out) + b"\xab\xcd\xefMaxMind.com" + bytes(meta.out))


def names(en, de=None):
    out = {"en": en}
    if de:
        out["de"] = de
    return out


NORTH_AMERICA = {"code": "NA", "geoname_id": uint32(6255149), "names": names("North America", "Nordamerika")}
EUROPE = {"code": "EU", "geoname_id": uint32(6255148), "names": names("Europe", "Europa")}
OCEANIA = {"code": "OC", "geoname_id": uint32(6255151), "names": names("Oceania", "Ozeanien")}
US = {"geoname_id": uint32(6252001), "iso_code": "US", "names": names("United States", "USA")}
GB = {"geoname_id": uint32(2635167), "iso_code": "GB", "names": names("United Kingdom", "Vereinigtes Königreich")}
SE = {"geoname_id": uint32(2661886), "iso_code": "SE", "names": names("Sweden", "Schweden")}
AU = {"geoname_id": uint32(2077456), "iso_code": "AU", "names": names("Australia", "Australien")}

CITY = [
    ("8.8.8.0/24", {
        # Written first and long, so everything after it lies past offset 2048: later pointers need 3 bytes.
        "sluice_padding": "p" * 2100,
        "city": {"geoname_id": uint32(5375480), "names": names("Mountain View")},
        "continent": NORTH_AMERICA,
        "country": US,
        "location": {"accuracy_radius": uint16(1000), "latitude": 37.386, "longitude": -122.0838,
                     "metro_code": uint16(807), "time_zone": "America/Los_Angeles"},
        "postal": {"code": "94035"},
        "registered_country": US,
        "subdivisions": [{"geoname_id": uint32(5332921), "iso_code": "CA", "names": names("California", "Kalifornien")}],
    }),
    ("81.2.69.0/24", {
        "city": {"geoname_id": uint32(2643743), "names": names("London", "London")},
        "continent": EUROPE,
        "country": GB,
        "location": {"accuracy_radius": uint16(10), "latitude": 51.5142, "longitude": -0.0931, "time_zone": "Europe/London"},
        "registered_country": GB,
        "subdivisions": [
            {"geoname_id": uint32(6269131), "iso_code": "ENG", "names": names("England")},
            {"geoname_id": uint32(3333217), "iso_code": "WBK", "names": names("West Berkshire")},
        ],
    }),
    # A record without a location: Logstash returns nothing for it (target {} and the failure tag).
    ("89.160.20.0/24", {"continent": EUROPE, "country": SE, "registered_country": SE}),
    # A location without city, postal or subdivisions.
    ("1.128.0.0/11", {
        "continent": OCEANIA, "country": AU, "registered_country": AU,
        "location": {"accuracy_radius": uint16(1000), "latitude": -33.494, "longitude": 143.2104, "time_zone": "Australia/Sydney"},
    }),
    ("2001:db8:1::/48", {
        "city": {"geoname_id": uint32(2673730), "names": names("Stockholm", "Stockholm")},
        "continent": EUROPE,
        "country": SE,
        "location": {"accuracy_radius": uint16(50), "latitude": 59.3247, "longitude": 18.056, "time_zone": "Europe/Stockholm"},
        "postal": {"code": "100 05"},
        "registered_country": SE,
        "subdivisions": [{"geoname_id": uint32(2673722), "iso_code": "AB", "names": names("Stockholm County")}],
        # Types no GeoIP field uses, so the reader's decoding of them is exercised too.
        "sluice_test": {"i32": int32(-7), "u128": uint128(2**100 + 5), "f": float32(1.5), "flag": True,
                        "raw": b"\x01\x02", "long_text": "x" * 300, "many": list(range(30))},
    }),
]

COUNTRY = [
    ("8.8.8.0/24", {"continent": NORTH_AMERICA, "country": US, "registered_country": US}),
    ("81.2.69.0/24", {"continent": EUROPE, "country": GB, "registered_country": GB}),
]

ASN = [
    ("8.8.8.0/24", {"autonomous_system_number": uint32(15169), "autonomous_system_organization": "Google LLC"}),
    ("1.128.0.0/11", {"autonomous_system_number": uint32(1221), "autonomous_system_organization": "Telstra Pty Ltd"}),
    ("2001:db8:1::/48", {"autonomous_system_number": uint32(64496), "autonomous_system_organization": "Example Networks"}),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    build(os.path.join(out, "GeoLite2-City-Test.mmdb"), "GeoLite2-City", CITY, record_size=28)
    build(os.path.join(out, "GeoLite2-Country-Test.mmdb"), "GeoLite2-Country", COUNTRY, record_size=24)
    build(os.path.join(out, "GeoLite2-ASN-Test.mmdb"), "GeoLite2-ASN", ASN, record_size=32)
    # An IPv4-only tree (ip_version 4), as some third-party databases are.
    build(os.path.join(out, "IPv4-City-Test.mmdb"), "DBIP-City-Lite", CITY[:4], ip_version=4, record_size=24)


if __name__ == "__main__":
    main()
