"""Issue 9: an idle held HTTP/2 stream in compact form. Once a stream hold's head is out and
its request is over, its client and request are replaced by a small record that writes
straight into the stream (README "HTTP/2"; the debug line "HTTP/2 stream N of cM held in
compact form" says when). These tests check that everything a held stream does still works
after that: published messages and SSE, keep-alives, close by publish, the client's reset,
the connection's close, flow control, SIGTERM, the access line with its bytes and time,
the stats socket's connections and subscriptions, conncheck."""

import re
import signal
import threading
import time

import pytest

from griputil import hold, pub_stream, settle
from h2util import (DATA, END_STREAM, HEADERS, RST_STREAM, H2Client, RawConn,
                    request_fields)
from helpers import wait_for
from test_stats import TR, Commander, StatsReader, stats_proxy, subscribed

pytestmark = pytest.mark.thumbtack_only  # Pushpin has no HTTP/2


def compacted(p):
    """{stream id: client id} of the streams held in compact form, from the debug log."""
    return {int(sid): cid for cid, sid in
            re.findall(r"c(\d+): HTTP/2 stream (\d+) of c\d+ held in compact form", p.log())}


def wait_compacted(p, ids, timeout=5):
    assert wait_for(lambda: set(ids) <= set(compacted(p)), timeout), \
        "not compact: %r" % sorted(set(ids) - set(compacted(p)))
    return compacted(p)


def access_line(p, cid):
    """(status, bytes, time ms) of client cid's access line, or None."""
    m = re.search(r"c%s \S+ GET \S+ -> \S+ status=(\d+) bytes=(\d+) time=(\d+)ms" % cid, p.log())
    return tuple(int(x) for x in m.groups()) if m else None


def test_many_compact_streams_get_every_message_then_close(make_proxy, chan):
    """150 held streams on one connection all become compact, then each gets every
    message (plain and SSE-framed, a large one too) and the close ends each with
    END_STREAM; the connection goes on serving new streams."""
    p = make_proxy(routes="* test\n", config={"runner": {"http2_max_concurrent_streams": "256"}})
    n = 150
    with H2Client(p.port, timeout=10) as c:
        ids = [c.request("/stream?channel=" + chan) for _ in range(n)]
        assert c.wait(lambda: all(b"[stream opened]\n" in c.streams[i].data for i in ids), 10)
        wait_compacted(p, ids)
        want = b"[stream opened]\n"
        for msg in ("one\n", "event: e\ndata: two\n\n", "x" * 20000 + "\n"):
            pub_stream(p, chan, msg)
            want += msg.encode()
            assert c.wait(lambda: all(len(c.streams[i].data) >= len(want) for i in ids), 10)
        assert all(bytes(c.streams[i].data) == want for i in ids)
        p.publish({"channel": chan, "formats": {"http-stream": {"action": "close"}}})
        assert c.wait(lambda: all(c.streams[i].ended for i in ids), 10)
        assert all(c.streams[i].reset is None for i in ids)
        d = c.request("/stream?channel=" + chan)
        c.read_until(d, "[stream opened]\n")
    cids = compacted(p)
    assert all(access_line(p, cids[i]) for i in ids)


def test_access_line_bytes_and_time_after_compaction(make_proxy, chan):
    """The access line of a compact stream counts what was written before and after the
    conversion, and the time from the request's start."""
    p = make_proxy(routes="* test\n")
    other = chan + "-other"
    with H2Client(p.port) as c:
        a = c.request("/stream?channel=" + chan)
        b = c.request("/stream?channel=" + other)
        assert c.wait(lambda: all(c.streams[i].data for i in (a, b)), 5)
        cids = wait_compacted(p, [a, b])
        settle()
        pub_stream(p, chan, "y" * 100)
        c.read_until(a, "y" * 100)
        time.sleep(1)
        for ch in (chan, other):
            p.publish({"channel": ch, "formats": {"http-stream": {"action": "close"}}})
        assert c.wait(lambda: c.streams[a].ended and c.streams[b].ended, 5)
    assert wait_for(lambda: access_line(p, cids[a]) and access_line(p, cids[b]), 5)
    sa, ba, ta = access_line(p, cids[a])
    sb, bb, tb = access_line(p, cids[b])
    assert sa == sb == 200
    assert ba - bb == len(b"64\r\n") + 100 + 2  # the one message, chunk-framed
    assert ta >= 1000 and tb >= 1000


