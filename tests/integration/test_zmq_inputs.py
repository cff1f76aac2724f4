"""Issue 7: publishing over ZeroMQ (PULL, SUB bound and connected), SUB subscriptions that
follow the channels held here (seen by an XPUB), the command socket, and hostile input on
every socket. Real ZeroMQ peers (pyzmq); run against thumbtack or TT_AGAINST=pushpin."""

import json
import time

import pytest
import zmq

from conftest import IS_PUSHPIN, SHARED_HOST_TEST
from griputil import open_stream, read_stream_until, settle
from helpers import free_port, wait_for
from zmqutil import (Commander, bytes_tree, push, sock, sub_events, tnet_dumps, tnet_loads,
                     wait_sub_event, xpub_connected)

TR = SHARED_HOST_TEST


def stream_item(channel, content, **extra):
    it = {"channel": channel, "formats": {"http-stream": {"content": content}}}
    it.update(extra)
    return it


def hold_stream(proxy, chan):
    c, r = open_stream(proxy, "/stream?channel=" + chan, host=TR)
    assert r.status == 200
    assert c.read_chunk() == b"[stream opened]\n"
    return c


def live_stream(proxy, chan, send_probe, timeout=8.0):
    """Hold a stream and probe with send_probe() until a probe arrives (the subscription
    is then active end to end)."""
    c = hold_stream(proxy, chan)
    end = time.monotonic() + timeout
    c.settimeout(0.3)
    while time.monotonic() < end:
        send_probe()
        try:
            got = c.read_chunk()
        except OSError:
            continue
        assert got == b"probe\n", got
        # drain probes still in flight
        c.settimeout(0.3)
        try:
            while c.read_chunk() == b"probe\n":
                pass
        except OSError:
            pass
        c.settimeout(5)
        return c
    raise AssertionError("stream on %s never became live" % chan)


# ---- PULL ----

def test_push_every_encoding(proxy, chan):
    p = push(proxy)
    try:
        c = live_stream(proxy, chan, lambda: p.send(b"J" + json.dumps(stream_item(chan, "probe\n")).encode()))
        p.send(b"J" + json.dumps(stream_item(chan, "json\n")).encode())
        p.send(b"T" + tnet_dumps(bytes_tree(stream_item(chan, "tnet-T\n"))))
        p.send(tnet_dumps(bytes_tree(stream_item(chan, "tnet-plain\n"))))
        # Format keys directly in the item, and raw binary content from a tnetstring.
        p.send(tnet_dumps({"channel": chan.encode(), "http-stream": {"content": b"\x00\xffbin\n"}}))
        out = read_stream_until(c, b"bin\n")
        assert out == b"json\ntnet-T\ntnet-plain\n\x00\xffbin\n"
        c.close()
    finally:
        p.close()


def test_push_response_hold(proxy, chan):
    """A long-poll answered by an http-response published over PULL (tnetstring)."""
    p = push(proxy)
    try:
        c = proxy.conn(timeout=10)
        c.request("GET", "/response?channel=" + chan, host=TR)
        settle()
        time.sleep(0.3)
        item = {"channel": chan, "formats": {"http-response": {
            "code": 201, "headers": [["X-Zmq", "yes"]], "body": "from zmq\n"}}}
        p.send(b"T" + tnet_dumps(bytes_tree(item)))
        r = c.read_response()
        assert r.status == 201
        assert r.header("X-Zmq") == "yes"
        assert r.body == b"from zmq\n"
        c.close()
    finally:
        p.close()


# ---- SUB (bound) and subscriptions seen by an XPUB ----

def test_sub_bound_follows_subscribers(make_proxy, chan):
    px = make_proxy(routes="* test\n", config={"handler": {"subscription_linger": "1"}})
    x = xpub_connected(px)
    try:
        time.sleep(0.2)
        assert sub_events(x, 0.3) == []  # nobody subscribed yet
        c1 = hold_stream(px, chan)
        wait_sub_event(x, chan, True)
        # A second subscriber on the same channel: no new subscription upstream.
        c2 = hold_stream(px, chan)
        settle()
        assert (b"\x01" + chan.encode()) not in sub_events(x, 0.5)
        # Items published on the topic reach both; an item "channel" is ignored.
        x.send_multipart([chan.encode(), b"J" + json.dumps(
            {"channel": "other", "formats": {"http-stream": {"content": "via sub\n"}}}).encode()])
        x.send_multipart([chan.encode(), tnet_dumps({"http-stream": {"content": b"tnet sub\n"}})])
        for c in (c1, c2):
            assert read_stream_until(c, b"tnet sub\n") == b"via sub\ntnet sub\n"
        # Other channels are not subscribed: nothing arrives for them.
        c1.close()
        time.sleep(0.3)
        assert (b"\x00" + chan.encode()) not in sub_events(x, 0.2)  # c2 still holds it
        c2.close()
        wait_sub_event(x, chan, False, timeout=6)
    finally:
        x.close()


