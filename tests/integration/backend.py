"""A small threaded HTTP/1.1 test backend with raw-socket control.

Tests program it per path:

    backend.on("/x", Resp(200, [("Content-Type", "text/plain")], b"hi\n"))
    backend.on("/y", Resp(body=b"a" * 10, framing="chunked", abort_after=5))
    backend.on("/z", lambda req, conn: conn.sendall(b"HTTP/1.1 200 OK\r\n..."))

Several responses given to `on` are served in order, the last one repeating. Every request
is recorded (method, target, path, query, headers in order, body) in `backend.requests`.
Raw sockets are used instead of http.server so that tests can produce malformed or
truncated responses and see request framing exactly as it arrived.
"""

import socket
import threading
import time
import urllib.parse

from helpers import HeaderList


class Req(HeaderList):
    def __init__(self, method, target, version, headers, body):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value) in arrival order
        self.body = body
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = u.query
        self.chunked = False
        self.time = time.monotonic()


    def has(self, name):
        return self.header(name) is not None

    def names(self):
        return [k.lower() for k, _ in self.headers]

    def __repr__(self):
        return "Req(%s %s %r body=%d)" % (self.method, self.target, self.headers, len(self.body))


class Resp:
    """A programmable response.

    framing: "length" (Content-Length), "chunked", "close" (close-delimited), or "none"
    (no framing header added at all; tests supply their own). body may be bytes, str, or an
    iterable of bytes pieces (streamed as they come; each piece becomes one chunk).
    delay: seconds before the head is written. piece_delay: between body pieces.
    abort_after: close the socket abruptly after this many body bytes.
    hang: after the head (and any body given), never finish; keep the socket open until the
    backend stops or `backend.release()` is called.
    """

    def __init__(self, status=200, headers=None, body=b"", framing="length", reason=None,
                 delay=0.0, piece_delay=0.0, abort_after=None, hang=False, keepalive=True):
        self.status = status
        self.reason = reason
        self.headers = list(headers) if headers is not None else [("Content-Type", "text/plain")]
        if isinstance(body, str):
            body = body.encode()
        self.body = body
        self.framing = framing
        self.delay = delay
        self.piece_delay = piece_delay
        self.abort_after = abort_after
        self.hang = hang
        self.keepalive = keepalive


REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently",
           302: "Found", 304: "Not Modified", 400: "Bad Request", 404: "Not Found",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def grip(status=200, body=b"", headers=None, ctype="text/plain", **kw):
    """Shorthand for a GRIP response: grip(hold="stream", channel="c", ...) style via headers.
    headers: list of extra (name, value)."""
    h = [("Content-Type", ctype)] + list(headers or [])
    return Resp(status, h, body, **kw)


class _Closed(Exception):
    pass


