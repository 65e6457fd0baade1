#!/usr/bin/env python3
"""Load generator for Sluice's network-input benchmarks: sends N events to 127.0.0.1:PORT over C connections.

    netload.py tcp   PORT N C   json_lines, one event per line, written with large sends
    netload.py beats PORT N C   lumberjack v2: windows of 2048 JSON events in one compressed frame, each window
                                waits for its ACK (as Filebeat does without pipelining)
    netload.py http  PORT N C   keep-alive POSTs of JSON arrays of 1,000 events

The payloads are built once before sending, so the client's own cost per event stays small.
"""
import http.client, json, socket, struct, sys, threading, time, zlib

mode, port, total, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
EVENT = {"service": "checkout", "level": "info", "status": 200, "latency_ms": 12.5, "msg": "request handled"}


def shares():
    base = total // conns
    return [base + (1 if i < total % conns else 0) for i in range(conns)]


def tcp(n):
    line = (json.dumps(EVENT) + "\n").encode()
    chunk = line * 4096
    s = socket.create_connection(("127.0.0.1", port))
    full, rest = divmod(n, 4096)
    for _ in range(full):
        s.sendall(chunk)
    s.sendall(line * rest)
    s.close()


def beats_window(count):
    frames = b"".join(
        b"2J" + struct.pack(">II", i + 1, len(p)) + p
        for i, p in enumerate([json.dumps(dict(EVENT, message="line %d" % i)).encode() for i in range(count)]))
    z = zlib.compress(frames, 3)
    return b"2W" + struct.pack(">I", count) + b"2C" + struct.pack(">I", len(z)) + z


def read_ack(s, want):
    while True:
        buf = b""
        while len(buf) < 6:
            got = s.recv(6 - len(buf))
            if not got:
                raise SystemExit("connection closed before ACK")
            buf += got
        if buf[1:2] != b"A":
            raise SystemExit("not an ACK: %r" % buf)
        if struct.unpack(">I", buf[2:])[0] == want:
            return


def beats(n):
    window = beats_window(2048)
    s = socket.create_connection(("127.0.0.1", port))
    full, rest = divmod(n, 2048)
    for _ in range(full):
        s.sendall(window)
        read_ack(s, 2048)
    if rest:
        s.sendall(beats_window(rest))
        read_ack(s, rest)
    s.close()


def http_load(n):
    def body(k):
        return json.dumps([EVENT] * k).encode()
    full, rest = divmod(n, 1000)
    c = http.client.HTTPConnection("127.0.0.1", port)
    payload = body(1000)
    for k, b in [(1000, payload)] * full + ([(rest, body(rest))] if rest else []):
        while True:
            c.request("POST", "/", body=b, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status == 200:
                break
            if r.status != 429:
                raise SystemExit("status %d" % r.status)
            time.sleep(0.05)  # 429: the queue is blocked; try again, as a client should
    c.close()


target = {"tcp": tcp, "beats": beats, "http": http_load}[mode]
threads = [threading.Thread(target=target, args=(k,)) for k in shares()]
for t in threads:
    t.start()
for t in threads:
    t.join()
