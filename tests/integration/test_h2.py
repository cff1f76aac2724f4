"""Issue 9: HTTP/2 to clients, over TLS (ALPN h2) and cleartext with prior knowledge (h2c).

Each stream is served by thumbtack's HTTP/1 path (a client on a virtual connection), so
these tests check what an HTTP/2 client sees: the same answers as over HTTP/1.1, GRIP holds
on streams of one connection, flow control both ways, and the abuse limits. Clients: curl
(--http2, --http2-prior-knowledge), nghttp, h2load (bench only), Python's h2 library, raw
frames, and headless Chromium.
"""

import hashlib
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from backend import Resp
from griputil import hold, pub_stream, settle
from h2util import (CONTINUATION, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, GOAWAY,
                    HEADERS, INTERNAL_ERROR, NO_ERROR, PING, PROTOCOL_ERROR,
                    PRIORITY, REFUSED_STREAM, RST_STREAM, SETTINGS, H2Client, RawConn, frame,
                    request_fields, settings_frame)
from helpers import Conn, free_port, wait_for
from test_tls import client_ctx, start_tls_proxy

pytestmark = pytest.mark.thumbtack_only  # Pushpin has no HTTP/2


def curl(*args, timeout=20):
    r = subprocess.run(["curl", "-sS"] + list(args), capture_output=True, timeout=timeout)
    return r


@pytest.fixture
def tls_h2(make_proxy, tmp_path):
    """A thumbtack with a plain and an https port (certificate default_<port> for
    localhost). Returns (proxy, https_port, ca)."""
    def make(routes=None, extra_config=None):
        return start_tls_proxy(make_proxy, tmp_path, routes, extra_config)
    return make


def h2_conns(p):
    """Ids of the HTTP/2 connections in the log."""
    return re.findall(r"c(\d+) \S+: HTTP/2 connection", p.log())


# ---- plain requests -----------------------------------------------------------------

def test_ipv6_client_address_reaches_the_backend_and_the_log(make_proxy, backend):
    """A client's address text is kept at its own length (a stream copies its
    connection's): an IPv6 one is whole in X-Forwarded-For and in the access log, over
    HTTP/1.1 and HTTP/2."""
    p = make_proxy(start=False, config={"proxy": {"x_forwarded_for": "append"}})
    v6 = free_port()
    p.extra_config.setdefault("runner", {})["http_port"] = "%d,[::1]:%d" % (p.port, v6)
    p.write_config()
    p.start()
    for path in ("/v6/h1", "/v6/h2"):
        backend.on(path, Resp(200, [("Content-Type", "text/plain")], b"ok\n"))
    r1 = curl("-i", "-g", "http://[::1]:%d/v6/h1" % v6)
    r2 = curl("-i", "-g", "--http2-prior-knowledge", "http://[::1]:%d/v6/h2" % v6)
    assert r1.stdout.decode().startswith("HTTP/1.1 200"), r1
    assert r2.stdout.decode().startswith("HTTP/2 200"), r2
    for path in ("/v6/h1", "/v6/h2"):
        assert backend.reqs(path)[0].header_all("X-Forwarded-For") == ["::1"]
        assert re.search(r"c\d+ ::1 GET %s -> " % path, p.log()), p.log()[-2000:]


def test_curl_prior_knowledge_proxied(proxy, backend):
    backend.on("/h2/a", Resp(200, [("Content-Type", "text/plain"), ("X-Back", "yes")], b"hello h2\n"))
    r = curl("--http2-prior-knowledge", "-i", "-H", "Host: example.com",
             "http://127.0.0.1:%d/h2/a?q=1" % proxy.port)
    out = r.stdout.decode()
    assert out.startswith("HTTP/2 200"), out
    assert "x-back: yes" in out and out.endswith("hello h2\n")
    assert "connection:" not in out.lower() and "transfer-encoding" not in out.lower()
    q = backend.reqs("/h2/a")[0]
    assert q.version == "HTTP/1.1" and q.target == "/h2/a?q=1"
    assert q.header("Host") == "example.com"
    assert "HTTP/2 connection (prior knowledge)" in proxy.log()


def test_curl_tls_alpn_h2_and_forwarded_proto(tls_h2, backend):
    p, port, ca = tls_h2(routes="* %s\n" % backend.addr,
                         extra_config={"proxy": {"set_x_forwarded_protocol": "proto-only"}})
    backend.on("/tlsh2", Resp(200, [("Content-Type", "text/plain")], b"secure h2\n"))
    r = curl("--http2", "--cacert", ca.crt, "-i", "https://localhost:%d/tlsh2" % port)
    out = r.stdout.decode()
    assert out.startswith("HTTP/2 200"), (out, r.stderr)
    assert out.endswith("secure h2\n")
    q = backend.reqs("/tlsh2")[0]
    assert q.header("X-Forwarded-Proto") == "https"
    assert q.header("Host") == "localhost:%d" % port
    # Python's ssl picks h2 too when offered
    s = ssl.create_default_context(cafile=ca.crt)
    s.set_alpn_protocols(["h2", "http/1.1"])
    t = s.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    assert t.selected_alpn_protocol() == "h2"
    t.close()
    assert "TLS, ALPN h2" in p.log()