def test_sub_linger_for_long_polls(make_proxy, chan):
    """Response holds keep the SUB topic subscription_linger seconds after they end, so a
    client that polls again in time keeps it without a new subscribe."""
    px = make_proxy(routes="* test\n", config={"handler": {"subscription_linger": "3"}})
    x = xpub_connected(px)
    try:
        time.sleep(0.2)
        c = px.conn(timeout=10)
        c.request("GET", "/response?channel=" + chan, host=TR)
        wait_sub_event(x, chan, True)
        settle()
        x.send_multipart([chan.encode(), tnet_dumps({"http-response": {"body": b"one\n"}})])
        r = c.read_response()
        assert r.body == b"one\n"
        c.close()
        # Poll again within the linger: the topic stays, no unsubscribe / resubscribe.
        time.sleep(1.0)
        c = px.conn(timeout=10)
        c.request("GET", "/response?channel=" + chan, host=TR)
        evs = sub_events(x, 1.0)
        assert evs == [], evs
        x.send_multipart([chan.encode(), tnet_dumps({"http-response": {"body": b"two\n"}})])
        assert c.read_response().body == b"two\n"
        t_left = time.monotonic()
        c.close()
        seen = wait_sub_event(x, chan, False, timeout=8)
        assert seen == [b"\x00" + chan.encode()]
        assert time.monotonic() - t_left >= 1.5, "unsubscribed before the linger"
    finally:
        x.close()


def test_sub_connect_mode(make_proxy, chan):
    """push_in_sub_connect: the instance connects to the publisher's XPUB."""
    port = free_port()
    x = sock(zmq.XPUB)
    x.setsockopt(zmq.XPUB_VERBOSE, 1)
    x.bind("tcp://127.0.0.1:%d" % port)
    try:
        px = make_proxy(routes="* test\n", config={"handler": {
            "push_in_sub_specs": "tcp://127.0.0.1:%d" % port, "push_in_sub_connect": "true",
            "subscription_linger": "1"}})
        c = hold_stream(px, chan)
        wait_sub_event(x, chan, True, timeout=8)
        settle()
        x.send_multipart([chan.encode(), b"J" + json.dumps(
            {"http-stream": {"content": "connected\n"}}).encode()])
        assert read_stream_until(c, b"connected\n") == b"connected\n"
        # get-zmq-uris reports no publish-sub in connect mode.
        cmd = Commander(px)
        v = cmd.call("get-zmq-uris")["value"]
        cmd.close()
        assert "publish-sub" not in v
        assert v["publish-pull"] == px.zmq_spec(px.push_port).encode()
        c.close()
        wait_sub_event(x, chan, False, timeout=6)
    finally:
        x.close()


# ---- commands ----

def test_commands(proxy, chan):
    cmd = Commander(proxy)
    try:
        r = cmd.call("get-zmq-uris")
        assert r["success"] is True
        assert r["value"] == {"command": proxy.zmq_spec(proxy.cmd_port).encode(),
                              "publish-pull": proxy.zmq_spec(proxy.push_port).encode(),
                              "publish-sub": proxy.zmq_spec(proxy.sub_port).encode()}
        r = cmd.call("recover")
        assert r["success"] is True and r["value"] is None
        # A request without id gets an answer without id.
        r = cmd.call("recover", with_id=False)
        assert r == {"success": True, "value": None}
        r = cmd.call("conncheck", {"ids": ["nobody:1", "nobody:2"]})
        assert r["success"] is True and r["value"] == []
        assert cmd.call("conncheck", {})["condition"] == b"bad-request"
        assert cmd.call("conncheck", {"ids": "x"})["condition"] == b"bad-request"
        assert cmd.call("conncheck", {"ids": [1]})["condition"] == b"bad-request"
        r = cmd.call("refresh", {"cid": "no-such-connection"})
        assert r["success"] is False and r["condition"] == b"item-not-found"
        r = cmd.call("refresh", {"channel": chan})
        assert r["success"] is True and r["value"] is None
        assert cmd.call("refresh", {})["condition"] == b"bad-request"
        assert cmd.call("refresh", {"cid": 5})["condition"] == b"bad-request"
        r = cmd.call("no-such-method")
        assert r["success"] is False and r["condition"] == b"method-not-found"
        assert "value" not in r
        # publish: answered, then delivered.
        c = live_stream(proxy, chan, lambda: cmd.call("publish", {"items": [stream_item(chan, "probe\n")]}))
        r = cmd.call("publish", {"items": [stream_item(chan, "cmd one\n"), stream_item(chan, "cmd two\n")]})
        assert r["success"] is True and r["value"] is None
        assert read_stream_until(c, b"cmd two\n") == b"cmd one\ncmd two\n"
        c.close()
        r = cmd.call("publish", {"items": [{"channel": chan}]})
        assert r["success"] is False and r["condition"] == b"bad-request"
        assert r["value"] == b"Invalid format: no formats specified"
        r = cmd.call("publish", {})
        assert r["value"] == b"Invalid format: object does not contain 'items'"
        r = cmd.call("publish", {"items": "x"})
        assert r["value"] == b"Invalid format: object contains 'items' with wrong type"
        r = cmd.call("publish", {"items": [{"formats": {"http-stream": {"content": "x"}}}]})
        assert r["value"] == b"Invalid format: publish item object does not contain 'channel'"
        r = cmd.call("publish", {"items": []})
        assert r["success"] is True
    finally:
        cmd.close()


