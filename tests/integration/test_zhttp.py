"""Issue 7: zhttp route targets. zhttpreq/<spec>: a REP handler answers each request with
one packet (Pushpin's tools/zhttp/reqhandler.py). zhttp/<base>: a stream handler (PULL,
ROUTER, PUB) with credits, seq numbers and cancel. GRIP applies to their responses like to
any backend's. Real ZeroMQ peers; also run against Pushpin (TT_AGAINST=pushpin)."""

import time

import pytest

from backend import Resp
from conftest import IS_PUSHPIN
from griputil import read_stream_until, settle
from helpers import Closed, Conn
from zmqutil import ReqHandler, StreamHandler, free_port_run

# Pushpin's proxy binds the sockets when it loads the routes; handlers connect with
# ZeroMQ's reconnect interval: give the first connection a moment.
CONNECT_WAIT = 0.6


def text_resp(body=b"hello world\n", code=200, headers=None, reason=b"OK", **extra):
    r = {b"code": code, b"reason": reason,
         b"headers": headers if headers is not None else [[b"Content-Type", b"text/plain"]],
         b"body": body}
    r.update(extra)
    return r


def hdr(req, name):
    for k, v in req.get("headers", []):
        if k.lower() == name.lower():
            return v
    return None


@pytest.fixture
def req_target(make_proxy):
    """A proxy whose routes send everything to a zhttpreq target; returns (proxy, spec)."""
    def make(respond, routes_extra="", config=None):
        port = free_port_run(1)
        spec = "tcp://127.0.0.1:%d" % port
        p = make_proxy("%s* zhttpreq/%s\n" % (routes_extra, spec), config=config)
        h = ReqHandler(spec, respond)
        time.sleep(CONNECT_WAIT)
        return p, h
    handlers = []

    def wrapped(*a, **kw):
        p, h = make(*a, **kw)
        handlers.append(h)
        return p, h
    yield wrapped
    for h in handlers:
        h.stop()


@pytest.fixture
def stream_target(make_proxy):
    """A proxy routing to a zhttp/ target with a StreamHandler connected."""
    handlers = []

    def make(on_packet, routes=None, config=None):
        base = free_port_run(3)
        spec = "tcp://127.0.0.1:%d" % base
        p = make_proxy(routes.replace("SPEC", spec) if routes else "* zhttp/%s\n" % spec,
                       config=config)
        h = StreamHandler(base, on_packet)
        handlers.append(h)
        time.sleep(CONNECT_WAIT)
        return p, h
    yield make
    for h in handlers:
        h.stop()


# ---- zhttpreq ----

def test_req_plain_response(req_target):
    p, h = req_target(lambda req: text_resp())
    r = p.http("GET", "/hello?x=1", host="zh.example")
    assert r.status == 200, r
    assert r.body == b"hello world\n"
    assert r.header("Content-Type") == "text/plain"
    assert r.header("Content-Length") == "12"
    req = h.requests[-1]
    assert req["method"] == b"GET"
    assert req["uri"] == b"http://zh.example/hello?x=1"
    assert hdr(req, b"Host") == b"zh.example"
    assert "stream" not in req  # req mode: one request, one answer
    assert isinstance(req["id"], bytes) and req["id"]


def test_req_post_body_and_headers(req_target):
    def respond(req):
        return text_resp(b"got " + req.get("body", b"") + b"\n", code=201,
                         headers=[[b"X-Answer", b"42"], [b"Content-Type", b"text/plain"]])
    p, h = req_target(respond)
    r = p.http("POST", "/up", headers={"X-Client": "yes"}, body=b"payload-bytes")
    assert r.status == 201
    assert r.body == b"got payload-bytes\n"
    assert r.header("X-Answer") == "42"
    req = h.requests[-1]
    assert req["method"] == b"POST"
    assert hdr(req, b"X-Client") == b"yes"
    assert hdr(req, b"Content-Length") == b"13"


