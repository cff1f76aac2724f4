"""Issue 7, scaling out: three instances on one machine (one shared rundir told apart by
--id, which also moves their tcp ports by 10*N), each with its SUB socket connected to one
XPUB publisher (push_in_sub_connect=true). Clients spread over the instances: every client
receives every message of its channel, and an instance without subscribers for a channel
is sent nothing for it (the XPUB filters on the SUB subscriptions, which follow the
channels each instance holds)."""

import os
import tempfile
import time

import pytest
import requests
import zmq
from prometheus_client.parser import text_string_to_metric_families

from conftest import Proxy, check_sanitizers, dump_on_failure
from griputil import open_stream, read_stream_until
from zmqutil import free_port_run, sock, tnet_dumps, wait_sub_event

TR = "fleet.test"

pytestmark = pytest.mark.thumbtack_only


def item(channel, content):
    return b"T" + tnet_dumps({"formats": {"http-stream": {"content": content.encode()}}})


@pytest.fixture
def fleet(request):
    shared = tempfile.mkdtemp(prefix="ttfleet")
    xpub_spec = "ipc://%s/fanout" % shared
    xpub = sock(zmq.XPUB, timeout=5)
    xpub.setsockopt(zmq.XPUB_VERBOSE, 1)  # every instance's subscribe, not just the first
    xpub.bind(xpub_spec)
    procs = []
    for n in (1, 2, 3):
        p = Proxy("%s test\n" % TR, args=["--id", str(n)], use_config=False)
        p.prom_port = free_port_run(1)
        off = 10 * n

        def spec(port):
            return "tcp://127.0.0.1:%d" % (port - off)
        # Ports in the file are the free ones minus the offset --id adds back; the client
        # port does not move (as Pushpin).
        p.extra_config = {
            "global": {"rundir": shared},
            "handler": {"push_in_http_port": str(p.pub_port - off),
                        "push_in_spec": spec(p.push_port),
                        "command_spec": spec(p.cmd_port),
                        "push_in_sub_specs": xpub_spec,
                        "push_in_sub_connect": "true",
                        "prometheus_port": "127.0.0.1:%d" % p.prom_port},
        }
        p.write_config()
        p.start()
        procs.append(p)
    yield procs, xpub, shared
    xpub.close()
    for p in procs:
        dump_on_failure(request, p)
        code = p.stop()
        try:
            check_sanitizers(p)
            assert code == 0, "instance exited with %r" % (code,)
        finally:
            p.cleanup()


def messages_in(p):
    text = requests.get("http://127.0.0.1:%d/" % p.prom_port, timeout=5).text
    for fam in text_string_to_metric_families(text):
        if fam.name == "messages_in":
            return fam.samples[0].value
    raise AssertionError("no messages_in")


def test_fleet_fanout_through_one_xpub(fleet):
    procs, xpub, shared = fleet
    # --id N: each instance has its own ipc names (N-stats) in the shared rundir.
    for n in (1, 2, 3):
        assert os.path.exists(os.path.join(shared, "%d-stats" % n))
    a, b = "fleet-a", "fleet-b"
    clients = {}
    for i, p in enumerate(procs):
        chans = [a] if i == 2 else [a, b]  # the third instance has nobody on b
        for ch in chans:
            for _ in range(2):
                c, r = open_stream(p, "/stream?channel=" + ch, host=TR)
                assert r.status == 200 and c.read_chunk() == b"[stream opened]\n"
                clients.setdefault(ch, []).append((i, c))
    # Each instance subscribes its SUB to the channels it holds, once per channel.
    seen = []
    end = time.monotonic() + 8
    while time.monotonic() < end and (seen.count(b"\x01" + a.encode()) < 3 or
                                      seen.count(b"\x01" + b.encode()) < 2):
        if xpub.poll(100):
            seen.append(xpub.recv())
    assert seen.count(b"\x01" + a.encode()) == 3, seen
    assert seen.count(b"\x01" + b.encode()) == 2, seen
    time.sleep(0.2)  # the subscriptions are in force at the XPUB once it reported them
    for k in range(3):
        xpub.send_multipart([a.encode(), item(a, "a%d\n" % k)])
        xpub.send_multipart([b.encode(), item(b, "b%d\n" % k)])
    for ch, prefix in ((a, b"a"), (b, b"b")):
        for i, c in clients[ch]:
            got = read_stream_until(c, prefix + b"2\n")
            assert got == prefix + b"0\n" + prefix + b"1\n" + prefix + b"2\n", (ch, i, got)
    # The publisher sent the third instance nothing for b: it took in only a's items.
    assert [messages_in(p) for p in procs] == [6, 6, 3]
    for cs in clients.values():
        for _, c in cs:
            c.close()
    # When the last subscriber of b leaves an instance, its SUB unsubscribes (streams do
    # not linger): the publisher sees it go.
    wait_sub_event(xpub, b, subscribe=False, timeout=5)
