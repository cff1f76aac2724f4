"""Issue 2/3: TLS and IPv6 targets, backend connection reuse, GRIP size limits,
update-on-first-subscription, prev-id mismatch on delivery, gone links."""

import os
import ssl
import subprocess
import tempfile

import pytest

from backend import Backend, Resp
from conftest import IS_PUSHPIN, SHARED_HOST_TEST
from griputil import hold, pub_response, settle
from helpers import Conn


@pytest.fixture(scope="module")
def tls_ctx():
    d = tempfile.mkdtemp(prefix="tttls")
    crt, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
                    "-days", "2", "-keyout", key, "-out", crt], check=True, capture_output=True, timeout=30)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    return ctx


@pytest.fixture
def tls_backend(tls_ctx):
    b = Backend(tls_context=tls_ctx)
    yield b
    b.stop()


def test_ssl_target_insecure(make_proxy, tls_backend):
    tls_backend.on("/s", Resp(200, [("Content-Type", "text/plain")], b"over tls\n"))
    p = make_proxy(routes="* %s,ssl,insecure\n" % tls_backend.addr)
    r = p.http("GET", "/s")
    assert r.status == 200
    assert r.body == b"over tls\n"
    assert tls_backend.reqs("/s")[0].header("Grip-Sig")


def test_ssl_target_unverifiable_cert_502(make_proxy, tls_backend):
    p = make_proxy(routes="* %s,ssl\n" % tls_backend.addr)
    r = p.http("GET", "/s")
    assert r.status == 502
    assert tls_backend.reqs() == []


def test_ssl_target_failover_on_tls_error(make_proxy, tls_backend, backend):
    p = make_proxy(routes="* %s,ssl %s\n" % (tls_backend.addr, backend.addr))
    r = p.http("GET", "/f")
    assert r.status == 200
    assert backend.reqs("/f")


