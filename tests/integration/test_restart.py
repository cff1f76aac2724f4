"""Issue 8: reloads and restarts under load. SIGHUP reloads the routes and the live config
keys with no failed request and no dropped connection; a second thumbtack started on the
same ports takes over while the first drains (README: "Restarting without dropping
requests")."""

import ctypes
import os
import signal
import socket
import time

import pytest

from backend import Resp
from conftest import IS_PUSHPIN, Proxy, check_sanitizers, dump_on_failure
from griputil import pub_stream, read_stream_until, settle
from helpers import Closed, Conn, listening_sockets, wait_for
from loadgen import Steady


def _open_streams(p, chan, n, host="held.local"):
    conns = []
    for i in range(n):
        c = p.conn(timeout=10)
        c.request("GET", "/stream?channel=%s" % chan, host=host)
        assert c.read_head().status == 200
        read_stream_until(c, b"[stream opened]\n")
        conns.append(c)
    return conns


def test_sighup_under_load_reloads_routes_and_config(make_proxy, make_backend, chan):
    a, b = make_backend(), make_backend()
    a.on_prefix("/load", Resp(200, body=b"A\n"))
    b.on_prefix("/load", Resp(200, body=b"B\n"))
    routes_a = "held.local test\n* %s\n" % a.addr
    routes_b = "held.local test\n* %s\n" % b.addr
    p = make_proxy(routes=routes_a, config={"runner": {"log_level": "2"},
                                            "proxy": {"workers": "2"}})
    streams = _open_streams(p, chan, 10)
    check = lambda r: r.status == 200 and r.complete and r.body in (b"A\n", b"B\n")  # noqa: E731
    ka = Steady(p.port, paths=["/load/ka"], threads=4, keepalive=True, check=check).start()
    fresh = Steady(p.port, paths=["/load/fresh"], threads=2, check=check).start()
    try:
        time.sleep(0.5)
        for i in range(12):
            p.write_routes(routes_b if i % 2 == 0 else routes_a)
            if not IS_PUSHPIN:
                p.extra_config = {"runner": {"log_level": "3" if i % 2 == 0 else "2",
                                             "client_maxconn": str(40000 + i)},
                                  "proxy": {"workers": "2"}}
                p.write_config()
            p.reload()
            time.sleep(0.25)
    finally:
        ka.stop()
        fresh.stop()
    print("keep-alive:", ka.summary(), "fresh:", fresh.summary())
    assert ka.failed == 0 and fresh.failed == 0, (ka.summary(), fresh.summary())
    # Not one keep-alive connection was closed under a client: no retry, no reconnect.
    assert ka.retried == 0 and ka.reconnects == 0, ka.summary()
    assert ka.ok > 200 and fresh.ok > 100
    # Both route sets served traffic.
    assert a.reqs() and b.reqs()
    # The held streams lived through every reload.
    settle()
    pub_stream(p, chan, "after the reloads\n")
    for c in streams:
        assert b"after the reloads\n" in read_stream_until(c, b"after the reloads\n")
        c.close()
    if not IS_PUSHPIN:
        log = p.log()
        assert "config: log_level 2 -> 3" in log and "config: log_level 3 -> 2" in log
        assert "[runner] client_maxconn changed; it takes effect at the next start" in log
        assert log.count("routes: reloaded") >= 12


@pytest.mark.thumbtack_only
def test_sighup_with_a_broken_config_keeps_the_running_one(make_proxy, backend):
    p = make_proxy(config={"runner": {"log_level": "2"}})
    with open(p.conf_path, "a") as f:
        f.write("[handler]\nmessage_rate=lots\n")
    p.reload()
    assert wait_for(lambda: "keeping the running configuration" in p.log(), 3)
    assert p.http("GET", "/after-bad-reload").status == 200
    assert p.proc.poll() is None


@pytest.mark.thumbtack_only
def test_sighup_reopens_the_log_file_under_load(make_proxy, backend, tmp_path):
    """--logfile is reopened by SIGHUP (log rotation) while workers log every request."""
    log1 = tmp_path / "tt.log"
    p = make_proxy(args=["--logfile", str(log1)])
    load = Steady(p.port, paths=["/rotate"], threads=4, keepalive=True).start()
    try:
        for i in range(10):
            time.sleep(0.15)
            os.replace(log1, tmp_path / ("tt.log.%d" % i))
            p.reload()
    finally:
        load.stop()
    assert load.failed == 0, load.summary()
    assert wait_for(log1.exists, 3)  # the last SIGHUP has been handled
    assert p.http("GET", "/rotate-last").status == 200
    assert wait_for(lambda: log1.exists() and "/rotate-last" in log1.read_text(), 3)
    rotated = "".join((tmp_path / ("tt.log.%d" % i)).read_text() for i in range(10))
    assert rotated.count("/rotate") > 0


# ---- hand-over on the same ports ----

def _successor(request, p, routes):
    """Another thumbtack with p's config and ports."""
    q = Proxy(routes, p.extra_config)
    for attr in ("port", "pub_port", "push_port", "sub_port", "cmd_port"):
        setattr(q, attr, getattr(p, attr))
    q.write_config()

    def fin():
        dump_on_failure(request, q)
        q.stop()
        try:
            check_sanitizers(q)
        finally:
            q.cleanup()
    request.addfinalizer(fin)
    q.start(wait=False)
    assert wait_for(lambda: "listening on" in q.log(), 10), q.log()
    return q


