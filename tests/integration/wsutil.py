"""Raw-socket WebSocket helpers for the integration tests (RFC 6455, RFC 7692).

WsClient writes every frame by hand (masked unless told otherwise), so tests can send
what no library would: reserved bits, unknown opcodes, fragmented control frames, bad
UTF-8, oversized frames. It reads frames as they are on the wire (no auto-pong, no
assembly) so tests see exactly what the proxy sent, and assert close codes.

WsBackend is a threaded raw WebSocket server for passthrough tests: each accepted
connection runs a handler `fn(conn)` with a WsPeer (server role) that can answer the
handshake any way a test wants (101 with extensions and headers, a rejection, garbage),
then read and write frames.
"""

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
import threading
import time
import zlib

from helpers import HeaderList, Response, build_request

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class WsClosed(Exception):
    """The peer closed the TCP connection."""


class Frame:
    def __init__(self, fin, rsv, opcode, payload, masked=False):
        self.fin, self.rsv, self.opcode, self.payload, self.masked = fin, rsv, opcode, payload, masked

    @property
    def close_code(self):
        if self.opcode != OP_CLOSE or len(self.payload) < 2:
            return None
        return struct.unpack("!H", self.payload[:2])[0]

    @property
    def close_reason(self):
        return self.payload[2:] if self.opcode == OP_CLOSE else b""

    @property
    def text(self):
        return self.payload.decode("utf-8")

    def __repr__(self):
        return "Frame(fin=%d rsv=%d op=%d len=%d %r)" % (self.fin, self.rsv, self.opcode,
                                                         len(self.payload), self.payload[:60])


def accept_value(key):
    if isinstance(key, str):
        key = key.encode()
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def encode_frame(opcode, payload=b"", fin=True, rsv=0, mask=True, key=None, length=None):
    """One frame. rsv: 3 bits (4 = RSV1). length overrides the encoded length (lies)."""
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        key = key if key is not None else os.urandom(4)
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if len(payload) < 4096 \
            else _mask_fast(payload, key)
        head += key
    return head + payload