def test_req_chunked_request_body(req_target):
    p, h = req_target(lambda req: text_resp(b"len=%d\n" % len(req.get("body", b""))))
    with p.conn() as c:
        c.send(b"POST /c HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200 and r.body == b"len=11\n"
    req = h.requests[-1]
    assert req["body"] == b"hello world"
    assert hdr(req, b"Transfer-Encoding") is None


def test_req_grip_hold_stream_seed_example(req_target, chan):
    """The seed's example: a REP handler answering with Grip-Hold/Grip-Channel holds a
    stream; a publish reaches it."""
    def respond(req):
        return text_resp(b"[stream opened]\n", headers=[
            [b"Content-Type", b"text/plain"], [b"Grip-Hold", b"stream"],
            [b"Grip-Channel", chan.encode()]])
    p, h = req_target(respond)
    c = p.conn(timeout=5)
    c.request("GET", "/stream")
    r = c.read_head()
    assert r.status == 200
    assert r.header("Grip-Hold") is None and r.header("Grip-Channel") is None
    assert c.read_chunk() == b"[stream opened]\n"
    settle()
    p.publish({"channel": chan, "formats": {"http-stream": {"content": "pub-1\n"}}})
    assert read_stream_until(c, b"pub-1\n") == b"pub-1\n"
    c.close()


def test_req_grip_hold_response(req_target, chan):
    def respond(req):
        return text_resp(b"timeout\n", headers=[
            [b"Content-Type", b"text/plain"], [b"Grip-Hold", b"response"],
            [b"Grip-Channel", chan.encode()]])
    p, h = req_target(respond)
    c = p.conn(timeout=8)
    c.request("GET", "/lp")
    settle()
    time.sleep(0.3)
    p.publish({"channel": chan, "formats": {"http-response": {"body": "answer\n"}}})
    r = c.read_response()
    assert r.status == 200 and r.body == b"answer\n"
    c.close()


@pytest.mark.thumbtack_only
def test_req_unreachable_handler_errors(req_target):
    """Handler answers that are not a valid response fail the request with a 502; the
    proxy survives. Pushpin 1.36 dies on a truncated tnetstring, hence thumbtack only."""
    answers = iter([
        b"not-a-packet",
        b"T" + b"12:truncated",
        None,  # "Tjunk"
    ])

    def respond(req):
        return next(answers)
    p, h = req_target(respond, config={"proxy": {"debug": "true"}})
    for _ in range(3):
        # Malformed answers are skipped; the request then waits for a valid one. Use a
        # short client timeout and check the proxy still serves.
        try:
            with Conn(p.port, timeout=0.5) as c:
                c.request("GET", "/bad")
                c.read_response()
        except OSError:
            pass
    assert p.proc.poll() is None


@pytest.mark.thumbtack_only
def test_req_header_injection_refused(req_target):
    """A handler cannot split the client's response with CR/LF in a header or reason."""
    answers = iter([
        text_resp(headers=[[b"X-Bad", b"a\r\nSet-Cookie: evil=1"]]),
        text_resp(headers=[[b"Bad Name", b"v"]]),
        text_resp(reason=b"OK\r\nX-Evil: 1"),
        text_resp(code=101),
        text_resp(code=0),
    ])
    p, h = req_target(lambda req: next(answers))
    for _ in range(5):
        r = p.http("GET", "/inject")
        assert r.status == 502, r
        assert b"evil" not in r.body.lower()
        assert r.header("Set-Cookie") is None and r.header("X-Evil") is None


def test_req_websocket_refused(req_target):
    p, h = req_target(lambda req: text_resp(), config={"proxy": {"debug": "true"}})
    with p.conn() as c:
        c.request("GET", "/ws", headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                         ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                         ("Sec-WebSocket-Version", "13")])
        r = c.read_response()
    assert r.status == 502
    assert r.body == b"WebSockets cannot be used with zhttpreq target\n"


# ---- zhttp (stream mode) ----

def test_stream_first_packet_and_response(stream_target):
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"code": 200, b"reason": b"OK",
                          b"headers": [[b"Content-Type", b"text/plain"]],
                          b"body": b"part1\n", b"more": True, b"credits": 1000})
            # Packets of one exchange must keep their order: one socket for all of them.
            h.reply(pkt, {b"body": b"part2\n", b"more": True})
            h.reply(pkt, {b"body": b"part3\n"})
    p, h = stream_target(on_packet)
    r = p.http("GET", "/s", host="st.example")
    assert r.status == 200, r
    assert r.body == b"part1\npart2\npart3\n"
    first = h.packets[0][1]
    assert first["stream"] is True
    if not IS_PUSHPIN:
        assert first["router-resp"] is True  # Pushpin 2; 1.36 answers only over PUB/SUB
    assert first["credits"] == 200000
    assert first["seq"] == 0
    assert first["uri"] == b"http://st.example/s"
    assert first["ext"] == {"multi": True}
    assert "more" not in first  # no body: the request is complete


def test_stream_credits_granted_for_response_bytes(stream_target):
    """Response bytes passed to the client are granted back as credits, over the ROUTER
    to the handler's address, with the next seq."""
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"code": 200, b"reason": b"OK", b"headers": [],
                          b"body": b"x" * 5000, b"more": True})
    p, h = stream_target(on_packet)
    c = p.conn(timeout=5)
    c.request("GET", "/credits")
    r = c.read_head()
    assert r.status == 200
    got = b""
    while len(got) < 5000:
        got += c.read_chunk()
    cr = h.wait_packet(lambda pk: pk.get("type") == b"credit")
    assert cr["credits"] == 5000
    assert cr["seq"] == 1
    # End it; the handler sees the client go away as a cancel.
    c.close()
    h.wait_packet(lambda pk: pk.get("type") == b"cancel")


