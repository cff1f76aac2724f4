"""ZeroMQ helpers for tests: a small tnetstring codec (as Pushpin's tools write it) and
ready-made peers for the publish inputs and the command socket."""

import time
import uuid

import zmq

CTX = zmq.Context.instance()


# ---- tnetstring (bytes-oriented, as Pushpin's Python tools use it) ----

def tnet_dumps(v):
    if v is None:
        return b"0:~"
    if v is True:
        return b"4:true!"
    if v is False:
        return b"5:false!"
    if isinstance(v, int):
        p, t = str(v).encode(), b"#"
    elif isinstance(v, float):
        p, t = repr(v).encode(), b"^"
    elif isinstance(v, str):
        p, t = v.encode(), b","
    elif isinstance(v, bytes):
        p, t = v, b","
    elif isinstance(v, (list, tuple)):
        p, t = b"".join(tnet_dumps(x) for x in v), b"]"
    elif isinstance(v, dict):
        p, t = b"".join(tnet_dumps(k) + tnet_dumps(x) for k, x in v.items()), b"}"
    else:
        raise TypeError(type(v))
    return str(len(p)).encode() + b":" + p + t


def _tnet_parse(b, i):
    colon = b.index(b":", i)
    n = int(b[i:colon])
    data = b[colon + 1:colon + 1 + n]
    tag = b[colon + 1 + n:colon + 2 + n]
    end = colon + 2 + n
    if len(data) != n or tag == b"":
        raise ValueError("truncated tnetstring")
    if tag == b",":
        return data, end
    if tag == b"#":
        return int(data), end
    if tag == b"^":
        return float(data), end
    if tag == b"!":
        return data == b"true", end
    if tag == b"~":
        return None, end
    if tag == b"]":
        out, j = [], 0
        while j < n:
            v, j = _tnet_parse(data, j)
            out.append(v)
        return out, end
    if tag == b"}":
        out, j = {}, 0
        while j < n:
            k, j = _tnet_parse(data, j)
            v, j = _tnet_parse(data, j)
            out[k.decode()] = v
        return out, end
    raise ValueError("bad tag %r" % tag)


def tnet_loads(b):
    v, _ = _tnet_parse(b, 0)
    return v


def bytes_tree(v):
    """Make strings bytes, as tnetstring publishers send them."""
    if isinstance(v, dict):
        return {k: bytes_tree(x) for k, x in v.items()}
    if isinstance(v, list):
        return [bytes_tree(x) for x in v]
    if isinstance(v, str):
        return v.encode()
    return v


# ---- sockets ----

def sock(kind, timeout=5.0):
    s = CTX.socket(kind)
    s.linger = 0
    s.rcvtimeo = int(timeout * 1000)
    s.sndtimeo = int(timeout * 1000)
    return s


def push(proxy):
    s = sock(zmq.PUSH)
    s.connect(proxy.zmq_spec(proxy.push_port))
    return s


def xpub_connected(proxy):
    """An XPUB connected to the instance's bound SUB socket, reporting every subscribe."""
    s = sock(zmq.XPUB)
    s.setsockopt(zmq.XPUB_VERBOSE, 1)
    s.connect(proxy.zmq_spec(proxy.sub_port))
    return s


def wait_sub_event(xpub, channel, subscribe=True, timeout=5.0):
    """Wait until the XPUB sees (un)subscribe for channel; other events are skipped."""
    want = (b"\x01" if subscribe else b"\x00") + channel.encode()
    end = time.monotonic() + timeout
    seen = []
    while time.monotonic() < end:
        if xpub.poll(100):
            m = xpub.recv()
            seen.append(m)
            if m == want:
                return seen
    raise AssertionError("no %r within %ss; saw %r" % (want, timeout, seen))


def sub_events(xpub, wait=0.5):
    """Every subscription event arriving within `wait` seconds."""
    out = []
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if xpub.poll(50):
            out.append(xpub.recv())
    return out


class Commander:
    """A REQ client for the command socket (tnetstring requests, as tools/command.py)."""

    def __init__(self, proxy, timeout=5.0):
        self.s = sock(zmq.REQ, timeout)
        self.s.connect(proxy.zmq_spec(proxy.cmd_port))

    def call(self, method, args=None, with_id=True):
        req = {}
        rid = None
        if with_id:
            rid = uuid.uuid4().hex.encode()
            req["id"] = rid
        req["method"] = method.encode()
        if args is not None:
            req["args"] = bytes_tree(args)
        self.s.send(tnet_dumps(req))
        resp = tnet_loads(self.s.recv())
        if with_id:
            assert resp.get("id") == rid, resp
        else:
            assert "id" not in resp, resp
        return resp

    def close(self):
        self.s.close()
