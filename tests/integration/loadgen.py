"""Steady HTTP traffic from threads, counting every outcome: the fault, reload and restart
tests and the soak (tools/soak.py) measure "zero failed requests" with it.

A request fails when it gets no complete response, or a response that `check` refuses.
On a keep-alive connection, a request that meets a connection the server closed before
sending any byte of its answer is sent again on a new connection, as browsers and HTTP
libraries do for idempotent requests (RFC 9112 9.3.1); such retries are counted apart, as
are reconnects (the server closing a keep-alive connection after a complete answer, e.g.
with Connection: close).
"""

import socket
import threading
import time

from helpers import Closed, Conn


class Steady:
    def __init__(self, port, paths=("/",), threads=4, keepalive=False, host="example.com",
                 check=None, timeout=5.0, pause=0.0):
        self.port = port
        self.paths = list(paths)
        self.keepalive = keepalive
        self.host = host
        self.check = check or (lambda r: r.status == 200 and r.complete)
        self.timeout = timeout
        self.pause = pause
        self.lock = threading.Lock()
        self.ok = 0
        self.failed = 0
        self.retried = 0
        self.reconnects = 0
        self.errors = []
        self.worst = 0.0
        self.stopping = False
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stopping = True
        for t in self.threads:
            t.join(30)
        return self

    def total(self):
        with self.lock:
            return self.ok + self.failed

    def summary(self):
        return "ok=%d failed=%d retried=%d reconnects=%d worst=%.3fs errors=%r" % (
            self.ok, self.failed, self.retried, self.reconnects, self.worst, self.errors[:5])

    def _fail(self, why):
        with self.lock:
            self.failed += 1
            if len(self.errors) < 50:
                self.errors.append(why)

    def _one(self, c, path, fresh):
        """Returns (response or None, reusable conn or None, stale) ."""
        try:
            c.request("GET", path, None if self.keepalive else [("Connection", "close")],
                      host=self.host)
        except OSError:
            return None, None, not fresh
        try:
            r = c.read_response()
        except Closed:
            # Closed with nothing of the answer read: a stale keep-alive connection.
            return None, None, not fresh and not c.buf
        except (OSError, ValueError) as e:
            return e, None, False
        keep = self.keepalive and (r.header("Connection") or "").lower() != "close"
        return r, (c if keep else None), False

    def _run(self, i):
        c = None
        n = 0
        while not self.stopping:
            path = self.paths[(i + n) % len(self.paths)]
            n += 1
            t0 = time.monotonic()
            for attempt in range(2):
                fresh = c is None
                if fresh:
                    try:
                        c = Conn(self.port, timeout=self.timeout)
                    except OSError as e:
                        c = None
                        self._fail("connect: %r" % e)
                        break
                r, keep, stale = self._one(c, path, fresh)
                if keep is None:
                    try:
                        c.close()
                    except OSError:
                        pass
                    c = None
                if stale and attempt == 0:
                    with self.lock:
                        self.retried += 1
                    continue
                if r is None or isinstance(r, Exception):
                    self._fail("%s: %r" % (path, r))
                elif not self.check(r):
                    self._fail("%s: %r" % (path, r))
                else:
                    with self.lock:
                        self.ok += 1
                        self.worst = max(self.worst, time.monotonic() - t0)
                        if self.keepalive and keep is None:
                            self.reconnects += 1
                break
            if self.pause:
                time.sleep(self.pause)
        if c is not None:
            c.close()


def raw_get(port, path="/", host="example.com", timeout=5.0):
    """One GET on a fresh connection closed by the server; returns the raw bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (
            path.encode(), host.encode()))
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out
            out += d
    finally:
        s.close()
