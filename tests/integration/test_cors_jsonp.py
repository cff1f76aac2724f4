"""Issue 3 (SPEC 8): auto cross-origin headers and JSON-P wrapping."""

import json

import pytest

from backend import Resp
from griputil import hold, open_stream, pub_stream, read_stream_until, settle


@pytest.fixture
def aco(make_proxy, backend):
    return make_proxy(routes="*,aco %s\n*,path_beg=/basic,aco,jsonp_mode=basic %s\n" % (backend.addr, backend.addr))


def test_aco_headers_added(aco, backend):
    backend.on("/c", Resp(200, [("Content-Type", "text/plain"), ("X-Custom", "1")], b"c\n"))
    r = aco.http("GET", "/c", headers=[("Origin", "http://site.example")])
    assert r.status == 200 and r.body == b"c\n"
    assert r.header("Access-Control-Allow-Origin") == "http://site.example"
    assert r.header("Access-Control-Allow-Credentials") == "true"
    assert r.header("Access-Control-Allow-Methods") == "OPTIONS, HEAD, GET, POST, PUT, DELETE"
    assert r.header("Access-Control-Max-Age") == "3600"
    exposed = [x.strip().lower() for x in r.header("Access-Control-Expose-Headers", "").split(",")]
    assert "x-custom" in exposed
    assert "content-type" not in exposed


def test_aco_no_origin_star_and_echo_request_headers(aco, backend):
    r = aco.http("OPTIONS", "/pre", headers=[("Access-Control-Request-Method", "PATCH"),
                                             ("Access-Control-Request-Headers", "X-Foo, X-Bar")])
    assert r.header("Access-Control-Allow-Origin") == "*"
    assert r.header("Access-Control-Allow-Methods") == "PATCH"
    assert r.header("Access-Control-Allow-Headers") == "X-Foo, X-Bar"
    # preflight is proxied, not auto-answered
    assert backend.reqs("/pre")[0].method == "OPTIONS"


def test_aco_backend_values_kept(aco, backend):
    backend.on("/k", Resp(200, [("Content-Type", "text/plain"), ("Access-Control-Allow-Origin", "https://only.example")], b"k\n"))
    r = aco.http("GET", "/k", headers=[("Origin", "http://site.example")])
    assert r.header_all("Access-Control-Allow-Origin") == ["https://only.example"]


def test_aco_off_by_default(proxy, backend):
    r = proxy.http("GET", "/noaco", headers=[("Origin", "http://site.example")])
    assert r.header("Access-Control-Allow-Origin") is None


def test_aco_on_stream_hold(aco, backend, chan):
    backend.on("/acs", hold("stream", [chan], b"s\n"))
    c, r = open_stream(aco, "/acs", headers=[("Origin", "http://site.example")])
    with c:
        assert r.header("Access-Control-Allow-Origin") == "http://site.example"
        assert read_stream_until(c, b"s\n")
        settle()
        pub_stream(aco, chan, "after\n")
        assert read_stream_until(c, b"after\n")


def test_global_auto_cross_origin(make_proxy, backend):
    p = make_proxy(config={"proxy": {"auto_cross_origin": "true"}})
    r = p.http("GET", "/g")
    assert r.header("Access-Control-Allow-Origin") == "*"


def _unwrap(body, cb):
    pre = b"/**/" + cb + b"("
    assert body.startswith(pre), body
    assert body.endswith(b");\n"), body
    return body[len(pre):-3]


def test_jsonp_extended(aco, backend):
    backend.on("/jp", Resp(200, [("Content-Type", "application/json"), ("X-H", "h")], b'{"v": 1}\n'))
    r = aco.http("GET", "/jp?a=1&callback=myCb&b=2")
    assert r.status == 200
    assert r.header("Content-Type") == "application/javascript"
    obj = json.loads(_unwrap(r.body, b"myCb"))
    assert obj["code"] == 200
    assert obj["reason"] == "OK"
    assert obj["body"] == '{"v": 1}\n'
    assert obj["headers"]["X-H"] == "h"
    q = backend.reqs("/jp")[0]
    assert q.target == "/jp?a=1&b=2"
    assert q.header("Accept") == "*/*"


def test_jsonp_extended_error_status_is_200(aco, backend):
    backend.on("/jp404", Resp(404, [("Content-Type", "text/plain")], b"missing\n"))
    r = aco.http("GET", "/jp404?callback=cb")
    assert r.status == 200
    obj = json.loads(_unwrap(r.body, b"cb"))
    assert obj["code"] == 404
    assert obj["body"] == "missing\n"


def test_jsonp_method_override_and_query_dropped(aco, backend):
    r = aco.http("GET", "/jpm?callback=cb&_method=DELETE")
    assert r.status == 200
    q = backend.reqs("/jpm")[0]
    assert q.method == "DELETE"
    assert q.target == "/jpm"


def test_jsonp_basic(aco, backend):
    backend.on("/basic/x", Resp(200, [("Content-Type", "application/json")], b'{"a":1}\n'))
    r = aco.http("GET", "/basic/x?callback=cb")
    assert r.status == 200
    assert r.body == b'/**/cb({"a":1});\n'
    # basic mode default method is POST
    assert backend.reqs("/basic/x")[0].method == "POST"


def test_jsonp_needs_aco(proxy, backend):
    proxy.http("GET", "/jpn?callback=cb")
    assert backend.reqs("/jpn")[0].target == "/jpn?callback=cb"


def test_jsonp_long_poll_delivery(aco, backend, chan):
    backend.on("/jlp", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]))
    from helpers import Conn
    with Conn(aco.port, timeout=8) as c:
        c.request("GET", "/jlp?callback=cb")
        backend.wait_requests(1, path="/jlp")
        settle()
        aco.publish({"channel": chan, "formats": {"http-response": {"body": "pub\n"}}})
        r = c.read_response()
    assert r.status == 200
    obj = json.loads(_unwrap(r.body, b"cb"))
    assert obj["body"] == "pub\n"
    assert obj["code"] == 200
