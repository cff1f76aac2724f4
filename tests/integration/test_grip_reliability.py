"""Issue 3: sequencing, dedup, Grip-Last retries, next links, filters, subscription limits."""

import time

from backend import Resp
from conftest import SHARED_HOST_TEST
from griputil import hold, open_stream, pub_stream, read_stream_until, settle
from helpers import Conn

TR = SHARED_HOST_TEST


def _test_stream(p, chan, host=TR):
    c, r = open_stream(p, "/stream?channel=" + chan, host=host)
    assert r.status == 200
    assert c.read_chunk() == b"[stream opened]\n"
    settle()
    return c


def _nothing_within(c, secs):
    c.settimeout(secs)
    try:
        d = c.read_chunk()
    except OSError:
        return True
    raise AssertionError("unexpected data %r" % d)


def test_prev_id_out_of_order_held_until_predecessor(proxy, chan):
    c = _test_stream(proxy, chan)
    with c:
        pub_stream(proxy, chan, "m1\n", id="1")
        assert c.read_chunk() == b"m1\n"
        pub_stream(proxy, chan, "m3\n", id="3", **{"prev-id": "2"})
        assert _nothing_within(c, 0.6)
        c.settimeout(5)
        pub_stream(proxy, chan, "m2\n", id="2", **{"prev-id": "1"})
        assert read_stream_until(c, b"m3\n") == b"m2\nm3\n"


def test_prev_id_gap_released_after_message_wait(make_proxy, chan):
    p = make_proxy(routes="* test\n", config={"handler": {"message_wait": "1000"}})
    c = _test_stream(p, chan, host="example.com")
    with c:
        pub_stream(p, chan, "m1\n", id="1")
        assert c.read_chunk() == b"m1\n"
        t0 = time.monotonic()
        pub_stream(p, chan, "m3\n", id="3", **{"prev-id": "2"})
        assert read_stream_until(c, b"m3\n", timeout=5) == b"m3\n"
        el = time.monotonic() - t0
        assert 0.8 <= el <= 3.5, el


def test_no_seq_bypasses_sequencing(proxy, chan):
    c = _test_stream(proxy, chan)
    with c:
        pub_stream(proxy, chan, "m1\n", id="1")
        assert c.read_chunk() == b"m1\n"
        pub_stream(proxy, chan, "free\n", id="9", **{"prev-id": "8", "no-seq": True})
        assert read_stream_until(c, b"free\n", timeout=2) == b"free\n"


def test_id_dedup(make_proxy, chan):
    p = make_proxy(routes="* test\n", config={"handler": {"id_cache_ttl": "60"}})
    c = _test_stream(p, chan, host="example.com")
    with c:
        pub_stream(p, chan, "one\n", id="a")
        pub_stream(p, chan, "one again\n", id="a")
        pub_stream(p, chan, "two\n", id="b")
        assert read_stream_until(c, b"two\n") == b"one\ntwo\n"


def test_channel_prev_id_mismatch_retries_with_grip_last(proxy, backend, chan):
    # make the proxy know the channel's last id: a subscriber plus a sequenced publish
    s = _test_stream(proxy, chan)
    with s:
        pub_stream(proxy, chan, "seq\n", id="7")
        assert s.read_chunk() == b"seq\n"
        backend.on("/rel", hold("response", ["%s; prev-id=5" % chan], b"t\n", extra=[("Grip-Timeout", "20")]),
                   Resp(200, [("Content-Type", "text/plain")], b"caught up\n"))
        with Conn(proxy.port, timeout=8) as c:
            c.request("GET", "/rel")
            r = c.read_response()
        assert r.body == b"caught up\n"
        reqs = backend.reqs("/rel")
        assert len(reqs) >= 2
        assert reqs[0].header("Grip-Last") is None
        last = reqs[1].header_all("Grip-Last")
        assert last == ["%s; last-id=5" % chan]


def test_next_link_fetched_and_appended(proxy, backend):
    backend.on("/nl", Resp(200, [("Content-Type", "text/plain"), ("Grip-Link", "</nl2?x=1>; rel=next")], b"part1\n"))
    backend.on("/nl2", Resp(200, [("Content-Type", "text/plain"), ("Grip-Link", "</nl3>; rel=next")], b"part2\n"))
    backend.on("/nl3", Resp(200, [("Content-Type", "text/plain")], b"part3\n"))
    with proxy.conn(timeout=8) as c:
        c.request("GET", "/nl")
        r = c.read_response()
    assert r.status == 200
    assert r.complete
    assert r.body == b"part1\npart2\npart3\n"
    assert backend.reqs("/nl2")[0].target == "/nl2?x=1"
    assert backend.reqs("/nl2")[0].header("Grip-Sig")


