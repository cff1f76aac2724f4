"""WebSockets over HTTP/2 (RFC 8441 extended CONNECT).

thumbtack advertises SETTINGS_ENABLE_CONNECT_PROTOCOL; a CONNECT with :protocol websocket
is served as the HTTP/1.1 upgrade it stands for, so the test target's /ws, passthrough to
ws/wss backends, GRIP over WebSocket and WebSocket-over-HTTP work on an HTTP/2 stream: the
101 becomes a 200 (no Sec-WebSocket-Accept), then the stream's DATA are the WebSocket's
frames both ways. Clients: Python's h2 library on raw sockets (h2c prior knowledge, TLS
with ALPN h2) with frames written by hand, and headless Chromium.
"""

import os
import re
import socket
import struct
import time

import hpack
import pytest

from backend import Resp
from griputil import settle
from h2util import (CANCEL, HEADERS, NO_ERROR, REFUSED_STREAM, RST_STREAM, SETTINGS, H2Client,
                    RawConn, Stream, frame, settings_frame)
from helpers import wait_for
from test_h2 import tls_h2  # noqa: F401 (fixture)
from test_tls import client_ctx
from wohbackend import WohBackend
from wsutil import (OP_BINARY, OP_CLOSE, OP_TEXT, Frame, WsClosed,
                    close_payload, encode_frame)

pytestmark = pytest.mark.thumbtack_only  # Pushpin has no HTTP/2

ENABLE_CONNECT_PROTOCOL = 0x8
TEST_HOST = "testroute.local"


class H2Ws:
    """One WebSocket on a stream of an H2Client: the extended CONNECT, then frames written
    (masked) into DATA and parsed out of the stream's DATA."""

    def __init__(self, client, path, authority=TEST_HOST, scheme="http", headers=(),
                 wait=True):
        self.c = client
        self.sid = client.conn.get_next_available_stream_id()
        fields = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme),
                  (":path", path), (":authority", authority),
                  ("sec-websocket-version", "13")] + list(headers)
        client.conn.send_headers(self.sid, fields, end_stream=False)
        client.streams[self.sid] = Stream(self.sid)
        client.flush()
        self.pos = 0
        if wait:
            assert client.wait(lambda: self.s.headers is not None or self.s.reset is not None), \
                "no answer to the extended CONNECT"

    @property
    def s(self):
        return self.c.streams[self.sid]

    @property
    def status(self):
        return self.s.status

    def send_frame(self, opcode, payload=b""):
        self.c.send_body(self.sid, encode_frame(opcode, payload), end=False)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text)

    def send_close(self, code=None, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def _parse(self):
        d = self.s.data
        i = self.pos
        if len(d) - i < 2:
            return None
        b0, b1 = d[i], d[i + 1]
        assert not b1 & 0x80, "masked frame from the server"
        n, h = b1 & 0x7F, 2
        if n == 126:
            if len(d) - i < 4:
                return None
            n, h = struct.unpack("!H", bytes(d[i + 2:i + 4]))[0], 4
        elif n == 127:
            if len(d) - i < 10:
                return None
            n, h = struct.unpack("!Q", bytes(d[i + 2:i + 10]))[0], 10
        if len(d) - i < h + n:
            return None
        self.pos = i + h + n
        return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, bytes(d[i + h:i + h + n]))

    def recv_frame(self, timeout=5.0):
        got = []

        def ready():
            if not got:
                f = self._parse()
                if f:
                    got.append(f)
            return bool(got) or self.s.ended or self.s.reset is not None
        assert self.c.wait(ready, timeout), "no frame on stream %d" % self.sid
        if not got:
            raise WsClosed("stream %d ended (reset %r)" % (self.sid, self.s.reset))
        return got[0]

    def recv_text(self, timeout=5.0):
        f = self.recv_frame(timeout)
        assert f.opcode == OP_TEXT, f
        return f.text

    def wait_end(self, timeout=5.0):
        assert self.c.wait(lambda: self.s.ended or self.s.reset is not None, timeout), \
            "stream %d did not end" % self.sid
        return self.s


def publish_ws(p, chan, content):
    p.publish({"channel": chan, "formats": {"ws-message": {"content": content}}})


def settings_of(fs):
    """The pairs of the server's first SETTINGS frame."""
    st = [f for f in fs if f[0] == SETTINGS and not f[1] & 1][0][3]
    return {int.from_bytes(st[i:i + 2], "big"): int.from_bytes(st[i + 2:i + 6], "big")
            for i in range(0, len(st), 6)}