def test_stream_request_body_within_credits(stream_target):
    """A body that arrives after the first packet is sent to the handler's address only as
    far as its credits allow."""
    state = {}

    def on_packet(h, pkt, via):
        if via == "pull":
            state["req"] = pkt
            state["body"] = pkt.get("body", b"")
            if not pkt.get("more"):
                # Pushpin 1.36 sends a short body with the first packet.
                h.reply(pkt, {b"code": 200, b"reason": b"OK", b"headers": [],
                              b"body": b"n=%d" % len(state["body"])})
                return
            # Acknowledge with credits for 10 bytes only.
            h.reply(pkt, {b"type": b"credit", b"credits": 10})
        elif pkt.get("type") is None:
            state["body"] += pkt.get("body", b"")
            if not pkt.get("more"):
                h.reply(state["req"], {b"code": 200, b"reason": b"OK", b"headers": [],
                                       b"body": b"n=%d" % len(state["body"])})
            elif len(state["body"]) % 10 == 0:
                h.reply(state["req"], {b"type": b"credit", b"credits": 10})
    p, h = stream_target(on_packet)
    with p.conn(timeout=5) as c:
        c.send(b"POST /b HTTP/1.1\r\nHost: example.com\r\nContent-Length: 35\r\n\r\n")
        time.sleep(0.3)  # the first packet goes without the body
        c.send(b"a" * 35)
        r = c.read_response()
    assert r.status == 200 and r.body == b"n=35", r
    bodies = [pk.get("body", b"") for via, pk in h.packets if via == "router"]
    assert all(len(b) <= 10 for b in bodies), bodies
    seqs = [pk["seq"] for via, pk in h.packets]
    assert seqs == list(range(len(seqs)))


def test_stream_answers_over_pub(stream_target):
    """A handler may answer on its PUB socket ("<our address> T...") instead."""
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"code": 200, b"reason": b"OK", b"headers": [],
                          b"body": b"via-pub-1 ", b"more": True}, via_pub=True)
            h.reply(pkt, {b"body": b"via-pub-2"}, via_pub=True)
    p, h = stream_target(on_packet)
    r = p.http("GET", "/pub")
    assert r.status == 200 and r.body == b"via-pub-1 via-pub-2", r


def test_stream_grip_hold(stream_target, chan):
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"code": 200, b"reason": b"OK",
                          b"headers": [[b"Content-Type", b"text/plain"],
                                       [b"Grip-Hold", b"stream"],
                                       [b"Grip-Channel", chan.encode()]],
                          b"body": b"opened\n"})
    p, h = stream_target(on_packet)
    c = p.conn(timeout=5)
    c.request("GET", "/g")
    assert c.read_head().status == 200
    assert c.read_chunk() == b"opened\n"
    settle()
    p.publish({"channel": chan, "formats": {"http-stream": {"content": "hi\n"}}})
    assert read_stream_until(c, b"hi\n") == b"hi\n"
    c.close()


def test_stream_out_of_sequence_cancels(stream_target):
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"code": 200, b"reason": b"OK", b"headers": [],
                          b"body": b"a", b"more": True})
            h.reply(pkt, {b"body": b"b", b"more": True}, seq=5)
    p, h = stream_target(on_packet)
    c = p.conn(timeout=5)
    c.request("GET", "/seq")
    try:
        r = c.read_response()
        if not IS_PUSHPIN:
            assert not r.complete  # the response ends without its terminal chunk
    except Closed:
        pass  # or the connection closes before the head left
    h.wait_packet(lambda pk: pk.get("type") == b"cancel")
    c.close()


def test_stream_error_before_response_fails_over(stream_target, backend):
    """A handler error remote-connection-failed lets the next target be tried."""
    backend.on("/fo", Resp(200, [("Content-Type", "text/plain")], b"from http\n"))

    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"type": b"error", b"condition": b"remote-connection-failed"})
    p, h = stream_target(on_packet, routes="* zhttp/SPEC %s\n" % backend.addr)
    r = p.http("GET", "/fo")
    assert r.status == 200 and r.body == b"from http\n", r


def test_stream_no_handler_is_unavailable(make_proxy):
    base = free_port_run(3)
    p = make_proxy("* zhttp/tcp://127.0.0.1:%d\n" % base)
    r = p.http("GET", "/nobody")
    assert r.status == 502
    assert r.body == b"Error while proxying to origin.\n"


def test_stream_length_required(stream_target):
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, {b"type": b"error", b"condition": b"length-required"})
    p, h = stream_target(on_packet)
    r = p.http("GET", "/len")
    assert r.status == 411
    assert r.body == b"Must provide Content-Length header.\n"


@pytest.mark.thumbtack_only
def test_stream_hostile_packets(stream_target):
    """Garbage on the proxy's ROUTER and SUB sockets is skipped; the exchange goes on."""
    def on_packet(h, pkt, via):
        if via == "pull":
            h.reply(pkt, None, raw=b"garbage")
            h.reply(pkt, None, raw=b"T99999:x", via_pub=True)
            h.reply(pkt, None, raw=b"T" + b"3:abc,")
            h.reply(pkt, {b"code": 200, b"reason": b"OK", b"headers": [], b"body": b"ok"})
    p, h = stream_target(on_packet)
    r = p.http("GET", "/hostile")
    assert r.status == 200 and r.body == b"ok"
    assert p.proc.poll() is None
