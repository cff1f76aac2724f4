"""A WebSocket-over-HTTP test backend: answers application/websocket-events POSTs.

In-process (threads, raw sockets, HTTP/1.1 keep-alive):

    b = WohBackend()                      # echo: OPEN -> OPEN, TEXT/BINARY echoed,
                                          # PING -> PONG, CLOSE -> CLOSE
    b = WohBackend(handler)               # handler(req) -> WohResp, or None for the echo
    b.reqs(cid), b.wait_for(pred), b.stop()

Every request is checked as a WebSocket-over-HTTP request must look (POST, Content-Type and
Accept application/websocket-events, a lowercase UUID Connection-Id, Content-Length equal to
the body, a body that parses strictly, no Upgrade or Transfer-Encoding); a request that
does not is answered 400 and recorded in `errors`, which the tests check.

As a program, for tests that kill and restart the backend process:

    python3 wohbackend.py --port N --log FILE [--prefix m:] [--delay S]

runs the echo (answering each request S seconds after it arrived) and appends one JSON
line per request to FILE (written before answering):
{"cid", "replayed", "events": [[type, hex content or null]], "pid"}.
"""

import argparse
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse

CT = "application/websocket-events"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TOKEN_RE = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def parse_events(body):
    """[(type, content or None)] of an events body; ValueError when malformed."""
    out = []
    i = 0
    n = len(body)
    while i < n:
        j = body.find(b"\r\n", i)
        if j < 0:
            raise ValueError("event line without CRLF at %d" % i)
        line = body[i:j]
        i = j + 2
        if b" " in line:
            typ, _, ln = line.partition(b" ")
            if not re.match(rb"^[0-9a-fA-F]{1,16}$", ln):
                raise ValueError("bad length %r" % ln)
            size = int(ln, 16)
            if i + size + 2 > n or body[i + size:i + size + 2] != b"\r\n":
                raise ValueError("content of %r cut short" % typ)
            content = body[i:i + size]
            i += size + 2
        else:
            typ, content = line, None
        if not TOKEN_RE.match(typ):
            raise ValueError("bad event type %r" % typ)
        out.append((typ.decode(), content))
    return out


def encode_events(events):
    out = b""
    for e in events:
        typ, content = (e, None) if isinstance(e, str) else e
        if isinstance(content, str):
            content = content.encode()
        if content is None:
            out += typ.encode() + b"\r\n"
        else:
            out += b"%s %x\r\n" % (typ.encode(), len(content)) + content + b"\r\n"
    return out


