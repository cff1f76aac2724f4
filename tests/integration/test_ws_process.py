"""Issue 6: WebSockets and the process: SIGTERM closes them with 1001 and exits 0 quickly;
an idle WebSocket holds no buffers (RSS per idle connection at 2000 connections)."""

import os
import signal
import socket
import threading
import time

import pytest

from conftest import IS_PUSHPIN
from griputil import settle
from wsutil import OP_CLOSE, OP_TEXT, WsBackend, WsClient, WsClosed

IDLE_CONNS = 2000


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    return 0


def _sanitized(path):
    with open(path, "rb") as f:
        return b"AddressSanitizer" in f.read()


@pytest.mark.thumbtack_only
def test_sigterm_closes_websockets_with_1001_and_exits_0(make_proxy, chan):
    be = WsBackend()
    try:
        p = make_proxy("ws.example %s\n* test\n" % be.addr)
        cs = [WsClient(p.port, path="/ws?channel=" + chan, host="x") for _ in range(10)]
        cs += [WsClient(p.port, path="/chat", host="ws.example") for _ in range(10)]
        for c in cs:
            assert c.resp.status == 101
            c.send_text("up")
            assert c.recv_text() == "up"
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        for c in cs:
            f = c.expect_close(1001, timeout=5)  # replies with its close, then EOF
            assert f.close_reason == b"server shutting down"
        assert p.proc.wait(5) == 0
        assert time.monotonic() - t0 < 3.0
        # the passthrough backends were told too
        assert len(be.peers) == 10
    finally:
        be.stop()


@pytest.mark.thumbtack_only
def test_sigterm_does_not_wait_forever_for_silent_clients(make_proxy, chan):
    p = make_proxy("* test\n")
    cs = [WsClient(p.port, path="/ws?channel=" + chan, host="x") for _ in range(5)]
    try:
        t0 = time.monotonic()
        p.signal(signal.SIGTERM)
        for c in cs:  # they read the close but never answer it
            f = c.recv_frame(5)
            assert f.opcode == OP_CLOSE and f.close_code == 1001
        assert p.proc.wait(12) == 0
        assert time.monotonic() - t0 < 11.0
        for c in cs:
            assert c.eof_within(1)
    finally:
        for c in cs:
            c.close()


@pytest.mark.thumbtack_only
def test_idle_websocket_memory(make_proxy, chan):
    """Each idle WebSocket (subscribed to a channel through the test target, GRIP on)
    costs well under 4 KB of thumbtack's memory: no buffers while idle."""
    p = make_proxy("* test\n", config={"proxy": {"workers": "2"}})
    warm = [WsClient(p.port, path="/ws?channel=%s" % chan, host="x") for _ in range(200)]
    settle()
    time.sleep(0.5)
    before = _rss_kb(p.pid)
    cs = []
    try:
        for i in range(IDLE_CONNS):
            c = WsClient(p.port, path="/ws?channel=%s-%d" % (chan, i % 50), host="x")
            assert c.resp.status == 101
            cs.append(c)
        # every connection did some traffic, then went idle
        for c in cs:
            c.send_text("x")
        for c in cs:
            assert c.recv_text() == "x"
        time.sleep(1.0)
        after = _rss_kb(p.pid)
        per_conn = (after - before) * 1024.0 / IDLE_CONNS
        print("\nidle WebSocket: %.0f bytes RSS each (%d connections, %d KB -> %d KB)"
              % (per_conn, IDLE_CONNS, before, after))
        if not _sanitized(p.cmd()[0]):
            assert per_conn < 4096, per_conn
        # and they all still work
        p.publish({"channel": "%s-7" % chan, "formats": {"ws-message": {"content": "still"}}})
        for i in range(7, IDLE_CONNS, 50):
            assert cs[i].recv_text() == "still"
    finally:
        for c in cs + warm:
            c.close()


@pytest.mark.thumbtack_only
@pytest.mark.parametrize("answer", ["accept", "reject"])
def test_sigterm_during_the_backend_handshake(make_proxy, answer):
    """A WebSocket whose backend has not answered yet at SIGTERM is not dropped: a
    rejection is relayed; an accept gives the client its 101, then close 1001."""
    def handler(peer):
        time.sleep(0.8)
        if answer == "reject":
            peer.reject(403, "Forbidden", body=b"no\n")
            return
        peer.accept()
        peer.echo_loop(timeout=5)
    be = WsBackend(handler)
    try:
        p = make_proxy("* %s\n" % be.addr)
        c = WsClient(p.port, path="/slow", host="ws.example", connect=False)
        with c:
            t = threading.Thread(target=c.handshake, daemon=True)
            t.start()
            assert be.wait_peers(1)
            p.signal(signal.SIGTERM)
            t.join(5)
            if answer == "reject":
                assert c.resp.status == 403 and c.resp.body == b"no\n"
            else:
                assert c.resp.status == 101
                c.expect_close(1001)
            assert p.proc.wait(5) == 0
    finally:
        be.stop()
