"""Issue 8 / QUALITY.md: every peer-controlled size cap at N (passes) and N+1 (the
documented error). Queue caps of the fan-out engine (items and bytes per subscriber) are
exact only inside the process and are tested at N and N+1 in tests/unit/test_fanout.c
(test_drop_policy); the trailer section and chunk lines in tests/unit/test_h1.c too."""

import json
import socket
import time

import pytest

import wsraw
from backend import RawBackend, Resp, header_of, parse_head
from conftest import IS_PUSHPIN
from griputil import hold, pub_stream, read_stream_until, settle
from helpers import Conn, chunked, wait_for

EDGES = pytest.mark.parametrize("over", [False, True], ids=["N", "N+1"])


def _head_of_size(size, path="/cap"):
    """A request head of exactly `size` bytes (final CRLF included)."""
    base = "GET %s HTTP/1.1\r\nHost: example.com\r\nX-Pad: " % path
    pad = size - len(base) - 4
    assert pad >= 0
    return (base + "p" * pad + "\r\n\r\n").encode()


@pytest.mark.thumbtack_only  # Pushpin 1.36 may close instead of answering 400
@EDGES
def test_request_head_size(make_proxy, backend, over):
    p = make_proxy(config={"runner": {"client_buffer_size": "1024"}})
    with p.conn() as c:
        c.send(_head_of_size(1024 + over))
        r = c.read_response()
    if over:
        assert r.status == 400
        assert r.body == b"Request header size exceeded limit of 1024 bytes.\n"
    else:
        assert r.status == 200


@pytest.mark.thumbtack_only
@EDGES
def test_request_header_count(proxy, backend, over):
    headers = [("X-H%d" % i, "v") for i in range(63 + over)]  # + Host
    r = proxy.http("GET", "/cap-headers", headers=headers)
    if over:
        assert r.status == 400 and r.body == b"Failed to parse request: too many headers\n"
    else:
        assert r.status == 200
        assert len(backend.reqs("/cap-headers")[0].headers) >= 63


@pytest.mark.thumbtack_only
@EDGES
def test_request_target_length(proxy, backend, over):
    target = "/cap-uri/" + "u" * (4096 - 9 + over)
    r = proxy.http("GET", target)
    if over:
        assert r.status == 500 and r.body == b"Failed to process request.\n"
    else:
        assert r.status == 200 and backend.reqs("/cap-uri/" + "u" * 4087)


@EDGES
def test_request_body_replay_buffer_for_grip(proxy, backend, over):
    backend.on("/cap-grip-req", Resp(200, [("Content-Type", "text/plain"),
                                           ("Grip-Status", "201")], b"grip\n"))
    r = proxy.http("POST", "/cap-grip-req", body=b"b" * (100000 + over), timeout=10)
    if over:
        assert r.status == 400 and r.body == b"Request too large to accept GRIP instruct.\n"
    else:
        assert r.status == 201 and r.body == b"grip\n"


@EDGES
def test_test_handler_request_body(proxy, over):
    r = proxy.http("POST", "/", host="testroute.local", body=b"t" * (100000 + over), timeout=10)
    if over:
        assert r.status == 400 and r.body == b"request too large\n"
    else:
        assert r.status == 200


@EDGES
def test_grip_response_body(proxy, backend, over):
    body = b"g" * (100000 + over)
    backend.on("/cap-grip-resp", Resp(200, [("Content-Type", "text/plain"),
                                            ("Grip-Status", "200")], body))
    r = proxy.http("GET", "/cap-grip-resp", timeout=10)
    if over:
        assert r.status == 502 and r.body == b"Error while proxying to origin.\n"
    else:
        assert r.status == 200 and r.body == body


@pytest.mark.thumbtack_only  # zurl's limit differs
@EDGES
def test_backend_response_head_size(make_proxy, over):
    size = 65536 + over

    def handler(rc):
        if rc.read_head(timeout=10) is None:
            return
        base = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-Pad: "
        head = base + "p" * (size - len(base) - 4) + "\r\n\r\n"
        assert len(head) == size
        rc.send(head + "ok\n")
        rc.wait_eof(5)
    raw = RawBackend(handler)
    try:
        p = make_proxy(routes="* %s\n" % raw.addr)
        r = p.http("GET", "/cap-resp-head", timeout=10)
        if over:
            assert r.status == 502
        else:
            assert r.status == 200 and r.body == b"ok\n"
    finally:
        raw.stop()


@pytest.mark.thumbtack_only
@EDGES
def test_request_chunk_size_line(proxy, backend, over):
    line = b"0" * (4095 + over) + b"5"
    with proxy.conn() as c:
        c.request("POST", "/cap-chunk-line", [("Transfer-Encoding", "chunked")], body=None)
        c.send(line + b"\r\nhello\r\n0\r\n\r\n")
        r = c.read_response()
    if over:
        assert r.status == 400 and backend.reqs("/cap-chunk-line") == []
    else:
        assert r.status == 200 and backend.reqs("/cap-chunk-line")[0].body == b"hello"


def _publish_body(chan, size):
    item = json.dumps({"items": [{"channel": chan, "formats": {
        "http-stream": {"content": "x"}}}]}).encode()
    return item + b" " * (size - len(item))


@EDGES
def test_publish_body_size(request, make_proxy, chan, over):
    if IS_PUSHPIN and over:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason="Pushpin 1.36 reads "
                                                  "push_in_max_body_size (sic) instead"))
    p = make_proxy(config={"handler": {"push_in_http_max_body_size": "1000"}})
    with Conn(p.pub_port) as c:
        c.request("POST", "/publish/", [("Content-Type", "application/json")],
                  _publish_body(chan, 1000 + over))
        r = c.read_response()
    if over:
        assert r.status == 400 and r.body == b"Request body too large.\n"
    else:
        assert r.status == 200 and r.body == b"Published\n"


