"""Issue 7: the stats socket (a SUB reading conn, sub, message, report, activity, counts in
tnetstring and JSON), the Prometheus endpoint (scraped and parsed as the text exposition
format), and conncheck/refresh over the command socket with real connections. Runs
against thumbtack or TT_AGAINST=pushpin."""

import json
import time

import pytest
import requests
import zmq
from prometheus_client.parser import text_string_to_metric_families

from conftest import IS_PUSHPIN
from griputil import open_stream, read_stream_until, settle
from helpers import Conn, wait_for
from zmqutil import Commander, free_port_run, sock, tnet_loads

TR = "stats.test"
ROUTES = "%s test\n" % TR


def stats_proxy(make_proxy, extra=None, handler=None, routes=ROUTES):
    port = free_port_run(1)
    h = {"stats_spec": "tcp://127.0.0.1:%d" % port, "stats_report_interval": "1"}
    h.update(handler or {})
    cfg = {"handler": h}
    for k, v in (extra or {}).items():
        cfg.setdefault(k, {}).update(v)
    p = make_proxy(routes, config=cfg)
    return p, "tcp://127.0.0.1:%d" % port


class StatsReader:
    """A SUB on the stats socket; messages decoded as (type, dict)."""

    def __init__(self, spec, topics=(b"",)):
        self.s = sock(zmq.SUB, timeout=5)
        for t in topics:
            self.s.setsockopt(zmq.SUBSCRIBE, t)
        self.s.connect(spec)
        self.seen = []

    def _decode(self, raw):
        at = raw.index(b" ")
        kind, body = raw[:at].decode(), raw[at + 1:]
        if body[:1] == b"T":
            return kind, tnet_loads(body[1:])
        assert body[:1] == b"J", body[:20]
        return kind, json.loads(body[1:])

    def wait(self, pred, timeout=8.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for kind, m in self.seen:
                if pred(kind, m):
                    return kind, m
            if self.s.poll(100):
                self.seen.append(self._decode(self.s.recv()))
        raise AssertionError("no matching stats message; saw %r" % self.seen[-20:])

    def drain(self, wait=0.3):
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if self.s.poll(50):
                self.seen.append(self._decode(self.s.recv()))

    def close(self):
        self.s.close()


def subscribed(reader, proxy=None, host=TR):
    """Wait until the SUB's subscription is in force at the proxy: probe with requests
    until their messages arrive (an XPUB produces nothing for a subscriber it does not
    know yet), then forget what the probes caused."""
    if proxy is None:
        time.sleep(0.4 if not IS_PUSHPIN else 1.0)
        return
    end = time.monotonic() + 10
    while time.monotonic() < end:
        proxy.http("GET", "/", host=host)
        reader.drain(0.3)
        if reader.seen:
            break
    assert reader.seen, "the stats socket never spoke"
    reader.drain(0.5)
    reader.seen = []


# ---- stats socket ----

def test_conn_activity_counts(make_proxy):
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec)
    try:
        subscribed(r, p)
        resp = p.http("GET", "/", host=TR)
        assert resp.status == 200
        _, opened = r.wait(lambda k, m: k == "conn" and m.get("type") == b"http")
        cid = opened["id"]
        assert opened["peer-address"] == b"127.0.0.1"
        assert opened["ttl"] == 120
        assert opened["from"]
        r.wait(lambda k, m: k == "conn" and m.get("id") == cid and m.get("unavailable") is True)
        _, act = r.wait(lambda k, m: k == "activity")
        assert act["count"] >= 1 and "route" not in act
        if not IS_PUSHPIN:
            _, cnt = r.wait(lambda k, m: k == "counts")
            assert cnt["requests-received"] >= 1
    finally:
        r.close()


def test_route_id_in_stats(make_proxy):
    p, spec = stats_proxy(make_proxy, routes="%s,id=myroute test\n" % TR)
    r = StatsReader(spec)
    try:
        subscribed(r, p)
        p.http("GET", "/", host=TR)
        _, c = r.wait(lambda k, m: k == "conn" and "unavailable" not in m)
        assert c["route"] == b"myroute"
        _, a = r.wait(lambda k, m: k == "activity")
        assert a["route"] == b"myroute"
    finally:
        r.close()


def test_sub_message_and_unsubscribe(make_proxy, chan):
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec)
    try:
        subscribed(r, p)
        c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
        assert resp.status == 200
        _, s = r.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
                      "unavailable" not in m)
        assert s["mode"] == b"stream"
        assert s["subscribers"] == 1
        assert s["ttl"] == 60
        settle()
        p.publish({"channel": chan, "id": "m1",
                   "formats": {"http-stream": {"content": "x\n"}}})
        _, msg = r.wait(lambda k, m: k == "message" and m.get("channel") == chan.encode())
        assert msg["count"] == 1
        assert msg["transport"] == b"http-stream"
        assert msg["item-id"] == b"m1"
        c.close()
        r.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
               m.get("unavailable") is True and m.get("mode") == b"stream")
    finally:
        r.close()