# ---- the setting, and what is refused ---------------------------------------------------

def test_settings_advertise_connect_protocol_other_protocols_501(proxy, backend):
    """SETTINGS carries ENABLE_CONNECT_PROTOCOL=1. An extended CONNECT for a protocol other
    than websocket is answered 501 (RFC 8441 leaves it to the server; 501 as for a plain
    CONNECT, which stays refused), and :protocol on a GET is malformed (reset by nghttp2);
    the connection goes on."""
    backend.on("/ok", Resp(200, [("Content-Type", "text/plain")], b"fine"))
    rc = RawConn(proxy.port)
    fs = rc.frames(0.5)
    assert settings_of(fs).get(ENABLE_CONNECT_PROTOCOL) == 1
    rc.send(settings_frame(ack=True))
    base = [(":scheme", "http"), (":path", "/ws"), (":authority", TEST_HOST)]
    rc.send(rc.headers(1, [(":method", "CONNECT"), (":protocol", "connect-udp")] + base,
                       end_stream=False))
    rc.send(rc.headers(3, [(":method", "CONNECT"), (":authority", "example.com:443")],
                       end_stream=False))
    rc.send(rc.headers(5, [(":method", "GET"), (":protocol", "websocket")] + base))
    rc.send(rc.headers(7, [(":method", "GET"), (":scheme", "http"), (":path", "/ok"),
                           (":authority", "example.com")]))
    fs += rc.frames(2)
    rc.close()
    dec = hpack.Decoder()
    heads = {}
    for t, f, sid, p in fs:
        if t == HEADERS:
            heads[sid] = dict(dec.decode(p))
    assert heads[1][":status"] == "501"
    assert heads[3][":status"] == "501"
    assert 5 not in heads and any(t == RST_STREAM and sid == 5 for t, f, sid, p in fs)
    assert heads[7][":status"] == "200"
    bodies = {sid: b"".join(p for t, f, s_, p in fs if t == 0 and s_ == sid) for sid in (1, 7)}
    assert bodies[1] == b"extended CONNECT protocol not supported.\n"
    assert bodies[7] == b"fine"


# ---- the test target over h2c ------------------------------------------------------------

def test_test_target_publish_echo_clean_close(proxy, chan):
    """Over h2c: the 200 (no Sec-WebSocket-Accept, END_STREAM not set), a published
    ws-message, an echo, and a clean close (close frames both ways, then END_STREAM); the
    connection then serves a GET on another stream."""
    with H2Client(proxy.port) as c:
        assert c.wait(lambda: ENABLE_CONNECT_PROTOCOL in c.remote_settings)
        assert c.remote_settings[ENABLE_CONNECT_PROTOCOL] == 1
        ws = H2Ws(c, "/ws?channel=" + chan)
        assert ws.status == 200, ws.s.headers
        assert ws.s.header("sec-websocket-accept") is None
        assert ws.s.header("upgrade") is None and ws.s.header("connection") is None
        assert not ws.s.ended
        settle()
        publish_ws(proxy, chan, "published")
        assert ws.recv_text() == "published"
        ws.send_text("echo me")
        assert ws.recv_text() == "echo me"
        ws.send_frame(OP_BINARY, b"\x00\xff")
        f = ws.recv_frame()
        assert (f.opcode, f.payload) == (OP_BINARY, b"\x00\xff")
        ws.send_close(1000, b"bye")
        f = ws.recv_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 1000
        s = ws.wait_end()
        assert s.ended and s.reset in (None, NO_ERROR)
        sid = c.request("/ws", authority=TEST_HOST)  # the test target's plain answer
        r = c.response(sid)
        assert r.status is not None and not c.closed


