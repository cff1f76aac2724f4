"""Issue 3: broadcast to many subscribers; a stalled subscriber never delays the others."""

import json
import threading
import time

import requests

from conftest import SHARED_HOST_TEST
from griputil import open_stream, settle
from helpers import Conn

TR = SHARED_HOST_TEST


def _publish_batch(proxy, chan, contents):
    items = [{"channel": chan, "formats": {"http-stream": {"content": c}}} for c in contents]
    r = requests.post(proxy.pub_url(), data=json.dumps({"items": items}), timeout=10)
    assert r.status_code == 200, r.text


def _dechunk_all(data):
    """Decode a (possibly incomplete) chunked byte string; returns payload bytes."""
    out = bytearray()
    i = 0
    while True:
        j = data.find(b"\r\n", i)
        if j < 0:
            break
        size = int(data[i:j].split(b";")[0], 16)
        if size == 0 or j + 2 + size + 2 > len(data):
            break
        out += data[j + 2: j + 2 + size]
        i = j + 2 + size + 2
    return bytes(out)


def test_broadcast_200_stream_subscribers(proxy, chan):
    n = 200
    conns = []
    try:
        for i in range(n):
            c = Conn(proxy.port, timeout=10)
            c.request("GET", "/stream?channel=" + chan, host=TR)
            conns.append(c)
        for c in conns:
            r = c.read_head()
            assert r.status == 200
            assert c.read_chunk() == b"[stream opened]\n"
        settle()
        msgs = ["msg-%d\n" % i for i in range(3)]
        for m in msgs:
            _publish_batch(proxy, chan, [m])
        want = "".join(msgs).encode()
        t0 = time.monotonic()
        for c in conns:
            got = b""
            while len(got) < len(want):
                got += c.read_chunk()
            assert got == want
        assert time.monotonic() - t0 < 10
    finally:
        for c in conns:
            c.close()


def test_stalled_subscriber_does_not_delay_others(proxy, chan):
    # the stalled client: tiny receive buffer, never reads
    stalled = Conn(proxy.port, timeout=5, rcvbuf=4096)
    stalled.request("GET", "/stream?channel=" + chan, host=TR)
    healthy = Conn(proxy.port, timeout=5)
    healthy.request("GET", "/stream?channel=" + chan, host=TR)
    try:
        assert healthy.read_head().status == 200
        assert healthy.read_chunk() == b"[stream opened]\n"
        settle()
        payload = "x" * 10000
        total = 400  # 4 MB towards a client that reads nothing
        received = bytearray()
        done = threading.Event()

        def reader():
            healthy.settimeout(15)
            try:
                while True:
                    d = healthy.read_chunk()
                    if not d:
                        break
                    received.extend(d)
                    if len(received) >= total * (len(payload) + 1):
                        break
            except OSError:
                pass
            done.set()
        t = threading.Thread(target=reader, daemon=True)
        t.start()
        t0 = time.monotonic()
        for b in range(total // 20):
            _publish_batch(proxy, chan, ["%s\n" % payload] * 20)
        assert done.wait(15), "healthy subscriber got %d of %d bytes" % (len(received), total * (len(payload) + 1))
        el = time.monotonic() - t0
        assert len(received) == total * (len(payload) + 1)
        assert el < 10, el
        # and the proxy still serves fresh subscribers promptly
        c, r = open_stream(proxy, "/stream?channel=" + chan, host=TR)
        with c:
            assert r.status == 200
    finally:
        stalled.close()
        healthy.close()