def test_stream_hint_fetches_next_link(proxy, backend, chan):
    backend.on("/sh", hold("stream", [chan], b"start\n", extra=[("Grip-Link", "</sh-next>; rel=next")]))
    backend.on("/sh-next", hold("stream", [chan], b"refetched\n"))
    c, r = open_stream(proxy, "/sh")
    with c:
        assert read_stream_until(c, b"start\n")
        settle()
        proxy.publish({"channel": chan, "formats": {"http-stream": {"action": "hint"}}})
        assert read_stream_until(c, b"refetched\n")
    assert backend.reqs("/sh-next")


# ---- filters ----

def _filtered_stream(proxy, backend, path, channels, meta=None):
    extra = []
    if meta:
        extra.append(("Grip-Set-Meta", meta))
    backend.on(path, hold("stream", channels, b"", extra=extra))
    c, r = open_stream(proxy, path)
    assert r.status == 200
    settle()
    return c


def test_filter_skip_self(proxy, backend, chan):
    c = _filtered_stream(proxy, backend, "/fs", ["%s; filter=skip-self" % chan], "user=a")
    with c:
        pub_stream(proxy, chan, "mine\n", meta={"sender": "a"})
        pub_stream(proxy, chan, "theirs\n", meta={"sender": "b"})
        assert read_stream_until(c, b"theirs\n") == b"theirs\n"


def test_filter_skip_users(proxy, backend, chan):
    c = _filtered_stream(proxy, backend, "/fu", ["%s; filter=skip-users" % chan], "user=a")
    with c:
        pub_stream(proxy, chan, "skipped\n", meta={"skip_users": "c,a"})
        pub_stream(proxy, chan, "kept\n", meta={"skip_users": "b"})
        assert read_stream_until(c, b"kept\n") == b"kept\n"


def test_filter_require_sub(proxy, backend, chan):
    other = chan + "-o"
    c = _filtered_stream(proxy, backend, "/fr", ["%s; filter=require-sub" % chan, other])
    with c:
        pub_stream(proxy, chan, "needs x\n", meta={"require_sub": chan + "-x"})
        pub_stream(proxy, chan, "has other\n", meta={"require_sub": other})
        assert read_stream_until(c, b"has other\n") == b"has other\n"


def test_filter_var_subst(proxy, backend, chan):
    c = _filtered_stream(proxy, backend, "/fv", ["%s; filter=var-subst" % chan], "name=Bob")
    with c:
        pub_stream(proxy, chan, "hi %(name)s 100%%\n")
        assert read_stream_until(c, b"\n") == b"hi Bob 100%\n"


def test_filter_build_id(proxy, backend, chan):
    backend.on("/fb-next", Resp(200, [("Content-Type", "text/plain")], b""))
    backend.on("/fb", hold("stream", ["%s; prev-id=p0; filter=build-id" % chan], b"",
                           extra=[("Grip-Set-Meta", "id_format=%%(%s)s" % chan),
                                  ("Grip-Link", "</fb-next>; rel=next")]))
    c, r = open_stream(proxy, "/fb")
    with c:
        assert r.status == 200
        settle()
        proxy.publish({"channel": chan, "id": "p1", "prev-id": "p0",
                       "formats": {"http-stream": {"content": "id=%I\n"}}})
        got = read_stream_until(c, b"\n")
        assert got == b"id=p1\n"  # rendered with the delivered item's id (as Pushpin 1.36)


def test_unknown_filter_ignored(proxy, backend, chan):
    c = _filtered_stream(proxy, backend, "/fx", ["%s; filter=no-such-filter" % chan])
    with c:
        pub_stream(proxy, chan, "through\n")
        assert read_stream_until(c, b"through\n") == b"through\n"


def test_connection_subscription_max(make_proxy, backend, chan):
    p = make_proxy(config={"handler": {"connection_subscription_max": "2"}})
    chans = ["%s-%d" % (chan, i) for i in range(3)]
    backend.on("/csm", hold("stream", [", ".join(chans)], b""))
    c, r = open_stream(p, "/csm")
    with c:
        assert r.status == 200
        settle()
        pub_stream(p, chans[2], "third\n")
        pub_stream(p, chans[0], "first\n")
        assert read_stream_until(c, b"first\n") == b"first\n"
