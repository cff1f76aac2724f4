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


# ---- zhttp handlers (the backend side of zhttpreq/ and zhttp/ route targets) ----

def free_port_run(n=1):
    """A port p with p..p+n-1 all free (zhttp/<tcp spec> uses p, p+1, p+2), for the proxy
    to bind. Taken below the kernel's ephemeral range (32768+): a port from that range can
    be handed to an outgoing connection before the proxy binds it."""
    import random
    import socket as _s
    for _ in range(200):
        base = random.randrange(20000, 32000 - n)
        ok = True
        for k in range(n):
            t = _s.socket()
            try:
                t.bind(("127.0.0.1", base + k))
            except OSError:
                ok = False
            finally:
                t.close()
        if ok:
            return base
    raise RuntimeError("no run of %d free ports" % n)


def zhttp_loads(raw):
    assert raw[:1] == b"T", raw[:20]
    return tnet_loads(raw[1:])


class ReqHandler:
    """A zhttpreq handler: a REP socket connected to the proxy's DEALER, answering each
    request packet with respond(req) (a dict of response fields, or None to stay silent),
    as Pushpin's tools/zhttp/reqhandler.py does. Runs in a thread; `requests` records
    every decoded request."""

    def __init__(self, spec, respond):
        import threading
        self.spec = spec
        self.respond = respond
        self.requests = []
        self.errors = []
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        s = CTX.socket(zmq.REP)
        s.linger = 0
        s.connect(self.spec)
        try:
            while not self.stop_ev.is_set():
                if not s.poll(50):
                    continue
                raw = s.recv()
                try:
                    req = zhttp_loads(raw)
                except Exception as e:  # the proxy must never send garbage
                    self.errors.append("bad packet %r: %s" % (raw[:80], e))
                    s.send(b"")
                    continue
                self.requests.append(req)
                resp = self.respond(req)
                if resp is None:
                    s.send(b"Tjunk")  # REP must answer something
                    continue
                if isinstance(resp, bytes):
                    s.send(resp)
                    continue
                out = {b"id": req["id"]}
                out.update(resp)
                s.send(b"T" + tnet_dumps(out))
        finally:
            s.close()

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        assert not self.errors, self.errors


class StreamHandler:
    """A zhttp (stream mode) handler: PULL on base, ROUTER on base+1, PUB on base+2, all
    connected to the proxy's bound sockets, as Pushpin's handlers do. on_packet(h, pkt,
    via) is called for every packet (via: 'pull' or 'router'); h.reply() sends a response
    packet, over the ROUTER (router_resp) or the PUB socket."""

    def __init__(self, base_port, on_packet, ident=b"test-handler"):
        import threading
        self.base = base_port
        self.on_packet = on_packet
        self.ident = ident
        self.packets = []
        self.errors = []
        self.seq = {}
        self.firsts = {}
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.outq = []
        self.ready = threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()
        assert self.ready.wait(5)

    def run(self):
        pull = CTX.socket(zmq.PULL)
        router = CTX.socket(zmq.ROUTER)
        router.identity = self.ident
        pub = CTX.socket(zmq.PUB)
        for s in (pull, router, pub):
            s.linger = 0
        pull.connect("tcp://127.0.0.1:%d" % self.base)
        router.connect("tcp://127.0.0.1:%d" % (self.base + 1))
        pub.connect("tcp://127.0.0.1:%d" % (self.base + 2))
        poller = zmq.Poller()
        poller.register(pull, zmq.POLLIN)
        poller.register(router, zmq.POLLIN)
        self.ready.set()
        try:
            while not self.stop_ev.is_set():
                with self.lock:
                    out, self.outq = self.outq, []
                for via_pub, to, raw in out:
                    if via_pub:
                        pub.send(to + b" " + raw)
                    else:
                        router.send_multipart([to, b"", raw])
                ev = dict(poller.poll(20))
                for s, via in ((pull, "pull"), (router, "router")):
                    if s not in ev:
                        continue
                    parts = s.recv_multipart()
                    raw = parts[0] if via == "pull" else parts[-1]
                    try:
                        pkt = zhttp_loads(raw)
                    except Exception as e:
                        self.errors.append("bad packet %r: %s" % (raw[:80], e))
                        continue
                    self.packets.append((via, pkt))
                    if via == "pull" and isinstance(pkt.get("id"), bytes):
                        self.firsts[pkt["id"]] = pkt
                    self.on_packet(self, pkt, via)
        finally:
            for s in (pull, router, pub):
                s.close()

    def reply(self, req, fields, via_pub=None, seq=None, raw=None):
        """Send a response packet for request req (its from and id). via_pub None: the
        ROUTER when the request asked for router-resp (Pushpin 2), else the PUB socket."""
        rid = req["id"]
        if via_pub is None:
            first = self.firsts.get(rid, req)
            via_pub = not first.get("router-resp")
        if raw is not None:
            data = raw
        else:
            if seq is None:
                seq = self.seq.get(rid, 0)
                self.seq[rid] = seq + 1
            out = {b"from": self.ident, b"id": rid, b"seq": seq}
            out.update(fields)
            data = b"T" + tnet_dumps(out)
        with self.lock:
            self.outq.append((via_pub, req["from"], data))

    def wait_packet(self, pred, timeout=5.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for via, p in list(self.packets):
                if pred(p):
                    return p
            time.sleep(0.02)
        raise AssertionError("no matching packet; got %r" % [p for _, p in self.packets][-10:])

    def stop(self):
        self.stop_ev.set()
        self.t.join(5)
        assert not self.errors, self.errors
