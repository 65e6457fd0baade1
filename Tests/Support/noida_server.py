"""noida-db as the test harnesses run it: one protocol on a free 127.0.0.1 port, in its own process group so that
it stops as a whole, ready once the protocol's own check passes. Shared by es_harness.py and kafka_harness.py."""
import os
import signal
import socket
import subprocess
import threading
import time

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    """noida-db serving `protocol` (`elasticsearch`, `kafka`) on `port`; `ready(port)` returns once it serves,
    raising while it does not yet."""

    def __init__(self, protocol, port, data_dir, ready):
        self.protocol, self.port, self.data_dir, self.ready, self.proc = protocol, port, data_dir, ready, None
        self.lock = threading.Lock()

    def start(self, timeout=30.0):
        self.proc = subprocess.Popen(
            ["noida-db", "start", "--only", self.protocol, "--%s-port" % self.protocol, str(self.port),
             "--data-dir", self.data_dir, "--host", HOST],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("noida-db exited with %s" % self.proc.returncode)
            try:
                self.ready(self.port)
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("noida-db not ready after %.0f s" % timeout)

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def restart(self, down):
        """Stops the server (data kept), waits `down` seconds and starts it again."""
        with self.lock:
            self.stop()
            time.sleep(down)
            self.start()