def test_keepalives_after_compaction_and_next_link_streams_stay_whole(make_proxy, backend,
                                                                      chan):
    """An SSE stream's keep-alives (Grip-Keep-Alive) go on from the compact record; a
    stream with a next link keeps its client (its links need the request) and works as
    before."""
    p = make_proxy(routes="* %s\n" % backend.addr)
    backend.on("/sse", hold("stream", [chan], b":opened\n\n", ctype="text/event-stream",
                            extra=[("Grip-Keep-Alive", ":ka\\n\\n; format=cstring; timeout=1")]))
    backend.on("/linked", hold("stream", [chan], b"start\n",
                               extra=[("Grip-Link", "</linked-next>; rel=next")]))
    backend.on("/linked-next", hold("stream", [chan], b"next\n"))
    with H2Client(p.port, timeout=10) as c:
        s = c.request("/sse")
        ln = c.request("/linked")
        c.read_until(s, ":opened\n\n")
        c.read_until(ln, "start\n")
        wait_compacted(p, [s])
        seen = len(c.streams[s].data)
        assert c.wait(lambda: c.streams[s].data.count(b":ka\n\n") >= 2, 6)
        assert len(c.streams[s].data) > seen
        settle()
        pub_stream(p, chan, "data: hi\n\n")
        c.read_until(s, "data: hi\n\n")
        c.read_until(ln, "data: hi\n\n")
        p.publish({"channel": chan, "formats": {"http-stream": {"action": "hint"}}})
        c.read_until(ln, "next\n")
        assert ln not in compacted(p)
        assert c.streams[s].reset is None and not c.streams[s].ended


def test_client_reset_of_compact_stream_then_publish(make_proxy, chan):
    """The client resets one compact stream: its hold goes (access line written), a
    publish reaches the others, the connection serves on."""
    p = make_proxy(routes="* test\n")
    with H2Client(p.port) as c:
        ids = [c.request("/stream?channel=" + chan) for _ in range(3)]
        assert c.wait(lambda: all(c.streams[i].data for i in ids), 5)
        cids = wait_compacted(p, ids)
        c.reset(ids[1])
        assert wait_for(lambda: access_line(p, cids[ids[1]]), 5)
        pub_stream(p, chan, "after reset\n")
        for i in (ids[0], ids[2]):
            c.read_until(i, "after reset\n")
        c.pump(0.3)
        assert b"after reset" not in c.streams[ids[1]].data
        d = c.request("/stream?channel=" + chan)
        c.read_until(d, "[stream opened]\n")


def test_reset_while_backlog_and_blocked_stream_catches_up(make_proxy, chan):
    """A compact stream whose window is used up keeps its backlog in its own queue while
    the others get everything; it gets it all when it reads again. Another one is reset
    by the client while messages are being delivered to it: nothing breaks."""
    p = make_proxy(routes="* test\n")
    msg = "m" * 9999 + "\n"
    with H2Client(p.port, timeout=10) as c:
        a, b, r = (c.request("/stream?channel=" + chan) for _ in range(3))
        c.slow.add(a)
        c.slow.add(r)
        assert c.wait(lambda: all(c.streams[i].data for i in (a, b, r)), 5)
        wait_compacted(p, [a, b, r])

        def publish_all():
            for _ in range(30):
                pub_stream(p, chan, msg)
        t = threading.Thread(target=publish_all)
        t.start()
        assert c.wait(lambda: c.streams[b].data.count(b"\n") >= 5, 10)
        c.reset(r)  # mid-delivery: its queue holds a backlog, more are coming
        t.join()
        assert c.wait(lambda: c.streams[b].data.count(b"\n") == 31, 10)
        got_a = len(c.streams[a].data)
        assert got_a <= 65535 + 100  # held at its window
        c.slow.discard(a)
        c.conn.acknowledge_received_data(got_a, a)
        c.flush()
        assert c.wait(lambda: c.streams[a].data.count(b"\n") == 31, 10)
        assert bytes(c.streams[a].data) == bytes(c.streams[b].data)
        pub_stream(p, chan, "still\n")
        c.read_until(a, "still\n")
        c.read_until(b, "still\n")


