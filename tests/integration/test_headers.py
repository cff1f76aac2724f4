"""Issue 2: header manipulation: hop-by-hop, Grip-Sig, Grip-Feature, trust, X-Forwarded-*."""

import base64
import time

import pytest

from backend import Resp
from conftest import IS_PUSHPIN
from helpers import jwt_decode_verify, jwt_encode

FEATURES_136 = ["status", "session", "link:next", "filter:skip-self", "filter:skip-users",
                "filter:require-sub", "filter:build-id", "filter:var-subst"]


def test_hop_by_hop_request_headers_removed(proxy, backend):
    proxy.http("GET", "/hop", headers=[("Connection", "keep-alive"), ("Keep-Alive", "timeout=5"),
                                       ("Accept-Encoding", "gzip"), ("X-End", "e2e")])
    q = backend.reqs("/hop")[0]
    assert q.header("Keep-Alive") is None
    if IS_PUSHPIN:
        # zurl (libcurl) adds its own Accept-Encoding; the client's value must not pass
        assert q.header("Accept-Encoding") != "gzip"
    else:
        assert q.header("Accept-Encoding") is None
    assert q.header("X-End") == "e2e"
    assert (q.header("Connection") or "").lower() != "keep-alive" or q.header("Keep-Alive") is None


def test_expect_not_forwarded(proxy, backend):
    with proxy.conn() as c:
        c.request("POST", "/exp", headers=[("Expect", "100-continue"), ("Content-Length", "4")], body=None)
        r = c.read_head(skip_100=False)
        if r.status == 100:
            c.send(b"abcd")
            r = c.read_response()
        else:
            # server chose not to send 100; the body still follows
            c.send(b"abcd")
    q = backend.wait_requests(1, path="/exp")[0]
    assert q.header("Expect") is None
    assert q.body == b"abcd"


def test_hop_by_hop_response_headers_removed(proxy, backend):
    backend.on("/hopr", Resp(200, [("Content-Type", "text/plain"), ("Keep-Alive", "timeout=5, max=100"),
                                   ("Connection", "keep-alive"), ("X-End", "e2e")], b"body\n"))
    r = proxy.http("GET", "/hopr")
    assert r.status == 200 and r.body == b"body\n"
    assert r.header("Keep-Alive") is None
    assert r.header("X-End") == "e2e"


def test_response_content_encoding(proxy, backend):
    # Pushpin quirk (SPEC 3): Content-Encoding is dropped while the bytes pass as-is, which
    # corrupts a compressed body. thumbtack keeps the header (README: differences).
    backend.on("/ce", Resp(200, [("Content-Type", "text/plain"), ("Content-Encoding", "identity")], b"plain\n"))
    r = proxy.http("GET", "/ce")
    assert r.body == b"plain\n"
    if IS_PUSHPIN:
        assert r.header("Content-Encoding") is None
    else:
        assert r.header("Content-Encoding") == "identity"


def test_grip_sig_is_valid_hs256_jwt(proxy, backend):
    proxy.http("GET", "/sig")
    q = backend.reqs("/sig")[0]
    tok = q.header("Grip-Sig")
    assert tok, q.headers
    header, claims = jwt_decode_verify(tok, "changeme")
    assert header["alg"] == "HS256"
    assert header.get("typ") == "JWT"
    assert set(claims) == {"iss", "exp"}
    assert claims["iss"] == "pushpin"
    assert abs(claims["exp"] - (time.time() + 3600)) < 10


def test_grip_sig_wrong_key_fails(proxy, backend):
    proxy.http("GET", "/sig2")
    tok = backend.reqs("/sig2")[0].header("Grip-Sig")
    with pytest.raises(AssertionError):
        jwt_decode_verify(tok, "not-the-key")


def test_sig_iss_and_base64_key(make_proxy, backend):
    key = b"\x01\x02secret\xff"
    p = make_proxy(config={"proxy": {"sig_iss": "myiss", "sig_key": "base64:" + base64.b64encode(key).decode()}})
    p.http("GET", "/s")
    _, claims = jwt_decode_verify(backend.reqs()[0].header("Grip-Sig"), key)
    assert claims["iss"] == "myiss"