def test_two_websockets_and_a_get_on_one_connection(proxy, backend, chan):
    backend.on("/plain", Resp(200, [("Content-Type", "text/plain")], b"plain body"))
    with H2Client(proxy.port) as c:
        a = H2Ws(c, "/ws?channel=%s-a" % chan)
        b = H2Ws(c, "/ws?channel=%s-b" % chan)
        assert a.status == 200 and b.status == 200
        sid = c.request("/plain")
        settle()
        publish_ws(proxy, chan + "-b", "to b")
        publish_ws(proxy, chan + "-a", "to a")
        assert a.recv_text() == "to a"
        assert b.recv_text() == "to b"
        r = c.response(sid)
        assert r.status == 200 and bytes(r.data) == b"plain body"
        a.send_text("from a")
        assert a.recv_text() == "from a"
        b.send_close(1000)
        assert b.recv_frame().opcode == OP_CLOSE
        b.wait_end()
        # a is unaffected by b's end
        publish_ws(proxy, chan + "-a", "still a")
        assert a.recv_text() == "still a"
        assert a.s.reset is None and not a.s.ended
    # and only one connection carried all of it
    log = proxy.log()
    assert log.count("HTTP/2 connection") >= 1


def test_large_messages_both_ways_follow_flow_control(make_proxy, make_ws_backend):
    """Messages far beyond the 64 KiB stream window, both ways, through a passthrough
    backend: the client's DATA are credited only as the session reads them, and ours leave
    as the client's window allows."""
    be = make_ws_backend()
    p = make_proxy("* %s\n" % be.addr)
    with H2Client(p.port, timeout=20) as c:
        ws = H2Ws(c, "/chat", authority="ws.example")
        assert ws.status == 200
        big = os.urandom(700 * 1024)
        ws.send_frame(OP_BINARY, big)
        f = ws.recv_frame(timeout=20)
        assert (f.opcode, f.payload) == (OP_BINARY, big)
        assert be.messages == [(OP_BINARY, big)]


# ---- passthrough, over TLS ---------------------------------------------------------------

def test_passthrough_over_tls_is_wss(tls_h2, make_ws_backend):  # noqa: F811
    """Over TLS (ALPN h2) the route sees a wss request: the backend gets an HTTP/1.1
    upgrade with X-Forwarded-Proto: wss, its own key, and the client's subprotocol offer;
    its chosen subprotocol reaches the client in the 200."""
    seen = {}

    def handler(peer):
        seen["req"] = peer
        peer.accept(protocol="chat.v2")
        peer.echo_loop()
    be = make_ws_backend(handler)
    p, port, ca = tls_h2(routes="* %s\n" % be.addr,
                         extra_config={"proxy": {"set_x_forwarded_protocol": "proto-only"}})
    with H2Client(port, tls_ctx=client_ctx(ca)) as c:
        ws = H2Ws(c, "/room/1?x=y", authority="localhost:%d" % port, scheme="https",
                  headers=[("sec-websocket-protocol", "chat.v1, chat.v2"),
                           ("origin", "https://localhost")])
        assert ws.status == 200, ws.s.headers
        assert ws.s.header("sec-websocket-protocol") == b"chat.v2"
        assert ws.s.header("sec-websocket-accept") is None
        ws.send_text("over tls")
        assert ws.recv_text() == "over tls"
        q = seen["req"]
        assert q.method == "GET" and q.target == "/room/1?x=y" and q.version == "HTTP/1.1"
        assert q.header("Upgrade").lower() == "websocket"
        assert q.header("X-Forwarded-Proto") == "wss"
        assert q.header("Sec-WebSocket-Protocol") == "chat.v1, chat.v2"
        assert q.header("Origin") == "https://localhost"
        assert len(q.header("Sec-WebSocket-Key")) == 24
        ws.send_close(4001, b"done")
        f = ws.recv_frame()
        assert f.opcode == OP_CLOSE and f.close_code == 4001
        ws.wait_end()
    assert be.closes == [struct.pack("!H", 4001) + b"done"]


def test_rejection_is_an_ordinary_response(make_proxy, make_ws_backend):
    def handler(peer):
        peer.reject(403, "Forbidden", [("Content-Type", "application/json"),
                                       ("X-Why", "no token")], b'{"error":"no token"}')
    be = make_ws_backend(handler)
    p = make_proxy("* %s\n" % be.addr)
    with H2Client(p.port) as c:
        ws = H2Ws(c, "/chat", authority="ws.example")
        s = ws.wait_end()
        assert s.status == 403
        assert s.header("x-why") == b"no token"
        assert s.header("content-type") == b"application/json"
        assert bytes(s.data) == b'{"error":"no token"}'
        # the connection goes on
        ws2 = H2Ws(c, "/chat", authority="ws.example")
        assert ws2.wait_end().status == 403