def test_connection_close_with_many_compact_streams_stats_and_conncheck(make_proxy, chan):
    """The stats socket sees a compact stream as the connection it was (no close event
    at the conversion), conncheck finds it; when the client drops the connection with
    200 compact streams, each closes (access line, conn closed, subscriptions gone), and
    the proxy serves on."""
    p, spec = stats_proxy(make_proxy, extra={"runner": {"http2_max_concurrent_streams": "256"}})
    rd = StatsReader(spec)
    cmd = Commander(p)
    n = 200
    try:
        subscribed(rd, p)
        c = H2Client(p.port, timeout=10)
        ids = [c.request("/stream?channel=" + chan, authority=TR) for _ in range(n)]
        assert c.wait(lambda: all(c.streams[i].data for i in ids), 10)
        cids = wait_compacted(p, ids)
        rd.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
                m.get("subscribers") == n, timeout=8)
        rd.drain(1.5)
        conn_ids = {m["id"] for k, m in rd.seen if k == "conn" and "unavailable" not in m}
        assert len(conn_ids) >= n
        assert not [m for k, m in rd.seen if k == "conn" and m.get("unavailable")]
        some = sorted(conn_ids)[:20]
        assert sorted(cmd.call("conncheck", {"ids": some})["value"]) == some
        c.sock.close()  # no GOAWAY: the connection is simply gone
        rd.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
                m.get("subscribers", 0) == 0, timeout=8)
        assert wait_for(lambda: all(access_line(p, cids[i]) for i in ids), 5)
        assert wait_for(lambda: cmd.call("conncheck", {"ids": some})["value"] == [], 5)
        rd.drain(0.5)
        gone = {m["id"] for k, m in rd.seen if k == "conn" and m.get("unavailable")}
        assert set(some) <= gone
        with H2Client(p.port) as c2:
            d = c2.request("/stream?channel=" + chan, authority=TR)
            c2.read_until(d, "[stream opened]\n")
            settle()
            pub_stream(p, chan, "to the new one\n")
            c2.read_until(d, "to the new one\n")
    finally:
        cmd.close()
        rd.close()


def test_sigterm_ends_compact_streams_cleanly(make_proxy, chan):
    """SIGTERM: every compact stream ends with its terminal DATA and END_STREAM (no
    reset), the process exits 0."""
    p = make_proxy(routes="* test\n")
    rc = RawConn(p.port, timeout=10)
    sids = list(range(1, 2 * 40, 2))
    for sid in sids:
        rc.send(rc.headers(sid, request_fields("/stream?channel=" + chan)))
    fs = []
    assert wait_for(lambda: fs.extend(rc.frames(0.3)) or
                    {sid for t, f, sid, pl in fs if t == DATA} >= set(sids), 10)
    wait_compacted(p, sids)
    p.signal(signal.SIGTERM)
    fs += rc.frames(8)
    rc.close()
    assert not [1 for t, f, sid, pl in fs if t == RST_STREAM]
    ends = {sid for t, f, sid, pl in fs if t in (DATA, HEADERS) and f & END_STREAM}
    assert ends == set(sids)
    p.proc.wait(10)
    assert p.proc.returncode == 0
