"""Issue 9: TLS listeners (https_ports) with Pushpin's certificate layout.

Certificates are made by the test (a CA and leaf certificates signed by it, with openssl),
placed in <config dir>/runner/certs as Pushpin expects, and checked from Python ssl
clients that verify against the test CA, so that the certificate SNI picked is what the
handshake proves.
"""

import base64
import os
import socket
import ssl
import subprocess
import time

import pytest

from backend import Resp
from helpers import Conn, build_request, free_port, listening_sockets

pytestmark = pytest.mark.thumbtack_only  # the Pushpin runs of this suite have no TLS set-up


def _run(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class CA:
    def __init__(self, d):
        self.dir = d
        self.key = os.path.join(d, "ca.key")
        self.crt = os.path.join(d, "ca.crt")
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", self.key, "-out", self.crt, "-subj", "/CN=thumbtack test CA",
             "-days", "2")

    def issue(self, out_base, cn, sans):
        """Write out_base.crt / out_base.key: a leaf for cn with the given DNS/IP SANs."""
        key, csr, crt = out_base + ".key", out_base + ".csr", out_base + ".crt"
        ext = os.path.join(self.dir, os.path.basename(out_base) + ".ext")
        with open(ext, "w") as f:
            f.write("subjectAltName=" + ",".join(sans) + "\n")
        _run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=" + cn)
        _run("openssl", "x509", "-req", "-in", csr, "-CA", self.crt, "-CAkey", self.key,
             "-CAcreateserial", "-out", crt, "-days", "2", "-extfile", ext)
        os.remove(csr)


def start_tls_proxy(make_proxy, tmp_path, routes=None, extra_config=None, example_certs=False):
    """A thumbtack with an https port and a certificate default_<port> for localhost (and,
    with example_certs, www.example.com and _.example.com), started and accepting.
    Returns (proxy, https_port, ca)."""
    https_port = free_port()
    cfg = {"runner": {"https_ports": str(https_port)}}
    for sec, kv in (extra_config or {}).items():
        cfg.setdefault(sec, {}).update(kv)
    p = make_proxy(routes=routes, config=cfg, start=False)
    certs = os.path.join(p.dir, "runner", "certs")
    os.makedirs(certs)
    ca = CA(str(tmp_path))
    ca.issue(os.path.join(certs, "default_%d" % https_port), "localhost",
             ["DNS:localhost", "IP:127.0.0.1"])
    if example_certs:
        ca.issue(os.path.join(certs, "www.example.com"), "www.example.com", ["DNS:www.example.com"])
        ca.issue(os.path.join(certs, "_.example.com"), "*.example.com", ["DNS:*.example.com"])
    p.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    else:
        raise AssertionError("https port %d not accepting after 5 s" % https_port)
    return p, https_port, ca


@pytest.fixture
def tls_proxy(make_proxy, backend, tmp_path):
    """A thumbtack with an https port; certs: default_<port>, www.example.com,
    _.example.com. Returns (proxy, https_port, ca)."""
    def make(routes=None, extra_config=None):
        return start_tls_proxy(make_proxy, tmp_path, routes, extra_config, example_certs=True)
    return make


def client_ctx(ca, alpn=None):
    ctx = ssl.create_default_context(cafile=ca.crt)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_conn(port, ca, server_name, alpn=None, session=None, ctx=None):
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    ctx = ctx or client_ctx(ca, alpn)
    s = ctx.wrap_socket(raw, server_hostname=server_name, session=session)
    return s


def peer_cn(s):
    cert = s.getpeercert()
    for rdn in cert["subject"]:
        for k, v in rdn:
            if k == "commonName":
                return v
    return None


def https_get(port, ca, server_name, path="/", host=None, headers=None):
    s = tls_conn(port, ca, server_name)
    with Conn.wrap(s) as c:
        c.request("GET", path, headers, host=host or server_name)
        return c.read_response("GET"), peer_cn(s)


def test_https_request_with_default_certificate(tls_proxy, backend):
    p, port, ca = tls_proxy()
    backend.on("/t1", Resp(200, [("Content-Type", "text/plain")], b"over tls\n"))
    r, cn = https_get(port, ca, "localhost", "/t1")
    assert r.status == 200 and r.body == b"over tls\n"
    assert cn == "localhost"  # no name of ours: default_<port>
    # and the plain port still answers in the clear
    assert p.http("GET", "/t1").body == b"over tls\n"


