"""Issue 2: process behaviour: signals, logs, config errors, CLI, workers, listeners."""

import os
import signal
import subprocess
import threading
import time
import uuid

import pytest

from backend import Resp
from conftest import IS_PUSHPIN, PUSHPIN, THUMBTACK
from helpers import free_port, http, wait_for


def test_sigterm_exits_cleanly(make_proxy, backend):
    p = make_proxy()
    assert p.http("GET", "/x").status == 200
    t0 = time.monotonic()
    code = p.stop(timeout=10)
    assert time.monotonic() - t0 < 10
    if not IS_PUSHPIN:
        assert code == 0, p.log()[-3000:]


@pytest.mark.thumbtack_only
def test_sigterm_finishes_in_flight_request(make_proxy, backend):
    p = make_proxy()
    backend.on("/slow", Resp(200, [("Content-Type", "text/plain")], b"done\n", delay=0.8))
    out = {}

    def run():
        out["r"] = p.http("GET", "/slow")
    t = threading.Thread(target=run)
    t.start()
    assert backend.wait_requests(1, path="/slow", timeout=3)
    p.signal(signal.SIGTERM)
    t.join(5)
    assert out["r"].status == 200 and out["r"].body == b"done\n"
    assert p.proc.wait(10) == 0


def test_access_log_line(make_proxy, backend):
    p = make_proxy(config={"runner": {"log_level": "2"}})
    tag = uuid.uuid4().hex[:10]
    assert p.http("GET", "/acc-" + tag).status == 200

    def found():
        for ln in p.log().splitlines():
            if ("/acc-" + tag) in ln and "GET" in ln and "200" in ln:
                return ln
        return None
    line = wait_for(found, timeout=3)
    assert line, p.log()[-3000:]


@pytest.mark.thumbtack_only
def test_access_log_escapes_control_bytes(make_proxy, backend):
    p = make_proxy(config={"runner": {"log_level": "2"}, "proxy": {"log_user_agent": "true"}})
    tag = uuid.uuid4().hex[:10]
    p.http("GET", "/esc-" + tag, headers=[("User-Agent", "evil\x1b[31mred")])
    time.sleep(0.5)
    log = p.log()
    assert "\x1b" not in log


@pytest.mark.thumbtack_only
def test_malformed_config_is_startup_error(make_proxy):
    p = make_proxy(start=False)
    with open(p.conf_path, "w") as f:
        f.write("[global]\nrundir=%s\n[runner\nhttp_port=%d\n" % (p.rundir, p.port))
    res = subprocess.run(p.cmd(), capture_output=True, text=True, timeout=10)
    assert res.returncode != 0
    err = res.stderr + res.stdout
    assert "pushpin.conf:3" in err, err


@pytest.mark.thumbtack_only
def test_missing_config_file_is_error(tmp_path):
    res = subprocess.run([THUMBTACK, "--config", str(tmp_path / "nope.conf")],
                         capture_output=True, text=True, timeout=10)
    assert res.returncode != 0
    assert "nope.conf" in res.stderr


def test_version_and_help():
    binary = PUSHPIN if IS_PUSHPIN else THUMBTACK
    res = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0
    assert (res.stdout + res.stderr).strip()
    res = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10)
    assert res.returncode == 0
    assert "--config" in res.stdout + res.stderr
    assert "--route" in res.stdout + res.stderr


def test_unknown_config_keys_ignored(make_proxy, backend):
    p = make_proxy(config={"proxy": {"no_such_option": "1"}, "runner": {"bogus": "x"}})
    assert p.http("GET", "/x").status == 200


def test_workers_2(make_proxy, backend):
    p = make_proxy(config={"proxy": {"workers": "2"}})
    results = []

    def run(i):
        with p.conn() as c:
            for j in range(5):
                c.request("GET", "/w%d-%d" % (i, j))
                results.append(c.read_response().status)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(10)
    assert results == [200] * 40
    assert len(backend.reqs()) == 40


def test_http_port_list_with_address(make_proxy, backend):
    p1, p2 = free_port(), free_port()
    p = make_proxy(config={"runner": {"http_port": "127.0.0.1:%d,%d" % (p1, p2)}}, start=False)
    p.port = p1
    p.start()
    assert http(p1, "GET", "/a").status == 200
    assert wait_for(lambda: http(p2, "GET", "/b").status == 200, timeout=3)


@pytest.mark.thumbtack_only
def test_include_and_relative_paths(make_proxy, backend):
    p = make_proxy(start=False)
    sub = os.path.join(p.dir, "conf.d")
    os.makedirs(sub)
    with open(os.path.join(sub, "extra.conf"), "w") as f:
        f.write("[proxy]\nx_forwarded_for=append\n")
    text = open(p.conf_path).read().replace("[global]\n", "[global]\ninclude=conf.d/extra.conf\n", 1)
    p.write_config(text)
    p.start()
    p.http("GET", "/inc")
    assert backend.reqs("/inc")[0].header("X-Forwarded-For") == "127.0.0.1"


@pytest.mark.thumbtack_only
def test_verbose_and_loglevel_flags(make_proxy, backend):
    p = make_proxy(config={"runner": {"log_level": "1"}}, args=["--verbose"])
    assert p.http("GET", "/v").status == 200
    assert wait_for(lambda: "/v" in p.log(), timeout=3)


@pytest.mark.thumbtack_only
def test_sighup_keeps_connections(make_proxy, backend):
    p = make_proxy()
    c = p.conn()
    c.request("GET", "/a")
    assert c.read_response().status == 200
    for _ in range(3):
        p.reload()
        time.sleep(0.1)
    c.request("GET", "/b")
    assert c.read_response().status == 200
    c.close()
    assert p.proc.poll() is None