class Backend:
    def __init__(self, host="127.0.0.1", tls_context=None, port=0):
        """port: 0 for a free one; a given port restarts a backend where one was."""
        self.tls = tls_context
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(512)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.errors = []  # parse errors on what the proxy sent us
        self.connections = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.handlers = {}
        self.prefix_handlers = []
        self.default = Resp(200, [("Content-Type", "text/plain")], b"ok\n")
        self.stopped = False
        self.release_ev = threading.Event()
        self.conns = set()
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        if ":" in self.host:
            return "[%s]:%d" % (self.host, self.port)
        return "%s:%d" % (self.host, self.port)

    # ---- programming ----
    def on(self, path, *responses):
        """Serve responses for exact path (query ignored); the last one repeats."""
        with self.lock:
            self.handlers[path] = list(responses)

    def on_prefix(self, prefix, *responses):
        with self.lock:
            self.prefix_handlers.append((prefix, list(responses)))

    def reset(self):
        with self.lock:
            self.requests = []
            self.handlers = {}
            self.prefix_handlers = []
            self.connections = 0
            self.release_ev.set()
            self.release_ev = threading.Event()

    def release(self):
        """Let hanging responses finish (they close their connection)."""
        self.release_ev.set()

    def wait_requests(self, n, timeout=5.0, path=None):
        """Wait until at least n requests (optionally for path) were recorded; return them."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                got = [r for r in self.requests if path is None or r.path == path]
                if len(got) >= n:
                    return got
                left = end - time.monotonic()
                if left <= 0:
                    return got
                self.cond.wait(left)

    def reqs(self, path=None):
        with self.lock:
            return [r for r in self.requests if path is None or r.path == path]

    def stop(self):
        self.stopped = True
        self.release_ev.set()
        try:
            # shutdown wakes the accept() blocked in the other thread; close alone would
            # leave the port listening until that call returns.
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def kill_connections(self):
        """Abruptly close every open backend-side connection."""
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- serving ----
    def _pick(self, req):
        with self.lock:
            lst = self.handlers.get(req.path)
            if lst is None:
                for pfx, l2 in self.prefix_handlers:
                    if req.path.startswith(pfx):
                        lst = l2
                        break
            if not lst:
                return self.default
            r = lst[0]
            if len(lst) > 1:
                lst.pop(0)
            return r

    def _accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            # Head and body go out in separate writes: without NODELAY the second waits
            # for the proxy's delayed ACK (40 ms).
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.connections += 1
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        raw = c
        c.settimeout(60)
        buf = bytearray()
        try:
            if self.tls is not None:
                c = self.tls.wrap_socket(c, server_side=True)
            while not self.stopped:
                req, buf = self._read_request(c, buf)
                if req is None:
                    break
                with self.cond:
                    self.requests.append(req)
                    self.cond.notify_all()
                h = self._pick(req)
                if callable(h) and not isinstance(h, Resp):
                    r = h(req, c)
                    if r is None:
                        break  # callable wrote raw output itself; close after
                    h = r
                keep = self._write(c, req, h)
                if not keep:
                    break
        except (_Closed, OSError):
            pass
        except Exception as e:  # malformed input from the proxy: drop the connection
            self.errors.append(repr(e))
        finally:
            with self.lock:
                self.conns.discard(raw)
            try:
                c.close()
            except OSError:
                pass

    def _recv_more(self, c, buf):
        d = c.recv(65536)
        if not d:
            raise _Closed()
        buf += d

    def _read_request(self, c, buf):
        while b"\r\n\r\n" not in buf:
            try:
                self._recv_more(c, buf)
            except _Closed:
                return None, buf
        i = buf.index(b"\r\n\r\n")
        head = bytes(buf[:i]).decode("latin-1")
        del buf[: i + 4]
        lines = head.split("\r\n")
        method, target, version = lines[0].split(" ", 2)
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        req = Req(method, target, version, headers, b"")
        te = req.header("Transfer-Encoding")
        if req.header("Expect", "").lower() == "100-continue":
            c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if te and "chunked" in te.lower():
            req.chunked = True
            body = bytearray()
            while True:
                while b"\r\n" not in buf:
                    self._recv_more(c, buf)
                j = buf.index(b"\r\n")
                size = int(bytes(buf[:j]).split(b";")[0].strip(), 16)
                del buf[: j + 2]
                if size == 0:
                    while b"\r\n\r\n" not in buf and not buf.startswith(b"\r\n"):
                        self._recv_more(c, buf)
                    if buf.startswith(b"\r\n"):
                        del buf[:2]
                    else:
                        del buf[: buf.index(b"\r\n\r\n") + 4]
                    break
                while len(buf) < size + 2:
                    self._recv_more(c, buf)
                body += buf[:size]
                del buf[: size + 2]
            req.body = bytes(body)
        else:
            n = int(req.header("Content-Length", "0") or 0)
            if n > 16 * 1024 * 1024:
                # Huge uploads are counted, not stored.
                got = 0
                take = min(len(buf), n)
                got += take
                del buf[:take]
                while got < n:
                    d = c.recv(min(1 << 20, n - got))
                    if not d:
                        raise _Closed()
                    got += len(d)
                req.body = b""
                req.body_len = got
            else:
                while len(buf) < n:
                    self._recv_more(c, buf)
                req.body = bytes(buf[:n])
                del buf[:n]
        if not hasattr(req, "body_len"):
            req.body_len = len(req.body)
        return req, buf

    def _write(self, c, req, r):
        if r.delay:
            time.sleep(r.delay)
        reason = r.reason if r.reason is not None else REASONS.get(r.status, "OK")
        body = r.body
        pieces = None
        if isinstance(body, (bytes, bytearray)):
            total = len(body)
        else:
            pieces = body
            total = None
        hdrs = list(r.headers)
        names = [k.lower() for k, _ in hdrs]
        if r.framing == "length" and "content-length" not in names:
            if total is None:
                raise ValueError("length framing needs bytes body")
            hdrs.append(("Content-Length", str(total)))
        elif r.framing == "chunked":
            hdrs.append(("Transfer-Encoding", "chunked"))
        keep = r.keepalive and r.framing != "close" and not r.hang and req.version == "HTTP/1.1" \
            and (req.header("Connection", "") or "").lower() != "close"
        if r.framing == "close" or not keep:
            if "connection" not in names:
                hdrs.append(("Connection", "close"))
        head = "HTTP/1.1 %d %s\r\n" % (r.status, reason)
        head += "".join("%s: %s\r\n" % (k, v) for k, v in hdrs) + "\r\n"
        c.sendall(head.encode("latin-1"))
        if req.method == "HEAD":
            return keep
        sent = 0
        if pieces is None:
            pieces = [bytes(body)] if body else []
        for p in pieces:
            if isinstance(p, str):
                p = p.encode()
            if r.abort_after is not None and sent + len(p) > r.abort_after:
                p = p[: r.abort_after - sent]
                self._send_piece(c, p, r.framing)
                self._abort(c)
                raise _Closed()
            if p:
                self._send_piece(c, p, r.framing)
            sent += len(p)
            if r.piece_delay:
                time.sleep(r.piece_delay)
        if r.abort_after is not None:
            self._abort(c)
            raise _Closed()
        if r.hang:
            self.release_ev.wait(120)
            raise _Closed()
        if r.framing == "chunked":
            c.sendall(b"0\r\n\r\n")
        return keep

    @staticmethod
    def _send_piece(c, p, framing):
        if not p:
            return
        if framing == "chunked":
            c.sendall(b"%x\r\n" % len(p) + p + b"\r\n")
        else:
            c.sendall(p)

    @staticmethod
    def _abort(c):
        try:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass
        c.close()


class RawConn:
    """One connection accepted by a RawBackend. `data` keeps every byte received on it, in
    order, so a test can check exactly what the proxy sent on this connection."""

    def __init__(self, sock, index):
        self.sock = sock
        self.index = index
        self.data = bytearray()  # everything received
        self.buf = bytearray()   # received and not consumed yet
        self.eof = False         # the proxy closed (FIN or RST)
        self.closed_at = None    # monotonic time the EOF was seen
        self.heads = []          # request heads read with read_head (bytes)
        self.notes = {}          # free for the test's handler

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            self.closed_at = time.monotonic()
            raise _Closed()
        self.data += d
        self.buf += d

    def read_head(self, timeout=10.0):
        """The next request head (bytes, without the final CRLFCRLF), or None on EOF or
        timeout."""
        deadline = time.monotonic() + timeout
        try:
            while b"\r\n\r\n" not in self.buf:
                self._fill(deadline)
        except (_Closed, socket.timeout, OSError):
            return None
        i = self.buf.index(b"\r\n\r\n")
        head = bytes(self.buf[:i])
        del self.buf[: i + 4]
        self.heads.append(head)
        return head

    def read_exact(self, n, timeout=5.0):
        """Up to n bytes: fewer when the proxy closes or the time is up."""
        deadline = time.monotonic() + timeout
        try:
            while len(self.buf) < n:
                self._fill(deadline)
        except (_Closed, socket.timeout, OSError):
            pass
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def wait_eof(self, timeout=5.0):
        """True once the proxy has closed this connection (bytes meanwhile are kept)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except _Closed:
            return True
        except (socket.timeout, OSError):
            return self.eof

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)


def parse_head(head):
    """(method, target, [(name, value)]) of a request head from RawConn.read_head."""
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = []
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers.append((k.strip(), v.strip()))
    return method, target, headers


def header_of(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return default


class RawBackend:
    """A backend whose every connection is served by handler(conn: RawConn) in its own
    thread, for tests that must control exactly when a backend reads and answers (early
    answers, stalls, short bodies) and see which bytes arrived on which connection."""

    def __init__(self, handler, host="127.0.0.1"):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(512)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.errors = []
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def _accept_loop(self):
        while not self.stopped:
            try:
                s, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                rc = RawConn(s, len(self.conns))
                self.conns.append(rc)
            threading.Thread(target=self._serve, args=(rc,), daemon=True).start()

    def _serve(self, rc):
        try:
            self.handler(rc)
        except (_Closed, OSError):
            pass
        except Exception as e:  # a handler's own assertion: reported by the test
            self.errors.append(repr(e))
        finally:
            try:
                rc.sock.close()
            except OSError:
                pass

    def wait_conns(self, n, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.conns) >= n:
                    return list(self.conns)
            time.sleep(0.01)
        with self.lock:
            return list(self.conns)

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for rc in conns:
            try:
                rc.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
