"""Fixtures: start thumbtack (or real Pushpin with TT_AGAINST=pushpin) and test backends.

thumbtack contract: `$THUMBTACK --config <dir>/pushpin.conf`, logs on stderr, SIGTERM -> exit 0.
Pushpin mode: the Debian runner with every port moved off the defaults and its own zurl
(services=condure,zurl,pushpin-proxy,pushpin-handler; zurl specs under the tmp rundir).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import pytest
import requests

import helpers
from backend import Backend
from helpers import free_port, port_open
from wsutil import WsBackend

AGAINST = os.environ.get("TT_AGAINST", "thumbtack")
THUMBTACK = os.environ.get("THUMBTACK") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build", "thumbtack"))
PUSHPIN = os.environ.get("PUSHPIN", "/usr/bin/pushpin")
IS_PUSHPIN = AGAINST == "pushpin"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long-running test (excluded from quick runs)")
    config.addinivalue_line("markers", "thumbtack_only: behaviour Pushpin 1.36 does not have")


def pytest_collection_modifyitems(config, items):
    if IS_PUSHPIN:
        skip = pytest.mark.skip(reason="thumbtack-only behaviour")
        for it in items:
            if "thumbtack_only" in it.keywords:
                it.add_marker(skip)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    for w in ("setup", "call"):
        r = getattr(request.node, "rep_" + w, None)
        if r is not None and r.failed:
            return True
    return False


class Proxy:
    """A running thumbtack (or pushpin) instance."""

    def __init__(self, routes, config=None, args=None, mode=AGAINST, use_config=True):
        self.mode = mode
        self.dir = tempfile.mkdtemp(prefix="tt")
        self.rundir = os.path.join(self.dir, "run")
        os.makedirs(self.rundir)
        self.port = free_port()
        self.pub_port = free_port()
        # ZeroMQ publish inputs and command socket (PULL, SUB, REP), off the defaults.
        self.push_port = free_port()
        self.sub_port = free_port()
        self.cmd_port = free_port()
        self.conf_path = os.path.join(self.dir, "pushpin.conf")
        self.routes_path = os.path.join(self.dir, "routes")
        self.log_path = os.path.join(self.dir, "stderr.log")
        self.logdir = os.path.join(self.dir, "log")
        self.proc = None
        self.exit_code = None
        self.ready = False  # started and answered: it must exit 0 on SIGTERM
        self.extra_config = config or {}
        self.args = list(args or [])
        self.write_routes(routes)
        if use_config:
            self.write_config()

    # ---- config ----
    def config_dict(self):
        cfg = {
            "global": {"rundir": self.rundir},
            "runner": {"http_port": str(self.port), "log_level": "3",
                       "client_buffer_size": "8192"},
            "proxy": {"routesfile": "routes", "sig_key": "changeme", "debug": "false"},
            "handler": {"push_in_http_addr": "127.0.0.1",
                        "push_in_http_port": str(self.pub_port),
                        "push_in_spec": self.zmq_spec(self.push_port),
                        "push_in_sub_specs": self.zmq_spec(self.sub_port),
                        "command_spec": self.zmq_spec(self.cmd_port)},
        }
        if self.mode == "pushpin":
            os.makedirs(self.logdir, exist_ok=True)
            cfg["global"].update({"include": "{libdir}/internal.conf", "ipc_prefix": "pp-",
                                  "port_offset": "0", "stats_connection_ttl": "120"})
            cfg["runner"].update({"services": "condure,zurl,pushpin-proxy,pushpin-handler",
                                  "logdir": self.logdir, "log_level": "2",
                                  "client_maxconn": "50000", "condure_bin": "condure",
                                  "zurl_bin": "zurl"})
            cfg["proxy"].update({
                "auto_cross_origin": "false", "accept_x_forwarded_protocol": "false",
                "set_x_forwarded_protocol": "proto-only", "x_forwarded_for": "",
                "x_forwarded_for_trusted": "", "orig_headers_need_mark": "",
                "accept_pushpin_route": "false", "log_from": "false",
                "log_user_agent": "false", "sig_iss": "pushpin", "upstream_key": "",
                "updates_check": "off",
                "zurl_out_specs": "ipc://{rundir}/{ipc_prefix}zurl-in",
                "zurl_out_stream_specs": "ipc://{rundir}/{ipc_prefix}zurl-in-stream",
                "zurl_in_specs": "ipc://{rundir}/{ipc_prefix}zurl-out",
            })
            cfg["handler"].update({
                "push_in_sub_connect": "false",
                "stats_spec": "ipc://{rundir}/{ipc_prefix}stats",
                "message_rate": "2500", "message_hwm": "25000", "message_wait": "5000",
                "id_cache_ttl": "60", "connection_subscription_max": "20",
                "subscription_linger": "60", "stats_subscription_ttl": "60",
                "stats_report_interval": "10", "stats_format": "tnetstring",
            })
        for sec, kv in self.extra_config.items():
            cfg.setdefault(sec, {}).update({k: str(v) for k, v in kv.items()})
        return cfg

    def write_config(self, text=None):
        if text is None:
            text = ""
            for sec, kv in self.config_dict().items():
                text += "[%s]\n" % sec
                for k, v in kv.items():
                    text += "%s=%s\n" % (k, v)
                text += "\n"
        with open(self.conf_path, "w") as f:
            f.write(text)

    def write_routes(self, text):
        tmp = self.routes_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        os.replace(tmp, self.routes_path)

    # ---- process ----
    def cmd(self):
        if self.mode == "pushpin":
            return [PUSHPIN, "--config", self.conf_path] + self.args
        return [THUMBTACK, "--config", self.conf_path] + self.args

    def start(self, wait=True):
        self.log_f = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.cmd(), stdout=self.log_f, stderr=self.log_f,
                                     stdin=subprocess.DEVNULL, cwd=self.dir,
                                     start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %s during startup:\n%s" % (
                    self.mode, self.proc.returncode, self.log()[-4000:]))
            if port_open(self.port) and port_open(self.pub_port):
                if self.mode != "pushpin" or self._pushpin_started():
                    if self.mode == "pushpin":
                        time.sleep(0.3)
                    self.ready = True
                    return
            time.sleep(0.02)
        raise RuntimeError("%s not ready within %ss:\n%s" % (self.mode, timeout, self.log()[-4000:]))

    def _pushpin_started(self):
        ok = 0
        for n in ("pushpin-proxy.log", "pushpin-handler.log", "condure.log"):
            p = os.path.join(self.logdir, n)
            try:
                with open(p, "rb") as f:
                    if b"started" in f.read():
                        ok += 1
            except OSError:
                pass
        return ok == 3

    @property
    def pid(self):
        return self.proc.pid

    def worker_pids(self):
        """pids whose memory matters: thumbtack itself, or pushpin's children."""
        if self.mode != "pushpin":
            return [self.proc.pid]
        out = subprocess.run(["pgrep", "-s", str(self.proc.pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self):
        if self.mode == "pushpin":
            # Signal pushpin-proxy directly (it owns the routes) so the test does not
            # depend on the runner forwarding SIGHUP.
            for p in self.worker_pids():
                try:
                    with open("/proc/%d/cmdline" % p, "rb") as f:
                        if b"pushpin-proxy" in f.read():
                            os.kill(p, signal.SIGHUP)
                except OSError:
                    pass
        else:
            self.proc.send_signal(signal.SIGHUP)

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            if self.proc is not None:
                self.exit_code = self.proc.returncode
            return self.exit_code
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(5)
            self.exit_code = "timeout"
        if self.mode == "pushpin":
            # make sure no child lingers
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        return self.exit_code

    def log(self):
        out = b""
        try:
            with open(self.log_path, "rb") as f:
                out += f.read()
        except OSError:
            pass
        if self.mode == "pushpin" and os.path.isdir(self.logdir):
            for n in sorted(os.listdir(self.logdir)):
                with open(os.path.join(self.logdir, n), "rb") as f:
                    out += ("\n==== %s ====\n" % n).encode() + f.read()
        return out.decode("utf-8", "replace")

    def cleanup(self):
        try:
            self.log_f.close()
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- client helpers ----
    @staticmethod
    def zmq_spec(port):
        return "tcp://127.0.0.1:%d" % port

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def pub_url(self, path="/publish/"):
        return "http://127.0.0.1:%d%s" % (self.pub_port, path)

    def http(self, method="GET", path="/", headers=None, body=None, host="example.com", **kw):
        return helpers.http(self.port, method, path, headers, body, host, **kw)

    def conn(self, **kw):
        return helpers.Conn(self.port, **kw)

    def publish(self, items, expect=200, headers=None):
        if isinstance(items, dict):
            items = [items]
        r = requests.post(self.pub_url(), data=json.dumps({"items": items}),
                          headers=headers or {}, timeout=5)
        if expect is not None:
            assert r.status_code == expect, (r.status_code, r.text)
        return r


def dump_on_failure(request, proxy, offset=0):
    if _failed(request):
        text = proxy.log()[offset:]
        print("\n===== %s log (%s) =====\n%s" % (proxy.mode, proxy.dir, text[-20000:]))


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer")


def check_sanitizers(proxy, offset=0):
    """Fail the test when the server's log shows a sanitizer report (ASan/UBSan builds)."""
    text = proxy.log()[offset:]
    for mark in SANITIZER_MARKS:
        i = text.find(mark)
        if i >= 0:
            pytest.fail("sanitizer report in %s log:\n%s" % (proxy.mode, text[max(0, i - 200):i + 6000]))


# ---- backends ----

@pytest.fixture(scope="session")
def _shared_backend():
    b = Backend()
    yield b
    b.stop()


@pytest.fixture
def backend(_shared_backend):
    """The session backend, reset for this test (unique paths recommended)."""
    _shared_backend.reset()
    yield _shared_backend
    _shared_backend.release()


@pytest.fixture
def make_backend():
    made = []

    def make():
        b = Backend()
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()


# ---- proxies ----

SHARED_HOST_TEST = "testroute.local"


@pytest.fixture(scope="session")
def _shared_proxy(_shared_backend):
    routes = "%s test\n* %s\n" % (SHARED_HOST_TEST, _shared_backend.addr)
    p = Proxy(routes)
    p.start()
    yield p
    code = p.stop()
    try:
        check_sanitizers(p)
        if p.mode == "thumbtack":
            assert code == 0, "shared thumbtack exited with %r on SIGTERM" % (code,)
    finally:
        p.cleanup()


@pytest.fixture
def proxy(request, _shared_proxy, backend):
    """Default-config instance shared by the session; routes: Host testroute.local -> test
    target, everything else -> the `backend` fixture."""
    p = _shared_proxy
    if p.proc.poll() is not None:
        pytest.fail("shared %s instance died (code %s):\n%s" % (p.mode, p.proc.returncode, p.log()[-4000:]))
    off = len(p.log())
    yield p
    dump_on_failure(request, p, off)
    check_sanitizers(p, off)


@pytest.fixture
def make_proxy(request, backend):
    """make_proxy(routes=None, config=None, args=None, start=True) -> Proxy.
    routes default: "* <backend>". config: {"section": {"key": value}}."""
    made = []

    def make(routes=None, config=None, args=None, start=True, use_config=True):
        if routes is None:
            routes = "* %s\n" % backend.addr
        p = Proxy(routes, config, args, use_config=use_config)
        made.append(p)
        if start:
            p.start()
        return p
    yield make
    for p in made:
        dump_on_failure(request, p)
        code = p.stop()
        try:
            check_sanitizers(p)
            if p.mode == "thumbtack" and p.ready:
                # A crash (a negative code: the signal) fails the test that caused it.
                assert code == 0, "thumbtack exited with %r:\n%s" % (code, p.log()[-3000:])
        finally:
            p.cleanup()


@pytest.fixture
def chan():
    """A unique channel name."""
    return "ch-" + uuid.uuid4().hex[:12]


def pytest_report_header(config):
    return "integration target: %s (%s)" % (AGAINST, PUSHPIN if IS_PUSHPIN else THUMBTACK)


@pytest.fixture
def make_ws_backend():
    """make(handler=None, tls_context=None): a WebSocket backend (wsutil.WsBackend),
    stopped at the end of the test, which fails if the backend saw a protocol error."""
    made = []

    def make(handler=None, tls_context=None):
        b = WsBackend(handler, tls_context)
        made.append(b)
        return b
    yield make
    for b in made:
        b.stop()
        assert not b.errors, b.errors