@pytest.mark.thumbtack_only  # IPv6 targets are 1.41+
def test_ipv6_target(make_proxy):
    try:
        b = Backend(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        b.on("/v6", Resp(200, [("Content-Type", "text/plain")], b"six\n"))
        p = make_proxy(routes="* %s\n" % b.addr)
        assert p.http("GET", "/v6").body == b"six\n"
    finally:
        b.stop()


@pytest.mark.thumbtack_only  # IPv6 targets are 1.41+
def test_long_target_address_pools_its_connections(make_proxy):
    """A target whose pool key does not fit the upstream's inline buffer (the IPv6
    loopback written out whole, 39 characters) still reuses its backend connections."""
    try:
        b = Backend(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        long_v6 = "0000:0000:0000:0000:0000:0000:0000:0001"
        p = make_proxy(routes="* [%s]:%d\n" % (long_v6, b.port))
        for i in range(8):
            path = "/long%d" % i
            b.on(path, Resp(200, [("Content-Type", "text/plain")], b"six\n"))
            assert p.http("GET", path).body == b"six\n"
        assert b.connections <= 2, b.connections
    finally:
        b.stop()


def test_backend_connections_reused(proxy, backend):
    for i in range(10):
        assert proxy.http("GET", "/pool%d" % i).status == 200
    # a keep-alive pool: far fewer backend connections than requests
    assert backend.connections <= 3, backend.connections


def test_request_too_large_for_grip(proxy, backend):
    backend.on("/bigg", hold("stream", ["x"], b""))
    body = b"b" * 150000
    r = proxy.http("POST", "/bigg", body=body)
    assert r.status == 400
    assert r.body == b"Request too large to accept GRIP instruct.\n"


def test_request_under_limit_for_grip_ok(proxy, backend, chan):
    backend.on("/smallg", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("POST", "/smallg", body=b"b" * 90000)
        backend.wait_requests(1, path="/smallg")
        settle()
        pub_response(proxy, chan, {"body": "ok big\n"})
        assert c.read_response().body == b"ok big\n"


def test_grip_response_hold_body_too_large_502(proxy, backend):
    backend.on("/bigbody", hold("response", ["x"], b"z" * 150000))
    r = proxy.http("GET", "/bigbody")
    assert r.status == 502


def test_grip_stream_large_initial_body_streams(proxy, backend, chan):
    backend.on("/bigstream", hold("stream", [chan], b"y" * 150000))
    with proxy.conn(timeout=8) as c:
        c.request("GET", "/bigstream")
        r = c.read_head()
        assert r.status == 200
        got = b""
        while len(got) < 150000:
            got += c.read_chunk()
        assert got == b"y" * 150000


def test_test_handler_request_too_large(proxy):
    r = proxy.http("POST", "/", body=b"q" * 100001, host=SHARED_HOST_TEST)
    assert r.status == 400
    assert r.body == b"request too large\n"


def test_update_on_first_subscription(proxy, backend, chan):
    # a long-poll on a fresh channel is re-requested from the backend once, ~1 s later
    backend.on("/first", hold("response", [chan], b"t\n", extra=[("Grip-Timeout", "20")]))
    with Conn(proxy.port, timeout=8) as c:
        c.request("GET", "/first")
        reqs = backend.wait_requests(2, path="/first", timeout=4)
        assert len(reqs) >= 2
        assert 0.5 <= reqs[1].time - reqs[0].time <= 3
        settle()
        pub_response(proxy, chan, {"body": "done\n"})
        assert c.read_response().body == b"done\n"


def test_response_hold_prev_id_mismatch_on_publish_retries(proxy, backend, chan):
    backend.on("/pm", hold("response", ["%s; prev-id=a1" % chan], b"t\n", extra=[("Grip-Timeout", "20")]),
               hold("response", ["%s; prev-id=a1" % chan], b"t\n", extra=[("Grip-Timeout", "20")]),
               Resp(200, [("Content-Type", "text/plain")], b"refetched\n"))
    with Conn(proxy.port, timeout=10) as c:
        c.request("GET", "/pm")
        # let the first-subscription update happen, so only the gap triggers the next retry
        backend.wait_requests(2, path="/pm", timeout=4)
        settle()
        pub_response(proxy, chan, {"body": "gap\n"}, id="a3", **{"prev-id": "a2"})
        r = c.read_response()
    # the out-of-sequence item is not delivered; the backend is asked again with Grip-Last
    assert r.body == b"refetched\n"
    assert backend.reqs("/pm")[-1].header_all("Grip-Last") == ["%s; last-id=a1" % chan]


@pytest.mark.thumbtack_only  # rel=gone is 1.41+
def test_gone_link_posted_on_disconnect(proxy, backend, chan):
    backend.on("/gl", hold("stream", [chan], b"s\n", extra=[("Grip-Link", "</gone-cb?x=1>; rel=gone")]))
    c = proxy.conn()
    c.request("GET", "/gl")
    assert c.read_head().status == 200
    settle()
    c.close()
    reqs = backend.wait_requests(1, path="/gone-cb", timeout=4)
    assert reqs and reqs[0].method == "POST"
    assert reqs[0].target == "/gone-cb?x=1"


def test_untrusted_target_to_internal_address_blocked(make_proxy, backend):
    # `untrusted` applies the outbound policy: no loopback/private destinations.
    p = make_proxy(routes="*,path_beg=/dbg,debug %s,untrusted\n* %s,untrusted\n"
                   % (backend.addr, backend.addr))
    r = p.http("GET", "/blocked")
    assert r.status == 502
    assert r.body == b"Error while proxying to origin.\n"
    r = p.http("GET", "/dbg/blocked")
    assert r.status == 502
    if not IS_PUSHPIN:
        assert r.body == b"Error: Origin host/IP blocked.\n"
    assert backend.reqs() == []


def test_target_sub_is_implicit_subscription(make_proxy, backend, chan):
    # sub=<channel> on a target subscribes every hold through it to that channel too
    extra = chan + "-implicit"
    backend.on("/impl", hold("stream", [chan], b"go\n"))
    p = make_proxy(routes="* %s,sub=%s\n" % (backend.addr, extra))
    with p.conn(timeout=5) as c:
        c.request("GET", "/impl")
        assert c.read_head().status == 200
        assert c.read_chunk() == b"go\n"
        settle()
        p.publish({"channel": extra, "formats": {"http-stream": {"content": "via sub\n"}}})
        assert c.read_chunk() == b"via sub\n"


@pytest.mark.thumbtack_only  # cdn_loop is 1.39+
def test_cdn_loop_appended(make_proxy, backend):
    p = make_proxy(config={"proxy": {"cdn_loop": "thumbtack"}})
    p.http("GET", "/loop1")
    p.http("GET", "/loop2", headers=[("CDN-Loop", "edge1"), ("CDN-Loop", "edge2; v=1")])
    assert backend.reqs("/loop1")[0].header("CDN-Loop") == "thumbtack"
    assert backend.reqs("/loop2")[0].header("CDN-Loop") == "edge1, edge2; v=1, thumbtack"
