"""Issue 6: real WebSocket clients through thumbtack: the npm `ws` package (js/wsclient.mjs),
Python's `websockets` (Debian's python3-websockets), and headless Chromium opening a
WebSocket, receiving a published message and closing cleanly.
"""

import asyncio
import json
import subprocess
import threading

import pytest
import websockets

from backend import Resp
from conftest import IS_PUSHPIN
from griputil import SETTLE, settle
from helpers import wait_for
from test_browser import browser, reports, wait_report  # noqa: F401 (fixture)
from test_grip_libs import JS_DIR, node_modules  # noqa: F401 (fixture)


class NodeClients:
    def __init__(self, node, url, n, deflate=False):
        env = {"URL": url, "CLIENTS": str(n), "DEFLATE": "1" if deflate else "0",
               "PATH": "/usr/bin:/bin"}
        self.proc = subprocess.Popen([node, "wsclient.mjs"], cwd=JS_DIR, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.events = []
        self.raw = []

        def pump():
            for line in self.proc.stdout:
                self.raw.append(line)
                try:
                    self.events.append(json.loads(line))
                except ValueError:
                    pass
        self.t = threading.Thread(target=pump, daemon=True)
        self.t.start()

    def of(self, ev):
        return [e for e in self.events if e["ev"] == ev]

    def wait(self, ev, n, timeout=15):
        got = wait_for(lambda: len(self.of(ev)) >= n, timeout)
        assert got, "node clients: want %d %r; got:\n%s" % (n, ev, "".join(self.raw[-40:]))
        return self.of(ev)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)


@pytest.mark.parametrize("deflate", [False, True])
def test_npm_ws_clients(node_modules, make_proxy, chan, deflate):  # noqa: F811
    p = make_proxy("* test\n", config={"runner": {"allow_compression": "true"}})
    n = 5
    cl = NodeClients(node_modules, "ws://127.0.0.1:%d/ws?channel=%s" % (p.port, chan), n, deflate)
    try:
        cl.wait("ready", n)
        if deflate and not IS_PUSHPIN:
            assert all(e["extensions"].startswith("permessage-deflate") for e in cl.of("open"))
        assert not cl.of("error")
        settle()
        p.publish({"channel": chan, "formats": {"ws-message": {"content": "to every ws client"}}})
        p.publish({"channel": chan, "formats": {"ws-message": {"content": "ping!", "type": "ping"}}})
        msgs = cl.wait("message", n)
        assert sorted(m["i"] for m in msgs) == list(range(n))
        assert all(m["data"] == "to every ws client" and not m["binary"] for m in msgs)
        assert len(cl.wait("ping", n)) == n
        p.publish({"channel": chan, "formats": {"ws-message": {"action": "close", "code": 4000,
                                                               "reason": "done"}}})
        closes = cl.wait("close", n)
        assert all((c["code"], c["reason"]) == (4000, "done") for c in closes), closes
        assert cl.proc.wait(10) == 0, "".join(cl.raw)
    finally:
        cl.stop()


def test_python_websockets_client(make_proxy, chan):
    p = make_proxy("* test\n", config={"runner": {"allow_compression": "true"}})

    async def run():
        uri = "ws://127.0.0.1:%d/ws?channel=%s" % (p.port, chan)
        async with websockets.connect(uri) as ws:  # offers permessage-deflate by default
            ext = [e.name for e in ws.extensions]
            if not IS_PUSHPIN:
                assert ext == ["permessage-deflate"], ext
            await ws.send("hello")
            assert await asyncio.wait_for(ws.recv(), 5) == "hello"
            await ws.send(b"\x00bin" * 1000)
            assert await asyncio.wait_for(ws.recv(), 5) == b"\x00bin" * 1000
            # The test target echoes a ping as a ping (as Pushpin's), which the library
            # answers by itself; the echo goes on.
            await ws.ping(b"py")
            await ws.send("after ping")
            assert await asyncio.wait_for(ws.recv(), 5) == "after ping"
            await asyncio.sleep(SETTLE)
            await asyncio.get_running_loop().run_in_executor(None, publish, p, chan)
            assert await asyncio.wait_for(ws.recv(), 5) == "published"
            await ws.close(1000, "bye")
            assert ws.close_code == 1000

    asyncio.run(run())


def publish(p, chan):
    p.publish({"channel": chan, "formats": {"ws-message": {"content": "published"}}})


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>thumbtack ws</title></head><body>
<script>
let seq = 0;
function report(kind, fields) {
  const q = new URLSearchParams(Object.assign({kind: kind, seq: String(seq++)}, fields));
  fetch('/report?' + q.toString(), {cache: 'no-store'}).catch(function () {});
}
const ws = new WebSocket('ws://' + location.host + '/ws?channel=%(channel)s');
ws.onopen = function () { report('open', {ext: ws.extensions}); ws.send('echo me'); };
ws.onerror = function () { report('error', {}); };
ws.onmessage = function (e) {
  report('message', {data: String(e.data)});
  if (e.data === 'published') ws.close(1000, 'thanks');
};
ws.onclose = function (e) {
  report('close', {code: String(e.code), reason: e.reason, clean: String(e.wasClean)});
};
report('loaded', {});
</script></body></html>
"""


def test_chromium_websocket(make_proxy, backend, browser, chan):  # noqa: F811
    """The page comes from the backend through thumbtack; the WebSocket (proto=ws route)
    goes to the test target, which subscribes it to the channel."""
    p = make_proxy("*,proto=ws test\n* %s\n" % backend.addr,
                   config={"runner": {"allow_compression": "true"}})
    backend.on("/page.html", Resp(200, [("Content-Type", "text/html; charset=utf-8"),
                                        ("Cache-Control", "no-store")],
                                  (PAGE % {"channel": chan}).encode()))
    backend.on("/report", Resp(204, [("Cache-Control", "no-store")], b""))
    b = browser(p.url("/page.html"))
    wait_report(backend, b, "opened the WebSocket", lambda: reports(backend, "open"))
    if not IS_PUSHPIN:
        assert reports(backend, "open")[0]["ext"].startswith("permessage-deflate")
    wait_report(backend, b, "got its echo",
                lambda: [m for m in reports(backend, "message") if m["data"] == "echo me"])
    settle()
    p.publish({"channel": chan, "formats": {"ws-message": {"content": "published"}}})
    wait_report(backend, b, "received the published message",
                lambda: [m for m in reports(backend, "message") if m["data"] == "published"])
    closes = wait_report(backend, b, "closed", lambda: reports(backend, "close"))
    assert closes[0]["code"] == "1000" and closes[0]["clean"] == "true", closes
    assert closes[0]["reason"] == "thanks"
    assert not reports(backend, "error"), reports(backend)