def test_http2_off_offers_http11_only(tls_h2, backend):
    p, port, ca = tls_h2(routes="* %s\n" % backend.addr, extra_config={"runner": {"http2": "false"}})
    s = client_ctx(ca, ["h2", "http/1.1"])
    t = s.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    assert t.selected_alpn_protocol() == "http/1.1"
    t.close()
    # and the preface on the plain port is not HTTP/2 (a 505 for "HTTP/2.0")
    with Conn(p.port) as c:
        c.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        r = c.read_response()
    assert r.status == 505


def test_cleartext_upgrade_is_served_as_http11(proxy, backend):
    """curl --http2 on http:// asks for an h2c Upgrade, which we do not take (RFC 9113
    allows ignoring it): the request is answered over HTTP/1.1."""
    backend.on("/upg", Resp(200, [("Content-Type", "text/plain")], b"h1 it is\n"))
    r = curl("--http2", "-i", "-H", "Host: example.com", "http://127.0.0.1:%d/upg" % proxy.port)
    out = r.stdout.decode()
    assert out.startswith("HTTP/1.1 200"), out
    assert out.endswith("h1 it is\n")
    q = backend.reqs("/upg")[0]
    assert q.header("Upgrade") is None and q.header("HTTP2-Settings") is None


def test_bodies_both_ways(proxy, backend):
    big = os.urandom(700_000)
    backend.on("/echo-len", Resp(200, [("Content-Type", "application/octet-stream")], big))
    body = os.urandom(300_000)
    with H2Client(proxy.port) as c:
        # content-length given: forwarded with it
        s1 = c.request("/up-cl", method="POST", body=body,
                       headers=[("content-length", str(len(body)))])
        # no content-length: collected and sent with one, up to the 100000-byte replay
        # buffer (as an HTTP/1.1 chunked body); a larger one goes chunked to the backend
        s2 = c.request("/up-collected", method="PUT", body=body[:100_000])
        s4 = c.request("/up-chunked", method="PUT", body=body[:150_000])
        # a large response body through flow control
        s3 = c.request("/echo-len")
        for sid in (s1, s2, s3, s4):
            c.response(sid, 20)
        assert c.streams[s3].status == 200 and bytes(c.streams[s3].data) == big
        assert c.streams[s3].header("content-length") == str(len(big)).encode()
    q1 = backend.reqs("/up-cl")[0]
    assert q1.method == "POST" and q1.body == body and q1.header("Content-Length") == str(len(body))
    q2 = backend.reqs("/up-collected")[0]
    assert q2.body == body[:100_000] and not q2.chunked
    assert q2.header("Content-Length") == "100000"
    q4 = backend.reqs("/up-chunked")[0]
    assert q4.body == body[:150_000] and q4.chunked
    assert q4.header("Transfer-Encoding") == "chunked"


def test_chunked_backend_response_and_head(proxy, backend):
    backend.on("/ch", Resp(200, [("Content-Type", "text/plain")], [b"one ", b"two ", b"three"],
                           framing="chunked"))
    backend.on("/hd", Resp(200, [("Content-Type", "text/plain")], b"0123456789"))
    backend.on("/nc", Resp(204, [("X-A", "b")], b""))
    with H2Client(proxy.port) as c:
        a = c.request("/ch")
        b = c.request("/hd", method="HEAD")
        d = c.request("/nc")
        sa, sb, sd = c.response(a), c.response(b), c.response(d)
    assert bytes(sa.data) == b"one two three" and sa.reset is None
    assert sa.header("transfer-encoding") is None
    assert sb.status == 200 and sb.data == b"" and sb.header("content-length") == b"10"
    assert sd.status == 204 and sd.data == b"" and sd.header("x-a") == b"b"


def test_nghttp_client_several_streams(proxy, backend):
    for i in range(3):
        backend.on("/ng%d" % i, Resp(200, [("Content-Type", "text/plain")], b"n%d\n" % i))
    base = "http://127.0.0.1:%d" % proxy.port
    r = subprocess.run(["nghttp", "-n", "-s", "-H", ":authority: example.com", base + "/ng0",
                        base + "/ng1", base + "/ng2"], capture_output=True, timeout=20)
    assert r.returncode == 0, r.stderr
    # -s prints one line per stream of the one connection
    assert r.stdout.decode().count("/ng") == 3, r.stdout
    for i in range(3):
        assert len(backend.reqs("/ng%d" % i)) == 1
    assert len(h2_conns(proxy)) >= 1
    r = subprocess.run(["nghttp", "-H", ":authority: example.com", base + "/ng1"],
                       capture_output=True, timeout=20)
    assert r.stdout == b"n1\n"


def test_cookies_joined_and_host_from_authority(proxy, backend):
    backend.on("/ck", Resp(200, [("Content-Type", "text/plain")], b"ok"))
    with H2Client(proxy.port) as c:
        sid = c.request("/ck", authority="auth.example:8080",
                        headers=[("cookie", "a=1"), ("x-multi", "v1"), ("cookie", "b=2")])
        assert c.response(sid).status == 200
    q = backend.reqs("/ck")[0]
    assert q.header("Host") == "auth.example:8080"
    assert q.header("Cookie") == "a=1; b=2"
    assert q.header("X-Multi") == "v1"