def test_route_sig_key_override(make_proxy, backend):
    p = make_proxy(routes="*,sig_iss=routeiss,sig_key=routekey %s\n" % backend.addr)
    p.http("GET", "/s")
    _, claims = jwt_decode_verify(backend.reqs()[0].header("Grip-Sig"), "routekey")
    assert claims["iss"] == "routeiss"


def test_grip_feature_header(proxy, backend):
    proxy.http("GET", "/feat", headers=[("Grip-Feature", "bogus")])
    q = backend.reqs("/feat")[0]
    vals = q.header_all("Grip-Feature")
    assert len(vals) == 1
    feats = [x.strip() for x in vals[0].split(",")]
    for f in FEATURES_136:
        assert f in feats
    assert "bogus" not in feats


def test_client_grip_headers_stripped(proxy, backend):
    fake = jwt_encode({"iss": "pushpin", "exp": int(time.time()) + 3600}, "wrong")
    proxy.http("GET", "/strip", headers=[("Grip-Sig", fake), ("Grip-Foo", "x"), ("grip-last", "c; last-id=1")])
    q = backend.reqs("/strip")[0]
    assert q.header("Grip-Foo") is None
    assert q.header("Grip-Last") is None
    assert q.header("Grip-Sig") != fake
    jwt_decode_verify(q.header("Grip-Sig"), "changeme")


@pytest.mark.thumbtack_only  # Pushpin 1.36 signs with an empty key instead
def test_no_sig_key_no_grip_sig(make_proxy, backend):
    p = make_proxy(config={"proxy": {"sig_key": ""}})
    p.http("GET", "/nosig")
    assert backend.reqs()[0].header("Grip-Sig") is None


def test_trusted_client_upstream_key(make_proxy, backend):
    p = make_proxy(config={"proxy": {"upstream_key": "upkey"}})
    tok = jwt_encode({"iss": "edge", "exp": int(time.time()) + 600}, "upkey")
    backend.on("/t", Resp(200, [("Content-Type", "text/plain"), ("Grip-Hold", "stream"),
                                ("Grip-Channel", "ctrusted")], b"raw\n"))
    r = p.http("GET", "/t", headers=[("Grip-Sig", tok), ("Grip-Foo", "kept")])
    q = backend.reqs("/t")[0]
    assert q.header("Grip-Sig") == tok
    assert q.header("Grip-Foo") == "kept"
    # GRIP instructions are passed back to a trusted client unprocessed
    assert r.status == 200
    assert r.header("Grip-Hold") == "stream"
    assert r.header("Grip-Channel") == "ctrusted"
    assert r.body == b"raw\n"


def test_expired_upstream_token_not_trusted(make_proxy, backend):
    p = make_proxy(config={"proxy": {"upstream_key": "upkey"}})
    tok = jwt_encode({"iss": "edge", "exp": int(time.time()) - 10}, "upkey")
    p.http("GET", "/t", headers=[("Grip-Sig", tok), ("Grip-Foo", "x")])
    q = backend.reqs("/t")[0]
    assert q.header("Grip-Sig") != tok
    assert q.header("Grip-Foo") is None


def test_badly_signed_upstream_token_not_trusted(make_proxy, backend):
    p = make_proxy(config={"proxy": {"upstream_key": "upkey"}})
    tok = jwt_encode({"iss": "edge", "exp": int(time.time()) + 600}, "other")
    p.http("GET", "/t", headers=[("Grip-Sig", tok), ("Grip-Foo", "x")])
    q = backend.reqs("/t")[0]
    assert q.header("Grip-Sig") != tok
    assert q.header("Grip-Foo") is None


def test_xff_default_untouched(proxy, backend):
    proxy.http("GET", "/xff1", headers=[("X-Forwarded-For", "1.2.3.4")])
    proxy.http("GET", "/xff2")
    assert backend.reqs("/xff1")[0].header("X-Forwarded-For") == "1.2.3.4"
    assert backend.reqs("/xff2")[0].header("X-Forwarded-For") is None


def _xff(p, backend, path, values):
    p.http("GET", path, headers=[("X-Forwarded-For", v) for v in values])
    return backend.reqs(path)[0].header_all("X-Forwarded-For")