@pytest.mark.thumbtack_only  # Pushpin 1.36 reads push_in_max_headers_size (sic) instead
@EDGES
def test_publish_head_size(make_proxy, chan, over):
    p = make_proxy(config={"handler": {"push_in_http_max_headers_size": "600"}})
    body = _publish_body(chan, 200)
    base = "POST /publish/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nX-Pad: " % len(body)
    head = base + "p" * (600 + over - len(base) - 4) + "\r\n\r\n"
    with Conn(p.pub_port) as c:
        c.send(head.encode() + body)
        r = c.read_response()
    if over:
        assert r.status == 400 and r.body == b"Request header too large.\n"
    else:
        assert r.status == 200


@EDGES
def test_subscriptions_per_connection(make_proxy, backend, chan, over):
    n = 3 + over
    chans = ["%s-%d" % (chan, i) for i in range(n)]
    backend.on("/cap-subs", hold("stream", chans, b"open\n"))
    p = make_proxy(config={"handler": {"connection_subscription_max": "3"}})
    c = p.conn(timeout=5)
    c.request("GET", "/cap-subs")
    assert c.read_head().status == 200
    read_stream_until(c, b"open\n")
    settle()
    pub_stream(p, chans[-1], "last channel\n")
    pub_stream(p, chans[0], "first channel\n")
    got = read_stream_until(c, b"first channel\n")
    assert (b"last channel\n" in got) == (not over), got  # the 4th is ignored, as Pushpin
    c.close()


@EDGES
def test_filters_per_channel(request, proxy, backend, chan, over):
    if IS_PUSHPIN and over:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason="Pushpin 1.36 takes a "
                                                  "sixth filter"))
    filters = "".join("; filter=skip-self" for _ in range(5 + over))
    backend.on("/cap-filters", hold("stream", [chan + filters], b"open\n"))
    c = proxy.conn(timeout=5)
    c.request("GET", "/cap-filters")
    if over:
        r = c.read_response()
        assert r.status == 502
    else:
        assert c.read_head().status == 200
        read_stream_until(c, b"open\n")
    c.close()


@pytest.mark.thumbtack_only  # Pushpin's limit is its own
@EDGES
def test_websocket_message_size(make_proxy, over):
    p = make_proxy(routes="* test\n")
    c, head = wsraw.connect(p.port, "/ws")
    assert c is not None, head
    c.settimeout(10)
    payload = b"m" * (1024 * 1024 + over)
    # In fragments, as a client would send a large message.
    step = 256 * 1024
    for i in range(0, len(payload), step):
        last = i + step >= len(payload)
        wsraw.send(c, wsraw.BINARY if i == 0 else 0, payload[i:i + step], fin=last)
    op, data = wsraw.recv_message(c)
    if over:
        assert op == wsraw.CLOSE and wsraw.close_code(data) == 1009
    else:
        assert op == wsraw.BINARY and data == payload
    c.close()


@pytest.mark.thumbtack_only
@EDGES
def test_websocket_control_frame_size(make_proxy, over):
    p = make_proxy(routes="* test\n")
    c, head = wsraw.connect(p.port, "/ws")
    assert c is not None, head
    wsraw.send(c, wsraw.PING, b"p" * (125 + over))
    op, data = wsraw.recv_message(c)
    if over:
        assert op == wsraw.CLOSE and wsraw.close_code(data) == 1002
    else:
        # The test target echoes what it gets (a ping as a ping); Pushpin does not
        # answer pings itself either.
        assert op in (wsraw.PING, wsraw.PONG) and data == b"p" * 125
    c.close()


@pytest.mark.thumbtack_only  # the API's connection cap is thumbtack's
@EDGES
def test_publish_api_connections(make_proxy, chan, over):
    p = make_proxy()
    idle = []
    try:
        for i in range(1023 + over):
            idle.append(socket.create_connection(("127.0.0.1", p.pub_port), timeout=5))
        time.sleep(0.3)
        with Conn(p.pub_port, timeout=3) as c:
            try:
                c.request("POST", "/publish/", [("Content-Type", "application/json")],
                          _publish_body(chan, 100))
                r = c.read_response()
                served = r.status == 200
            except Exception:
                served = False
        assert served != over
    finally:
        for s in idle:
            s.close()
    if over:
        assert wait_for(lambda: "connection limit (1024) reached" in p.log(), 3)


@pytest.mark.thumbtack_only  # fd-level behaviour of one process
@EDGES
def test_client_maxconn(make_proxy, chan, over):
    p = make_proxy(routes="* test\n", config={"runner": {"client_maxconn": "5"}})
    held = []
    try:
        for i in range(4):
            c = p.conn(timeout=5)
            c.request("GET", "/stream?channel=%s" % chan)
            assert c.read_head().status == 200
            held.append(c)
        if over:  # the 5th is held too: the 6th waits
            c = p.conn(timeout=5)
            c.request("GET", "/stream?channel=%s" % chan)
            assert c.read_head().status == 200
            held.append(c)
        with Conn(p.port, timeout=1.0) as last:
            last.request("GET", "/")
            try:
                served = last.read_response().status == 200
            except (socket.timeout, OSError, Exception):
                served = False
        assert served != over
    finally:
        for c in held:
            c.close()