def test_sni_picks_exact_then_wildcard(tls_proxy, backend):
    p, port, ca = tls_proxy()
    backend.on("/sni", Resp(200, [("Content-Type", "text/plain")], b"ok\n"))
    r, cn = https_get(port, ca, "www.example.com", "/sni")
    assert (r.status, cn) == (200, "www.example.com")
    r, cn = https_get(port, ca, "api.example.com", "/sni")
    assert (r.status, cn) == (200, "*.example.com")
    # a deeper name is not covered by the one-level wildcard: the default answers
    s = tls_conn(port, ca, "a.b.example.com", ctx=_no_verify_ctx())
    assert peer_cn_unverified(s) == "localhost"
    s.close()


def _no_verify_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_cn_unverified(s):
    der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.split("CN", 1)[1].lstrip(" =").strip()


def test_tls_requests_are_ssl_for_routes_and_forwarded_proto(tls_proxy, make_backend):
    plain, secure = make_backend(), make_backend()
    routes = "*,ssl=yes %s\n* %s\n" % (secure.addr, plain.addr)
    p, port, ca = tls_proxy(routes=routes, extra_config={"proxy": {"set_x_forwarded_protocol": "proto-only"}})
    r, _ = https_get(port, ca, "localhost", "/which",
                     headers=[("X-Forwarded-Proto", "gopher")])
    assert r.status == 200
    q = secure.reqs("/which")[0]
    assert q.header("X-Forwarded-Proto") == "https"
    assert not plain.reqs("/which")
    r = p.http("GET", "/which", headers=[("X-Forwarded-Proto", "https")])
    assert r.status == 200
    q = plain.reqs("/which")[0]
    assert q.header("X-Forwarded-Proto") is None  # proto-only: the client's value never passes


def test_only_tls12_and_tls13(tls_proxy):
    p, port, ca = tls_proxy()
    for v in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(ca)
        ctx.minimum_version = ctx.maximum_version = v
        s = tls_conn(port, ca, "localhost", ctx=ctx)
        assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[v]
        if v == ssl.TLSVersion.TLSv1_2:
            name, _, bits = s.cipher()
            assert "GCM" in name or "CHACHA20" in name, name
            assert name.startswith("ECDHE"), name
        s.close()
    # TLS 1.1 and 1.0 are refused (openssl's client may refuse them itself too: either way
    # no handshake completes)
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-tls1_1"],
                         input=b"", capture_output=True, timeout=10)
    assert b"Cipher is (NONE)" in out.stdout or out.returncode != 0


def test_alpn_http11(tls_proxy):
    p, port, ca = tls_proxy()
    s = tls_conn(port, ca, "localhost", alpn=["http/1.1"])
    assert s.selected_alpn_protocol() == "http/1.1"
    s.close()
    # h2 is preferred when offered (HTTP/2 is on by default; see test_h2.py)
    s = tls_conn(port, ca, "localhost", alpn=["http/1.1", "h2"])
    assert s.selected_alpn_protocol() == "h2"
    s.close()


def test_session_resumption(tls_proxy, backend):
    p, port, ca = tls_proxy()
    backend.on("/res", Resp(200, [("Content-Type", "text/plain")], b"r\n"))
    ctx = client_ctx(ca)
    s1 = tls_conn(port, ca, "localhost", ctx=ctx)
    with Conn.wrap(s1) as c:
        c.request("GET", "/res", host="localhost")
        assert c.read_response("GET").status == 200  # reading lets the TLS 1.3 ticket in
        sess = s1.session
    assert sess is not None
    s2 = tls_conn(port, ca, "localhost", ctx=ctx, session=sess)
    assert s2.session_reused
    s2.close()


def test_sessions_resume_one_after_another(tls_proxy, backend):
    """One ticket per connection is enough to resume again and again: each resumed
    connection brings the ticket for the next."""
    p, port, ca = tls_proxy()
    backend.on("/res", Resp(200, [("Content-Type", "text/plain")], b"r\n"))
    ctx = client_ctx(ca)
    sess = None
    for i in range(6):
        s = tls_conn(port, ca, "localhost", ctx=ctx, session=sess)
        assert s.session_reused == (i > 0), i
        with Conn.wrap(s) as c:
            c.request("GET", "/res", host="localhost")
            assert c.read_response("GET").status == 200  # the ticket comes in meanwhile
            sess = s.session
        assert sess is not None


def tls_records(data):
    """(type, length) of each whole TLS record in data."""
    out, i = [], 0
    while i + 5 <= len(data):
        n = int.from_bytes(data[i + 3:i + 5], "big")
        out.append((data[i], n))
        i += 5 + n
    assert i == len(data), "a cut record"
    return out


