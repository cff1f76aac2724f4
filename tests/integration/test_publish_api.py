"""Issue 3: the HTTP publish/control API (SPEC 5), exact status codes and texts."""

import base64
import json
import time

import pytest

from helpers import Conn, http, jwt_encode


def api(proxy, method="POST", path="/publish/", body=None, headers=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return http(proxy.pub_port, method, path, headers, body, host="localhost")


def item(channel, content="x\n"):
    return {"channel": channel, "formats": {"http-stream": {"content": content}}}


def test_root(proxy):
    for m in ("GET", "POST"):
        r = api(proxy, m, "/", body=b"" if m == "POST" else None)
        assert r.status == 200
        assert r.body == b"Pushpin API\n"


def test_publish_ok_text(proxy, chan):
    r = api(proxy, body={"items": [item(chan)]})
    assert r.status == 200
    assert r.body == b"Published\n"
    assert r.header("Content-Type").startswith("text/plain")


def test_publish_without_trailing_slash(proxy, chan):
    r = api(proxy, path="/publish", body={"items": [item(chan)]})
    assert r.status == 200 and r.body == b"Published\n"


def test_publish_ok_json(proxy, chan):
    r = api(proxy, body={"items": [item(chan)]}, headers=[("Accept", "application/json")])
    assert r.status == 200
    assert r.header("Content-Type").startswith("application/json")
    assert r.body == b'{"message":"Published"}\n'


@pytest.mark.parametrize("accept,kind", [("text/plain", "text"), ("*/*", "text"),
                                         ("text/*", "text"), ("application/*", "json"),
                                         ("text/html, application/json", "json")])
def test_accept_negotiation(proxy, chan, accept, kind):
    r = api(proxy, body={"items": [item(chan)]}, headers=[("Accept", accept)])
    assert r.status == 200
    assert r.body == (b"Published\n" if kind == "text" else b'{"message":"Published"}\n')


def test_not_acceptable(proxy, chan):
    r = api(proxy, body={"items": [item(chan)]}, headers=[("Accept", "image/png")])
    assert r.status == 406
    assert r.body == b"Not Acceptable. Supported formats are text/plain and application/json.\n"


def test_method_not_allowed(proxy):
    r = api(proxy, "GET", "/publish/")
    assert r.status == 405
    assert r.header("Allow") == "POST"
    assert r.body == b"Method not allowed: GET.\n"
    r = api(proxy, "PUT", "/publish/", body=b"{}")
    assert r.status == 405
    assert r.body == b"Method not allowed: PUT.\n"


def test_not_found(proxy):
    r = api(proxy, "GET", "/nope")
    assert r.status == 404
    assert r.body == b"Not Found\n"
    r = api(proxy, "POST", "/publish?x=1", body=b"{}")
    assert r.status == 404


ERRORS = [
    (b"{not json", "Body is not valid JSON."),
    (b"[]", "Invalid format."),
    (b"{}", "Invalid format: object does not contain 'items'"),
    (b'{"items": 5}', "Invalid format: object contains 'items' with wrong type"),
    (b'{"items": [{"formats": {"http-stream": {"content": "x"}}}]}',
     "Invalid format: publish item object does not contain 'channel'"),
    (b'{"items": [{"channel": "c", "id": 5, "formats": {"http-stream": {"content": "x"}}}]}',
     "Invalid format: publish item object contains 'id' with wrong type"),
    (b'{"items": [{"channel": "c"}]}', "Invalid format: no formats specified"),
    (b'{"items": [{"channel": "c", "formats": {"http-response": {"code": 200}}}]}',
     "Invalid format: 'http-response' does not contain 'body', 'body-bin', or 'body-patch'"),
]


@pytest.mark.parametrize("body,msg", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_publish_errors(proxy, body, msg):
    r = api(proxy, body=body)
    assert r.status == 400
    assert r.body == (msg + "\n").encode()


def test_invalid_item_rejects_whole_request(proxy, chan):
    # first item valid, second invalid: nothing is published
    with proxy.conn() as c:
        c.request("GET", "/stream?channel=" + chan, host="testroute.local")
        r = c.read_head()
        assert r.status == 200
        assert c.read_chunk() == b"[stream opened]\n"
        time.sleep(0.3)
        bad = {"items": [item(chan, "first\n"), {"channel": chan}]}
        assert api(proxy, body=bad).status == 400
        proxy.publish(item(chan, "second\n"))
        assert c.read_chunk() == b"second\n"


def test_length_required(proxy):
    with Conn(proxy.pub_port) as c:
        c.send(b"POST /publish/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
        r = c.read_response()
    assert r.status == 411
    assert r.body == b"Request requires Content-Length.\n"


def test_body_too_large(proxy, chan):
    big = json.dumps({"items": [item(chan, "x" * 1000001)]})
    r = api(proxy, body=big)
    assert r.status == 400
    assert r.body == b"Request body too large.\n"


def test_connection_close(proxy, chan):
    with Conn(proxy.pub_port) as c:
        c.request("POST", "/publish/", body=json.dumps({"items": [item(chan)]}), host="x")
        r = c.read_response()
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.is_closed(2)


def test_recover(proxy):
    r = api(proxy, "POST", "/recover/", body=b"")
    assert r.status == 200
    assert r.body == b"Updated\n"
    r = api(proxy, "POST", "/recover", body=b"", headers=[("Accept", "application/json")])
    assert r.body == b'{"message":"Updated"}\n'
    r = api(proxy, "GET", "/recover/")
    assert r.status == 405


def test_expect_100_continue_on_api(proxy, chan):
    body = json.dumps({"items": [item(chan)]}).encode()
    with Conn(proxy.pub_port) as c:
        c.send(b"POST /publish/ HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body))
        r = c.read_head(skip_100=False)
        if r.status == 100:
            c.send(body)
            r = c.read_response()
        assert r.status == 200


# ---- publish auth (thumbtack extension) ----

@pytest.fixture
def authed(make_proxy):
    return make_proxy(config={"handler": {"publish_key": "secret"}})


@pytest.mark.thumbtack_only
def test_publish_auth_required(authed, chan):
    r = api(authed, body={"items": [item(chan)]})
    assert r.status == 401
    assert api(authed, body={"items": [item(chan)]},
               headers=[("Authorization", "Bearer not.a.jwt")]).status == 401
    bad_basic = base64.b64encode(b"user:wrong").decode()
    assert api(authed, body={"items": [item(chan)]},
               headers=[("Authorization", "Basic " + bad_basic)]).status == 401


@pytest.mark.thumbtack_only
def test_publish_auth_basic(authed, chan):
    cred = base64.b64encode(b"user:secret").decode()
    r = api(authed, body={"items": [item(chan)]}, headers=[("Authorization", "Basic " + cred)])
    assert r.status == 200 and r.body == b"Published\n"


@pytest.mark.thumbtack_only
def test_publish_auth_bearer_jwt(authed, chan):
    tok = jwt_encode({"iss": "me", "exp": int(time.time()) + 300}, "secret")
    r = api(authed, body={"items": [item(chan)]}, headers=[("Authorization", "Bearer " + tok)])
    assert r.status == 200
    expired = jwt_encode({"iss": "me", "exp": int(time.time()) - 10}, "secret")
    assert api(authed, body={"items": [item(chan)]},
               headers=[("Authorization", "Bearer " + expired)]).status == 401
    wrong = jwt_encode({"iss": "me", "exp": int(time.time()) + 300}, "other")
    assert api(authed, body={"items": [item(chan)]},
               headers=[("Authorization", "Bearer " + wrong)]).status == 401
    # alg=none must never be accepted
    hdr = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    cl = base64.urlsafe_b64encode(json.dumps({"exp": int(time.time()) + 300}).encode()).rstrip(b"=").decode()
    assert api(authed, body={"items": [item(chan)]},
               headers=[("Authorization", "Bearer %s.%s." % (hdr, cl))]).status == 401


@pytest.mark.thumbtack_only
def test_publish_api_binds_loopback(proxy):
    import socket
    # the API must not be reachable on a non-loopback address of this host
    addrs = set()
    try:
        for res in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            addrs.add(res[4][0])
    except OSError:
        pass
    for a in addrs:
        if a.startswith("127."):
            continue
        s = socket.socket()
        s.settimeout(0.5)
        try:
            assert s.connect_ex((a, proxy.pub_port)) != 0
        finally:
            s.close()
