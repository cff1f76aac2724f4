"""Issue 3: a real browser's EventSource through thumbtack (headless Chromium).

The backend serves a page and, on /events, an SSE GRIP stream hold. The page opens
`new EventSource(...)`, writes each event into the DOM and reports what it saw by requesting
/report?... from the same origin (so through thumbtack to the backend), which the test reads
from the backend's request log: no DevTools protocol needed. Publishing `close` ends the
stream; the browser reconnects by itself and that request must carry Last-Event-ID.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import urllib.parse

import pytest

from backend import Resp
from griputil import pub_stream, settle
from helpers import wait_for

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
LIMIT = 20.0  # seconds allowed for any one browser step

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>thumbtack sse</title></head>
<body><ol id="log"></ol>
<script>
let seq = 0;
function report(kind, fields) {
  const q = new URLSearchParams(Object.assign({kind: kind, seq: String(seq++)}, fields));
  fetch('/report?' + q.toString(), {cache: 'no-store'}).catch(function () {});
}
const es = new EventSource('/events?channel=%(channel)s');
let opens = 0;
es.onopen = function () { opens++; report('open', {opens: String(opens)}); };
es.onerror = function () { report('error', {state: String(es.readyState)}); };
es.onmessage = function (e) {
  const li = document.createElement('li');
  li.textContent = e.lastEventId + ':' + e.data;
  document.getElementById('log').appendChild(li);
  const dom = Array.from(document.querySelectorAll('#log li')).map(function (x) {
    return x.textContent; }).join('|');
  report('message', {id: e.lastEventId, data: e.data, dom: dom});
};
report('loaded', {});
</script></body></html>
"""


class Browser:
    """Headless Chromium showing one URL; killed (its whole process group) on stop."""

    def __init__(self, url, ignore_cert_errors=False):
        """ignore_cert_errors: for HTTPS pages with the tests' self-signed certificates."""
        self.profile = tempfile.mkdtemp(prefix="tt-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        self.log_f = open(self.log_path, "wb")
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
               "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--disable-extensions",
               "--disable-dev-shm-usage", "--no-proxy-server", "--mute-audio",
               "--user-data-dir=" + self.profile, url]
        if ignore_cert_errors:
            cmd.insert(-2, "--ignore-certificate-errors")
        self.proc = subprocess.Popen(cmd, stdout=self.log_f, stderr=self.log_f,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        self.log_f.close()
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium not found (%s); tools/deps.sh installs the Debian package" % CHROMIUM)
    made = []

    def start(url):
        b = Browser(url)
        made.append(b)
        return b
    yield start
    for b in made:
        b.stop()


def reports(backend, kind=None):
    out = []
    for r in backend.reqs("/report"):
        q = dict(urllib.parse.parse_qsl(r.query, keep_blank_values=True))
        if kind is None or q.get("kind") == kind:
            out.append(q)
    return sorted(out, key=lambda q: int(q.get("seq", 0)))


def wait_report(backend, browser_, what, pred, timeout=LIMIT):
    got = wait_for(pred, timeout, interval=0.05)
    if not got:
        raise AssertionError("browser never %s within %ss.\nreports: %s\nbackend requests: %s\n"
                             "chromium log:\n%s" % (what, timeout, json.dumps(reports(backend)),
                                                   [r.target for r in backend.reqs()],
                                                   browser_.log()))
    return got


def test_eventsource_receives_published_events_and_reconnects_with_last_event_id(
        proxy, backend, browser, chan):
    backend.on("/page.html", Resp(200, [("Content-Type", "text/html; charset=utf-8"),
                                        ("Cache-Control", "no-store")],
                                  (PAGE % {"channel": chan}).encode()))
    # Every /events request (first and reconnect) becomes an SSE stream hold on chan; the
    # initial body shortens the browser's reconnect delay.
    backend.on("/events", Resp(200, [("Content-Type", "text/event-stream"),
                                     ("Cache-Control", "no-cache"),
                                     ("Grip-Hold", "stream"), ("Grip-Channel", chan)],
                               b"retry: 500\n\n"))
    backend.on("/report", Resp(204, [("Cache-Control", "no-store")], b""))

    b = browser(proxy.url("/page.html"))
    wait_report(backend, b, "opened the EventSource",
                lambda: reports(backend, "open") and backend.reqs("/events"))
    first = backend.reqs("/events")[0]
    assert first.header("Accept") == "text/event-stream", first.headers
    assert first.header("Last-Event-ID") is None, first.headers
    settle()

    pub_stream(proxy, chan, "id: 1\ndata: hello\n\n")
    pub_stream(proxy, chan, "id: 2\ndata: world\n\n")
    msgs = wait_report(backend, b, "received both events",
                       lambda: len(reports(backend, "message")) >= 2 and reports(backend, "message"))
    assert [(m["id"], m["data"]) for m in msgs] == [("1", "hello"), ("2", "world")]
    assert msgs[-1]["dom"] == "1:hello|2:world"
    assert not reports(backend, "error"), reports(backend)

    # Close the stream: thumbtack ends the response cleanly, the browser reconnects itself.
    proxy.publish({"channel": chan, "formats": {"http-stream": {"action": "close"}}})
    wait_report(backend, b, "reconnected",
                lambda: len(backend.reqs("/events")) >= 2 and len(reports(backend, "open")) >= 2)
    again = backend.reqs("/events")[1]
    assert again.header("Last-Event-ID") == "2", again.headers
    # The stream ended without an error state the browser gives up on (readyState 2).
    assert all(e.get("state") != "2" for e in reports(backend, "error")), reports(backend)

    # The reconnected EventSource is held on the channel again and keeps receiving.
    settle()
    pub_stream(proxy, chan, "id: 3\ndata: again\n\n")
    msgs = wait_report(backend, b, "received an event after reconnecting",
                       lambda: len(reports(backend, "message")) >= 3 and reports(backend, "message"))
    assert (msgs[2]["id"], msgs[2]["data"]) == ("3", "again")
    assert msgs[2]["dom"] == "1:hello|2:world|3:again"
    assert len(backend.reqs("/page.html")) == 1
