"""Helpers for GRIP tests: hold responses from the backend, stream readers."""

import base64
import json
import time

from backend import Resp
from conftest import IS_PUSHPIN

# Time for a new hold's subscription to become active after the client saw the head /
# the backend saw the request.
SETTLE = 0.6 if IS_PUSHPIN else 0.25


def settle():
    time.sleep(SETTLE)


def hold(mode="stream", channels=("c",), body=b"", ctype="text/plain", status=200, extra=None,
         **kw):
    h = [("Content-Type", ctype), ("Grip-Hold", mode)]
    for ch in channels:
        h.append(("Grip-Channel", ch))
    h += list(extra or [])
    return Resp(status, h, body, **kw)


def open_stream(proxy, path, host="example.com", headers=None, version="HTTP/1.1", timeout=5):
    c = proxy.conn(timeout=timeout)
    c.request("GET", path, headers, host=host, version=version)
    r = c.read_head()
    return c, r


def read_stream_until(c, needle, timeout=5.0, chunked=True):
    """Accumulate stream body until `needle` appears; returns everything read."""
    out = b""
    end = time.monotonic() + timeout
    c.settimeout(0.5)
    while needle not in out:
        if time.monotonic() > end:
            raise AssertionError("did not see %r within %ss; got %r" % (needle, timeout, out[-500:]))
        try:
            if chunked:
                d = c.read_chunk()
                if d == b"":
                    raise AssertionError("stream ended before %r; got %r" % (needle, out))
            else:
                d = c.read_some()
        except TimeoutError:
            continue
        except OSError:
            continue
        out += d
    return out


def pub_stream(proxy, channel, content, **extra):
    it = {"channel": channel, "formats": {"http-stream": {"content": content}}}
    it.update(extra)
    return proxy.publish(it)


def pub_response(proxy, channel, fmt=None, **extra):
    it = {"channel": channel, "formats": {"http-response": fmt or {"body": "published\n"}}}
    it.update(extra)
    return proxy.publish(it)


def no_grip_headers(r):
    return not [n for n in r.names() if n.startswith("grip-")]


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def grip_instruct(obj, status=200):
    return Resp(status, [("Content-Type", "application/grip-instruct")], json.dumps(obj).encode())
