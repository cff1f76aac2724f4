"""Issue 3: GRIP holds (response and stream), instructions, keep-alives, SSE."""

import json
import threading
import time

import pytest

from backend import Resp
from conftest import SHARED_HOST_TEST
from griputil import (b64, grip_instruct, hold, no_grip_headers, open_stream, pub_response,
                      pub_stream, read_stream_until, settle)
from helpers import Conn

TR = SHARED_HOST_TEST


# ---- test route ----

def test_test_route_stream(proxy, chan):
    c, r = open_stream(proxy, "/stream?channel=" + chan, host=TR)
    with c:
        assert r.status == 200
        assert r.header("Content-Type") == "text/plain"
        assert "chunked" in r.header("Transfer-Encoding", "")
        assert c.read_chunk() == b"[stream opened]\n"
        settle()
        pub_stream(proxy, chan, "hello\n")
        assert c.read_chunk() == b"hello\n"
        pub_stream(proxy, chan, "world\n")
        assert c.read_chunk() == b"world\n"


def test_test_route_stream_default_channel_test(make_proxy):
    p = make_proxy(routes="* test\n")
    c, r = open_stream(p, "/stream/")
    with c:
        assert c.read_chunk() == b"[stream opened]\n"
        settle()
        pub_stream(p, "test", "to test\n")
        assert c.read_chunk() == b"to test\n"


def test_test_route_response_publish(proxy, chan):
    with Conn(proxy.port) as c:
        c.request("GET", "/response?channel=" + chan, host=TR)
        settle()
        pub_response(proxy, chan, {"body": "got it\n"})
        r = c.read_response()
    assert r.status == 200
    assert r.body == b"got it\n"
    assert r.header("Content-Type") == "text/plain"
    assert no_grip_headers(r)


def test_test_route_long_poll_survives_first_subscription_update(proxy, chan):
    """The update a second after a channel's first subscriber re-asks the test target, as it
    would a backend: the long-poll is held again, not failed."""
    with Conn(proxy.port) as c:
        c.request("GET", "/response?channel=" + chan, host=TR)
        time.sleep(2.6)  # past the update (due after 1 s, run by the 1 s tick)
        pub_response(proxy, chan, {"body": "after update\n"})
        r = c.read_response()
    assert r.status == 200
    assert r.body == b"after update\n"


def test_close_action_ends_stream(proxy, chan):
    c, r = open_stream(proxy, "/stream?channel=" + chan, host=TR)
    with c:
        assert c.read_chunk() == b"[stream opened]\n"
        settle()
        pub_stream(proxy, chan, "last\n")
        proxy.publish({"channel": chan, "formats": {"http-stream": {"action": "close"}}})
        assert c.read_chunk() == b"last\n"
        assert c.read_chunk() == b""  # terminal chunk: a clean end


def test_stream_content_bin(proxy, chan):
    c, r = open_stream(proxy, "/stream?channel=" + chan, host=TR)
    with c:
        c.read_chunk()
        settle()
        proxy.publish({"channel": chan, "formats": {"http-stream": {"content-bin": b64(b"\x00\x01\xffbin")}}})
        assert c.read_chunk() == b"\x00\x01\xffbin"


def test_http10_stream_client_close_delimited(proxy, chan):
    c, r = open_stream(proxy, "/stream?channel=" + chan, host=TR, version="HTTP/1.0")
    with c:
        assert r.status == 200
        assert r.header("Transfer-Encoding") is None
        assert r.header("Content-Length") is None
        got = read_stream_until(c, b"[stream opened]\n", chunked=False)
        settle()
        pub_stream(proxy, chan, "plain bytes\n")
        got += read_stream_until(c, b"plain bytes\n", chunked=False)
        assert got == b"[stream opened]\nplain bytes\n"
        proxy.publish({"channel": chan, "formats": {"http-stream": {"action": "close"}}})
        assert c.is_closed(3)


# ---- response holds ----

