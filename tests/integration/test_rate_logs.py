"""Issue 3 limits (message_rate / message_hwm) and issue 2 access-log options."""

import time

import pytest

from conftest import IS_PUSHPIN
from griputil import hold, open_stream, pub_stream, read_stream_until, settle


def _stream(p, backend, path, chan):
    backend.on(path, hold("stream", [chan], b""))
    c, r = open_stream(p, path)
    assert r.status == 200
    settle()
    return c


@pytest.mark.thumbtack_only  # 1.36 counts deliveries per route; we count items (README)
def test_message_rate_paces_items(make_proxy, backend, chan):
    p = make_proxy(config={"handler": {"message_rate": "10", "message_hwm": "1000"}})
    c = _stream(p, backend, "/rate", chan)
    with c:
        t0 = time.monotonic()
        p.publish([{"channel": chan, "formats": {"http-stream": {"content": "m%d\n" % i}}}
                   for i in range(30)])
        got = read_stream_until(c, b"m29\n", timeout=10)
        el = time.monotonic() - t0
    # a one-second burst allowance, then 10/s: the last of 30 arrives after ~2 s
    assert el >= 1.5, el
    assert all((b"m%d\n" % i) in got for i in range(30))


@pytest.mark.thumbtack_only
def test_message_hwm_drops_excess(make_proxy, backend, chan):
    p = make_proxy(config={"handler": {"message_rate": "2", "message_hwm": "3"}})
    c = _stream(p, backend, "/hwm", chan)
    with c:
        p.publish([{"channel": chan, "formats": {"http-stream": {"content": "h%d\n" % i}}}
                   for i in range(20)])
        time.sleep(4)
        pub_stream(p, chan, "end\n")
        got = read_stream_until(c, b"end\n", timeout=10)
    n = sum(1 for i in range(20) if (b"h%d\n" % i) in got)
    # 2 pass at once (burst), 3 wait, the rest is dropped
    assert 3 <= n <= 6, got
    assert "message_hwm" in p.log()


@pytest.mark.thumbtack_only
def test_access_log_from_and_user_agent(make_proxy, backend):
    p = make_proxy(config={"proxy": {"log_from": "true", "log_user_agent": "true"}})
    r = p.http("GET", "/logged", headers=[("X-Forwarded-For", "203.0.113.7, 10.0.0.1"),
                                          ("User-Agent", "probe/1.0 \xe9")])
    assert r.status == 200
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and "/logged" not in p.log():
        time.sleep(0.05)
    line = [l for l in p.log().splitlines() if "GET /logged" in l][0]
    assert "status=200" in line
    assert "from=203.0.113.7" in line
    assert 'ua="probe/1.0 \\xe9"' in line  # non-ASCII bytes escaped