def test_malformed_and_connect_requests(proxy, backend):
    """What nghttp2 finds malformed is reset (PROTOCOL_ERROR); a well-formed CONNECT gets a
    501 (no tunnels); a userinfo authority, valid for HTTP/2 but not a Host, a 400; the
    connection goes on serving."""
    backend.on("/ok", Resp(200, [("Content-Type", "text/plain")], b"fine"))
    rc = RawConn(proxy.port)
    rc.send(rc.headers(1, request_fields("/ok", authority="bad host")))
    rc.send(rc.headers(3, [(":method", "CONNECT"), (":authority", "example.com:443")],
                       end_stream=False))
    rc.send(rc.headers(5, request_fields("/ok", authority="user@example.com")))
    rc.send(rc.headers(7, request_fields("/ok")))
    fs = rc.frames(2)
    rc.close()
    by = {}
    for t, f, sid, p in fs:
        by.setdefault(sid, []).append((t, f, p))
    assert (RST_STREAM, 0, PROTOCOL_ERROR.to_bytes(4, "big")) in by[1]
    import hpack
    dec = hpack.Decoder()
    heads = {}
    for t, f, sid, p in fs:
        if t == HEADERS:
            heads[sid] = dict(dec.decode(p))
    assert heads[3][":status"] == "501"
    assert heads[5][":status"] == "400"
    assert heads[7][":status"] == "200"
    bodies = {sid: b"".join(p for t, f, s_, p in fs if t == DATA and s_ == sid) for sid in (3, 5, 7)}
    assert bodies[3] == b"CONNECT is not supported.\n"
    assert bodies[5] == b"Failed to parse request: invalid host\n"
    assert bodies[7] == b"fine"
    assert len(backend.reqs("/ok")) == 1


# ---- GRIP on HTTP/2 streams -----------------------------------------------------------

def _h1_get(port, path, headers=None):
    c = Conn(port, timeout=8)
    c.request("GET", path, headers)
    return c


def _strip_h1(headers):
    hop = {"connection", "transfer-encoding", "keep-alive", "content-length"}
    return sorted((k.lower(), v) for k, v in headers if k.lower() not in hop)


def _strip_h2(headers):
    return sorted((k.decode(), v.decode()) for k, v in headers.items()
                  if not k.startswith(b":") and k != b"content-length")


def test_grip_holds_each_on_a_stream_same_as_http11(make_proxy, backend, chan):
    """A stream hold, an SSE stream, a long-poll and a JSON-P long-poll on four streams of
    one HTTP/2 connection: heads and bodies as over HTTP/1.1 (hop-by-hop aside)."""
    p = make_proxy(routes="*,aco %s\n" % backend.addr)
    backend.on("/g/stream", hold("stream", [chan], b"[opened]\n"))
    backend.on("/g/sse", hold("stream", [chan], b"", ctype="text/event-stream",
                              extra=[("Cache-Control", "no-cache")]))
    backend.on("/g/lp", hold("response", [chan], b"nothing\n", extra=[("X-Lp", "1")]))
    backend.on("/g/jp", hold("response", [chan], b"nothing\n"))
    paths = ["/g/stream", "/g/sse", "/g/lp", "/g/jp?callback=cb"]
    origin = [("origin", "http://site.example")]
    h1 = [_h1_get(p.port, path, [("Origin", "http://site.example")]) for path in paths]
    with H2Client(p.port) as c:
        ids = [c.request(path, headers=origin) for path in paths]
        assert c.wait(lambda: all(c.streams[i].headers for i in ids[:2]), 5)
        heads1 = [h1[0].read_head(), h1[1].read_head()]
        assert backend.wait_requests(8, timeout=5)
        settle()
        pub = {"channel": chan, "formats": {"http-stream": {"content": "data: hi\n\n"},
                                            "http-response": {"body": "pub\n"}}}
        p.publish(pub)
        c.read_until(ids[0], "data: hi\n\n")
        c.read_until(ids[1], "data: hi\n\n")
        lp, jp = c.response(ids[2]), c.response(ids[3])
        st, sse = c.streams[ids[0]], c.streams[ids[1]]
        assert bytes(st.data) == b"[opened]\ndata: hi\n\n" and not st.ended
        assert bytes(sse.data) == b"data: hi\n\n"
        # the same over HTTP/1.1
        assert h1[0].read_chunk() == b"[opened]\n" and h1[0].read_chunk() == b"data: hi\n\n"
        assert h1[1].read_chunk() == b"data: hi\n\n"
        r_lp, r_jp = h1[2].read_response(), h1[3].read_response()
        assert st.status == heads1[0].status == 200
        assert _strip_h2(st.headers) == _strip_h1(heads1[0].headers)
        assert _strip_h2(sse.headers) == _strip_h1(heads1[1].headers)
        assert sse.header("content-type") == b"text/event-stream"
        assert (lp.status, bytes(lp.data)) == (r_lp.status, r_lp.body) == (200, b"pub\n")
        assert _strip_h2(lp.headers) == _strip_h1(r_lp.headers)
        assert lp.header("x-lp") == b"1"
        assert (jp.status, bytes(jp.data)) == (r_jp.status, r_jp.body)
        assert bytes(jp.data).startswith(b"/**/cb(") and b'"body": "pub\\n"' in bytes(jp.data)
        # close ends the stream holds cleanly (END_STREAM, not a reset)
        p.publish({"channel": chan, "formats": {"http-stream": {"action": "close"}}})
        assert c.response(ids[0]).reset is None and c.streams[ids[0]].ended
        assert c.response(ids[1]).reset is None
    for x in h1:
        x.close()


