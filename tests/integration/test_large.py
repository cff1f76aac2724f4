"""Issue 2: large bodies stream through in bounded memory (marked slow)."""

import threading
import time

import pytest

from backend import Resp
from conftest import IS_PUSHPIN

SIZE = 200 * 1024 * 1024
PIECE = 256 * 1024
RSS_LIMIT_KB = 96 * 1024


def _rss_kb(pids):
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for ln in f:
                    if ln.startswith("VmRSS:"):
                        total += int(ln.split()[1])
        except OSError:
            pass
    return total


class RssWatch:
    def __init__(self, proxy):
        self.pids = proxy.worker_pids()
        self.base = _rss_kb(self.pids)
        self.peak = self.base
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            self.peak = max(self.peak, _rss_kb(self.pids))
            time.sleep(0.05)

    def done(self):
        self.stop = True
        self.t.join(2)
        return self.peak - self.base


def _check_rss(growth, what):
    print("%s: RSS growth %d KB" % (what, growth))
    if not IS_PUSHPIN:
        assert growth < RSS_LIMIT_KB, "%s grew RSS by %d KB" % (what, growth)


@pytest.mark.slow
def test_large_response_streams(proxy, backend):
    def gen():
        chunk = b"r" * PIECE
        for _ in range(SIZE // PIECE):
            yield chunk
    backend.on("/bigdown", Resp(200, [("Content-Type", "application/octet-stream"),
                                      ("Content-Length", str(SIZE))], gen(), framing="none"))
    watch = RssWatch(proxy)
    with proxy.conn(timeout=20) as c:
        c.request("GET", "/bigdown")
        r = c.read_head()
        assert r.status == 200
        got = len(c.buf)
        c.buf.clear()
        if r.header("Content-Length"):
            assert int(r.header("Content-Length")) == SIZE
        chunked = "chunked" in (r.header("Transfer-Encoding") or "")
        if chunked:
            body = 0
            while True:
                d = c.read_chunk()
                if not d:
                    break
                body += len(d)
            got = body
        else:
            while got < SIZE:
                d = c.sock.recv(1 << 20)
                assert d, "connection closed after %d bytes" % got
                got += len(d)
        assert got == SIZE
    _check_rss(watch.done(), "200 MB download")


@pytest.mark.slow
def test_large_request_streams(proxy, backend):
    watch = RssWatch(proxy)
    with proxy.conn(timeout=30) as c:
        c.send(b"POST /bigup HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
               b"Content-Length: %d\r\n\r\n" % SIZE)
        chunk = b"u" * PIECE
        for _ in range(SIZE // PIECE):
            c.sock.sendall(chunk)
        r = c.read_response()
        assert r.status == 200
    q = backend.reqs("/bigup")[0]
    assert q.body_len == SIZE
    _check_rss(watch.done(), "200 MB upload")


@pytest.mark.slow
def test_large_chunked_request(proxy, backend):
    watch = RssWatch(proxy)
    n = 50 * 1024 * 1024
    with proxy.conn(timeout=30) as c:
        c.send(b"POST /bigchunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        piece = b"%x\r\n" % PIECE + b"c" * PIECE + b"\r\n"
        for _ in range(n // PIECE):
            c.sock.sendall(piece)
        c.sock.sendall(b"0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200
    q = backend.reqs("/bigchunk")[0]
    assert len(q.body) == n
    _check_rss(watch.done(), "50 MB chunked upload")
