"""Issue 6: publishing ws-message items to WebSocket clients (SPEC.md sections 5 and 7).

Clients connect to the `test` target's /ws?channel=..., which subscribes them as a GRIP
backend would; the publish API then sends ws-message items. Raw frames are read, so the
exact frame (opcode, payload, close code) is asserted.
"""

import base64
import os
import re
import socket
import time

import pytest

from conftest import IS_PUSHPIN
from griputil import settle
from helpers import wait_for
from wsutil import (OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, WsBackend, WsClient,
                    _Reader)


def subscribe(p, chan, n=1, **kw):
    cs = [WsClient(p.port, path="/ws?channel=" + chan, host="testroute.local", **kw)
          for _ in range(n)]
    for c in cs:
        assert c.resp.status == 101
    settle()
    return cs


def pub(p, chan, **fmt):
    return p.publish({"channel": chan, "formats": {"ws-message": fmt}})


def test_text_binary_ping_pong(proxy, chan):
    c, = subscribe(proxy, chan)
    with c:
        pub(proxy, chan, content="text message")
        pub(proxy, chan, **{"content-bin": base64.b64encode(b"\x00\xffbin").decode()})
        pub(proxy, chan, content="as binary", type="binary")
        pub(proxy, chan, content="ping body", type="ping")
        pub(proxy, chan, content="pong body", type="pong")
        pub(proxy, chan, content="", type="text")
        want = [(OP_TEXT, b"text message"), (OP_BINARY, b"\x00\xffbin"),
                (OP_BINARY, b"as binary"), (OP_PING, b"ping body"), (OP_PONG, b"pong body"),
                (OP_TEXT, b"")]
        for op, data in want:
            f = c.recv_frame()
            assert f.fin and f.rsv == 0 and not f.masked
            assert (f.opcode, f.payload) == (op, data)


def test_channel_query_params_and_echo_still_work(proxy, chan):
    c = WsClient(proxy.port, path="/ws?channel=%s-a&channel=%s-b" % (chan, chan),
                 host="testroute.local")
    with c:
        settle()
        c.send_text("echo")
        assert c.recv_text() == "echo"
        pub(proxy, chan + "-b", content="to b")
        pub(proxy, chan + "-a", content="to a")
        assert c.recv_text() == "to b"
        assert c.recv_text() == "to a"


@pytest.mark.parametrize("code,reason", [(4000, "bye now"), (1000, ""), (None, None)])
def test_close_action(proxy, chan, code, reason):
    c, = subscribe(proxy, chan)
    with c:
        fmt = {"action": "close"}
        if code is not None:
            fmt["code"] = code
        if reason:
            fmt["reason"] = reason
        pub(proxy, chan, **fmt)
        # without a code thumbtack sends a close without code; Pushpin 1.36 puts 1000 in it
        f = c.expect_close(1000 if IS_PUSHPIN and code is None else code)
        if reason:
            assert f.close_reason == reason.encode()


@pytest.mark.thumbtack_only
@pytest.mark.parametrize("code", [1005, 1006, 999, 5000])
def test_close_action_with_a_code_that_may_not_be_sent(proxy, chan, code):
    """A code no close frame may carry (RFC 6455 7.4) would make the client fail the
    connection: the close goes without a code."""
    c, = subscribe(proxy, chan)
    with c:
        pub(proxy, chan, action="close", code=code, reason="r")
        f = c.expect_close(None)
        assert f.payload == b""


@pytest.mark.thumbtack_only
def test_published_ping_cut_to_125_bytes(proxy, chan):
    c, = subscribe(proxy, chan)
    with c:
        pub(proxy, chan, content="p" * 300, type="ping")
        pub(proxy, chan, content="after")
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (OP_PING, b"p" * 125)
        assert c.recv_text() == "after"