def test_response_hold_publish_merges_headers(proxy, backend, chan):
    backend.on("/lp", hold("response", [chan], b"timeout body\n",
                           extra=[("X-A", "orig"), ("X-Keep", "k"), ("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/lp")
        assert backend.wait_requests(1, path="/lp")
        settle()
        pub_response(proxy, chan, {"code": 201, "reason": "Made", "headers": {"X-A": "new", "X-B": "b"},
                                   "body": "published\n"})
        r = c.read_response()
    assert r.status == 201
    assert r.reason == "Made"
    assert r.body == b"published\n"
    assert r.header("X-A") == "new"
    assert r.header("X-B") == "b"
    assert r.header("X-Keep") == "k"
    assert r.header("Content-Type") == "text/plain"
    assert r.header("Content-Length") == str(len(r.body))
    assert no_grip_headers(r)


def test_response_hold_default_code_and_header_list(proxy, backend, chan):
    backend.on("/lp2", hold("response", [chan], b"t\n", status=200, extra=[("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/lp2")
        backend.wait_requests(1, path="/lp2")
        settle()
        pub_response(proxy, chan, {"headers": [["X-L", "1"]], "body": "b\n"})
        r = c.read_response()
    assert r.status == 200 and r.reason == "OK"
    assert r.header("X-L") == "1"
    assert r.body == b"b\n"


def test_response_hold_body_bin(proxy, backend, chan):
    backend.on("/lpb", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/lpb")
        backend.wait_requests(1, path="/lpb")
        settle()
        pub_response(proxy, chan, {"body-bin": b64(b"\x00\xffbinary")})
        r = c.read_response()
    assert r.body == b"\x00\xffbinary"


def test_response_hold_body_patch(proxy, backend, chan):
    orig = b'{"a": 1, "b": [1, 2], "c": "x"}\n'
    backend.on("/lpp", hold("response", [chan], orig, ctype="application/json", extra=[("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/lpp")
        backend.wait_requests(1, path="/lpp")
        settle()
        pub_response(proxy, chan, {"body-patch": [{"op": "replace", "path": "/a", "value": 2},
                                                  {"op": "add", "path": "/b/-", "value": 3},
                                                  {"op": "remove", "path": "/c"}]})
        r = c.read_response()
    assert r.status == 200
    assert json.loads(r.body) == {"a": 2, "b": [1, 2, 3]}
    assert r.body.endswith(b"\n")
    assert r.header("Content-Type") == "application/json"


def test_response_hold_timeout_min5_and_status(proxy, backend, chan):
    backend.on("/lpt", hold("response", [chan], b"nothing yet\n",
                            extra=[("Grip-Timeout", "1"), ("Grip-Status", "203 Timed Out"), ("X-T", "t")]))
    t0 = time.monotonic()
    with Conn(proxy.port, timeout=12) as c:
        c.request("GET", "/lpt")
        r = c.read_response()
    el = time.monotonic() - t0
    assert 4.5 <= el <= 9, el  # Grip-Timeout below 5 is raised to 5
    assert r.status == 203
    assert r.reason == "Timed Out"
    assert r.body == b"nothing yet\n"
    assert r.header("X-T") == "t"
    assert no_grip_headers(r)


def test_response_hold_ignores_stream_format(proxy, backend, chan):
    backend.on("/lpi", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/lpi")
        backend.wait_requests(1, path="/lpi")
        settle()
        pub_stream(proxy, chan, "stream-only\n")
        time.sleep(0.3)
        pub_response(proxy, chan, {"body": "resp\n"})
        r = c.read_response()
    assert r.body == b"resp\n"


def test_response_hold_two_clients(proxy, backend, chan):
    backend.on("/lp3", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]))
    conns = [Conn(proxy.port, timeout=8) for _ in range(3)]
    for c in conns:
        c.request("GET", "/lp3")
    backend.wait_requests(3, path="/lp3")
    settle()
    pub_response(proxy, chan, {"body": "all\n"})
    for c in conns:
        assert c.read_response().body == b"all\n"
        c.close()


def test_hint_rerequests_backend(proxy, backend, chan):
    backend.on("/hint", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]),
               Resp(200, [("Content-Type", "text/plain")], b"fresh from backend\n"))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/hint?q=1")
        backend.wait_requests(1, path="/hint")
        settle()
        proxy.publish({"channel": chan, "formats": {"http-response": {"action": "hint"}}})
        r = c.read_response()
    assert r.body == b"fresh from backend\n"
    reqs = backend.reqs("/hint")
    assert len(reqs) >= 2
    assert reqs[-1].target == "/hint?q=1"


# ---- stream holds ----

def test_stream_hold_own_backend(proxy, backend, chan):
    backend.on("/st", hold("stream", [chan], b"welcome\n", extra=[("X-S", "s")]))
    c, r = open_stream(proxy, "/st")
    with c:
        assert r.status == 200
        assert r.header("X-S") == "s"
        assert no_grip_headers(r)
        assert r.header("Content-Length") is None
        assert read_stream_until(c, b"welcome\n") == b"welcome\n"
        settle()
        pub_stream(proxy, chan, "one\n")
        pub_stream(proxy, chan, "two\n")
        assert read_stream_until(c, b"two\n") == b"one\ntwo\n"


def test_stream_multiple_channels(proxy, backend, chan):
    a, b = chan + "-a", chan + "-b"
    backend.on("/mc", Resp(200, [("Content-Type", "text/plain"), ("Grip-Hold", "stream"),
                                 ("Grip-Channel", a + ", " + b)], b""))
    backend.on("/mc2", Resp(200, [("Content-Type", "text/plain"), ("Grip-Hold", "stream"),
                                  ("Grip-Channel", a), ("Grip-Channel", b)], b""))
    for path in ("/mc", "/mc2"):
        c, r = open_stream(proxy, path)
        with c:
            settle()
            pub_stream(proxy, a, "from a\n")
            pub_stream(proxy, b, "from b\n")
            got = read_stream_until(c, b"from b\n")
            assert b"from a\n" in got


def test_grip_status_on_stream(proxy, backend, chan):
    backend.on("/gs", hold("stream", [chan], b"", extra=[("Grip-Status", "202")]))
    c, r = open_stream(proxy, "/gs")
    with c:
        assert r.status == 202
        assert r.reason == "Accepted"


def test_grip_status_no_hold(proxy, backend):
    backend.on("/gsn", Resp(200, [("Content-Type", "text/plain"), ("Grip-Status", "299")], b"x\n"))
    r = proxy.http("GET", "/gsn")
    assert r.status == 299
    assert r.reason == "Undefined Reason"
    assert r.body == b"x\n"


def test_grip_expose_headers(proxy, backend):
    backend.on("/ge", Resp(200, [("Content-Type", "text/plain"), ("X-A", "a"), ("X-B", "b"),
                                 ("Grip-Expose-Headers", "X-A")], b"e\n"))
    r = proxy.http("GET", "/ge")
    assert r.header("X-A") == "a"
    assert r.header("X-B") is None
    assert no_grip_headers(r)
    assert r.body == b"e\n"


def test_grip_instruct_json_stream(proxy, backend, chan):
    backend.on("/ji", grip_instruct({
        "hold": {"mode": "stream", "channels": [{"name": chan}]},
        "response": {"code": 200, "headers": {"Content-Type": "text/plain", "X-J": "1"}, "body": "start\n"}}))
    c, r = open_stream(proxy, "/ji")
    with c:
        assert r.status == 200
        assert r.header("X-J") == "1"
        assert r.header("Content-Type") == "text/plain"
        assert read_stream_until(c, b"start\n") == b"start\n"
        settle()
        pub_stream(proxy, chan, "more\n")
        assert read_stream_until(c, b"more\n") == b"more\n"


def test_grip_instruct_json_response_hold(proxy, backend, chan):
    backend.on("/jr", grip_instruct({
        "hold": {"channels": [{"name": chan}], "timeout": 20},
        "response": {"headers": [["Content-Type", "text/plain"]], "body-bin": b64("timeout\n")}}))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/jr")
        backend.wait_requests(1, path="/jr")
        settle()
        pub_response(proxy, chan, {"body": "via json hold\n"})
        r = c.read_response()
    assert r.body == b"via json hold\n"
    assert r.header("Content-Type") == "text/plain"


def test_grip_instruct_no_hold(proxy, backend):
    backend.on("/jn", grip_instruct({"response": {"code": 404, "body": "json says no\n"}}))
    r = proxy.http("GET", "/jn")
    assert r.status == 404
    assert r.reason == "Not Found"
    assert r.body == b"json says no\n"


def test_bad_grip_instructions_502(make_proxy, backend):
    p = make_proxy(routes="* %s\n*,path_beg=/dbg,debug %s\n" % (backend.addr, backend.addr))
    bad = Resp(200, [("Content-Type", "text/plain"), ("Grip-Hold", "forever"), ("Grip-Channel", "x")], b"")
    backend.on("/bad", bad)
    backend.on("/dbg/bad", bad)
    r = p.http("GET", "/bad")
    assert r.status == 502
    assert r.body == b"Error while proxying to origin.\n"
    r = p.http("GET", "/dbg/bad")
    assert r.status == 502
    assert r.body.startswith(b"Failed to parse accept instructions: ")


def test_grip_timeout_invalid_502(proxy, backend):
    backend.on("/bt", hold("response", ["x"], b"", extra=[("Grip-Timeout", "soon")]))
    r = proxy.http("GET", "/bt")
    assert r.status == 502


# ---- keep-alives ----

@pytest.mark.parametrize("spec,expect", [
    ("ka-raw; timeout=1", b"ka-raw"),
    ("\\x3Aka\\n; format=cstring; timeout=1", b":ka\n"),
    ("%s; format=base64; timeout=1" % b64(b"ka64\n"), b"ka64\n"),
])
def test_keep_alive_formats(proxy, backend, chan, spec, expect):
    backend.on("/ka", hold("stream", [chan], b"", extra=[("Grip-Keep-Alive", spec)]))
    c, r = open_stream(proxy, "/ka")
    with c:
        got = read_stream_until(c, expect, timeout=4)
        assert got.startswith(expect)


def _publish_every(proxy, chan, period, duration):
    end = time.monotonic() + duration
    while time.monotonic() < end:
        pub_stream(proxy, chan, "d\n")
        time.sleep(period)


def test_keep_alive_idle_mode_restarted_by_output(proxy, backend, chan):
    backend.on("/kai", hold("stream", [chan], b"", extra=[("Grip-Keep-Alive", "KA; timeout=3; mode=idle")]))
    c, r = open_stream(proxy, "/kai")
    with c:
        settle()
        _publish_every(proxy, chan, 0.4, 3.5)
        got = read_stream_until(c, b"d\n")
        c.settimeout(0.3)
        try:
            while True:
                got += c.read_chunk()
        except OSError:
            pass
        assert b"KA" not in got
        # once quiet, the keep-alive comes
        assert read_stream_until(c, b"KA", timeout=4)


def test_keep_alive_interval_mode(proxy, backend, chan):
    backend.on("/kav", hold("stream", [chan], b"", extra=[("Grip-Keep-Alive", "KA; timeout=2; mode=interval")]))
    c, r = open_stream(proxy, "/kav")
    with c:
        settle()
        t = threading.Thread(target=_publish_every, args=(proxy, chan, 0.3, 3.0))
        t.start()
        got = read_stream_until(c, b"KA", timeout=4)
        still_publishing = t.is_alive()
        t.join()
        assert b"d\n" in got
        assert still_publishing, "keep-alive only came after activity stopped"


# ---- SSE ----

def test_sse_stream(proxy, backend, chan):
    backend.on("/events", hold("stream", [chan], b":opened\n\n", ctype="text/event-stream",
                               extra=[("Cache-Control", "no-cache")]))
    c, r = open_stream(proxy, "/events", headers=[("Accept", "text/event-stream"), ("Last-Event-ID", "41")])
    with c:
        assert r.status == 200
        assert r.header("Content-Type") == "text/event-stream"
        assert no_grip_headers(r)
        assert read_stream_until(c, b":opened\n\n")
        settle()
        pub_stream(proxy, chan, "event: msg\nid: 42\ndata: hello\n\n")
        pub_stream(proxy, chan, "data: second\n\n")
        got = read_stream_until(c, b"data: second\n\n")
        assert got == b"event: msg\nid: 42\ndata: hello\n\ndata: second\n\n"
    assert backend.reqs("/events")[0].header("Last-Event-ID") == "41"


def test_grip_headers_absent_everywhere(proxy, backend, chan):
    backend.on("/ga", hold("stream", [chan], b"x\n", extra=[("Grip-Keep-Alive", "k; timeout=30"),
                                                             ("Grip-Set-Meta", "user=u"),
                                                             ("grip-unknown", "z")]))
    c, r = open_stream(proxy, "/ga")
    with c:
        assert no_grip_headers(r)