def test_client_leaving_without_close_notify_gets_one_ticket_and_no_alert(tls_proxy):
    """Most clients close without close_notify. The server sends its one session ticket
    and closes too: no alert record answers the bare end."""
    p, port, ca = tls_proxy()
    rs = RecordSocket(port, ca)
    rs.raw.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        chunk = rs.raw.recv(65536)
        if not chunk:
            break
        data += chunk
    rs.raw.close()
    # TLS 1.3 hides the content type: each record after the handshake is one message
    records = tls_records(data)
    assert [t for t, _ in records] == [23], records  # one record: the ticket
    rs.inc.write(data)
    rs.inc.write_eof()
    try:
        got = rs.obj.read(100)  # an alert would raise the SSLError that names it
    except ssl.SSLEOFError:
        got = b""
    assert got == b""
    assert rs.obj.session is not None and rs.obj.session.has_ticket


def test_certificates_reload_on_sighup_without_dropping_connections(tls_proxy, backend):
    p, port, ca = tls_proxy()
    backend.on("/rl", Resp(200, [("Content-Type", "text/plain")], b"rl\n"))
    held = tls_conn(port, ca, "www.example.com")
    held_c = Conn.wrap(held)
    held_c.request("GET", "/rl", host="www.example.com")
    assert held_c.read_response("GET").status == 200
    # a new certificate for www.example.com, with a new subject name
    certs = os.path.join(p.dir, "runner", "certs")
    ca.issue(os.path.join(certs, "www.example.com"), "www.example.com renewed",
             ["DNS:www.example.com"])
    p.reload()
    deadline = time.monotonic() + 5
    cn = None
    while time.monotonic() < deadline:
        r, cn = https_get(port, ca, "www.example.com", "/rl")
        if cn == "www.example.com renewed":
            break
        time.sleep(0.1)
    assert cn == "www.example.com renewed"
    # the connection made before the reload goes on
    held_c.request("GET", "/rl", host="www.example.com")
    assert held_c.read_response("GET").status == 200
    held_c.close()
    assert "certificate(s) reloaded" in p.log()


def test_unknown_name_without_default_fails_handshake(make_proxy, tmp_path):
    https_port = free_port()
    p = make_proxy(config={"runner": {"https_ports": str(https_port)}}, start=False)
    certs = os.path.join(p.dir, "runner", "certs")
    os.makedirs(certs)
    ca = CA(str(tmp_path))
    ca.issue(os.path.join(certs, "only.example.org"), "only.example.org", ["DNS:only.example.org"])
    p.start()
    time.sleep(0.2)
    with pytest.raises(ssl.SSLError):
        tls_conn(https_port, ca, "other.example.org").close()
    s = tls_conn(https_port, ca, "only.example.org")
    assert peer_cn(s) == "only.example.org"
    s.close()


def test_no_certificates_is_a_startup_error(make_proxy):
    https_port = free_port()
    p = make_proxy(config={"runner": {"https_ports": str(https_port)}}, start=False)
    with pytest.raises(RuntimeError) as e:
        p.start()
    assert "https_ports" in str(e.value) and "runner/certs" in str(e.value)
    p.proc.wait(5)
    assert p.proc.returncode == 1


def test_stalled_handshake_is_cut_by_head_timeout(tls_proxy):
    p, port, ca = tls_proxy(extra_config={"runner": {"client_head_timeout": "500"}})
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(b"\x16\x03\x01")  # the start of a ClientHello, then nothing
    t0 = time.monotonic()
    assert raw.recv(100) == b""
    assert time.monotonic() - t0 < 3
    raw.close()


def test_garbage_instead_of_tls_is_closed(tls_proxy):
    p, port, ca = tls_proxy()
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    try:
        while True:
            d = raw.recv(1000)
            if not d:
                break
            data += d
    except ConnectionResetError:
        pass
    assert b"HTTP/1.1" not in data  # no plaintext answer on a TLS port
    raw.close()


def test_wss_through_tls_listener(tls_proxy, backend):
    """A WebSocket over TLS: routed as ssl, echoed by the test target, closed cleanly."""
    import asyncio
    import websockets
    p, port, ca = tls_proxy(routes="* test\n")

    async def run():
        async with websockets.connect("wss://localhost:%d/ws" % port, ssl=client_ctx(ca)) as ws:
            await ws.send("secure hello")
            got = await asyncio.wait_for(ws.recv(), 5)
            await ws.close()
            return got, ws.close_code
    got, code = asyncio.run(run())
    assert got == "secure hello"
    assert code == 1000


