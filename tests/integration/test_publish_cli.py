"""Issue 7: thumbtack-publish, the publisher tool (as pushpin-publish). Every option is
checked in the item it sends (captured by a recording HTTP endpoint and a PULL socket),
and end to end against running instances over HTTP and ZeroMQ, one or several at once.
Also run against Debian's pushpin (TT_AGAINST=pushpin)."""

import http.server
import json
import os
import subprocess
import threading

import pytest
import zmq

from conftest import THUMBTACK
from griputil import hold, open_stream, read_stream_until, settle
from helpers import free_port, wait_for
from zmqutil import sock, tnet_loads

TOOL = os.environ.get("THUMBTACK_PUBLISH") or os.path.join(os.path.dirname(THUMBTACK),
                                                           "thumbtack-publish")
TR = "pub.test"
ROUTES = "%s test\n" % TR


def run(*args, env=None, timeout=20):
    e = dict(os.environ)
    e.pop("GRIP_URL", None)
    e.update(env or {})
    return subprocess.run([TOOL] + list(args), capture_output=True, text=True, timeout=timeout,
                          env=e)


class Recorder:
    """An HTTP endpoint that records each POST body and answers 200 Published."""

    def __init__(self, status=200, body=b"Published\n"):
        rec = self
        self.bodies, self.paths, self.headers = [], [], []

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                rec.bodies.append(json.loads(self.rfile.read(n)))
                rec.paths.append(self.path)
                rec.headers.append(dict(self.headers))
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass
        self.srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def item(self):
        assert len(self.bodies) == 1, self.bodies
        items = self.bodies[0]["items"]
        assert len(items) == 1
        return items[0]

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def rec():
    r = Recorder()
    yield r
    r.close()


def spec_of(r):
    return "http://127.0.0.1:%d" % r.port


# ---- the item, option by option ----

def test_help_documents_every_option():
    out = run("--help")
    assert out.returncode == 0
    for opt in ("--spec", "--user", "--bearer", "--timeout", "--format", "--id", "--prev-id",
                "--no-seq", "--sender", "--meta", "--code", "--header", "--patch", "--no-eol",
                "--ws-type", "--hint", "--close", "--close-code", "--close-reason", "--quiet",
                "--help", "--version", "GRIP_URL", "@FILE"):
        assert opt in out.stdout, opt
    assert run("--version").stdout.startswith("thumbtack-publish ")


def test_default_item(rec):
    out = run("--spec", spec_of(rec), "chan-a", "hello")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "Published\n"
    assert rec.paths == ["/publish/"]
    assert rec.headers[0]["Content-Type"] == "application/json"
    assert rec.item() == {
        "channel": "chan-a",
        "formats": {"http-response": {"code": 200, "body": "hello\n"},
                    "http-stream": {"content": "hello\n"},
                    "ws-message": {"content": "hello"}}}


def test_every_send_option(rec):
    out = run("--spec", spec_of(rec) + "/base/", "--id", "i2", "--prev-id", "i1", "--no-seq",
              "--sender", "me", "-M", "k=v", "--meta", "x= y", "--code", "404",
              "-H", "X-A: 1", "--header", "Cache-Control:  no-cache", "--no-eol",
              "--format", "response,ws", "--ws-type", "text", "c", "body")
    assert out.returncode == 0, out.stderr
    assert rec.paths == ["/base/publish/"]
    assert rec.item() == {
        "channel": "c", "id": "i2", "prev-id": "i1", "no-seq": True,
        "meta": {"sender": "me", "k": "v", "x": "y"},
        "formats": {"http-response": {"code": 404, "body": "body",
                                      "headers": [["X-A", "1"], ["Cache-Control", "no-cache"]]},
                    "ws-message": {"content": "body"}}}