# ---- hostile input ----

def _assert_still_publishes(proxy, chan, p):
    c = live_stream(proxy, chan, lambda: p.send(tnet_dumps(bytes_tree(stream_item(chan, "probe\n")))))
    p.send(b"J" + json.dumps(stream_item(chan, "still fine\n")).encode())
    assert read_stream_until(c, b"still fine\n") == b"still fine\n"
    c.close()
    cmd = Commander(proxy)
    assert cmd.call("recover")["success"] is True
    cmd.close()


def _dealer(proxy):
    d = sock(zmq.DEALER)
    d.connect(proxy.zmq_spec(proxy.cmd_port))
    return d


def _no_answer(d, wait=0.5):
    return not d.poll(int(wait * 1000))


def test_hostile_inputs(make_proxy, chan):
    """Malformed publishes and commands that Pushpin 1.36 also survives: skipped (commands
    unanswered, as Pushpin), and the instance keeps publishing."""
    px = make_proxy(routes="* test\n", config={"handler": {"subscription_linger": "1"}})
    p = push(px)
    x = xpub_connected(px)
    d = _dealer(px)
    try:
        bad_pull = [
            b"", b"J", b"J{not json", b"J[1,2]", b"J5", b"garbage", b"0:]", b"5:hello,",
            b"0:}", b"999999999999999:x,",
            tnet_dumps({"channel": 5, "formats": {"http-stream": {"content": b"x"}}}),
            tnet_dumps({"channel": b"c", "formats": b"x"}),
            tnet_dumps({"channel": b"c", "http-stream": {"content": 5}}),
            tnet_dumps({"channel": b"c", "http-response": {"body-bin": b"aGk="}}),
            b"J" + json.dumps({"channel": "c", "formats": {"ws-message": {"type": "nope",
                                                                          "content": "x"}}}).encode(),
        ]
        for m in bad_pull:
            p.send(m)
        p.send_multipart([b"two", b"parts"])
        # SUB: hostile messages on a subscribed topic.
        c = hold_stream(px, chan)
        wait_sub_event(x, chan, True)
        settle()
        t = chan.encode()
        x.send(t)  # one part
        x.send_multipart([t, b"J{}", b"extra"])
        x.send_multipart([t, b"J{bad"])
        x.send_multipart([t, b"J[1]"])
        x.send_multipart([t, tnet_dumps({"http-stream": {"content": [1]}})])
        x.send_multipart([t, b""])
        x.send_multipart([t, tnet_dumps({"http-stream": {"content": b"sub ok\n"}})])
        assert read_stream_until(c, b"sub ok\n") == b"sub ok\n"
        c.close()
        # Commands: skipped without an answer, or answered with an error.
        for m in ([b"", b"garbage"], [b"", b"0:]"], [b"", tnet_dumps({"method": 5})],
                  [b"", tnet_dumps({"method": b"publish", "args": [1]})],
                  [b"", b"a", b"b"], [b""], [b"", b""]):
            d.send_multipart(m)
            assert _no_answer(d), m
        d.send_multipart([b"", tnet_dumps({"id": b"u", "method": b"bogus"})])
        assert d.poll(5000)
        env, body = d.recv_multipart()
        assert env == b""
        assert tnet_loads(body) == {"id": b"u", "success": False, "condition": b"method-not-found"}
        _assert_still_publishes(px, chan + "-after", p)
    finally:
        p.close()
        x.close()
        d.close()
    assert px.proc.poll() is None


