#!/usr/bin/env python3
"""Test harness for the kafka input and output: a Kafka-protocol server (noida-db) on a free 127.0.0.1 port.

    python3 kafka_harness.py
        Starts the server, prints one JSON line {"port": PORT, "data_dir": DIR} once it answers, then serves until
        its standard input closes (the test ended or crashed) or it gets SIGTERM; either way it stops the server.
        A line "restart S" on standard input stops the server (data kept) and answers "stopped" once it is down, then
        waits S seconds, starts it again and answers "restarted".

    python3 kafka_harness.py create-topic PORT NAME PARTITIONS
        Creates a topic through the Kafka admin protocol (kafka-python), since the server auto-creates topics with
        one partition only.

    python3 kafka_harness.py offsets PORT GROUP
        Prints the group's committed offsets as JSON {"topic:partition": offset}.

Only 127.0.0.1 is ever used.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from noida_server import HOST, Server, free_port


def broker_ready(port):
    """Raises until the broker serves metadata, not merely accepts connections."""
    from kafka.admin import KafkaAdminClient
    with socket.create_connection((HOST, port), timeout=1):
        pass
    KafkaAdminClient(bootstrap_servers="%s:%d" % (HOST, port), request_timeout_ms=2000).close()


def admin(port):
    from kafka.admin import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers="%s:%d" % (HOST, int(port)), request_timeout_ms=10000)


def create_topic(port, name, partitions):
    from kafka.admin import NewTopic
    a = admin(port)
    a.create_topics([NewTopic(name, int(partitions), 1)])
    # Wait until the metadata shows every partition.
    for _ in range(100):
        try:
            described = a.describe_topics([name])
            if described and len(described[0]["partitions"]) == int(partitions):
                break
        except Exception:
            pass
        time.sleep(0.1)
    a.close()
    print(json.dumps({"topic": name, "partitions": int(partitions)}))


def offsets(port, group):
    a = admin(port)
    result = a.list_group_offsets(group)
    a.close()
    table = result.get(group, result) if isinstance(result, dict) else {}
    print(json.dumps({"%s:%d" % (tp.topic, tp.partition): meta.offset for tp, meta in table.items()}))


def serve():
    # A parent may start us with signals blocked (Foundation's Process does): unblock them for us and noida-db.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    data_dir = tempfile.mkdtemp(prefix="sluice-kafka-")
    server = Server("kafka", free_port(), data_dir, broker_ready)
    server.start()
    print(json.dumps({"port": server.port, "data_dir": data_dir}), flush=True)

    def finish(*_):
        server.stop()
        subprocess.run(["rm", "-rf", data_dir])
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.2)
        finish()

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        for line in sys.stdin:
            parts = line.split()
            if parts and parts[0] == "restart":
                server.stop()
                print("stopped", flush=True)
                time.sleep(float(parts[1]) if len(parts) > 1 else 1.0)
                server.start()
                print("restarted", flush=True)
    finally:
        finish()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "create-topic":
        create_topic(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "offsets":
        offsets(*sys.argv[2:4])
    else:
        serve()