def test_sub_response_mode_lingers(make_proxy, chan):
    """A long-poll channel's subscription lingers subscription_linger seconds after its last
    long-poll was answered, then goes unavailable."""
    p, spec = stats_proxy(make_proxy, handler={"subscription_linger": "2"})
    r = StatsReader(spec)
    try:
        subscribed(r, p)
        c = Conn(p.port, timeout=10)
        c.request("GET", "/response?channel=" + chan, host=TR)
        _, s = r.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
                      "unavailable" not in m)
        assert s["mode"] == b"response" and s["subscribers"] == 1
        settle()
        p.publish({"channel": chan, "formats": {"http-response": {"body": "done\n"}}})
        assert c.read_response().body == b"done\n"
        answered = time.monotonic()
        r.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
               m.get("unavailable") is True, timeout=8)
        assert time.monotonic() - answered >= 1.0  # not at once: it lingered
        c.close()
    finally:
        r.close()


def test_sub_count_follows_subscribers(make_proxy, chan):
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec)
    conns = []
    try:
        subscribed(r, p)
        for _ in range(3):
            c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
            assert resp.status == 200
            conns.append(c)
        r.wait(lambda k, m: k == "sub" and m.get("channel") == chan.encode() and
               m.get("subscribers") == 3, timeout=8)
    finally:
        for c in conns:
            c.close()
        r.close()


def test_report(make_proxy, chan):
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec, topics=(b"report ",))
    try:
        subscribed(r)
        c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
        settle()
        p.publish({"channel": chan, "formats": {"http-stream": {"content": "x\n"}}})
        read_stream_until(c, b"x\n")
        _, rep = r.wait(lambda k, m: k == "report" and m.get("sent", 0) >= 1 and
                        m.get("received", 0) >= 1, timeout=10)
        assert rep["connections"] >= 1
        if not IS_PUSHPIN:
            # A connection counts its first minute at once (Pushpin 1.36's handler reports
            # the proxy's minutes in another report).
            assert rep["minutes"] >= 1
        assert rep["duration"] >= 0
        assert "http-response-sent" in rep
        c.close()
    finally:
        r.close()


def test_json_format(make_proxy, chan):
    p, spec = stats_proxy(make_proxy, handler={"stats_format": "json"})
    r = StatsReader(spec)
    try:
        subscribed(r, p)
        c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
        _, s = r.wait(lambda k, m: k == "sub" and m.get("channel") == chan)
        assert s["mode"] == "stream" and s["subscribers"] == 1
        c.close()
    finally:
        r.close()


@pytest.mark.thumbtack_only
def test_default_ipc_spec(make_proxy):
    """Without stats_spec the socket is ipc://{rundir}/{ipc_prefix}stats."""
    p = make_proxy(ROUTES)
    path = "%s/pushpin-stats" % p.rundir
    r = StatsReader("ipc://" + path)
    try:
        subscribed(r, p)
        p.http("GET", "/", host=TR)
        r.wait(lambda k, m: k == "conn")
    finally:
        r.close()


@pytest.mark.thumbtack_only
def test_nothing_encoded_without_subscribers(make_proxy):
    """The socket is an XPUB: types nobody asked for are not produced; a subscriber to
    "report " only gets reports."""
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec, topics=(b"report ",))
    try:
        subscribed(r)
        for _ in range(3):
            p.http("GET", "/", host=TR)
        r.wait(lambda k, m: k == "report")
        r.drain(1.2)
        assert {k for k, _ in r.seen} == {"report"}
    finally:
        r.close()


# ---- Prometheus ----