def test_patch_hint_close(rec):
    assert run("--spec", spec_of(rec), "--patch", "c",
               '[{"op": "replace", "path": "/a", "value": 1}]').returncode == 0
    assert rec.bodies[-1]["items"][0]["formats"] == {
        "http-response": {"code": 200, "body-patch": [{"op": "replace", "path": "/a", "value": 1}]}}
    assert run("--spec", spec_of(rec), "--hint", "c").returncode == 0
    assert rec.bodies[-1]["items"][0]["formats"] == {
        "http-response": {"action": "hint"}, "http-stream": {"action": "hint"},
        "ws-message": {"action": "hint"}}
    assert run("--spec", spec_of(rec), "--close", "--close-code", "4000",
               "--close-reason", "bye", "c").returncode == 0
    assert rec.bodies[-1]["items"][0]["formats"] == {
        "http-stream": {"action": "close"},
        "ws-message": {"action": "close", "code": 4000, "reason": "bye"}}


def test_file_content_binary(rec, tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b"\x00\xffbin")
    assert run("--spec", spec_of(rec), "--ws-type", "binary", "c", "@" + str(f)).returncode == 0
    fm = rec.item()["formats"]
    import base64
    assert base64.b64decode(fm["http-response"]["body-bin"]) == b"\x00\xffbin"
    assert base64.b64decode(fm["http-stream"]["content-bin"]) == b"\x00\xffbin"
    assert fm["ws-message"] == {"type": "binary",
                                "content-bin": base64.b64encode(b"\x00\xffbin").decode()}


def test_auth_headers(rec):
    assert run("--spec", spec_of(rec), "-u", "u:secret", "c", "x").returncode == 0
    assert rec.headers[-1]["Authorization"] == "Basic dTpzZWNyZXQ="
    assert run("--spec", spec_of(rec), "-B", "tok", "c", "x").returncode == 0
    assert rec.headers[-1]["Authorization"] == "Bearer tok"


def test_grip_url_env(rec):
    out = run("c", "x", env={"GRIP_URL": spec_of(rec)})
    assert out.returncode == 0 and len(rec.bodies) == 1


def test_zmq_item_is_a_tnetstring():
    port = free_port()
    pull = sock(zmq.PULL)
    pull.bind("tcp://127.0.0.1:%d" % port)
    try:
        out = run("--spec", "tcp://127.0.0.1:%d" % port, "--id", "z1", "--format", "stream",
                  "c", "zz")
        assert out.returncode == 0, out.stderr
        assert pull.poll(3000)
        item = tnet_loads(pull.recv())
        assert item == {"channel": b"c", "id": b"z1",
                        "formats": {"http-stream": {"content": b"zz\n"}}}
    finally:
        pull.close()


def test_usage_errors():
    assert run().returncode == 2
    assert run("c").returncode == 2  # no content
    assert run("--code", "1000", "c", "x").returncode == 2
    assert run("-u", "a:b", "-B", "t", "c", "x").returncode == 2
    assert run("--format", "bogus", "c", "x").returncode == 2
    out = run("--spec", "http://127.0.0.1:1", "-H", "no-colon", "c", "x")
    assert out.returncode == 2 and "header must be" in out.stderr
    out = run("--spec", "http://127.0.0.1:1", "--patch", "c", "{}")
    assert out.returncode == 2 and "JSON array" in out.stderr


def test_unreachable_targets():
    out = run("--spec", "http://127.0.0.1:%d" % free_port(), "c", "x")
    assert out.returncode == 1 and out.stderr.startswith("Error: cannot connect")
    out = run("--timeout", "1", "--spec", "tcp://127.0.0.1:%d" % free_port(), "c", "x")
    assert out.returncode == 1 and "no PULL input reachable" in out.stderr
    out = run("--spec", "ftp://x", "c", "x")
    assert out.returncode == 1


# ---- end to end ----

def test_http_to_instance(make_proxy, chan):
    p = make_proxy(ROUTES)
    c, r = open_stream(p, "/stream?channel=" + chan, host=TR)
    assert c.read_chunk() == b"[stream opened]\n"
    settle()
    out = run("--spec", "http://127.0.0.1:%d" % p.pub_port, chan, "via http")
    assert out.returncode == 0, out.stderr
    assert read_stream_until(c, b"via http\n") == b"via http\n"
    out = run("--spec", "http://127.0.0.1:%d" % p.pub_port, "--close", chan)
    assert out.returncode == 0
    c.settimeout(5)
    assert c.read_chunk() == b""  # the stream ends cleanly
    c.close()


