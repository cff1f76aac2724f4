"""Issue 3: the GRIP libraries users already have work unchanged behind thumbtack.

The backend (js/backend.mjs) is an Express app on the npm packages @fanoutio/serve-grip
(instructions, Grip-Sig verification) and @fanoutio/grip (Publisher), used as their READMEs
show. Clients go through thumbtack; publishing goes from the app to thumbtack's publish API.
node_modules is installed here with `npm ci` when missing (the registry must be reachable).
"""

import fcntl
import json
import os
import shutil
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import IS_PUSHPIN
from griputil import no_grip_headers, read_stream_until, settle
from helpers import Conn, jwt_encode, wait_for

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SIG_KEY = "libs-sig-key-0123456789"
SIG_ISS = "thumbtack-libs-test"
PUB_ISS = "libs-publisher"
PUB_KEY = "libs-publish-key"  # thumbtack's optional publish auth (not in Pushpin)
NPM_TIMEOUT = 300


@pytest.fixture(scope="module")
def node_modules():
    """Make sure js/node_modules matches package-lock.json; fail loudly if it cannot."""
    npm = shutil.which("npm")
    node = shutil.which("node")
    if not npm or not node:
        pytest.fail("node/npm not found on PATH (tools/deps.sh installs them); "
                    "this test needs them and is not skipped")
    # One package of each direct dependency: a checkout whose node_modules predates a
    # dependency (ws, for test_ws_clients.py) gets `npm ci` again.
    markers = [os.path.join(JS_DIR, "node_modules", *m.split("/"), "package.json")
               for m in ("@fanoutio/serve-grip", "ws")]
    # Two suites may run at once (make check): one installs, the other waits for it.
    lock = open(os.path.join(JS_DIR, ".install.lock"), "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        _install(npm, markers)
    finally:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
    return node


def _install(npm, markers):
    if not all(os.path.exists(m) for m in markers):
        cmd = [npm, "ci" if os.path.exists(os.path.join(JS_DIR, "package-lock.json")) else "install",
               "--no-audit", "--no-fund", "--loglevel=error"]
        try:
            r = subprocess.run(cmd, cwd=JS_DIR, capture_output=True, text=True, timeout=NPM_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail("%s timed out after %ss in %s" % (" ".join(cmd), NPM_TIMEOUT, JS_DIR))
        if r.returncode != 0 or not all(os.path.exists(m) for m in markers):
            pytest.fail("%s failed (%s):\n%s\n%s" % (" ".join(cmd), r.returncode,
                                                    r.stdout[-3000:], r.stderr[-3000:]))


class NodeApp:
    """js/backend.mjs running as a child process."""

    def __init__(self, node, env):
        self.proc = subprocess.Popen([node, "backend.mjs"], cwd=JS_DIR, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        self.out = []
        self.port = None
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                self.out.append(line)
                if self.port is None and line.startswith("listening "):
                    self.port = int(line.split()[1])
                    ready.set()
            ready.set()
        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(20) or self.port is None:
            self.stop()
            raise RuntimeError("node backend did not start:\n" + "".join(self.out))

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def seen(self, path=None):
        got = requests.get(self.url("/seen"), timeout=5).json()
        return [s for s in got if path is None or s["path"] == path]

    def wait_seen(self, path, n=1, timeout=5.0):
        got = wait_for(lambda: len(self.seen(path)) >= n and self.seen(path), timeout)
        assert got and len(got) >= n, "backend saw %r; log:\n%s" % (self.seen(), "".join(self.out))
        return got

    def publish(self, **body):
        r = requests.post(self.url("/publish-it"), json=body, timeout=10)
        assert r.status_code == 200, "app's publish failed: %s %s" % (r.status_code, r.text)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture
def lib_setup(node_modules, make_proxy):
    """(proxy, app): thumbtack routing everything to the Node app, which publishes back to
    thumbtack's publish API and verifies Grip-Sig with thumbtack's sig_key."""
    config = {"proxy": {"sig_key": SIG_KEY, "sig_iss": SIG_ISS}}
    if not IS_PUSHPIN:
        config["handler"] = {"publish_key": PUB_KEY}
    # Ports are picked at construction, so the app can be told the publish port before the
    # proxy starts and the proxy's routes can then point at the app.
    p = make_proxy(routes="* 127.0.0.1:9\n", config=config, start=False)
    env = dict(os.environ, GRIP_CONTROL_URI="http://127.0.0.1:%d" % p.pub_port,
               GRIP_VERIFY_KEY=SIG_KEY, GRIP_VERIFY_ISS=SIG_ISS)
    if not IS_PUSHPIN:
        env.update(GRIP_CONTROL_ISS=PUB_ISS, GRIP_PUBLISH_KEY=PUB_KEY)
    app = NodeApp(node_modules, env)
    try:
        p.write_routes("* 127.0.0.1:%d\n" % app.port)
        p.start()
        yield p, app
    finally:
        app.stop()


def chan_name():
    return "libs-" + uuid.uuid4().hex[:10]


def assert_signed(entry):
    # isProxied/needsSigned from serve-grip itself; isSigned also from the awaited
    # Publisher.validateGripSig and from validateSig (serve-grip 2.0.0's own isSigned is
    # not awaited, see js/backend.mjs).
    assert entry["gripSig"], entry
    assert entry["isProxied"] is True and entry["needsSigned"] is True, entry
    assert entry["publisherIsSigned"] is True, entry
    assert entry["sigValid"] is True, entry


def open_stream(p, path):
    c = Conn(p.port, timeout=10)
    c.request("GET", path)
    return c, c.read_head()


def test_serve_grip_stream_and_publisher(lib_setup):
    p, app = lib_setup
    ch = chan_name()
    c, r = open_stream(p, "/stream?channel=" + ch)
    with c:
        assert r.status == 200, r
        assert r.header("Content-Type") == "text/plain"
        assert no_grip_headers(r), r.headers
        assert c.read_chunk() == b"[stream open]\n"
        (entry,) = app.wait_seen("/stream")
        assert_signed(entry)
        assert entry["query"] == {"channel": ch}
        settle()
        app.publish(channel=ch, kind="stream", content="one\n")
        assert read_stream_until(c, b"one\n", timeout=5) == b"one\n"
        app.publish(channel=ch, kind="stream", content="two\n")
        assert read_stream_until(c, b"two\n", timeout=5) == b"two\n"
        # HttpStreamFormat(close=true) ends the stream cleanly
        app.publish(channel=ch, kind="close")
        c.settimeout(5)
        assert c.read_chunk() == b""


def test_serve_grip_longpoll_published_response(lib_setup):
    p, app = lib_setup
    ch = chan_name()
    with Conn(p.port, timeout=10) as c:
        c.request("GET", "/longpoll?channel=" + ch)
        (entry,) = app.wait_seen("/longpoll")
        assert_signed(entry)
        settle()
        app.publish(channel=ch, kind="response", content="long-poll data\n", code=200)
        r = c.read_response()
    assert r.status == 200, r
    assert r.body == b"long-poll data\n"
    assert r.header("X-Published") == "yes"
    assert no_grip_headers(r), r.headers


def test_serve_grip_longpoll_string_code(lib_setup):
    """@fanoutio/grip types HttpResponseFormat.code as a string; Pushpin converts it."""
    p, app = lib_setup
    ch = chan_name()
    with Conn(p.port, timeout=10) as c:
        c.request("GET", "/longpoll?channel=" + ch)
        app.wait_seen("/longpoll")
        settle()
        app.publish(channel=ch, kind="response", content="created\n", code="201")
        r = c.read_response()
    assert r.status == 201, r
    assert r.body == b"created\n"


def test_serve_grip_longpoll_timeout(lib_setup):
    """setHoldLongPoll(5): after Grip-Timeout the app's own response is sent."""
    p, app = lib_setup
    ch = chan_name()
    t0 = time.monotonic()
    with Conn(p.port, timeout=15) as c:
        c.request("GET", "/longpoll?timeout=5&channel=" + ch)
        r = c.read_response()
    took = time.monotonic() - t0
    assert r.status == 200, r
    assert r.body == b"[long-poll timed out]\n"
    assert no_grip_headers(r), r.headers
    assert 4.5 <= took < 10, took


def test_one_publish_reaches_stream_and_longpoll_together(lib_setup):
    p, app = lib_setup
    ch = chan_name()
    streams = []
    try:
        for _ in range(3):
            c, r = open_stream(p, "/stream?channel=" + ch)
            streams.append(c)
            assert r.status == 200 and c.read_chunk() == b"[stream open]\n"
        lp = Conn(p.port, timeout=10)
        streams.append(lp)
        lp.request("GET", "/longpoll?channel=" + ch)
        app.wait_seen("/longpoll")
        settle()
        app.publish(channel=ch, kind="stream", content="to streams\n")
        for c in streams[:3]:
            assert read_stream_until(c, b"to streams\n") == b"to streams\n"
        app.publish(channel=ch, kind="response", content="to long-poll\n", code=200)
        r = lp.read_response()
        assert r.status == 200 and r.body == b"to long-poll\n", r
    finally:
        for c in streams:
            c.close()


def test_serve_grip_rejects_unproxied_and_forged(lib_setup):
    """The verification the other tests rely on discriminates: no Grip-Sig -> 501 from
    gripProxyRequired; a Grip-Sig signed with another key is not validated."""
    p, app = lib_setup
    ch = chan_name()
    r = requests.get(app.url("/stream?channel=" + ch), timeout=5)
    assert r.status_code == 501
    forged = jwt_encode({"iss": SIG_ISS, "exp": int(time.time()) + 3600}, "not-the-key")
    with Conn(app.port, timeout=5) as c:
        c.request("GET", "/longpoll?timeout=5&channel=" + ch, headers=[("Grip-Sig", forged)],
                  host="127.0.0.1")
        c.read_head()
    (entry,) = app.wait_seen("/longpoll")
    assert entry["publisherIsSigned"] is False and entry["sigValid"] is False, entry
    wrong_iss = jwt_encode({"iss": "someone-else", "exp": int(time.time()) + 3600}, SIG_KEY)
    with Conn(app.port, timeout=5) as c:
        c.request("GET", "/longpoll?timeout=5&channel=" + ch, headers=[("Grip-Sig", wrong_iss)],
                  host="127.0.0.1")
        c.read_head()
    entry = app.wait_seen("/longpoll", 2)[1]
    assert entry["publisherIsSigned"] is False and entry["sigValid"] is False, entry


@pytest.mark.thumbtack_only
def test_publisher_jwt_auth_is_what_thumbtack_checks(lib_setup):
    """The app's Publisher signs with control_iss/key; without them thumbtack answers 401."""
    p, app = lib_setup
    body = json.dumps({"items": [{"channel": "x", "formats": {"http-stream": {"content": "x"}}}]})
    r = requests.post(p.pub_url(), data=body, timeout=5)
    assert r.status_code == 401, (r.status_code, r.text)
    # and the app's authenticated publish succeeds (the other tests deliver through it)
    app.publish(channel=chan_name(), kind="stream", content="authorized\n")