def test_xff_append(make_proxy, backend):
    p = make_proxy(config={"proxy": {"x_forwarded_for": "append"}})
    assert _xff(p, backend, "/a", []) == ["127.0.0.1"]
    assert _xff(p, backend, "/b", ["1.1.1.1, 2.2.2.2"]) == ["1.1.1.1, 2.2.2.2, 127.0.0.1"]
    assert _xff(p, backend, "/c", ["1.1.1.1", "2.2.2.2"]) == ["1.1.1.1, 2.2.2.2, 127.0.0.1"]


def test_xff_truncate_zero_removes(make_proxy, backend):
    p = make_proxy(config={"proxy": {"x_forwarded_for": "truncate:0"}})
    assert _xff(p, backend, "/a", ["1.1.1.1"]) == []


def test_xff_truncate_and_append(make_proxy, backend):
    p = make_proxy(config={"proxy": {"x_forwarded_for": "truncate:1,append"}})
    assert _xff(p, backend, "/a", ["1.1.1.1, 2.2.2.2"]) == ["2.2.2.2, 127.0.0.1"]


def test_xff_trusted_rule(make_proxy, backend):
    p = make_proxy(config={"proxy": {"upstream_key": "upkey", "x_forwarded_for": "truncate:0",
                                     "x_forwarded_for_trusted": "append"}})
    tok = jwt_encode({"iss": "edge", "exp": int(time.time()) + 600}, "upkey")
    p.http("GET", "/tr", headers=[("Grip-Sig", tok), ("X-Forwarded-For", "9.9.9.9")])
    assert backend.reqs("/tr")[0].header_all("X-Forwarded-For") == ["9.9.9.9, 127.0.0.1"]
    p.http("GET", "/un", headers=[("X-Forwarded-For", "9.9.9.9")])
    assert backend.reqs("/un")[0].header_all("X-Forwarded-For") == []


def test_xfp_proto_only_strips_incoming(make_proxy, backend):
    p = make_proxy(config={"proxy": {"set_x_forwarded_protocol": "proto-only"}})
    p.http("GET", "/p", headers=[("X-Forwarded-Proto", "https"), ("X-Forwarded-Protocol", "https")])
    q = backend.reqs("/p")[0]
    assert q.header("X-Forwarded-Proto") is None
    assert q.header("X-Forwarded-Protocol") is None


def test_accept_x_forwarded_protocol_marks_tls(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    b1.default = Resp(200, [("Content-Type", "text/plain")], b"tls\n")
    b2.default = Resp(200, [("Content-Type", "text/plain")], b"plain\n")
    p = make_proxy(routes="*,ssl=yes %s\n* %s\n" % (b1.addr, b2.addr),
                   config={"proxy": {"accept_x_forwarded_protocol": "true",
                                     "set_x_forwarded_protocol": "proto-only"}})
    assert p.http("GET", "/x").body == b"plain\n"
    assert p.http("GET", "/x", headers=[("X-Forwarded-Proto", "https")]).body == b"tls\n"
    assert b1.reqs()[0].header("X-Forwarded-Proto") == "https"


def test_grip_response_headers_hidden_from_client(proxy, backend):
    # A non-hold GRIP response: Grip-* removed, rest delivered.
    backend.on("/gr", Resp(200, [("Content-Type", "text/plain"), ("Grip-Foo", "bar"), ("X-Keep", "1")], b"plain grip\n"))
    r = proxy.http("GET", "/gr")
    assert r.status == 200
    assert r.body == b"plain grip\n"
    assert not [n for n in r.names() if n.startswith("grip-")]
    assert r.header("X-Keep") == "1"


def test_no_grip_route_passes_grip_headers(make_proxy, backend):
    p = make_proxy(routes="*,no_grip %s\n" % backend.addr)
    backend.on("/ng", Resp(200, [("Content-Type", "text/plain"), ("Grip-Hold", "stream"), ("Grip-Channel", "x")], b"raw\n"))
    r = p.http("GET", "/ng")
    assert r.header("Grip-Hold") == "stream"
    assert r.body == b"raw\n"
    q = backend.reqs("/ng")[0]
    assert q.header("Grip-Sig") is None