def test_peer_reset_frees_the_session(make_proxy, make_ws_backend):
    """RST_STREAM from the client mid-session is the TCP connection dropped: the backend
    sees its connection closed; the h2 connection and its other streams go on."""
    be = make_ws_backend()
    p = make_proxy("* %s\n" % be.addr)
    with H2Client(p.port) as c:
        a = H2Ws(c, "/a", authority="ws.example")
        b = H2Ws(c, "/b", authority="ws.example")
        a.send_text("hi")
        assert a.recv_text() == "hi"
        peers = be.wait_peers(2)
        assert peers
        pa = [x for x in peers if x.path == "/a"][0]
        c.reset(a.sid, CANCEL)
        # the backend's echo loop ends on EOF, without a close frame from us
        assert wait_for(lambda: _closed(pa.sock), 5)
        assert be.closes == []
        b.send_text("b lives")
        assert b.recv_text() == "b lives"


def _closed(sock):
    try:
        sock.settimeout(0.05)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (socket.timeout, TimeoutError, BlockingIOError):
        return False
    except OSError:
        return True


def test_peer_end_stream_closes_the_session(make_proxy, make_ws_backend):
    """END_STREAM from the client (its FIN) ends the session: the backend's connection is
    closed and the stream ends from our side too, without a reset."""
    be = make_ws_backend()
    p = make_proxy("* %s\n" % be.addr)
    with H2Client(p.port) as c:
        ws = H2Ws(c, "/chat", authority="ws.example")
        ws.send_text("x")
        assert ws.recv_text() == "x"
        peer = be.wait_peers(1)[0]
        c.conn.end_stream(ws.sid)
        c.flush()
        s = ws.wait_end()
        assert s.ended and s.reset in (None, NO_ERROR)
        assert wait_for(lambda: _closed(peer.sock), 5)


def test_backend_gone_without_close_resets_the_stream(make_proxy, make_ws_backend):
    """A backend that drops its connection without a close frame drops the client: over
    HTTP/2 that is RST_STREAM CANCEL on its stream only."""
    def handler(peer):
        peer.accept()
        op, data = peer.recv_message()
        peer.sock.shutdown(socket.SHUT_RDWR)
    be = make_ws_backend(handler)
    p = make_proxy("* %s\n" % be.addr)
    with H2Client(p.port) as c:
        ws = H2Ws(c, "/chat", authority="ws.example")
        assert ws.status == 200
        ws.send_text("die")
        s = ws.wait_end()
        assert s.reset == CANCEL
        # the connection goes on: another WebSocket opens on it
        ws2 = H2Ws(c, "/again", authority="ws.example")
        assert ws2.status == 200 and not c.closed


def test_connection_drop_with_websockets_open(make_proxy, make_ws_backend):
    """Dropping the TCP connection with several WebSocket streams open closes every
    backend connection (nothing leaks: ASan checks the exit)."""
    be = make_ws_backend()
    p = make_proxy("* %s\n" % be.addr)
    c = H2Client(p.port)
    wss = [H2Ws(c, "/s%d" % i, authority="ws.example") for i in range(4)]
    for w in wss:
        assert w.status == 200
    peers = be.wait_peers(4)
    assert peers
    c.sock.close()
    for x in peers:
        assert wait_for(lambda: _closed(x.sock), 5)


def test_websocket_streams_count_against_the_stream_limit(make_proxy, make_ws_backend):
    """An idle WebSocket is an open stream: with http2_max_concurrent_streams 2, a third
    is refused (REFUSED_STREAM, before our SETTINGS are acknowledged); once one is reset,
    a new one opens."""
    be = make_ws_backend()
    p = make_proxy("* %s\n" % be.addr, config={"runner": {"http2_max_concurrent_streams": "2"}})
    rc = RawConn(p.port)
    fs = rc.frames(0.3)
    assert settings_of(fs).get(ENABLE_CONNECT_PROTOCOL) == 1

    def connect(sid, path):
        rc.send(rc.headers(sid, [(":method", "CONNECT"), (":protocol", "websocket"),
                                 (":scheme", "http"), (":path", path),
                                 (":authority", "ws.example"),
                                 ("sec-websocket-version", "13")], end_stream=False))
    dec = hpack.Decoder()

    def statuses(frames):
        return {sid: dict(dec.decode(pl))[":status"] for t, f, sid, pl in frames if t == HEADERS}
    connect(1, "/a")
    connect(3, "/b")
    fs = rc.frames(1)
    assert statuses(fs) == {1: "200", 3: "200"}
    assert not [f for f in fs if f[0] == RST_STREAM]
    connect(5, "/c")
    fs = rc.frames(1)
    assert [(sid, pl) for t, f, sid, pl in fs if t == RST_STREAM] == \
        [(5, REFUSED_STREAM.to_bytes(4, "big"))]
    assert wait_for(lambda: len(be.peers) == 2, 3) and len(be.peers) == 2
    rc.send(frame(RST_STREAM, 0, 1, CANCEL.to_bytes(4, "big")))
    time.sleep(0.3)
    connect(7, "/d")
    fs = rc.frames(1)
    assert statuses(fs) == {7: "200"}
    rc.close()
    assert wait_for(lambda: len(be.peers) == 3 and all(_closed(x.sock) for x in be.peers), 5)


