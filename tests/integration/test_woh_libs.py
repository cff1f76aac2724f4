"""Issue 6: the GRIP libraries' WebSocket broadcast example works unchanged behind the proxy.

js/woh_broadcast.mjs is the example as @fanoutio/serve-grip documents it (express, a
WebSocket-over-HTTP route that accepts each connection, subscribes it to "all" and
republishes every message to "all" with @fanoutio/grip's Publisher). Several Python
`websockets` clients connect through the proxy (route option over_http); every client sees
every message; the Node app is killed and started again midway, with messages sent while
it is down, and no client is disconnected or misses a message.
"""

import asyncio
import os
import signal
import subprocess
import threading

import pytest
import websockets

from conftest import IS_PUSHPIN
from helpers import free_port
from test_grip_libs import JS_DIR, PUB_ISS, PUB_KEY, SIG_ISS, SIG_KEY, node_modules  # noqa: F401

SETTLE = 0.8 if IS_PUSHPIN else 0.4


class BroadcastApp:
    """js/woh_broadcast.mjs on a fixed port, so that it can be killed and started again."""

    def __init__(self, node, env, port):
        self.node, self.env, self.port = node, dict(env, PORT=str(port)), port
        self.proc = None
        self.out = []

    def start(self):
        self.proc = subprocess.Popen([self.node, "woh_broadcast.mjs"], cwd=JS_DIR, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        ready = threading.Event()

        def pump(proc):
            for line in proc.stdout:
                self.out.append(line)
                if line.startswith("listening "):
                    ready.set()
            ready.set()
        threading.Thread(target=pump, args=(self.proc,), daemon=True).start()
        if not ready.wait(20) or self.proc.poll() is not None:
            raise RuntimeError("node app did not start:\n" + "".join(self.out))

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(5)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.kill()


@pytest.fixture
def broadcast(node_modules, make_proxy):  # noqa: F811 (the fixture imported above)
    config = {"proxy": {"sig_key": SIG_KEY, "sig_iss": SIG_ISS}}
    if not IS_PUSHPIN:
        config["handler"] = {"publish_key": PUB_KEY}
    port = free_port()
    p = make_proxy(routes="* 127.0.0.1:%d,over_http\n" % port, config=config, start=False)
    env = dict(os.environ, GRIP_CONTROL_URI="http://127.0.0.1:%d" % p.pub_port,
               GRIP_VERIFY_KEY=SIG_KEY, GRIP_VERIFY_ISS=SIG_ISS)
    if not IS_PUSHPIN:
        env.update(GRIP_CONTROL_ISS=PUB_ISS, GRIP_PUBLISH_KEY=PUB_KEY)
    app = BroadcastApp(node_modules, env, port)
    app.start()
    try:
        p.start()
        yield p, app
    finally:
        app.stop()


def test_broadcast_example_survives_backend_restart(broadcast):
    p, app = broadcast
    n = 4

    async def read(ws, count):
        return [await asyncio.wait_for(ws.recv(), 15) for _ in range(count)]

    async def exchange(clients, label, per=2):
        """Each client sends `per` messages; each client gets all of them."""
        for i, ws in enumerate(clients):
            for k in range(per):
                await ws.send("%s-%d-%d" % (label, i, k))
        got = await asyncio.gather(*(read(ws, n * per) for ws in clients))
        want = {"%s-%d-%d" % (label, i, k) for i in range(n) for k in range(per)}
        for i, msgs in enumerate(got):
            assert set(msgs) == want, (i, msgs)
            for j in range(n):  # each sender's messages in the order sent
                mine = [m for m in msgs if m.startswith("%s-%d-" % (label, j))]
                assert mine == ["%s-%d-%d" % (label, j, k) for k in range(per)], mine

    async def full():
        clients = [await websockets.connect("ws://127.0.0.1:%d/api/websocket" % p.port,
                                            open_timeout=10, ping_interval=None)
                   for _ in range(n)]
        await asyncio.sleep(SETTLE)
        await exchange(clients, "before")
        # The app publishes before it answers: let the answers arrive, so that the kill does
        # not cut one (that request would be sent again, and its messages published twice).
        await asyncio.sleep(0.5)
        app.kill()
        for i, ws in enumerate(clients):
            await ws.send("down-%d-0" % i)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(app.start)
        got = await asyncio.gather(*(read(ws, n) for ws in clients))
        for msgs in got:
            assert set(msgs) == {"down-%d-0" % i for i in range(n)}, msgs
        await exchange(clients, "after")
        for i, ws in enumerate(clients):
            assert ws.open, "client %d was disconnected (%s)" % (i, ws.close_code)
        for ws in clients:
            await ws.close()
    asyncio.run(asyncio.wait_for(full(), 90))
