"""Faults of issue 12: stalled and misbehaving backends, clients that leave, shutdown with
work in flight, slow publishers, nonsense statuses. Timeouts are configured down to about a
second so that each test stays short.
"""

import os
import signal
import socket
import threading
import time

import pytest
import requests

from backend import RawBackend, Resp, header_of, parse_head
from conftest import IS_PUSHPIN
from griputil import hold, settle
from helpers import Conn, wait_for


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def _silent_backend():
    """Reads each request head and never answers; notes when the proxy closes."""
    def handler(rc):
        if rc.read_head(timeout=30) is None:
            return
        rc.notes["closed"] = rc.wait_eof(30)
    return RawBackend(handler)


@pytest.mark.skipif(IS_PUSHPIN, reason="pushpin is several processes (fd count)")
def test_client_that_leaves_frees_both_sides(make_proxy):
    raw = _silent_backend()
    try:
        p = make_proxy(routes="* %s\n" % raw.addr, config={"proxy": {"workers": "1"}})
        time.sleep(0.2)
        base = _fds(p.pid)
        n = 50
        clients = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            s.sendall(b"GET /hang%d HTTP/1.1\r\nHost: example.com\r\n\r\n" % i)
            clients.append(s)
        conns = raw.wait_conns(n)
        assert len(conns) == n
        assert wait_for(lambda: all(rc.heads for rc in conns), 5)
        assert _fds(p.pid) >= base + 2 * n
        t0 = time.monotonic()
        for s in clients:
            s.close()  # FIN, not RST: the requests were read whole
        assert wait_for(lambda: all("closed" in rc.notes for rc in conns), 5)
        assert all(rc.notes["closed"] for rc in conns)
        assert time.monotonic() - t0 < 3
        assert wait_for(lambda: _fds(p.pid) <= base, 5), (_fds(p.pid), base)
    finally:
        raw.stop()


@pytest.mark.xfail(IS_PUSHPIN, reason="Pushpin 1.36 relays any code 0..999", strict=True)
@pytest.mark.parametrize("status", ["0", "99", "101", "600"])
def test_grip_status_outside_final_range_is_502(proxy, backend, status):
    backend.on("/gs-bad", Resp(200, [("Content-Type", "text/plain"), ("Grip-Status", status)],
                               b"x\n"))
    r = proxy.http("GET", "/gs-bad")
    assert r.status == 502
    assert r.body == b"Error while proxying to origin.\n"
