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
from griputil import hold, read_stream_until, settle
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


# ---- bounded waits on the backend ----

TIMEOUTS = {"proxy": {"backend_response_timeout": "1000", "backend_idle_timeout": "1000",
                      "workers": "1"}}


def _raw_proxy(make_proxy, handler, routes=None, config=None):
    raw = RawBackend(handler)
    p = make_proxy(routes=(routes or "* %s\n") % raw.addr, config=config or TIMEOUTS)
    return p, raw


@pytest.mark.thumbtack_only  # backend_*_timeout are thumbtack's keys
def test_backend_that_never_answers_gets_502_in_time(make_proxy):
    p, raw = _raw_proxy(make_proxy, lambda rc: (rc.read_head(), rc.notes.update(
        closed=rc.wait_eof(10))))
    try:
        with Conn(p.port, timeout=10) as c:
            t0 = time.monotonic()
            c.request("GET", "/never")
            r = c.read_response()
            took = time.monotonic() - t0
        assert r.status == 502
        assert r.body == b"Error while proxying to origin.\n"
        assert 0.9 <= took < 2.5, took
        rc = raw.wait_conns(1)[0]
        assert wait_for(lambda: "closed" in rc.notes, 3) and rc.notes["closed"]
        assert "did not answer within 1000 ms" in p.log()
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
def test_stall_mid_body_ends_the_client_response_uncleanly(make_proxy):
    def handler(rc):
        rc.read_head()
        rc.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        rc.notes["closed"] = rc.wait_eof(10)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        with Conn(p.port, timeout=10) as c:
            c.request("GET", "/midbody")
            t0 = time.monotonic()
            r = c.read_response()
            took = time.monotonic() - t0
        assert r.status == 200 and r.body == b"first"
        assert not r.complete and not r.timed_out  # closed without the terminal chunk
        assert 0.9 <= took < 2.5, took
        assert wait_for(lambda: "closed" in raw.conns[0].notes, 3)
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
def test_short_body_then_stall(make_proxy):
    def handler(rc):
        rc.read_head()
        rc.send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        rc.notes["closed"] = rc.wait_eof(10)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        with Conn(p.port, timeout=10) as c:
            c.request("GET", "/short")
            t0 = time.monotonic()
            r = c.read_response()
            took = time.monotonic() - t0
        assert r.status == 200 and r.header("Content-Length") == "100"
        assert r.body == b"0123456789" and not r.complete and not r.timed_out
        assert 0.9 <= took < 2.5, took
        assert wait_for(lambda: raw.conns[0].notes.get("closed"), 3)
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
def test_stall_after_grip_headers_is_502(make_proxy):
    def handler(rc):
        rc.read_head()
        rc.send("HTTP/1.1 200 OK\r\nGrip-Hold: stream\r\nGrip-Channel: x\r\n"
                "Content-Length: 50\r\n\r\nabc")
        rc.notes["closed"] = rc.wait_eof(10)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        t0 = time.monotonic()
        r = p.http("GET", "/grip-stall", timeout=10)
        assert r.status == 502 and r.body == b"Error while proxying to origin.\n"
        assert time.monotonic() - t0 < 2.5
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
def test_slow_but_steady_backend_is_not_cut(make_proxy):
    """The idle limit is between bytes, not for the whole response."""
    def handler(rc):
        rc.read_head()
        rc.send("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n")
        for b in "01234567":
            time.sleep(0.35)
            rc.send(b)
        rc.wait_eof(10)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        r = p.http("GET", "/steady", timeout=10)
        assert r.status == 200 and r.body == b"01234567" and r.complete
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
def test_time_paused_by_a_slow_client_does_not_count(make_proxy):
    big = 8 * 1024 * 1024

    def handler(rc):
        rc.read_head()
        rc.send("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % big)
        rc.send(b"x" * big)
        rc.wait_eof(20)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        with Conn(p.port, timeout=10, rcvbuf=4096) as c:
            c.request("GET", "/bulk")
            head = c.read_head()
            assert head.status == 200
            time.sleep(2.5)  # well past the 1 s idle limit, with the proxy paused on us
            got = len(c.buf)
            while got < big:
                d = c.sock.recv(1 << 20)
                assert d, "closed after %d of %d bytes" % (got, big)
                got += len(d)
        assert got == big
    finally:
        raw.stop()


def _link_backend(stall_first_next):
    """/stream: a stream hold with a polled next link; /next: stalls the first time
    (if asked), then answers a stream hold with the same link; /gone: stalls."""
    seen = {"next": 0}
    lock = threading.Lock()

    def handler(rc):
        while True:
            head = rc.read_head(timeout=30)
            if head is None:
                return
            _, target, headers = parse_head(head)
            n = int(header_of(headers, "Content-Length", "0") or 0)
            rc.read_exact(n)
            grip = ("Grip-Hold: stream\r\nGrip-Channel: faults-x\r\n"
                    "Grip-Link: </next>; rel=next; timeout=1\r\n")
            if target == "/stream":
                body = "start\n"
                rc.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%sGrip-Link: </gone>; "
                        "rel=gone\r\nContent-Length: %d\r\n\r\n%s" % (grip, len(body), body))
            elif target == "/next":
                with lock:
                    seen["next"] += 1
                    k = seen["next"]
                if k == 1 and stall_first_next:
                    rc.notes["stalled"] = True
                    rc.notes["closed"] = rc.wait_eof(30)
                    return
                body = "polled %d\n" % k
                rc.send("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n%sContent-Length: %d\r\n"
                        "\r\n%s" % (grip, len(body), body))
            elif target == "/gone":
                rc.notes["gone"] = time.monotonic()
                rc.notes["closed"] = rc.wait_eof(30)
                rc.notes["closed_at"] = rc.closed_at
                return
    return handler, seen


