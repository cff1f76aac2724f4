"""Issue 3: broadcast to many subscribers; a stalled subscriber never delays the others."""

import json
import threading
import time

import requests

from conftest import IS_PUSHPIN, SHARED_HOST_TEST
from griputil import open_stream, settle
from helpers import Conn

TR = SHARED_HOST_TEST


def _publish_batch(proxy, chan, contents):
    items = [{"channel": chan, "formats": {"http-stream": {"content": c}}} for c in contents]
    r = requests.post(proxy.pub_url(), data=json.dumps({"items": items}), timeout=10)
    assert r.status_code == 200, r.text


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
        # wait until every subscription is live: probe until each connection saw one
        pending = list(conns)
        end = time.monotonic() + 10
        while pending and time.monotonic() < end:
            _publish_batch(proxy, chan, ["p\n"])
            still = []
            for c in pending:
                c.settimeout(0.05 if len(pending) > 1 else 0.3)
                try:
                    assert c.read_chunk() == b"p\n"
                except OSError:
                    still.append(c)
            pending = still
        assert not pending, "%d subscribers never became live" % len(pending)
        msgs = ["msg-%d\n" % i for i in range(3)]
        for m in msgs:
            _publish_batch(proxy, chan, [m])
        t0 = time.monotonic()
        for c in conns:
            c.settimeout(10)
            got = []
            while len(got) < len(msgs):
                d = c.read_chunk()
                if d != b"p\n":
                    got.append(d)
            assert got == [m.encode() for m in msgs]
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
        if not IS_PUSHPIN:
            # the drops for the stalled one are counted and reported
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and "dropped for slow subscribers" not in proxy.log():
                time.sleep(0.1)
            assert "dropped for slow subscribers" in proxy.log()
    finally:
        stalled.close()
        healthy.close()