def _mask_fast(data, key):
    n = len(data)
    k = int.from_bytes((key * ((n + 3) // 4))[:n], "big")
    return (int.from_bytes(data, "big") ^ k).to_bytes(n, "big")


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class _Reader:
    """Frame reader over a socket with a buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def _fill(self):
        if self.eof:
            raise WsClosed()
        try:
            d = self.sock.recv(1 << 18)
        except (ConnectionResetError, ssl.SSLError):
            d = b""
        if not d:
            self.eof = True
            raise WsClosed()
        self.buf += d

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_until(self, sep):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[:i + len(sep)])
                del self.buf[:i + len(sep)]
                return out
            if len(self.buf) > (1 << 20):
                raise ValueError("head too long")
            self._fill()

    def read_frame(self):
        return read_frame_with(self.read_exact)


def read_frame_with(read_exact):
    """The next frame, read through read_exact(n) (unmasked if it was masked)."""
    b0, b1 = read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(8))[0]
    key = read_exact(4) if b1 & 0x80 else None
    payload = read_exact(n) if n else b""
    if key and n:
        payload = _mask_fast(payload, key)
    return Frame(bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload, bool(key))


def parse_head(raw):
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    headers = []
    for ln in lines[1:]:
        if ln:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", headers


class WsClient:
    """A client connection through the proxy. connect() does the handshake; .resp is the
    HTTP answer (101 or a rejection with its body)."""

    def __init__(self, port, path="/ws", host="testroute.local", headers=None, deflate=False,
                 protocols=None, timeout=5.0, connect=True, rcvbuf=None, sock=None,
                 extensions=None):
        self.port = port
        self.path = path
        self.host = host
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.extra = list(headers.items() if isinstance(headers, dict) else (headers or []))
        self.deflate_offer = deflate
        self.extensions = extensions
        self.protocols = protocols
        self.deflate = False
        self.timeout = timeout
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
        self.sock = sock
        self.r = _Reader(sock)
        self.resp = None
        if connect:
            self.handshake()

    def handshake_headers(self):
        h = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
             ("Sec-WebSocket-Key", self.key), ("Sec-WebSocket-Version", "13")]
        ext = self.extensions
        if ext is None and self.deflate_offer:
            ext = "permessage-deflate; client_max_window_bits"
        if ext:
            h.append(("Sec-WebSocket-Extensions", ext))
        if self.protocols:
            h.append(("Sec-WebSocket-Protocol", self.protocols))
        return h + self.extra

    def handshake(self, extra_bytes=b""):
        req = build_request("GET", self.path, self.handshake_headers(), None, self.host)
        self.sock.sendall(req + extra_bytes)
        version, status, reason, headers = parse_head(self.r.read_until(b"\r\n\r\n"))
        self.resp = Response(version, status, reason, headers)
        if status == 101:
            assert self.resp.header("Sec-WebSocket-Accept") == accept_value(self.key), headers
            ext = (self.resp.header("Sec-WebSocket-Extensions") or "").lower()
            self.deflate = "permessage-deflate" in ext
        else:
            cl = self.resp.header("Content-Length")
            if cl is not None:
                try:
                    self.resp.body = self.r.read_exact(int(cl))
                except WsClosed:
                    self.resp.body = bytes(self.r.buf)
        return self.resp

    # ---- sending ----
    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, mask=True, key=None):
        self.sock.sendall(encode_frame(opcode, payload, fin, rsv, mask, key))

    def send_text(self, s):
        if self.deflate:
            return self.send_compressed(OP_TEXT, s.encode() if isinstance(s, str) else s)
        self.send_frame(OP_TEXT, s)

    def send_binary(self, b):
        if self.deflate:
            return self.send_compressed(OP_BINARY, b)
        self.send_frame(OP_BINARY, b)

    def send_compressed(self, opcode, data):
        c = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        self.send_frame(opcode, out[:-4], rsv=4)

    def ping(self, payload=b""):
        self.send_frame(OP_PING, payload)

    def pong(self, payload=b""):
        self.send_frame(OP_PONG, payload)

    def send_close(self, code=None, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    # ---- receiving ----
    def settimeout(self, t):
        self.sock.settimeout(t)

    def recv_frame(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        try:
            return self.r.read_frame()
        finally:
            if timeout is not None:
                self.sock.settimeout(self.timeout)

    def recv_message(self, timeout=None, skip_control=False):
        """Next data message (opcode, payload) assembled from its frames (inflated if
        compressed); control frames are returned as they come unless skip_control."""
        parts, op, comp = [], None, False
        while True:
            f = self.recv_frame(timeout)
            if f.opcode >= 8:
                if skip_control and f.opcode != OP_CLOSE:
                    continue
                if op is None:
                    return f.opcode, f.payload
                raise AssertionError("control frame %r inside a message" % f)
            if op is None:
                op, comp = f.opcode, bool(f.rsv & 4)
            parts.append(f.payload)
            if f.fin:
                data = b"".join(parts)
                if comp:
                    d = zlib.decompressobj(-15)
                    data = d.decompress(data + b"\x00\x00\xff\xff")
                return op, data

    def recv_text(self, timeout=None):
        op, data = self.recv_message(timeout, skip_control=True)
        assert op == OP_TEXT, (op, data)
        return data.decode()

    def expect_close(self, code=None, timeout=5.0, reply=True):
        """Read until the server's close frame (data frames before it are skipped) and
        check its code (None: no code at all; "any": do not check). Then reply (our close)
        and expect EOF. Returns the close frame."""
        end = time.monotonic() + timeout
        while True:
            left = max(0.05, end - time.monotonic())
            try:
                f = self.recv_frame(left)
            except socket.timeout:
                raise AssertionError("no close frame within %ss" % timeout)
            except WsClosed:
                raise AssertionError("connection closed without a close frame")
            if f.opcode == OP_CLOSE:
                break
        assert not f.masked, "server frames must not be masked"
        if code != "any":
            assert f.close_code == code, "close code %r (reason %r), want %r" % (
                f.close_code, f.close_reason, code)
        if reply:
            try:
                self.send_frame(OP_CLOSE, f.payload[:2])
            except OSError:
                pass
        assert self.eof_within(timeout), "no EOF after the close handshake"
        return f

    def eof_within(self, timeout=3.0):
        """True when the server closes the TCP connection within timeout (data ignored)."""
        self.sock.settimeout(timeout)
        end = time.monotonic() + timeout
        try:
            while time.monotonic() < end:
                try:
                    d = self.sock.recv(65536)
                except (ConnectionResetError, ssl.SSLError):
                    return True
                if not d:
                    return True
            return False
        except socket.timeout:
            return False
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass

    def nothing_within(self, timeout=0.5):
        """True when no frame arrives within timeout (and the connection stays open)."""
        try:
            f = self.recv_frame(timeout)
        except socket.timeout:
            return True
        raise AssertionError("unexpected frame %r" % f)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---- a raw WebSocket backend ----

class WsPeer(HeaderList):
    """The server side of one backend connection: .method .path .headers of the handshake
    request; accept()/reject() answer it; then frames (unmasked; client frames must come
    masked, which read_frame checks)."""

    def __init__(self, sock, backend):
        self.sock = sock
        self.backend = backend
        self.r = _Reader(sock)
        self.headers = []
        self.closed_by_peer = False
        self.wlock = threading.Lock()  # tests write from their thread while echo_loop runs

    def read_request(self):
        raw = self.r.read_until(b"\r\n\r\n").decode("latin-1")
        lines = raw.split("\r\n")
        self.method, self.target, self.version = lines[0].split(" ", 2)
        self.path = self.target.split("?")[0]
        self.query = self.target.split("?", 1)[1] if "?" in self.target else ""
        for ln in lines[1:]:
            if ln:
                k, _, v = ln.partition(":")
                self.headers.append((k.strip(), v.strip()))

    def accept(self, headers=None, extensions=None, protocol=None, status_line=None):
        key = self.header("Sec-WebSocket-Key")
        h = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
             ("Sec-WebSocket-Accept", accept_value(key))]
        if extensions is not None:
            h.append(("Sec-WebSocket-Extensions", extensions))
        if protocol is not None:
            h.append(("Sec-WebSocket-Protocol", protocol))
        h += list(headers or [])
        out = (status_line or "HTTP/1.1 101 Switching Protocols") + "\r\n"
        out += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
        self.sock.sendall(out.encode("latin-1"))

    def reject(self, status=403, reason="Forbidden", headers=None, body=b""):
        if isinstance(body, str):
            body = body.encode()
        h = list(headers or [("Content-Type", "text/plain")])
        h.append(("Content-Length", str(len(body))))
        out = "HTTP/1.1 %d %s\r\n" % (status, reason)
        out += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
        self.sock.sendall(out.encode("latin-1") + body)

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0):
        with self.wlock:
            self.sock.sendall(encode_frame(opcode, payload, fin, rsv, mask=False))

    def send_text(self, s):
        self.send_frame(OP_TEXT, s)

    def control(self, obj):
        """A GRIP control message ("c:" + JSON)."""
        self.send_frame(OP_TEXT, "c:" + json.dumps(obj))

    def send_close(self, code=None, reason=b""):
        self.send_frame(OP_CLOSE, close_payload(code, reason))

    def recv_frame(self, timeout=5.0):
        self.sock.settimeout(timeout)
        f = self.r.read_frame()
        if not f.masked:
            self.backend.errors.append("unmasked frame from the proxy: %r" % f)
        return f

    def recv_message(self, timeout=5.0):
        """Next data message (assembled), or a control frame as (opcode, payload)."""
        parts, op = [], None
        while True:
            f = self.recv_frame(timeout)
            if f.opcode >= 8:
                if op is None:
                    return f.opcode, f.payload
                self.backend.control_inside.append(f)
                continue
            if op is None:
                op = f.opcode
            parts.append(f.payload)
            if f.fin:
                return op, b"".join(parts)

    def echo_loop(self, timeout=30.0, prefix=b""):
        """Echo data messages (with prefix put before them, for a GRIP backend's "m:");
        answer pings with pongs; echo the close."""
        while True:
            try:
                op, data = self.recv_message(timeout)
            except (WsClosed, socket.timeout, OSError):
                return
            if op == OP_CLOSE:
                self.closed_by_peer = True
                self.backend.closes.append(data)
                try:
                    self.send_frame(OP_CLOSE, data)
                except OSError:
                    pass
                return
            if op == OP_PING:
                self.backend.pings.append(data)
                self.send_frame(OP_PONG, data)
            elif op == OP_PONG:
                self.backend.pongs.append(data)
            else:
                self.backend.messages.append((op, data))
                self.send_frame(op, prefix + data)


def echo_handler(peer, **accept_kw):
    peer.accept(**accept_kw)
    peer.echo_loop()


class WsBackend:
    """Threaded raw WebSocket server. handler(peer) runs per connection, after the
    request head was read (peer.read_request). Default: accept and echo."""

    def __init__(self, handler=None, tls_context=None):
        self.handler = handler or echo_handler
        self.tls = tls_context
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.peers = []
        self.errors = []
        self.messages = []
        self.pings = []
        self.pongs = []
        self.closes = []
        self.control_inside = []
        self.conns = 0
        self.stopped = False
        self.lock = threading.Lock()
        self.threads = []
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stopped:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            if self.stopped:
                s.close()
                return
            self.conns += 1
            t = threading.Thread(target=self._serve, args=(s,), daemon=True)
            t.start()
            self.threads.append(t)

    def _serve(self, s):
        try:
            if self.tls:
                s = self.tls.wrap_socket(s, server_side=True)
            peer = WsPeer(s, self)
            peer.read_request()
            with self.lock:
                self.peers.append(peer)
            self.handler(peer)
        except (WsClosed, OSError, ValueError, socket.timeout):
            pass
        except Exception as e:  # a handler bug must show in the test
            self.errors.append("handler error: %r" % (e,))
        finally:
            try:
                s.close()
            except OSError:
                pass

    def wait_peers(self, n, timeout=5.0):
        end = time.monotonic() + timeout
        while len(self.peers) < n and time.monotonic() < end:
            time.sleep(0.01)
        return self.peers[:n] if len(self.peers) >= n else None

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass
        for p in list(self.peers):
            try:
                p.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                p.sock.close()
            except OSError:
                pass