@pytest.mark.thumbtack_only
def test_stalled_next_link_is_retried_and_polling_goes_on(make_proxy):
    handler, seen = _link_backend(stall_first_next=True)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        c = p.conn(timeout=15)
        c.request("GET", "/stream")
        assert c.read_head().status == 200
        got = read_stream_until(c, b"polled 3\n", timeout=12)
        assert got.startswith(b"start\n") and b"polled 2\n" in got
        stalled = [rc for rc in raw.conns if rc.notes.get("stalled")]
        assert len(stalled) == 1 and stalled[0].notes.get("closed")
        assert "did not answer within 1000 ms" in p.log()
        c.close()
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
def test_stalled_gone_link_is_given_up(make_proxy):
    handler, _ = _link_backend(stall_first_next=False)
    p, raw = _raw_proxy(make_proxy, handler)
    try:
        c = p.conn(timeout=5)
        c.request("GET", "/stream")
        assert c.read_head().status == 200
        c.close()
        gone = lambda: [rc for rc in raw.conns if "gone" in rc.notes]  # noqa: E731
        assert wait_for(gone, 5)
        rc = gone()[0]
        assert wait_for(lambda: "closed" in rc.notes, 4) and rc.notes["closed"]
        assert 0.9 <= rc.notes["closed_at"] - rc.notes["gone"] < 2.5
    finally:
        raw.stop()


# ---- SIGTERM ----

def _term_and_wait(p, limit):
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    code = p.proc.wait(limit)
    return code, time.monotonic() - t0


@pytest.mark.xfail(IS_PUSHPIN, reason="Pushpin 1.36 drops held long-polls at SIGTERM", strict=True)
def test_sigterm_answers_held_long_polls_and_closes_them(make_proxy, backend, chan):
    backend.on("/lp-term", hold("response", [chan], b"bye\n", extra=[("Grip-Timeout", "55")]))
    p = make_proxy()
    conns = []
    for i in range(20):
        c = p.conn(timeout=8)
        c.request("GET", "/lp-term")
        conns.append(c)
    assert len(backend.wait_requests(20, path="/lp-term")) == 20
    settle()
    code, took = _term_and_wait(p, 9)
    try:
        for c in conns:
            r = c.read_response()
            assert r.status == 200 and r.body == b"bye\n"
            assert c.is_closed(1)
    finally:
        for c in conns:
            c.close()
    assert code == 0
    assert took < 3, took  # well under the 10 s drain deadline


@pytest.mark.thumbtack_only  # Pushpin 1.36 resets connections it has not read yet
@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_answers_every_accepted_request(make_proxy, backend, workers):
    backend.on("/inflight", Resp(200, body=b"done\n", delay=0.3))
    p = make_proxy(config={"proxy": {"workers": workers}})
    assert p.http("GET", "/warm").status == 200
    # Some requests are with the backend when SIGTERM comes...
    conns = [p.conn(timeout=8) for i in range(40)]
    for c in conns:
        c.request("GET", "/inflight")
    assert backend.wait_requests(20, path="/inflight")
    # ...and others wait unread in their sockets and in the listeners' queues: the process
    # is stopped while they connect and send, and gets SIGTERM before it can read them.
    os.kill(p.pid, signal.SIGSTOP)
    try:
        late = [p.conn(timeout=8) for i in range(100)]
        for c in late:
            c.request("GET", "/inflight")
        conns += late
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
    finally:
        os.kill(p.pid, signal.SIGCONT)
    code = p.proc.wait(12)
    took = time.monotonic() - t0
    for i, c in enumerate(conns):
        with c:
            r = c.read_response()
            assert r.status == 200 and r.body == b"done\n" and r.complete, (i, r)
            assert (r.header("Connection") or "").lower() == "close"
    assert code == 0 and took < 5, (code, took)


# ---- slow publishers ----

def _slow_publish(port, body, pieces, gap):
    """POST body to /publish/ in `pieces` (list of sizes), `gap` seconds apart."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body))
    off = 0
    try:
        for n in pieces:
            time.sleep(gap)
            s.sendall(body[off:off + n])
            off += n
        return Conn.wrap(s).read_response()
    finally:
        s.close()


@pytest.mark.thumbtack_only  # client_head_timeout is thumbtack's key
def test_slow_publisher_succeeds(make_proxy, chan):
    """1 byte per 100 ms, ten times longer in all than the (300 ms) idle limit."""
    p = make_proxy(config={"runner": {"client_head_timeout": "300"}})
    item = b'{"items":[{"channel":"%s","formats":{"http-stream":{"content":"x"}}}]}' % chan.encode()
    body = item + b" " * (1024 - len(item))
    r = _slow_publish(p.pub_port, body, [1] * 30 + [100] * 10 + [len(body) - 1030], 0.1)
    assert r.status == 200 and r.body == b"Published\n"


@pytest.mark.thumbtack_only
def test_quiet_publisher_is_closed(make_proxy, chan):
    p = make_proxy(config={"runner": {"client_head_timeout": "300"}})
    s = socket.create_connection(("127.0.0.1", p.pub_port), timeout=5)
    try:
        s.sendall(b"POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        t0 = time.monotonic()
        assert s.recv(100) == b""  # closed, nothing answered
        assert 0.25 <= time.monotonic() - t0 < 1.5
    finally:
        s.close()
    assert wait_for(lambda: "nothing received for 300 ms (body)" in p.log(), 2)