@pytest.mark.thumbtack_only  # Pushpin's runner does not share its ports
def test_handover_to_a_second_process_drops_nothing(request, make_proxy, backend, chan):
    backend.on_prefix("/steady", Resp(200, body=b"steady\n"))
    routes = "held.local test\n* %s\n" % backend.addr
    cfg = {"proxy": {"workers": "2"}}
    old = make_proxy(routes=routes, config=cfg)
    check = lambda r: r.status == 200 and r.complete and r.body == b"steady\n"  # noqa: E731
    fresh = Steady(old.port, paths=["/steady/fresh"], threads=4, check=check).start()
    ka = Steady(old.port, paths=["/steady/ka"], threads=4, keepalive=True, check=check).start()
    try:
        for gen in range(2):
            time.sleep(0.7)
            streams = _open_streams(old, chan, 3)
            new = _successor(request, old, routes)
            time.sleep(0.5)  # both serve
            before = fresh.total() + ka.total()
            t0 = time.monotonic()
            old.signal(signal.SIGTERM)
            assert old.proc.wait(15) == 0
            assert time.monotonic() - t0 < 5
            # Held streams on the old process end cleanly, so their clients reconnect...
            for c in streams:
                c.settimeout(5)
                while c.read_chunk() != b"":
                    pass
                c.close()
            # ...to the new one, which has the publish API by now.
            streams = _open_streams(new, chan, 3)
            settle()
            assert wait_for(lambda: "hand-over: publish inputs taken over" in new.log(), 5)
            pub_stream(new, chan, "gen %d\n" % gen)
            for c in streams:
                read_stream_until(c, b"gen %d\n" % gen)
                c.close()
            time.sleep(0.5)
            assert fresh.total() + ka.total() > before  # traffic went on
            old = new
    finally:
        fresh.stop()
        ka.stop()
    print("fresh:", fresh.summary(), "keep-alive:", ka.summary())
    assert fresh.failed == 0, fresh.summary()
    assert ka.failed == 0, ka.summary()
    assert fresh.ok > 500 and ka.ok > 500


SO_ATTACH_REUSEPORT_CBPF = 51


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8),
                ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(_SockFilter))]


def _reuseport_listener(port):
    """A listener in the same SO_REUSEPORT group as the proxy's (which binds 0.0.0.0)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    return s


def _queued(listener):
    """Connections waiting in a listener's queue (accepted and closed)."""
    listener.setblocking(False)
    n = 0
    while True:
        try:
            c, _ = listener.accept()
        except BlockingIOError:
            return n
        c.close()
        n += 1


@pytest.mark.thumbtack_only  # the steering program is thumbtack's hand-over
def test_starting_process_removes_a_left_steering_program(make_proxy, backend):
    """A hand-over leaves a classic BPF program on the port's SO_REUSEPORT group that sends
    every new connection to one listener; a process that starts on the port removes it,
    so that the listeners already there and its own share the connections again."""
    backend.on("/share", Resp(200, body=b"shared\n"))
    p = make_proxy(start=False)
    first = _reuseport_listener(p.port)
    insn = _SockFilter(0x06, 0, 0, 0)  # BPF_RET | BPF_K: always the group's listener 0
    prog = _SockFprog(1, ctypes.pointer(insn))
    first.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, bytes(prog))
    # The program works here: a second listener in the group gets nothing.
    second = _reuseport_listener(p.port)
    for _ in range(10):
        socket.create_connection(("127.0.0.1", p.port), timeout=2).close()
    assert _queued(second) == 0 and _queued(first) == 10
    second.close()
    p.start()
    served = 0
    for _ in range(30):
        try:
            c = Conn(p.port, timeout=0.3)
            c.request("GET", "/share", [("Connection", "close")])
            r = c.read_response()
            served += r.status == 200 and r.body == b"shared\n"
            c.close()
        except (OSError, Closed):
            pass  # queued on the other listener, which never answers
    queued = _queued(first)
    first.close()
    assert served > 0, "every connection still went to the first listener:\n" + p.log()[-2000:]
    assert queued > 0, "the first listener got none: not a shared port"


@pytest.mark.thumbtack_only  # how the workers share a port is thumbtack's design
def test_plain_port_has_a_listening_socket_per_worker(make_proxy, backend):
    """A plain port gets one SO_REUSEPORT socket per worker (the kernel hashes each new
    connection to a worker's own queue; a busy worker takes its queue in batches); a
    hand-over's successor adds its own to the port's group, after ours. (A TLS port
    shares one socket among the workers: test_tls.py.)"""
    backend.on("/who", Resp(200, body=b"ok\n"))
    p = make_proxy(config={"proxy": {"workers": "3"}})
    assert listening_sockets(p.port) == 3
    conns = []
    for i in range(30):
        c = p.conn(timeout=5)
        c.request("GET", "/who")
        r = c.read_response()
        assert r.status == 200 and r.body == b"ok\n"
        conns.append(c)
    for c in conns:
        c.close()
    q = _reuseport_listener(p.port)  # a successor's socket joins the group
    assert listening_sockets(p.port) == 4
    q.close()