def test_zmq_to_instance(make_proxy, chan):
    p = make_proxy(ROUTES)
    c, r = open_stream(p, "/stream?channel=" + chan, host=TR)
    assert c.read_chunk() == b"[stream opened]\n"
    settle()
    out = run("--spec", p.zmq_spec(p.push_port), chan, "via zmq")
    assert out.returncode == 0, out.stderr
    assert read_stream_until(c, b"via zmq\n") == b"via zmq\n"
    c.close()


def test_several_instances(make_proxy, chan):
    a = make_proxy(ROUTES)
    b = make_proxy(ROUTES)
    streams = []
    for p in (a, b):
        c, r = open_stream(p, "/stream?channel=" + chan, host=TR)
        assert c.read_chunk() == b"[stream opened]\n"
        streams.append(c)
    settle()
    out = run("--spec", "http://127.0.0.1:%d" % a.pub_port, "--spec", b.zmq_spec(b.push_port),
              chan, "everyone")
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("Published") == 2
    for c in streams:
        assert read_stream_until(c, b"everyone\n") == b"everyone\n"
        c.close()


def test_one_target_down_is_reported(make_proxy, chan):
    a = make_proxy(ROUTES)
    out = run("--spec", "http://127.0.0.1:%d" % a.pub_port, "--spec",
              "http://127.0.0.1:%d" % free_port(), chan, "x")
    assert out.returncode == 1
    assert "Published" in out.stdout and "Error" in out.stderr


def test_response_format_and_hint(make_proxy, backend, chan):
    """--format response answers a long-poll; --hint makes it ask the backend again."""
    p = make_proxy("* %s\n" % backend.addr)
    backend.on("/lp", hold("response", channels=(chan,), body=b"timeout\n"))
    c = p.conn(timeout=10)
    c.request("GET", "/lp")
    backend.wait_requests(1, path="/lp")
    settle()
    out = run("--spec", "http://127.0.0.1:%d" % p.pub_port, "--hint", chan)
    assert out.returncode == 0, out.stderr
    # Pushpin 1.36's first-subscription update may add a request of its own.
    wait_for(lambda: len(backend.reqs("/lp")) >= 2, timeout=5)
    settle()
    out = run("--spec", "http://127.0.0.1:%d" % p.pub_port, "--format", "response",
              "--code", "201", "-H", "X-P: 1", chan, "answer")
    assert out.returncode == 0
    r = c.read_response()
    assert r.status == 201 and r.body == b"answer\n" and r.header("X-P") == "1"
    c.close()


@pytest.mark.thumbtack_only
def test_publish_key_auth(make_proxy, chan):
    p = make_proxy(ROUTES, config={"handler": {"publish_key": "s3cret"}})
    spec = "http://127.0.0.1:%d" % p.pub_port
    out = run("--spec", spec, chan, "x")
    assert out.returncode == 1 and "401" in out.stderr
    assert run("--spec", spec, "-u", "any:s3cret", chan, "x").returncode == 0


@pytest.mark.thumbtack_only
def test_make_install(tmp_path):
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    # Relative, as the Makefile names its targets: an up-to-date build is only copied.
    build = os.path.relpath(os.path.dirname(TOOL), root)
    dest = tmp_path / "dest"
    out = subprocess.run(["make", "-s", "-C", root, "install", "BUILD=" + build,
                          "DESTDIR=" + str(dest), "PREFIX=/opt/tt"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for name in ("thumbtack", "thumbtack-publish"):
        f = dest / "opt" / "tt" / "bin" / name
        assert f.exists() and os.access(str(f), os.X_OK)
    assert subprocess.run([str(dest / "opt/tt/bin/thumbtack-publish"), "--version"],
                          capture_output=True).returncode == 0