def test_close_action_closes_the_backend_too(make_proxy, chan):
    closes = []

    def handler(peer):
        peer.accept(extensions="grip")
        peer.control({"type": "subscribe", "channel": chan})
        try:
            while True:
                f = peer.recv_frame(10)
                if f.opcode == OP_CLOSE:
                    closes.append(f.payload)
                    return
        except Exception:
            closes.append("eof")
    be = WsBackend(handler)
    try:
        p = make_proxy("* %s\n" % be.addr)
        with WsClient(p.port, path="/x", host="ws.example") as c:
            settle()
            pub(p, chan, action="close", code=4001)
            c.expect_close(4001)
            assert wait_for(lambda: closes, 5)
    finally:
        be.stop()


def test_same_frame_for_every_subscriber(proxy, chan):
    cs = subscribe(proxy, chan, n=3)
    try:
        payload = "shared " + "x" * 300
        pub(proxy, chan, content=payload)
        raws = []
        for c in cs:
            f = c.recv_frame()
            assert (f.opcode, f.payload) == (OP_TEXT, payload.encode())
            raws.append((f.fin, f.rsv, f.opcode, f.payload))
        assert raws[0] == raws[1] == raws[2]
    finally:
        for c in cs:
            c.close()


def test_publish_to_many_clients_on_several_workers(make_proxy, chan):
    p = make_proxy("* test\n", config={"proxy": {"workers": "2"}})
    n = 300
    cs = []
    try:
        for _ in range(n):
            c = WsClient(p.port, path="/ws?channel=" + chan, host="x", timeout=10)
            assert c.resp.status == 101
            cs.append(c)
        settle()
        for i in range(5):
            pub(p, chan, content="broadcast %d" % i)
        for c in cs:
            for i in range(5):
                assert c.recv_text(timeout=10) == "broadcast %d" % i
    finally:
        for c in cs:
            c.close()


@pytest.mark.thumbtack_only
def test_slow_client_messages_dropped_and_counted(make_proxy, chan):
    """A client that does not read gets messages dropped over its queue cap (Pushpin's
    policy: the others are not held back); the drops are counted in the log."""
    p = make_proxy("* test\n", config={"proxy": {"workers": "1"}})
    fast = WsClient(p.port, path="/ws?channel=" + chan, host="x", timeout=10)
    slow = WsClient(p.port, path="/ws?channel=" + chan, host="x", rcvbuf=4096, timeout=10)
    with fast, slow:
        settle()
        count, size = 400, 32 * 1024
        body = "y" * size
        for i in range(0, count, 20):
            p.publish([{"channel": chan, "formats": {"ws-message": {
                "content": "%05d" % j + body}}} for j in range(i, i + 20)])
            # the fast client keeps up (paced by its reading), the slow one never reads
            for j in range(i, i + 20):
                assert fast.recv_text(timeout=10)[:5] == "%05d" % j
        got = []
        while True:
            try:
                op, data = slow.recv_message(timeout=1.5)
            except socket.timeout:
                break
            got.append(int(data[:5]))
        assert 0 < len(got) < count
        assert got == sorted(got)  # what arrives is whole and in order
        assert wait_for(lambda: re.search(r"message\(s\) dropped for slow subscribers",
                                          p.log()), 3)
        # the slow client is still served afterwards
        pub(p, chan, content="after the storm")
        assert slow.recv_text(timeout=5) == "after the storm"


def test_publish_to_unsubscribed_channel_not_delivered(proxy, chan):
    c, = subscribe(proxy, chan)
    with c:
        pub(proxy, chan + "-other", content="not mine")
        pub(proxy, chan, content="mine")
        assert c.recv_text() == "mine"


def test_http_formats_not_sent_to_websockets(proxy, chan):
    c, = subscribe(proxy, chan)
    with c:
        proxy.publish({"channel": chan, "formats": {"http-stream": {"content": "stream\n"}}})
        proxy.publish({"channel": chan, "formats": {"http-stream": {"content": "stream\n"},
                                                    "ws-message": {"content": "ws"}}})
        assert c.recv_text() == "ws"