# ---- GRIP over WebSocket and WebSocket-over-HTTP -----------------------------------------

def test_grip_over_websocket_subscribe_and_publish(make_proxy, make_ws_backend, chan):
    """A GRIP backend (grip extension) subscribes the HTTP/2 client with a control
    message; a published ws-message reaches it, and prefixed messages are unprefixed."""
    def handler(peer):
        peer.accept(extensions="grip")
        peer.control({"type": "subscribe", "channel": chan})
        peer.send_text("m:welcome")
        peer.echo_loop(prefix=b"m:")
    be = make_ws_backend(handler)
    p = make_proxy("* %s\n" % be.addr)
    with H2Client(p.port) as c:
        ws = H2Ws(c, "/grip", authority="ws.example")
        assert ws.status == 200
        assert ws.s.header("sec-websocket-extensions") is None  # grip stays between us
        assert ws.recv_text() == "welcome"
        settle()
        publish_ws(p, chan, "to the h2 client")
        assert ws.recv_text() == "to the h2 client"
        ws.send_text("ping-pong")
        assert ws.recv_text() == "ping-pong"


def test_websocket_over_http_backend(make_proxy, chan):
    """WebSocket-over-HTTP: the OPEN, a message and the close go to the backend as
    websocket-events requests; the echo comes back on the stream."""
    b = WohBackend()
    try:
        p = make_proxy(routes="* %s,over_http\n" % b.addr)
        with H2Client(p.port) as c:
            ws = H2Ws(c, "/woh/room", authority="example.com")
            assert ws.status == 200, ws.s.headers
            ws.send_text("over http")
            assert ws.recv_text() == "over http"
            ws.send_close(1000)
            f = ws.recv_frame()
            assert f.opcode == OP_CLOSE and f.close_code == 1000
            ws.wait_end()
        reqs = b.reqs()
        assert reqs[0].method == "POST" and reqs[0].target == "/woh/room"
        assert reqs[0].events == [("OPEN", None)]
        texts = [e for r in reqs for e in r.events if e[0] == "TEXT"]
        assert texts == [("TEXT", b"over http")]
        assert not b.errors, b.errors
    finally:
        b.stop()


# ---- Chromium ------------------------------------------------------------------------------

CHROMIUM_PAGE = """<!doctype html><html><body><script>
let seq = 0;
function report(kind, fields) {
  const q = new URLSearchParams(Object.assign({kind: kind, seq: String(seq++)}, fields));
  fetch('/report?' + q.toString(), {cache: 'no-store'}).catch(function () {});
}
fetch('/warm', {cache: 'no-store'}).then(function () {
  var ws = new WebSocket('wss://' + location.host + '/t/ws?channel=%(chan)s');
  ws.onopen = function () { report('open', {}); ws.send('from chromium'); };
  ws.onmessage = function (e) { report('msg', {data: e.data}); };
  ws.onerror = function () { report('error', {}); };
});
</script></body></html>
"""