def test_many_streams_one_connection_one_publish(make_proxy, chan):
    p = make_proxy(routes="* test\n")
    n = 60
    with H2Client(p.port) as c:
        ids = [c.request("/stream?channel=" + chan) for _ in range(n)]
        assert c.wait(lambda: all(b"[stream opened]\n" in c.streams[i].data for i in ids), 5)
        settle()
        pub_stream(p, chan, "to all sixty\n")
        assert c.wait(lambda: all(c.streams[i].data.endswith(b"to all sixty\n") for i in ids), 5)
        assert all(c.streams[i].reset is None for i in ids)
    assert len(h2_conns(p)) == 1


def test_many_idle_streams_each_get_every_message(make_proxy, chan):
    """200 held streams on one connection: an idle stream keeps no data item in nghttp2
    (its provider ends when its queue is empty, without a frame), and a new one is made for
    each message: after idling, every stream still gets each message, in one DATA frame
    (no empty frames in between), and a close still ends each with END_STREAM."""
    p = make_proxy(routes="* test\n", config={"runner": {"http2_max_concurrent_streams": "256"}})
    n = 200
    with H2Client(p.port, timeout=10) as c:
        ids = [c.request("/stream?channel=" + chan) for _ in range(n)]
        assert c.wait(lambda: all(b"[stream opened]\n" in c.streams[i].data for i in ids), 10)
        settle()
        want = b"[stream opened]\n"
        for k, pause in enumerate((0, 1.5, 0)):
            time.sleep(pause)  # idle: no frames meanwhile
            c.pump(0.2)
            assert all(c.streams[i].frames == k + 1 for i in ids)
            msg = "message %d to all %d\n" % (k, n)
            pub_stream(p, chan, msg)
            want += msg.encode()
            assert c.wait(lambda: all(len(c.streams[i].data) == len(want) for i in ids), 10)
            assert all(bytes(c.streams[i].data) == want for i in ids)
            assert all(c.streams[i].frames == k + 2 for i in ids)
        # two messages back to back: both arrive, in order
        pub_stream(p, chan, "a\n")
        pub_stream(p, chan, "b\n")
        want += b"a\nb\n"
        assert c.wait(lambda: all(bytes(c.streams[i].data) == want for i in ids), 10)
        time.sleep(1)
        p.publish({"channel": chan, "formats": {"http-stream": {"action": "close"}}})
        assert c.wait(lambda: all(c.streams[i].ended for i in ids), 10)
        assert all(c.streams[i].reset is None and bytes(c.streams[i].data) == want for i in ids)
        # the connection still serves new streams
        d = c.request("/stream?channel=" + chan)
        c.read_until(d, "[stream opened]\n")
    assert len(h2_conns(p)) == 1


def test_long_poll_timeout_and_client_reset_of_a_hold(make_proxy, backend, chan):
    p = make_proxy(routes="* %s\n" % backend.addr)
    backend.on("/lpt", hold("response", [chan], b"timed out\n", extra=[("Grip-Timeout", "5")]))
    backend.on("/rst", hold("stream", [chan], b"s\n"))
    backend.on("/after", Resp(200, [("Content-Type", "text/plain")], b"still here"))
    with H2Client(p.port, timeout=10) as c:
        a = c.request("/lpt")
        b = c.request("/rst")
        c.read_until(b, "s\n")
        c.reset(b)  # the client gives up on the stream hold
        assert wait_for(lambda: "GET /rst" in p.log(), 5)
        d = c.request("/after")
        assert bytes(c.response(d).data) == b"still here"
        sa = c.response(a, timeout=9)
        assert sa.status == 200 and bytes(sa.data) == b"timed out\n"
        settle()
        pub_stream(p, chan, "nobody\n")  # the reset hold is gone; nothing breaks
        e = c.request("/after")
        assert c.response(e).status == 200


def test_backend_failure_mid_response_resets_stream(make_proxy, backend):
    p = make_proxy(routes="* %s\n" % backend.addr)
    backend.on("/cut", Resp(200, [("Content-Type", "text/plain"), ("Content-Length", "50000")],
                            [b"x" * 1000, b"x" * 49000], framing="none", piece_delay=0.3,
                            abort_after=1000))
    backend.on("/ok", Resp(200, [("Content-Type", "text/plain")], b"ok"))
    with H2Client(p.port) as c:
        a = c.request("/cut")
        s = c.response(a)
        assert s.status == 200 and s.reset == INTERNAL_ERROR and not s.ended
        assert len(s.data) < 50000
        b = c.request("/ok")
        assert bytes(c.response(b).data) == b"ok"