@pytest.mark.thumbtack_only
def test_hostile_truncated_and_huge(make_proxy, chan):
    """Truncated tnetstrings and lengths past the data (Pushpin 1.36 reads past the end of
    the message and may die): counted, logged, skipped."""
    px = make_proxy(routes="* test\n", config={"handler": {"subscription_linger": "1"}})
    p = push(px)
    x = xpub_connected(px)
    d = _dealer(px)
    try:
        item = tnet_dumps(bytes_tree(stream_item(chan, "x\n")))
        for m in (b"T", b"T20:4:from,", item[:-1], item[:10], b"99999999:x", b"T16777217:",
                  b"7:5:hello]", b"4:1:0#}", b"7:4:name,}", b"3:abc#", b"1:x~", b"5:hello;"):
            p.send(m)
        c = hold_stream(px, chan)
        wait_sub_event(x, chan, True)
        settle()
        x.send_multipart([chan.encode(), item[:-3]])
        x.send_multipart([chan.encode(), b"T99999999:"])
        x.send_multipart([chan.encode(), b"x" * 100000])
        for m in ([b"", item[:-1]], [b"", b"99999999:"], [b"", b"T"]):
            d.send_multipart(m)
            assert _no_answer(d, 0.2)
        # Too many parts.
        p.send_multipart([b"p"] * 20)
        x.send_multipart([chan.encode()] * 20)
        x.send_multipart([chan.encode(), tnet_dumps({"http-stream": {"content": b"survived\n"}})])
        assert read_stream_until(c, b"survived\n") == b"survived\n"
        c.close()
        _assert_still_publishes(px, chan + "-after", p)
    finally:
        p.close()
        x.close()
        d.close()
    assert px.proc.poll() is None
    log = px.log()
    assert "IN pull: received message with invalid format (tnetstring parse failed: truncated input" in log
    assert "IN sub: received message with invalid format (tnetstring parse failed" in log
    assert "zrpc server: received message with invalid format" in log


@pytest.mark.thumbtack_only
def test_bind_failure_is_reported(make_proxy):
    """A publish input that cannot bind stops start-up with a line naming the key."""
    blocker = sock(zmq.PULL)
    port = free_port()
    blocker.bind("tcp://127.0.0.1:%d" % port)
    try:
        px = make_proxy(routes="* test\n", config={"handler": {"push_in_spec": "tcp://127.0.0.1:%d" % port}},
                        start=False)
        px.start(wait=False)
        assert wait_for(lambda: px.proc.poll() is not None, 10)
        assert px.proc.returncode != 0
        assert ("push_in_spec: unable to bind to tcp://127.0.0.1:%d" % port) in px.log()
    finally:
        blocker.close()


@pytest.mark.thumbtack_only
def test_disabled_and_port_offset(make_proxy, chan):
    """An empty spec turns a socket off; port_offset moves tcp:// specs."""
    base = free_port()
    off = 7
    px = make_proxy(routes="* test\n", config={"global": {"port_offset": str(off)},
                            "runner": {},
                            "handler": {"push_in_spec": "tcp://127.0.0.1:%d" % (base - off),
                                        "push_in_sub_specs": "", "command_spec": ""}},
                    start=False)
    # The publish API port moves too; keep the fixture's idea of it right.
    px.extra_config["handler"]["push_in_http_port"] = str(px.pub_port - off)
    px.write_config()
    px.start()
    px.push_port = base
    p = push(px)
    try:
        c = live_stream(px, chan, lambda: p.send(tnet_dumps(bytes_tree(stream_item(chan, "probe\n")))))
        p.send(tnet_dumps(bytes_tree(stream_item(chan, "offset ok\n"))))
        assert read_stream_until(c, b"offset ok\n") == b"offset ok\n"
        c.close()
    finally:
        p.close()
    log = px.log()
    assert "zmq: publish PULL on tcp://127.0.0.1:%d" % base in log
    assert "command socket" not in log and "publish SUB" not in log


def test_ipc_spec_with_vars(make_proxy, chan):
    """ipc:// specs with {rundir} and {ipc_prefix}, as Pushpin's internal ones are written."""
    px = make_proxy(routes="* test\n", config={
        "global": {"ipc_prefix": "zt-"},
        "handler": {"push_in_spec": "ipc://{rundir}/{ipc_prefix}push-in"}})
    p = sock(zmq.PUSH)
    p.connect("ipc://%s/zt-push-in" % px.rundir)
    try:
        c = live_stream(px, chan, lambda: p.send(tnet_dumps(bytes_tree(stream_item(chan, "probe\n")))))
        p.send(b"T" + tnet_dumps(bytes_tree(stream_item(chan, "over ipc\n"))))
        assert read_stream_until(c, b"over ipc\n") == b"over ipc\n"
        c.close()
    finally:
        p.close()
