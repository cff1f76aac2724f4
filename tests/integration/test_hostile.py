"""QUALITY.md resource limits: slow clients in bulk, and the fd count returning to its
baseline once they are gone."""

import os
import socket
import time

import pytest

from conftest import IS_PUSHPIN


def _fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@pytest.mark.thumbtack_only  # client_head_timeout is thumbtack's key
def test_thousand_slow_clients_do_not_hurt_normal_traffic(make_proxy, backend):
    p = make_proxy(config={"runner": {"client_head_timeout": "3000"}, "proxy": {"workers": "2"}})
    assert p.http("GET", "/warm").status == 200
    time.sleep(0.3)
    base = _fds(p.proc.pid)
    slow = []
    try:
        for i in range(1000):
            s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
            s.sendall(b"GET /slow%d HTTP/1.1\r\nHost: x\r\nX-Partial: " % i)
            slow.append(s)
        worst = 0.0
        for i in range(50):
            t0 = time.monotonic()
            r = p.http("GET", "/normal%d" % i)
            worst = max(worst, time.monotonic() - t0)
            assert r.status == 200
        assert worst < 0.5, worst
        # the head timeout closes every slow client; nothing reached the backend for them
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _fds(p.proc.pid) > base + 1:
            time.sleep(0.2)
        # +1: the other worker's pooled keep-alive connection to the backend
        assert _fds(p.proc.pid) <= base + 1, (_fds(p.proc.pid), base)
        assert not [q for q in backend.reqs() if q.target.startswith("/slow")]
    finally:
        for s in slow:
            s.close()


def test_fds_return_to_baseline_after_client_churn(make_proxy, backend):
    if IS_PUSHPIN:
        pytest.skip("pushpin is several processes")
    p = make_proxy(config={"proxy": {"workers": "2"}})
    assert p.http("GET", "/warm").status == 200
    time.sleep(0.3)
    base = _fds(p.proc.pid)
    for i in range(300):
        s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
        if i % 3 == 0:
            s.sendall(b"GET /churn HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(65536)
        elif i % 3 == 1:
            s.sendall(b"GET /churn HTTP/1.1\r\nHo")  # vanish mid-head
        s.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _fds(p.proc.pid) > base + 1:
        time.sleep(0.1)
    # +1: one pooled keep-alive connection to the backend may remain
    assert _fds(p.proc.pid) <= base + 1, (_fds(p.proc.pid), base)