def test_sigterm_ends_h2_holds_cleanly(make_proxy, chan):
    """SIGTERM: GOAWAY (no new streams), the stream hold ends with END_STREAM, the
    long-poll gets its timeout response; exit 0. Raw frames: the h2 library stops reading
    at a GOAWAY, which RFC 9113 does not."""
    import hpack
    p = make_proxy(routes="* test\n")
    rc = RawConn(p.port, timeout=10)
    rc.send(rc.headers(1, request_fields("/stream?channel=" + chan)))
    rc.send(rc.headers(3, request_fields("/response?channel=" + chan)))
    fs = rc.frames(1)
    assert any(t == DATA and sid == 1 and b"[stream opened]" in pl for t, f, sid, pl in fs)
    settle()
    p.signal(signal.SIGTERM)
    fs += rc.frames(8)
    rc.close()
    dec = hpack.Decoder()
    heads = {}
    for t, f, sid, pl in fs:
        if t == HEADERS:
            heads[sid] = dict(dec.decode(pl))
    assert [t for t, f, sid, pl in fs if t == GOAWAY], fs
    goaway = [pl for t, f, sid, pl in fs if t == GOAWAY][0]
    assert int.from_bytes(goaway[4:8], "big") == NO_ERROR
    assert not [1 for t, f, sid, pl in fs if t == RST_STREAM]
    ends = {sid for t, f, sid, pl in fs if t in (DATA, HEADERS) and f & END_STREAM}
    assert ends == {1, 3}
    assert heads[3][":status"] == "200"
    assert b"".join(pl for t, f, sid, pl in fs if t == DATA and sid == 3) == b"nothing for now\n"
    p.proc.wait(10)
    assert p.proc.returncode == 0


# ---- flow control ----------------------------------------------------------------------

def test_slow_stream_does_not_block_others(make_proxy, chan):
    """Stream A's window is never given back; B on the same connection gets every message,
    A's backlog waits in its own queue and arrives when A reads again."""
    p = make_proxy(routes="* test\n")
    msg = "m" * 9999 + "\n"
    with H2Client(p.port, timeout=10) as c:
        a = c.request("/stream?channel=" + chan)
        b = c.request("/stream?channel=" + chan)
        c.slow.add(a)
        assert c.wait(lambda: all(b"[stream opened]\n" in c.streams[i].data for i in (a, b)), 5)
        settle()
        for i in range(20):
            pub_stream(p, chan, msg)
        assert c.wait(lambda: c.streams[b].data.count(b"\n") == 21, 10), c.streams[b].data.count(b"\n")
        got_a = len(c.streams[a].data)
        assert got_a <= 65535 + 100  # held at its window
        c.slow.discard(a)
        c.conn.acknowledge_received_data(got_a, a)
        c.flush()
        assert c.wait(lambda: c.streams[a].data.count(b"\n") == 21, 10)
        assert bytes(c.streams[a].data) == bytes(c.streams[b].data)


def test_stalled_stream_drops_per_policy_others_get_all(make_proxy, chan):
    p = make_proxy(routes="* test\n")
    with H2Client(p.port, timeout=10) as c:
        a = c.request("/stream?channel=" + chan)
        b = c.request("/stream?channel=" + chan)
        c.slow.add(a)
        # B reads with a large window (as browsers do: several MB), A never gives its back
        c.conn.increment_flow_control_window(16 << 20)
        c.conn.increment_flow_control_window(16 << 20, b)
        c.flush()
        assert c.wait(lambda: all(c.streams[i].data for i in (a, b)), 5)
        settle()
        big = "z" * 4000 + "\n"

        def publish_all():  # while the client reads B (a browser's windows are large)
            for i in range(150):
                p.publish({"channel": chan,
                           "formats": {"http-stream": {"content": "%03d%s" % (i, big)}}})
        t = threading.Thread(target=publish_all)
        t.start()
        assert c.wait(lambda: c.streams[b].data.count(b"\n") == 151, 20)
        t.join()
        assert wait_for(lambda: "dropped for slow subscribers" in p.log(), 5)
        assert c.streams[a].data.count(b"\n") < 151


def test_passthrough_backpressure_per_stream(make_proxy, backend):
    p = make_proxy(routes="* %s\n" % backend.addr)
    big = os.urandom(3_000_000)
    backend.on("/big", Resp(200, [("Content-Type", "application/octet-stream")], big))
    backend.on("/small", Resp(200, [("Content-Type", "text/plain")], b"quick"))
    with H2Client(p.port, timeout=10) as c:
        a = c.request("/big")
        c.slow.add(a)
        assert c.wait(lambda: len(c.streams[a].data) >= 65535, 5)
        b = c.request("/small")
        assert bytes(c.response(b).data) == b"quick"
        time.sleep(0.3)
        assert len(c.streams[a].data) <= 65535 + 16384
        c.slow.discard(a)
        c.conn.acknowledge_received_data(len(c.streams[a].data), a)
        c.flush()
        s = c.response(a, 20)
        assert hashlib.sha256(bytes(s.data)).digest() == hashlib.sha256(big).digest()