def scrape(port, path="/metrics"):
    resp = requests.get("http://127.0.0.1:%d%s" % (port, path), timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    fams = {f.name: f for f in text_string_to_metric_families(resp.text)}
    return fams, resp.text


def value(fams, name, **labels):
    fam = fams[name]
    for s in fam.samples:
        if all(s.labels.get(k) == v for k, v in labels.items()) and (
                s.name == name or s.name == name + "_total" or fam.type != "counter"):
            if s.name in (name, name + "_total"):
                return s.value
    raise KeyError((name, labels))


def test_prometheus_pushpin_metrics(make_proxy, chan):
    port = free_port_run(1)
    p = make_proxy(ROUTES, config={"handler": {"prometheus_port": "127.0.0.1:%d" % port,
                                               "prometheus_prefix": "pp_"}})
    wait_for(lambda: scrape_ok(port), timeout=5)
    for _ in range(2):
        assert p.http("GET", "/", host=TR).status == 200
    c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
    settle()
    p.publish({"channel": chan, "formats": {"http-stream": {"content": "x\n"}}})
    read_stream_until(c, b"x\n")

    def ok():
        fams, _ = scrape(port, "/anything")
        return (value(fams, "pp_request_received") >= 3 and
                value(fams, "pp_message_received") >= 1 and
                value(fams, "pp_message_sent") >= 1 and
                value(fams, "pp_connection_connected") >= 1)
    wait_for(ok, timeout=12 if IS_PUSHPIN else 5)
    fams, text = scrape(port)
    for name, typ in (("pp_request_received", "counter"), ("pp_connection_connected", "gauge"),
                      ("pp_connection_minute", "counter"), ("pp_message_received", "counter"),
                      ("pp_message_sent", "counter")):
        assert fams[name].type == typ, (name, fams[name].type)
        assert "# HELP %s " % name in text
    assert value(fams, "pp_connection_minute") >= 1
    c.close()


def scrape_ok(port):
    try:
        scrape(port)
        return True
    except (requests.RequestException, AssertionError):
        return False


@pytest.mark.thumbtack_only
def test_prometheus_thumbtack_metrics(make_proxy, chan):
    port = free_port_run(1)
    p = make_proxy(ROUTES, config={"handler": {"prometheus_port": str(port)}})
    wait_for(lambda: scrape_ok(port), timeout=5)
    streams = []
    for _ in range(2):
        c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
        streams.append(c)
    lp = Conn(p.port, timeout=10)
    lp.request("GET", "/response?channel=" + chan, host=TR)
    settle()
    time.sleep(0.3)

    def held():
        fams, _ = scrape(port)
        return (value(fams, "connections", kind="http-stream") == 2 and
                value(fams, "connections", kind="long-poll") == 1 and
                value(fams, "subscriptions") == 3)
    wait_for(held, timeout=5)
    p.publish({"channel": chan, "formats": {"http-stream": {"content": "x\n"},
                                            "http-response": {"body": "done\n"}}})
    for c in streams:
        read_stream_until(c, b"x\n")
    assert lp.read_response().body == b"done\n"

    def delivered():
        fams, _ = scrape(port)
        return (value(fams, "messages_delivered", transport="http-stream") == 2 and
                value(fams, "messages_delivered", transport="http-response") == 1 and
                value(fams, "messages_in") >= 1)
    wait_for(delivered, timeout=5)
    fams, text = scrape(port)
    h = fams["publish_to_write_seconds"]
    assert h.type == "histogram"
    buckets = [(s.labels["le"], s.value) for s in h.samples if s.name.endswith("_bucket")]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and buckets[-1][0] == "+Inf"
    total = [s.value for s in h.samples if s.name.endswith("_count")][0]
    assert total == counts[-1] >= 3
    assert value(fams, "slow_subscriber_drops") == 0
    assert value(fams, "rate_limit_drops") == 0
    for k in ("bad_request", "no_route", "backend_connect", "zmq_malformed"):
        assert value(fams, "errors", kind=k) >= 0
    # Errors by kind move with what happens.
    with Conn(p.port) as bad:
        bad.send(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        assert bad.read_response().status == 400
    wait_for(lambda: value(scrape(port)[0], "errors", kind="bad_request") >= 1, timeout=5)
    for c in streams:
        c.close()


@pytest.mark.thumbtack_only
def test_prometheus_ipc_and_bad_requests(make_proxy, tmp_path):
    path = str(tmp_path / "prom.sock")
    make_proxy(ROUTES, config={"handler": {"prometheus_port": "ipc://" + path}})
    import socket as _s

    def get(raw):
        s = _s.socket(_s.AF_UNIX, _s.SOCK_STREAM)
        s.settimeout(5)
        s.connect(path)
        s.sendall(raw)
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        return out
    wait_for(lambda: __import__("os").path.exists(path), timeout=5)
    out = get(b"GET /metrics HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
    body = out.split(b"\r\n\r\n", 1)[1].decode()
    names = {f.name for f in text_string_to_metric_families(body)}
    assert "request_received" in names and "publish_to_write_seconds" in names
    # A head that never ends within the cap is closed, and the server goes on.
    try:
        assert get(b"X" * 9000) == b""
    except ConnectionResetError:
        pass
    assert get(b"GET / HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 200")


# ---- conncheck and refresh with real connections ----

def test_conncheck_http(make_proxy, chan):
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec, topics=(b"conn ",))
    cmd = Commander(p)
    try:
        subscribed(r, p)
        c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
        assert resp.status == 200
        _, opened = r.wait(lambda k, m: k == "conn" and "unavailable" not in m)
        cid = opened["id"]
        res = cmd.call("conncheck", {"ids": [cid, b"nobody:1"]})
        assert res["success"] is True
        assert res["value"] == [cid]
        c.close()
        r.wait(lambda k, m: m.get("id") == cid and m.get("unavailable") is True)

        def gone():
            return cmd.call("conncheck", {"ids": [cid]})["value"] == []
        wait_for(gone, timeout=5)
    finally:
        cmd.close()
        r.close()


@pytest.mark.thumbtack_only
def test_conncheck_and_refresh_websocket(make_proxy):
    """A WebSocket session is a connection by its cid: conncheck finds it while it is open;
    refresh {cid} answers for it (its backend, here the test target's, has nothing to
    send) and item-not-found once it is gone."""
    p, spec = stats_proxy(make_proxy)
    r = StatsReader(spec, topics=(b"conn ",))
    cmd = Commander(p)
    try:
        subscribed(r, p)
        ws = Conn(p.port)
        ws.request("GET", "/ws", host=TR, headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
        assert ws.read_head().status == 101
        _, opened = r.wait(lambda k, m: k == "conn" and m.get("type") == b"ws")
        cid = opened["id"]
        assert len(cid) == 36
        assert cmd.call("conncheck", {"ids": [cid]})["value"] == [cid]
        res = cmd.call("refresh", {"cid": cid})
        assert res["success"] is True and res.get("value") is None
        assert cmd.call("refresh", {"channel": "test"})["success"] is True
        ws.close()
        r.wait(lambda k, m: m.get("id") == cid and m.get("unavailable") is True)
        wait_for(lambda: cmd.call("conncheck", {"ids": [cid]})["value"] == [], timeout=5)
        res = cmd.call("refresh", {"cid": cid})
        assert res["success"] is False and res["condition"] == b"item-not-found"
    finally:
        cmd.close()
        r.close()


def test_conncheck_many_ids_across_workers(make_proxy, chan):
    """Holds spread over the workers: one conncheck finds every live one."""
    p, spec = stats_proxy(make_proxy, extra={"proxy": {"workers": "2"}})
    r = StatsReader(spec, topics=(b"conn ",))
    cmd = Commander(p)
    conns = []
    try:
        subscribed(r, p)
        for _ in range(6):
            c, resp = open_stream(p, "/stream?channel=" + chan, host=TR)
            conns.append(c)
        ids = set()
        end = time.monotonic() + 8
        while len(ids) < 6 and time.monotonic() < end:
            _, m = r.wait(lambda k, m: k == "conn" and "unavailable" not in m and
                          m["id"] not in ids)
            ids.add(m["id"])
        assert len(ids) == 6
        res = cmd.call("conncheck", {"ids": sorted(ids) + [b"x:1"]})
        assert sorted(res["value"]) == sorted(ids)
    finally:
        for c in conns:
            c.close()
        cmd.close()
        r.close()


def test_refresh_reaches_websocket_over_http_backend(make_proxy, backend):
    """refresh {cid} makes a WebSocket-over-HTTP session send a request to its backend at
    once; conncheck knows the cid the backend sees as Connection-Id. Skipped by a build
    whose over_http targets are not there yet."""
    from backend import Resp
    events = [("Content-Type", "application/websocket-events")]
    backend.on("/woh", Resp(200, events, b"OPEN\r\n"), Resp(200, events, b""))
    p = make_proxy("*,proto=ws %s,over_http\n* %s\n" % (backend.addr, backend.addr))
    cmd = Commander(p)
    ws = Conn(p.port)
    try:
        ws.request("GET", "/woh", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")])
        head = ws.read_head()
        if head.status == 502:
            pytest.skip("WebSocket-over-HTTP is not implemented in this build")
        assert head.status == 101
        first = backend.wait_requests(1, path="/woh")[0]
        cid = first.header("Connection-Id")
        assert cid
        assert cmd.call("conncheck", {"ids": [cid]})["value"] == [cid.encode()]
        res = cmd.call("refresh", {"cid": cid})
        assert res["success"] is True
        got = backend.wait_requests(2, path="/woh", timeout=5)
        assert len(got) >= 2 and got[1].header("Connection-Id") == cid
        assert cmd.call("refresh", {"cid": "not-" + cid})["condition"] == b"item-not-found"
    finally:
        ws.close()
        cmd.close()