class RecordSocket:
    """A TLS client over memory BIOs, so that a test decides how TLS records meet the
    wire: send_records puts each piece in a record of its own and writes them all to the
    socket at once (the server then reads them ahead together). Socket-like enough for
    helpers.Conn.wrap."""

    def __init__(self, port, ca, server_name="localhost", timeout=5.0):
        self.raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.obj = client_ctx(ca, ["http/1.1"]).wrap_bio(self.inc, self.out,
                                                          server_hostname=server_name)
        while True:
            try:
                self.obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._pump()
        self._flush()

    def _flush(self):
        data = self.out.read()
        if data:
            self.raw.sendall(data)

    def _pump(self):
        self._flush()
        data = self.raw.recv(65536)
        if not data:
            raise ConnectionError("TLS peer closed")
        self.inc.write(data)

    def send_records(self, pieces):
        for p in pieces:
            self.obj.write(p)
        self._flush()

    def sendall(self, data):
        self.send_records([data])

    def recv(self, n):
        while True:
            try:
                return self.obj.read(n)
            except ssl.SSLWantReadError:
                try:
                    self._pump()
                except ConnectionError:
                    return b""
            except ssl.SSLZeroReturnError:
                return b""

    def settimeout(self, t):
        self.raw.settimeout(t)

    def gettimeout(self):
        return self.raw.gettimeout()

    def getpeername(self):
        return self.raw.getpeername()

    def close(self):
        self.raw.close()


@pytest.mark.parametrize("count", [3, 60])
def test_records_read_ahead_together_are_all_answered(tls_proxy, backend, count):
    """Pipelined requests, each in its own TLS record, reach the server in one write: the
    TLS layer reads them ahead together, and every one is answered in order, also when
    they are more than the client buffer holds (reading pauses and resumes with bytes that
    only the TLS layer has, which epoll cannot report)."""
    p, port, ca = tls_proxy()
    backend.on("/ra", lambda req, conn: Resp(200, [("Content-Type", "text/plain")],
                                             req.target.encode() + b"\n"))
    rs = RecordSocket(port, ca)
    pad = "x" * 200  # 60 requests are ~18 KB, over client_buffer_size (8192)
    reqs = [build_request("GET", "/ra?n=%d" % i, [("X-Pad", pad)], host="localhost")
            for i in range(count)]
    rs.send_records(reqs)
    with Conn.wrap(rs) as c:
        for i in range(count):
            r = c.read_response("GET")
            assert r.status == 200, i
            assert r.body == b"/ra?n=%d\n" % i
    assert len(backend.reqs("/ra")) == count


def test_websocket_frame_in_the_upgrade_records_is_echoed(tls_proxy):
    """A WebSocket upgrade and the first frames sent in records of the same write: the
    frames the TLS layer read ahead with the upgrade reach the session."""
    from wsraw import TEXT, frame, recv_message
    p, port, ca = tls_proxy(routes="* test\n")
    rs = RecordSocket(port, ca)
    key = base64.b64encode(os.urandom(16)).decode()
    up = ("GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
          "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
          % key).encode()
    rs.send_records([up, frame(TEXT, b"first"), frame(TEXT, b"second")])
    with Conn.wrap(rs) as c:
        head = c.read_head()
        assert head.status == 101
        assert recv_message(c) == (TEXT, b"first")
        assert recv_message(c) == (TEXT, b"second")


@pytest.mark.thumbtack_only  # how the workers share a port is thumbtack's design
def test_workers_share_one_listening_socket_per_tls_port(make_proxy, backend, tmp_path):
    """A TLS port has one listening socket for the process, which every worker waits on
    (EPOLLEXCLUSIVE: one waiting worker woken per connection), so a handshake goes to a
    worker that is free instead of queueing behind a busy one; the plain port beside it
    keeps a socket per worker. Handshakes in a row, each connection kept, all served."""
    backend.on("/who", Resp(200, body=b"ok\n"))
    p, port, ca = start_tls_proxy(make_proxy, tmp_path, extra_config={"proxy": {"workers": "3"}})
    assert listening_sockets(port) == 1
    assert listening_sockets(p.port) == 3
    held = []
    for i in range(20):
        s = tls_conn(port, ca, "localhost")
        s.sendall(b"GET /who HTTP/1.1\r\nHost: localhost\r\n\r\n")
        data = b""
        while not data.endswith(b"ok\n"):
            d = s.recv(4096)
            assert d, data
            data += d
        assert data.startswith(b"HTTP/1.1 200"), data[:80]
        held.append(s)
    for s in held:
        s.close()
