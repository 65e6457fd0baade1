#!/usr/bin/env python3
"""Writes Tests/Fixtures/geoip-bundled-city/expected from libmaxminddb's mmdblookup (Debian's mmdb-bin), not from
Sluice: the legacy City fields Logstash's geoip filter writes for each address of that case's input.

    python3 Tests/Support/geoip_bundled_expected.py /usr/local/share/sluice/GeoLite2-City.mmdb
"""
import json, os, re, subprocess, sys

database = sys.argv[1]
case = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "geoip-bundled-city")


def lookup(ip, *path):
    """One value of the record of `ip` at `path` (None when absent), typed from mmdblookup's annotation."""
    out = subprocess.run(["mmdblookup", "--file", database, "--ip", ip, "--", *path], capture_output=True, text=True)
    if "Could not find an entry" in out.stdout + out.stderr:
        raise LookupError(ip)
    if out.returncode != 0:
        return None
    m = re.fullmatch(r'\s*(.*) <(\w+)>\s*', out.stdout, re.S)
    if not m:
        return None
    text, kind = m.groups()
    if kind == "utf8_string":
        return text[1:-1]
    if kind == "double":
        return float(text)
    if kind.startswith("uint") or kind == "int32":
        return int(text)
    raise ValueError(f"{ip} {path}: {kind}")


def record(ip):
    """Logstash's legacy City fields (country_code3 is the two-letter code; the region is the last subdivision)."""
    try:
        lat, lon = lookup(ip, "location", "latitude"), lookup(ip, "location", "longitude")
    except LookupError:
        return {}
    fields = {
        "ip": ip,
        "city_name": lookup(ip, "city", "names", "en"),
        "country_name": lookup(ip, "country", "names", "en"),
        "continent_code": lookup(ip, "continent", "code"),
        "country_code2": lookup(ip, "country", "iso_code"),
        "country_code3": lookup(ip, "country", "iso_code"),
        "postal_code": lookup(ip, "postal", "code"),
        "dma_code": lookup(ip, "location", "metro_code"),
        "region_name": lookup(ip, "subdivisions", "-1", "names", "en"),
        "region_code": lookup(ip, "subdivisions", "-1", "iso_code"),
        "timezone": lookup(ip, "location", "time_zone"),
        "location": {"lat": lat, "lon": lon},
        "latitude": lat,
        "longitude": lon,
    }
    return {k: v for k, v in fields.items() if v is not None}


with open(os.path.join(case, "input"), encoding="utf-8") as f, open(os.path.join(case, "expected"), "w", encoding="utf-8") as out:
    for line in f:
        event = json.loads(line)
        geo = record(event["ip"])
        event.update({"@timestamp": "<any>", "@version": "1", "host": "<any>", "geoip": geo})
        event["tags"] = ["located"] if geo else ["_geoip_lookup_failure"]
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