def test_request_body_window_follows_the_backend(make_proxy):
    """Request DATA is credited only as the stream's client forwards it: a backend that
    does not read stalls that upload, not the connection."""
    from backend import RawBackend
    release = threading.Event()

    def handler(rc):
        head = rc.read_head()
        if b"/slowup" in head:
            release.wait(15)
            n = 0
            while n < 8_000_000:
                d = rc.read_exact(min(65536, 8_000_000 - n), timeout=10)
                if not d:
                    break
                n += len(d)
            rc.notes["got"] = n
            rc.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        else:
            rc.send(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfast")

    be = RawBackend(handler)
    try:
        p = make_proxy(routes="* %s\n" % be.addr)
        body = b"u" * 8_000_000
        with H2Client(p.port, timeout=10) as c:
            a = c.request("/slowup", method="POST", end=False,
                          headers=[("content-length", str(len(body)))])
            sent, stalled = 0, False
            end = time.monotonic() + 10
            while time.monotonic() < end:
                n = min(c.conn.local_flow_control_window(a), 16384, len(body) - sent)
                if n <= 0:
                    c.pump(0.3)
                    if c.conn.local_flow_control_window(a) == 0:
                        stalled = True
                        break
                    continue
                c.conn.send_data(a, body[sent:sent + n])
                sent += n
                c.flush()
            assert stalled and sent < len(body)
            b = c.request("/other")  # the connection still carries other streams
            assert bytes(c.response(b).data) == b"fast"
            release.set()
            c.send_body(a, body[sent:], end=True)
            s = c.response(a, 20)
            assert bytes(s.data) == b"ok"
        assert be.conns[0].notes.get("got") == len(body)
    finally:
        release.set()
        be.stop()


# ---- abuse limits ------------------------------------------------------------------------
# Each limit: below it the connection goes on (a PING is answered); over it GOAWAY
# ENHANCE_YOUR_CALM, the connection closes, the log says which limit and counts it.

def _alive(rc):
    rc.send(frame(PING, 0, 0, b"12345678"))
    fs = rc.frames(1)
    return any(t == PING and f & 1 and p == b"12345678" for t, f, s_, p in fs)


def _cut(p, rc, what):
    code, closed = rc.goaway(5)
    assert code == ENHANCE_YOUR_CALM, code
    assert closed
    assert wait_for(lambda: what in p.log(), 3), p.log()[-2000:]
    assert "HTTP/2 limit hits in worker" in p.log()


@pytest.fixture
def h2p(make_proxy, backend):
    return make_proxy(routes="* %s\n" % backend.addr)


def test_rapid_reset_is_cut_and_never_dispatched(h2p, backend):
    backend.on("/rr", Resp(200, [("Content-Type", "text/plain")], b"x"))
    rc = RawConn(h2p.port)
    # 90 streams opened and reset at once: under the limit (100), none reaches the backend
    burst = b"".join(rc.headers(2 * i + 1, request_fields("/rr")) +
                     frame(RST_STREAM, 0, 2 * i + 1, (8).to_bytes(4, "big")) for i in range(90))
    rc.send(burst)
    assert _alive(rc)
    assert len(backend.reqs("/rr")) < 3
    burst = b"".join(rc.headers(2 * i + 1, request_fields("/rr")) +
                     frame(RST_STREAM, 0, 2 * i + 1, (8).to_bytes(4, "big"))
                     for i in range(90, 300))
    rc.send(burst)
    _cut(h2p, rc, "rapid reset")
    assert len(backend.reqs("/rr")) < 5
    rc.close()


def test_settings_flood(h2p):
    rc = RawConn(h2p.port)
    rc.send(settings_frame([(0x3, 100)]) * 15)  # 16 with the first: allowed
    assert _alive(rc)
    rc.send(settings_frame([(0x3, 100)]) * 20)
    _cut(h2p, rc, "SETTINGS flood")


def test_ping_flood(h2p):
    rc = RawConn(h2p.port)
    rc.send(frame(PING, 0, 0, b"abcdefgh") * 40)
    assert _alive(rc)
    rc.send(frame(PING, 0, 0, b"abcdefgh") * 40)
    _cut(h2p, rc, "PING flood")


def test_empty_data_flood(h2p):
    rc = RawConn(h2p.port)
    rc.send(rc.headers(1, request_fields("/upload", method="POST"), end_stream=False))
    rc.send(frame(DATA, 0, 1) * 90)
    assert _alive(rc)
    rc.send(frame(DATA, 0, 1) * 60)
    _cut(h2p, rc, "empty DATA frame flood")


def test_priority_and_unknown_frame_flood(h2p):
    rc = RawConn(h2p.port)
    rc.send(frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01\x10") * 500 + frame(0x42, 0, 0, b"x") * 400)
    assert _alive(rc)
    rc.send(frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01\x10") * 800)
    _cut(h2p, rc, "PRIORITY/unknown frame flood")


def _split_headers(rc, sid, fields, pieces):
    """HEADERS + CONTINUATION frames carrying one block cut in `pieces` parts."""
    block = rc.enc.encode(fields)
    step = max(1, len(block) // pieces + 1)
    parts = [block[i:i + step] for i in range(0, len(block), step)]
    out = frame(HEADERS, END_STREAM | (END_HEADERS if len(parts) == 1 else 0), sid, parts[0])
    for k, part in enumerate(parts[1:], 1):
        out += frame(CONTINUATION, END_HEADERS if k == len(parts) - 1 else 0, sid, part)
    return out, len(parts) - 1


def test_continuation_limit(h2p, backend):
    backend.on("/cont", Resp(200, [("Content-Type", "text/plain")], b"served"))
    rc = RawConn(h2p.port)
    fields = request_fields("/cont", extra=[("x-pad-%d" % i, "v" * 40) for i in range(40)])
    data, n = _split_headers(rc, 1, fields, 9)  # 8 CONTINUATIONs: allowed
    assert n == 8
    rc.send(data)
    fs = rc.frames(2)
    assert any(t == DATA and s_ == 1 and p == b"served" for t, f, s_, p in fs)
    rc.close()
    rc = RawConn(h2p.port)
    # a header block that never ends, in small CONTINUATION frames
    rc.send(frame(HEADERS, END_STREAM, 1, rc.enc.encode(request_fields("/cont"))) +
            frame(CONTINUATION, 0, 1, rc.enc.encode([("x-a", "b")])) * 50)
    _cut(h2p, rc, "CONTINUATION flood")


def _fields_of_size(path, size):
    """Request fields whose HTTP/1.1 head (as thumbtack writes it) is exactly `size`."""
    base = len("GET %s HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n" % path)
    pad = size - base - len("x-pad: \r\n")
    return request_fields(path, extra=[("x-pad", "p" * pad)])


def test_header_list_cap_n_and_n_plus_1(h2p, backend):
    backend.on("/cap", Resp(200, [("Content-Type", "text/plain")], b"fits"))
    rc = RawConn(h2p.port)
    rc.send(rc.headers(1, _fields_of_size("/cap", 8192)))
    rc.send(rc.headers(3, _fields_of_size("/cap", 8193)))
    fs = rc.frames(2)
    import hpack
    dec = hpack.Decoder()
    heads = {s_: dict(dec.decode(p)) for t, f, s_, p in fs if t == HEADERS}
    assert heads[1][":status"] == "200"
    assert heads[3][":status"] == "400"
    body3 = b"".join(p for t, f, s_, p in fs if t == DATA and s_ == 3)
    assert body3 == b"Request header size exceeded limit of 8192 bytes.\n"
    assert len(backend.reqs("/cap")) == 1
    rc.close()


def test_hpack_bomb(h2p, backend):
    """One 4000-byte field put in the HPACK table, then referenced (1 byte each) 2000
    times: 8 MB decoded from 6 KB. The stream gets its 400 as soon as the cap is passed,
    nothing is kept beyond it, and the connection serves the next request."""
    backend.on("/after-bomb", Resp(200, [("Content-Type", "text/plain")], b"fine"))
    import hpack
    rc = RawConn(h2p.port)
    enc = rc.enc
    first = enc.encode(request_fields("/bomb") + [("x-big", "b" * 4000)])
    # 0xbe: indexed field 62, the newest dynamic table entry (x-big)
    block = first + b"\xbe" * 2000
    rc.send(frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    rc.send(rc.headers(3, request_fields("/after-bomb")))
    fs = rc.frames(2)
    dec = hpack.Decoder()
    dec.max_allowed_table_size = 65536
    heads = {}
    for t, f, s_, p in fs:
        if t == HEADERS:
            heads[s_] = dict(dec.decode(p))
    assert heads[1][":status"] == "400"
    assert heads[3][":status"] == "200"
    assert "Request header size exceeded" in h2p.log()
    rc.close()


def test_concurrent_streams_limit(make_proxy):
    p = make_proxy(routes="* test\n", config={"runner": {"http2_max_concurrent_streams": "5"}})
    rc = RawConn(p.port)
    fs = rc.frames(0.5)
    first = [pl for t, f, s_, pl in fs if t == SETTINGS and not f & 1][0]
    got = {int.from_bytes(first[i:i + 2], "big"): int.from_bytes(first[i + 2:i + 6], "big")
           for i in range(0, len(first), 6)}
    assert got[0x3] == 5 and got[0x6] == 8192
    # before our SETTINGS are acknowledged, a sixth stream is refused (REFUSED_STREAM, safe
    # to retry) and the five others are served
    for i in range(6):
        rc.send(rc.headers(2 * i + 1, request_fields("/stream?channel=cs")))
    fs = rc.frames(1)
    assert (RST_STREAM, 11) in [(t, s_) for t, f, s_, pl in fs]
    assert [pl for t, f, s_, pl in fs if t == RST_STREAM and s_ == 11][0] == \
        REFUSED_STREAM.to_bytes(4, "big")
    assert {s_ for t, f, s_, pl in fs if t == HEADERS} == {1, 3, 5, 7, 9}
    # a client that keeps opening streams over the limit is cut
    for i in range(6, 140):
        rc.send(rc.headers(2 * i + 1, request_fields("/stream?channel=cs")))
    _cut(p, rc, "beyond SETTINGS_MAX_CONCURRENT_STREAMS")
    # once the limit is acknowledged, exceeding it is a protocol error (nghttp2)
    rc = RawConn(p.port)
    rc.frames(0.3)
    rc.send(settings_frame(ack=True))
    for i in range(6):
        rc.send(rc.headers(2 * i + 1, request_fields("/stream?channel=cs")))
    code, closed = rc.goaway(3)
    assert code == PROTOCOL_ERROR and closed


# ---- a browser: one connection for a page's twelve EventSources and two long-polls --------

BROWSER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>thumbtack h2</title></head><body>
<script>
let seq = 0;
function report(kind, fields) {
  const q = new URLSearchParams(Object.assign({kind: kind, seq: String(seq++)}, fields));
  fetch('/report?' + q.toString(), {cache: 'no-store'}).catch(function () {});
}
for (let i = 0; i < 12; i++) {
  const es = new EventSource('/events?i=' + i);
  es.onopen = function () { report('open', {i: String(i)}); };
  es.onmessage = function (e) { report('sse', {i: String(i), data: e.data}); };
}
for (let i = 0; i < 2; i++) {
  fetch('/lp?i=' + i, {cache: 'no-store'}).then(function (r) { return r.text(); })
    .then(function (t) { report('lp', {i: String(i), body: t}); });
}
</script></body></html>
"""


def test_chromium_twelve_eventsources_two_long_polls_one_connection(tls_h2, backend, chan):
    """Over HTTP/1.1 a browser opens at most six connections per origin, so the seventh
    EventSource would stall; over HTTP/2 all fourteen share one connection."""
    import test_browser
    from test_browser import reports

    p, port, ca = tls_h2(routes="* %s\n" % backend.addr)
    backend.on("/page", Resp(200, [("Content-Type", "text/html; charset=utf-8"),
                                   ("Cache-Control", "no-store")], BROWSER_PAGE.encode()))
    backend.on("/events", Resp(200, [("Content-Type", "text/event-stream"),
                                     ("Cache-Control", "no-cache"), ("Grip-Hold", "stream"),
                                     ("Grip-Channel", chan)], b"retry: 500\n\n"))
    backend.on("/lp", hold("response", [chan], b"timeout\n", extra=[("Grip-Timeout", "30")]))
    backend.on("/report", Resp(204, [("Cache-Control", "no-store")], b""))

    b = test_browser.Browser("https://localhost:%d/page" % port, ignore_cert_errors=True)
    try:
        ok = wait_for(lambda: len({r["i"] for r in reports(backend, "open")}) == 12 and
                      len(backend.reqs("/lp")) == 2, 30)
        assert ok, (reports(backend), [r.target for r in backend.reqs()], b.log())
        settle()
        p.publish({"channel": chan, "formats": {"http-stream": {"content": "data: hello\n\n"},
                                                "http-response": {"body": "lp hello"}}})
        ok = wait_for(lambda: len({r["i"] for r in reports(backend, "sse")}) == 12 and
                      len(reports(backend, "lp")) == 2, 20)
        assert ok, (reports(backend), b.log())
        assert {r["data"] for r in reports(backend, "sse")} == {"hello"}
        assert {r["body"] for r in reports(backend, "lp")} == {"lp hello"}
        # every request of the page went over one HTTP/2 connection
        log = p.log()
        conn_of = dict(re.findall(r"c(\d+): HTTP/2 stream \d+ of c(\d+)", log))
        served = re.findall(r"c(\d+) \S+ GET (/events|/lp|/page)", log)
        assert served and all(cid in conn_of for cid, _ in served), log[-3000:]
        assert len({conn_of[cid] for cid, _ in served}) == 1, log[-3000:]
        # (Chromium may open a spare connection at once; it carries no request.)
        assert len(set(conn_of.values())) == 1, log[-3000:]
    finally:
        b.stop()


def test_idle_connection_and_stalled_request_are_timed_out(make_proxy, backend):
    """client_head_timeout bounds an HTTP/2 connection without streams (GOAWAY NO_ERROR,
    close) and a stream whose request never gets going (reset)."""
    p = make_proxy(routes="* %s\n" % backend.addr,
                   config={"runner": {"client_head_timeout": "600"}})
    rc = RawConn(p.port)
    t0 = time.monotonic()
    code, closed = rc.goaway(5)
    assert code == NO_ERROR and closed and time.monotonic() - t0 < 3
    rc = RawConn(p.port)
    # HEADERS without END_STREAM or content-length: the head waits for the body's first
    # byte, which never comes
    rc.send(rc.headers(1, request_fields("/never", method="POST"), end_stream=False))
    fs = rc.frames(3)
    assert [(t, s_) for t, f, s_, pl in fs if t == RST_STREAM] == [(RST_STREAM, 1)]
    assert not backend.reqs("/never")
    rc.close()
