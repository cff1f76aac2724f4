"""Raw-socket HTTP client helpers, JWT helpers, publish helpers.

Raw sockets are used (rather than requests) wherever framing matters: the tests must see
exactly what the proxy wrote (chunked or not, Connection headers, truncation).
"""

import base64
import collections
import hashlib
import hmac
import json
import os
import socket
import time

DEFAULT_TIMEOUT = 5.0


class Closed(Exception):
    pass


class HeaderList:
    """Case-insensitive lookups over self.headers, a list of (name, value) in order."""

    def header(self, name, default=None):
        n = name.lower()
        for k, v in self.headers:
            if k.lower() == n:
                return v
        return default

    def header_all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]


class Response(HeaderList):
    def __init__(self, version, status, reason, headers, body=b""):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body
        self.chunked = False
        self.complete = True  # body framing completed (terminal chunk / full length)
        self.timed_out = False  # body read stopped by the socket timeout, not by EOF


    def names(self):
        return [k.lower() for k, _ in self.headers]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "Response(%d %s %r body=%r)" % (self.status, self.reason, self.headers, self.body[:200])


class Conn:
    """One client connection with an input buffer; supports pipelining and streaming."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        self.port = port

    @classmethod
    def wrap(cls, sock):
        """A Conn over a socket that is already connected."""
        c = cls.__new__(cls)
        c.sock, c.buf, c.eof, c.port = sock, bytearray(), False, sock.getpeername()[1]
        return c

    def settimeout(self, t):
        self.sock.settimeout(t)

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def request(self, method="GET", path="/", headers=None, body=None, host="example.com",
                version="HTTP/1.1", send=True):
        """Build (and by default send) a request. headers: list of (n, v) or dict.
        Content-Length is added for a bytes body unless a framing header is given."""
        data = build_request(method, path, headers, body, host, version)
        if send:
            self.send(data)
        return data

    def _fill(self):
        if self.eof:
            raise Closed()
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            raise Closed()
        self.buf += d

    def read_until(self, sep, limit=1 << 20):
        while True:
            i = self.buf.find(sep)
            if i >= 0:
                out = bytes(self.buf[: i + len(sep)])
                del self.buf[: i + len(sep)]
                return out
            if len(self.buf) > limit:
                raise ValueError("line too long")
            self._fill()

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def read_some(self):
        if not self.buf:
            self._fill()
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def read_head(self, skip_100=True):
        while True:
            head = self.read_until(b"\r\n\r\n").decode("latin-1")
            lines = head.split("\r\n")
            parts = lines[0].split(" ", 2)
            version, status = parts[0], int(parts[1])
            reason = parts[2] if len(parts) > 2 else ""
            headers = []
            for ln in lines[1:]:
                if not ln:
                    continue
                k, _, v = ln.partition(":")
                headers.append((k.strip(), v.strip()))
            r = Response(version, status, reason, headers)
            if skip_100 and status == 100:
                continue
            return r

    def read_chunk(self):
        """Next chunk of a chunked body; b'' for the terminal chunk."""
        line = self.read_until(b"\r\n")
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            # trailers
            while True:
                ln = self.read_until(b"\r\n")
                if ln == b"\r\n":
                    break
            return b""
        data = self.read_exact(size)
        crlf = self.read_exact(2)
        assert crlf == b"\r\n", "bad chunk terminator %r" % crlf
        return data

    def read_response(self, method="GET", skip_100=True):
        """Read a full response with its framing. Truncation -> complete=False."""
        r = self.read_head(skip_100)
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if method == "HEAD" or r.status in (204, 304) or 100 <= r.status < 200:
            return r
        body = bytearray()
        try:
            if "chunked" in te:
                r.chunked = True
                while True:
                    c = self.read_chunk()
                    if not c:
                        break
                    body += c
            elif cl is not None:
                body += self.read_exact(int(cl))
            else:
                while True:
                    try:
                        self._fill()
                    except Closed:
                        break
                body += self.buf
                self.buf.clear()
        except (Closed, socket.timeout, AssertionError, ValueError) as e:
            r.timed_out = isinstance(e, socket.timeout)
            body += self.buf
            self.buf.clear()
            r.complete = False
        r.body = bytes(body)
        return r

    def is_closed(self, timeout=2.0):
        """True if the peer closes (EOF/RST) within timeout with no more data pending."""
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            while True:
                try:
                    d = self.sock.recv(65536)
                except ConnectionResetError:
                    return True
                if not d:
                    return True
                self.buf += d
        except socket.timeout:
            return False
        finally:
            try:
                self.sock.settimeout(old)
            except OSError:
                pass

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def build_request(method="GET", path="/", headers=None, body=None, host="example.com",
                  version="HTTP/1.1"):
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = [k.lower() for k, _ in headers]
    if host is not None and "host" not in names:
        headers.insert(0, ("Host", host))
    if isinstance(body, str):
        body = body.encode()
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    out = "%s %s %s\r\n" % (method, path, version)
    out += "".join("%s: %s\r\n" % (k, v) for k, v in headers) + "\r\n"
    data = out.encode("latin-1")
    if body:
        data += body
    return data


def http(port, method="GET", path="/", headers=None, body=None, host="example.com",
         version="HTTP/1.1", timeout=DEFAULT_TIMEOUT):
    """One request on a fresh connection; returns the Response."""
    with Conn(port, timeout=timeout) as c:
        c.request(method, path, headers, body, host, version)
        return c.read_response(method)


def chunked(*pieces):
    out = b""
    for p in pieces:
        if isinstance(p, str):
            p = p.encode()
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n\r\n"


# ---- JWT ----

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s):
    s = s + "=" * (-len(s) % 4)
    return base64.urlsafe_b64decode(s)


def jwt_encode(claims, key, alg="HS256"):
    if isinstance(key, str):
        key = key.encode()
    header = {"typ": "JWT", "alg": alg}
    seg = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + \
        b64u(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, seg.encode(), hashlib.sha256).digest()
    return seg + "." + b64u(sig)


def jwt_decode_verify(token, key):
    """Returns (header, claims); raises AssertionError on a bad HS256 signature."""
    if isinstance(key, str):
        key = key.encode()
    parts = token.split(".")
    assert len(parts) == 3, token
    header = json.loads(b64u_dec(parts[0]))
    claims = json.loads(b64u_dec(parts[1]))
    want = hmac.new(key, (parts[0] + "." + parts[1]).encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(want, b64u_dec(parts[2])), "Grip-Sig signature mismatch"
    return header, claims


# ---- misc ----

def wait_for(pred, timeout=5.0, interval=0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            return v
        time.sleep(interval)


_recent_ports = collections.deque(maxlen=512)


def _port_slot():
    """(slot, slots): make check runs two suites at once (tools/check-integration.sh) and
    gives each its own residue of port numbers (TT_PORT_SLOT of TT_PORT_SLOTS)."""
    slots = int(os.environ.get("TT_PORT_SLOTS", "1") or 1)
    slot = int(os.environ.get("TT_PORT_SLOT", "0") or 0)
    return (slot % slots, slots) if slots > 1 else (0, 1)


def free_port():
    """A free loopback port, never one handed out recently: the kernel may give the same
    ephemeral port to two binds in a row, and a proxy takes several ports at once. Suites
    run side by side take only ports of their own residue (port // 2 % slots), so that they
    never pick the same port between the pick and the bind."""
    slot, count = _port_slot()
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        # Linux hands out odd ports to bind(0) first (even ones are kept for connect):
        # the residue is taken of port // 2.
        if (p >> 1) % count == slot and p not in _recent_ports:
            _recent_ports.append(p)
            return p


def port_open(port, host="127.0.0.1"):
    try:
        s = socket.create_connection((host, port), timeout=0.2)
        s.close()
        return True
    except OSError:
        return False


def listening_sockets(port):
    """IPv4 LISTEN sockets on the port, from /proc/net/tcp (what `ss -ltn` shows)."""
    n = 0
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and local.endswith(":%04X" % port):
                n += 1
    return n