def close_content(code, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return bytes([code >> 8, code & 0xff]) + reason


class WohReq:
    def __init__(self, method, target, headers, body):
        self.method = method
        self.target = target
        u = urllib.parse.urlsplit(target)
        self.path = u.path
        self.query = u.query
        self.headers = headers
        self.body = body
        self.events = []
        self.time = time.monotonic()
        self.done = None  # monotonic time the answer was written

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def headers_named(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def cid(self):
        return self.header("Connection-Id")

    @property
    def types(self):
        return [t for t, _ in self.events]

    def texts(self):
        return [c for t, c in self.events if t in ("TEXT", "BINARY")]

    def __repr__(self):
        return "WohReq(%s %s %r)" % (self.method, self.target, self.events)


class WohResp:
    def __init__(self, events=(), headers=None, status=200, body=None, ctype=CT, delay=0.0,
                 close=False):
        self.status = status
        self.headers = list(headers or [])
        self.ctype = ctype
        self.body = body if body is not None else encode_events(events)
        if isinstance(self.body, str):
            self.body = self.body.encode()
        self.delay = delay
        self.close = close  # drop the connection instead of answering


def echo(req, prefix=b""):
    """The default answer: OPEN -> OPEN, messages echoed (with prefix), PING -> PONG,
    CLOSE -> CLOSE, DISCONNECT -> nothing."""
    out = []
    for t, c in req.events:
        if t == "OPEN":
            out.append("OPEN")
        elif t in ("TEXT", "BINARY"):
            out.append((t, prefix + (c or b"")))
        elif t == "PING":
            out.append(("PONG", c))
        elif t == "CLOSE":
            out.append(("CLOSE", c))
    return WohResp(out)


class _Closed(Exception):
    pass


class WohBackend:
    def __init__(self, handler=None, port=0, host="127.0.0.1", log_path=None, prefix=b"",
                 delay=0.0):
        self.handler = handler
        self.delay = delay
        self.prefix = prefix
        self.log_path = log_path
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(1024)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.errors = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.in_flight = {}       # cid -> requests being answered now
        self.max_in_flight = 0    # most requests of one cid at the same time
        self.conns = set()
        self.stopped = False
        self.thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    # ---- what happened ----
    def reqs(self, cid=None):
        with self.lock:
            return [r for r in self.requests if cid is None or r.cid == cid]

    def cids(self):
        with self.lock:
            seen = []
            for r in self.requests:
                if r.cid not in seen:
                    seen.append(r.cid)
            return seen

    def wait_for(self, pred, timeout=5.0):
        """Wait until pred(requests) is truthy; return its value (or the last falsy one)."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(list(self.requests))
                if v or time.monotonic() >= end:
                    return v
                self.cond.wait(min(0.05, max(0.0, end - time.monotonic())))

    def wait_event(self, typ, cid=None, timeout=5.0, n=1):
        """The requests (of cid) carrying event typ, once there are at least n."""
        def got(reqs):
            hit = [r for r in reqs if (cid is None or r.cid == cid) and typ in r.types]
            return hit if len(hit) >= n else None
        return self.wait_for(got, timeout)

    # ---- serving ----
    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass

    def _accept_loop(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.conns.add(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = bytearray()
        try:
            while not self.stopped:
                req, buf = self._read(c, buf)
                if req is None:
                    return
                resp = self._answer(req)
                try:
                    if resp.close:
                        return
                    self._write(c, req, resp)
                finally:
                    self._done(req)
        except (_Closed, OSError):
            pass
        finally:
            with self.lock:
                self.conns.discard(c)
            try:
                c.close()
            except OSError:
                pass

    def _read(self, c, buf):
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return None, buf
            buf += d
        i = buf.index(b"\r\n\r\n")
        lines = bytes(buf[:i]).decode("latin-1").split("\r\n")
        del buf[:i + 4]
        method, target, _ = lines[0].split(" ", 2)
        headers = []
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers.append((k.strip(), v.strip()))
        req = WohReq(method, target, headers, b"")
        cl = req.header("Content-Length")
        n = int(cl) if cl is not None and cl.isdigit() else 0
        while len(buf) < n:
            d = c.recv(65536)
            if not d:
                raise _Closed()
            buf += d
        req.body = bytes(buf[:n])
        del buf[:n]
        return req, buf

    def _check(self, req):
        """Why req is not a valid WebSocket-over-HTTP request, or None."""
        if req.method != "POST":
            return "method %s" % req.method
        if req.headers_named("Content-Type") != [CT]:
            return "Content-Type %r" % req.headers_named("Content-Type")
        if req.headers_named("Accept") != [CT]:
            return "Accept %r" % req.headers_named("Accept")
        cids = req.headers_named("Connection-Id")
        if len(cids) != 1 or not UUID_RE.match(cids[0]):
            return "Connection-Id %r" % cids
        cl = req.headers_named("Content-Length")
        if cl != [str(len(req.body))]:
            return "Content-Length %r for %d bytes" % (cl, len(req.body))
        for name in ("Transfer-Encoding", "Upgrade"):
            if req.header(name) is not None:
                return "%s sent" % name
        try:
            req.events = parse_events(req.body)
        except ValueError as e:
            return "body: %s" % e
        return None

    def _answer(self, req):
        why = self._check(req)
        with self.cond:
            self.requests.append(req)
            if why:
                self.errors.append("%s: %r" % (why, req))
            n = self.in_flight.get(req.cid, 0) + 1
            self.in_flight[req.cid] = n
            self.max_in_flight = max(self.max_in_flight, n)
            self.cond.notify_all()
        if why:
            return WohResp(status=400, ctype="text/plain", body=why + "\n")
        if self.log_path:
            rec = {"cid": req.cid, "pid": os.getpid(),
                   "replayed": int(req.header("Content-Bytes-Replayed", "0")),
                   "events": [[t, c.hex() if c is not None else None] for t, c in req.events]}
            with open(self.log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
        resp = self.handler(req) if self.handler else None
        if resp is None:
            resp = echo(req, self.prefix)
            resp.delay = self.delay
        return resp

    def _write(self, c, req, resp):
        if resp.delay:
            time.sleep(resp.delay)
        hdrs = []
        if resp.ctype is not None:
            hdrs.append(("Content-Type", resp.ctype))
        hdrs += resp.headers
        hdrs.append(("Content-Length", str(len(resp.body))))
        head = "HTTP/1.1 %d %s\r\n" % (resp.status, "OK" if resp.status == 200 else "Nope")
        head += "".join("%s: %s\r\n" % (k, v) for k, v in hdrs) + "\r\n"
        c.sendall(head.encode("latin-1") + resp.body)

    def _done(self, req):
        with self.cond:
            self.in_flight[req.cid] -= 1
            req.done = time.monotonic()
            self.cond.notify_all()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--prefix", default="")
    ap.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    a = ap.parse_args()
    b = WohBackend(port=a.port, log_path=a.log, prefix=a.prefix.encode(), delay=a.delay)
    print("listening %d" % b.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