def test_chromium_websocket_over_http2(tls_h2, backend, chan):  # noqa: F811
    """Chromium uses RFC 8441 on an existing HTTP/2 connection to a server that advertises
    it: the page's WebSocket opens as a stream of the connection that loaded the page (the
    log names the stream's connection), gets the echo and a published message."""
    import test_browser
    from test_browser import reports

    routes = "localhost,path_beg=/t/ test\nlocalhost %s\n" % backend.addr
    p, port, ca = tls_h2(routes=routes)
    backend.on("/page", Resp(200, [("Content-Type", "text/html; charset=utf-8"),
                                   ("Cache-Control", "no-store")],
                             (CHROMIUM_PAGE % {"chan": chan}).encode()))
    backend.on("/warm", Resp(200, [("Cache-Control", "no-store")], b"ok"))
    backend.on("/report", Resp(204, [("Cache-Control", "no-store")], b""))

    b = test_browser.Browser("https://localhost:%d/page" % port, ignore_cert_errors=True)
    try:
        assert wait_for(lambda: reports(backend, "open") or reports(backend, "error"), 30), \
            (reports(backend), b.log())
        assert reports(backend, "open"), (reports(backend), b.log(), p.log()[-3000:])
        assert wait_for(lambda: any(r["data"] == "from chromium"
                                    for r in reports(backend, "msg")), 10), reports(backend)
        settle()
        publish_ws(p, chan, "published to chromium")
        assert wait_for(lambda: any(r["data"] == "published to chromium"
                                    for r in reports(backend, "msg")), 10), reports(backend)
        # the WebSocket's access line is written when it ends: end the browser
        b.stop()
        assert wait_for(lambda: "GET /t/ws?channel=" in p.log(), 10), p.log()[-3000:]
        log = p.log()
        conn_of = dict(re.findall(r"c(\d+): HTTP/2 stream \d+ of c(\d+)", log))
        ws_req = re.findall(r"c(\d+) \S+ GET /t/ws\?channel=\S+ -> test status=101", log)
        page_req = re.findall(r"c(\d+) \S+ GET /page", log)
        assert ws_req and page_req, log[-3000:]
        # the WebSocket was a stream of the very connection that carried the page
        assert all(cid in conn_of for cid in ws_req), log[-3000:]
        assert {conn_of[cid] for cid in ws_req} == {conn_of[page_req[0]]}, log[-3000:]
    finally:
        b.stop()


def test_sigterm_closes_h2_websockets_with_1001(make_proxy, chan):
    """SIGTERM: GOAWAY, the WebSocket gets close 1001; once the client answers it the
    stream ends with END_STREAM (no CANCEL); exit 0. Raw frames: the h2 library stops
    reading at a GOAWAY."""
    from h2util import DATA, END_STREAM, GOAWAY
    p = make_proxy(routes="* test\n")
    rc = RawConn(p.port, timeout=10)
    rc.send(rc.headers(1, [(":method", "CONNECT"), (":protocol", "websocket"),
                           (":scheme", "http"), (":path", "/ws?channel=" + chan),
                           (":authority", "example.com"), ("sec-websocket-version", "13")],
                       end_stream=False))
    fs = rc.frames(1)
    dec = hpack.Decoder()
    assert [dict(dec.decode(pl))[":status"] for t, f, sid, pl in fs if t == HEADERS] == ["200"]
    settle()
    p.signal(__import__("signal").SIGTERM)
    fs = rc.frames(2)
    assert [t for t, f, sid, pl in fs if t == GOAWAY], fs
    data = b"".join(pl for t, f, sid, pl in fs if t == DATA and sid == 1)
    assert data[:2] == b"\x88\x16" and struct.unpack("!H", data[2:4])[0] == 1001, data
    assert data[4:] == b"server shutting down"
    rc.send(frame(DATA, 0, 1, encode_frame(OP_CLOSE, close_payload(1001))))
    fs = rc.frames(3)
    rc.close()
    assert any(t == DATA and sid == 1 and f & END_STREAM for t, f, sid, pl in fs), fs
    assert not [pl for t, f, sid, pl in fs if t == RST_STREAM and pl != NO_ERROR.to_bytes(4, "big")]
    p.proc.wait(10)
    assert p.proc.returncode == 0


def test_protocol_error_in_early_frames_still_gets_200_and_close(proxy):
    """Frames sent right behind the CONNECT wait in the stream until the session reads
    them after its 101; an unmasked one is a protocol error: the client still gets its
    200, then close 1002, then END_STREAM (our close frame made it a clean end)."""
    with H2Client(proxy.port) as c:
        ws = H2Ws(c, "/ws", wait=False)
        c.send_body(ws.sid, encode_frame(OP_TEXT, b"unmasked", mask=False), end=False)
        f = ws.recv_frame()
        assert ws.status == 200
        assert f.opcode == OP_CLOSE and f.close_code == 1002, f
        s = ws.wait_end()
        assert s.ended and s.reset in (None, NO_ERROR)
