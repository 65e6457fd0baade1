#!/usr/bin/env python3
"""Test harness for the elasticsearch and http outputs: an Elasticsearch-compatible server (noida-db) on a free
127.0.0.1 port, and in front of it a fault-injection proxy.

Prints one JSON line {"es": PORT, "proxy": PORT} once both are ready, then serves until its standard input closes
(the test ended or crashed) or it gets SIGTERM; either way it stops the server it started.

    python3 es_harness.py            # noida-db + proxy
    python3 es_harness.py --no-es    # the proxy alone, as a fake server answering every request itself

The proxy forwards everything to the server, except its control endpoints (POST, answered at once):

    /__fault/status?code=503&count=N   answer the next N _bulk requests with that HTTP status
    /__fault/items?code=429&count=N    forward the next N _bulk requests, then report every item with that status
    /__fault/slow?seconds=S&count=N    hold the next N _bulk requests S seconds before forwarding
    /__fault/drop?count=N              close the connection of the next N _bulk requests without an answer
    /__fault/restart?down=S            stop the server (SIGINT, data kept), wait S seconds, start it again
    /__fault/reset                     clear every pending fault and counter
    /__fault/stats                     JSON counters: bulk requests seen, faults injected, bodies received

Only 127.0.0.1 is ever used.
"""
import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from noida_server import HOST, Server, free_port


def elasticsearch_ready(port):
    """Raises until the server answers GET / with 200."""
    c = http.client.HTTPConnection(HOST, port, timeout=1)
    c.request("GET", "/")
    if c.getresponse().status != 200:
        raise OSError("not ready")


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.status = []        # pending whole-request statuses
        self.items = []         # pending per-item statuses
        self.slow = []          # pending delays
        self.drop = 0
        self.stats = {"bulk_requests": 0, "injected_status": 0, "injected_items": 0, "slowed": 0, "dropped": 0,
                      "gzip_bodies": 0, "other_requests": 0}

    def take(self, name):
        with self.lock:
            queue = getattr(self, name)
            if isinstance(queue, int):
                if queue > 0:
                    setattr(self, name, queue - 1)
                    return True
                return None
            return queue.pop(0) if queue else None


FAULTS = Faults()
SERVER = None
FAKE = False


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def control(self, path, query):
        q = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
        count = int(q.get("count", "1"))
        with FAULTS.lock:
            if path == "/__fault/status":
                FAULTS.status += [int(q["code"])] * count
            elif path == "/__fault/items":
                FAULTS.items += [int(q["code"])] * count
            elif path == "/__fault/slow":
                FAULTS.slow += [float(q["seconds"])] * count
            elif path == "/__fault/drop":
                FAULTS.drop += count
            elif path == "/__fault/reset":
                FAULTS.reset()
            elif path == "/__fault/stats":
                return self.reply(200, json.dumps(FAULTS.stats).encode())
        if path == "/__fault/restart":
            threading.Thread(target=SERVER.restart, args=(float(q.get("down", "0.5")),), daemon=True).start()
        self.reply(200, b"{}")

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if url.path.startswith("/__fault/"):
            return self.control(url.path, url.query)
        is_bulk = url.path.endswith("/_bulk") or "/_doc" in url.path
        item_status = None
        if is_bulk:
            with FAULTS.lock:
                FAULTS.stats["bulk_requests"] += 1
                if self.headers.get("Content-Encoding") == "gzip":
                    FAULTS.stats["gzip_bodies"] += 1
            if FAULTS.take("drop"):
                FAULTS.stats["dropped"] += 1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            delay = FAULTS.take("slow")
            if delay:
                FAULTS.stats["slowed"] += 1
                time.sleep(delay)
            status = FAULTS.take("status")
            if status:
                FAULTS.stats["injected_status"] += 1
                return self.reply(status, json.dumps({"error": "injected", "status": status}).encode())
            item_status = FAULTS.take("items")
        else:
            FAULTS.stats["other_requests"] += 1
        if FAKE:
            return self.fake(url, body)
        try:
            upstream = http.client.HTTPConnection(HOST, SERVER.port, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            response = upstream.getresponse()
            data = response.read()
            status = response.status
        except OSError:
            # The server is down (restart): the client sees a dropped connection.
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        encoding = response.headers.get("Content-Encoding")
        if item_status and status == 200:
            FAULTS.stats["injected_items"] += 1
            if encoding == "gzip":
                data, encoding = gzip.decompress(data), None
            doc = json.loads(data)
            doc["errors"] = True
            for item in doc.get("items", []):
                for detail in item.values():
                    detail["status"] = item_status
                    detail["error"] = {"type": "injected_exception", "reason": "injected by the test proxy"}
            data = json.dumps(doc).encode()
        self.reply(status, data, response.headers.get("Content-Type", "application/json"),
                   [("Content-Encoding", encoding)] if encoding else [])

    def fake(self, url, body):
        """A minimal server: `/` and templates answer 200, `_bulk` accepts every item."""
        if url.path.endswith("/_bulk"):
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            lines = [l for l in body.split(b"\n") if l.strip()]
            items, i = [], 0
            while i < len(lines):
                action = next(iter(json.loads(lines[i])))
                items.append({action: {"status": 201}})
                i += 1 if action == "delete" else 2
            return self.reply(200, json.dumps({"errors": False, "items": items}).encode())
        return self.reply(200, json.dumps({"version": {"number": "8.15.0"}}).encode())

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = handle_any


def main():
    global SERVER, FAKE
    # A parent may start us with signals blocked (Foundation's Process does): unblock them for us and noida-db,
    # or SIGTERM and SIGINT would never arrive.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    FAKE = "--no-es" in sys.argv
    data_dir = tempfile.mkdtemp(prefix="sluice-es-")
    SERVER = Server("elasticsearch", free_port(), data_dir, elasticsearch_ready)
    if not FAKE:
        SERVER.start()
    proxy = ThreadingHTTPServer((HOST, 0), Proxy)
    proxy.daemon_threads = True
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    print(json.dumps({"es": SERVER.port, "proxy": proxy.server_address[1], "data_dir": data_dir}), flush=True)

    def finish(*_):
        SERVER.stop()
        subprocess.run(["rm", "-rf", data_dir])
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)

    # Standard input may stay open if the test process leaked its write end to us: watch the parent as well.
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.2)
        finish()

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        finish()


if __name__ == "__main__":
    main()
