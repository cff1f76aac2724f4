"""Issue 2: route selection, rewrites, reload."""

import time

import pytest

from backend import Resp
from conftest import IS_PUSHPIN
from helpers import wait_for


def _tag(b, name):
    b.default = Resp(200, [("Content-Type", "text/plain")], name.encode() + b"\n")


def _no_route_body(host):
    return ("No route for host: %s\n" % host).encode() if IS_PUSHPIN else b"Route not found\n"


def test_exact_host_beats_wildcard(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "one")
    _tag(b2, "two")
    p = make_proxy(routes="* %s\na.example %s\n" % (b2.addr, b1.addr))
    assert p.http("GET", "/", host="a.example").body == b"one\n"
    assert p.http("GET", "/", host="a.example:8080").body == b"one\n"
    assert p.http("GET", "/", host="A.example").body in (b"one\n", b"two\n")
    assert p.http("GET", "/", host="b.example").body == b"two\n"
    # no partial wildcard: a sub-domain is not the domain
    assert p.http("GET", "/", host="x.a.example").body == b"two\n"


def test_no_fallback_to_wildcard(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    p = make_proxy(routes="a.example,path_beg=/api %s\n* %s\n" % (b1.addr, b2.addr))
    r = p.http("GET", "/other", host="a.example")
    assert r.status == 502
    assert r.body == _no_route_body("a.example")
    assert b1.reqs() == [] and b2.reqs() == []
    assert p.http("GET", "/api/x", host="a.example").status == 200
    assert len(b1.reqs()) == 1


def test_path_beg_longest_wins(make_proxy, make_backend):
    b1, b2, b3 = make_backend(), make_backend(), make_backend()
    _tag(b1, "short")
    _tag(b2, "long")
    _tag(b3, "any")
    # longer prefix listed last and first: order must not matter
    p = make_proxy(routes="*,path_beg=/a %s\n*,path_beg=/a/b %s\n* %s\n" % (b1.addr, b2.addr, b3.addr))
    assert p.http("GET", "/a/b/c").body == b"long\n"
    assert p.http("GET", "/a/x").body == b"short\n"
    assert p.http("GET", "/z").body == b"any\n"
    p2 = make_proxy(routes="*,path_beg=/a/b %s\n* %s\n*,path_beg=/a %s\n" % (b2.addr, b3.addr, b1.addr))
    assert p2.http("GET", "/a/b/c").body == b"long\n"
    assert p2.http("GET", "/a/x").body == b"short\n"
    assert p2.http("GET", "/q").body == b"any\n"


def test_path_beg_case_sensitive(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "api")
    _tag(b2, "any")
    p = make_proxy(routes="*,path_beg=/api %s\n* %s\n" % (b1.addr, b2.addr))
    assert p.http("GET", "/API/x").body == b"any\n"
    assert p.http("GET", "/api/x").body == b"api\n"


def test_proto_http_condition(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "ws")
    _tag(b2, "http")
    p = make_proxy(routes="*,proto=ws %s\n*,proto=http %s\n" % (b1.addr, b2.addr))
    assert p.http("GET", "/x").body == b"http\n"


def test_ssl_condition_plain_request(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "tls")
    _tag(b2, "plain")
    p = make_proxy(routes="*,ssl=yes %s\n*,ssl=no %s\n" % (b1.addr, b2.addr))
    assert p.http("GET", "/x").body == b"plain\n"


def test_comments_blank_lines_and_bad_lines(make_proxy, backend):
    routes = ("# a comment\n\n"
              "*,path_beg=\"/q#x\" %s  # trailing comment\n"
              "*,path_beg=/bad,\n"          # empty prop: line skipped
              "* %s\n") % (backend.addr, backend.addr)
    p = make_proxy(routes=routes)
    assert p.http("GET", "/q#x").status == 200
    assert p.http("GET", "/bad").status == 200
    assert p.http("GET", "/other").status == 200


def test_path_rem(make_proxy, backend):
    p = make_proxy(routes="*,path_beg=/api,path_rem=4 %s\n" % backend.addr)
    p.http("GET", "/api/items?x=1")
    assert backend.reqs()[0].target == "/items?x=1"


def test_replace_beg(make_proxy, backend):
    p = make_proxy(routes="*,path_beg=/api/,replace_beg=/v2/ %s\n" % backend.addr)
    p.http("GET", "/api/items")
    assert backend.reqs()[0].target == "/v2/items"


def test_as_host(make_proxy, backend):
    p = make_proxy(routes="*,as_host=internal.example %s\n" % backend.addr)
    p.http("GET", "/x", host="public.example")
    assert backend.reqs()[0].header("Host") == "internal.example"


def test_as_host_with_port(make_proxy, backend):
    p = make_proxy(routes="*,as_host=internal.example:8080 %s\n" % backend.addr)
    p.http("GET", "/x", host="public.example")
    assert backend.reqs()[0].header("Host") == "internal.example:8080"


def test_target_host_option(make_proxy, backend):
    p = make_proxy(routes="* %s,host=tgt.example\n" % backend.addr)
    p.http("GET", "/x", host="public.example")
    assert backend.reqs()[0].header("Host") == "tgt.example"


def test_host_header_with_port_forwarded(proxy, backend):
    proxy.http("GET", "/hp", host="example.com:1234")
    assert backend.reqs("/hp")[0].header("Host") == "example.com:1234"


def test_header_option_sets_and_removes(make_proxy, backend):
    p = make_proxy(routes="*,header=X-Added:yes,header=X-Replaced:new,header=X-Gone: %s\n" % backend.addr)
    p.http("GET", "/x", headers=[("X-Replaced", "old"), ("X-Gone", "bye"), ("X-Kept", "k")])
    q = backend.reqs()[0]
    assert q.header("X-Added") == "yes"
    assert q.header_all("X-Replaced") == ["new"]
    assert q.header("X-Gone") is None
    assert q.header("X-Kept") == "k"


def test_cli_route_overrides_file(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "file")
    _tag(b2, "cli")
    p = make_proxy(routes="* %s\n" % b1.addr, args=["--route", "*,path_beg=/c %s" % b2.addr,
                                                   "--route", "* %s" % b2.addr])
    assert p.http("GET", "/c/x").body == b"cli\n"
    assert p.http("GET", "/x").body == b"cli\n"
    assert b1.reqs() == []


def test_cli_port(make_proxy, backend):
    from helpers import free_port, http
    port = free_port()
    p = make_proxy(args=["--port", "127.0.0.1:%d" % port], start=False)
    p.port = port
    p.start()
    r = http(port, "GET", "/cliport")
    assert r.status == 200
    assert backend.reqs("/cliport")


def test_sighup_reloads_routes(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "old")
    _tag(b2, "new")
    p = make_proxy(routes="* %s\n" % b1.addr)
    assert p.http("GET", "/x").body == b"old\n"
    # keep a connection open across the reload: it must survive
    c = p.conn()
    c.request("GET", "/k1")
    assert c.read_response().body == b"old\n"
    # write new content in place (same inode) and signal
    with open(p.routes_path, "w") as f:
        f.write("* %s\n" % b2.addr)
    p.reload()
    assert wait_for(lambda: p.http("GET", "/x").body == b"new\n", timeout=5)
    c.request("GET", "/k2")
    r = c.read_response()
    assert r.status == 200
    c.close()


def test_routes_file_change_reloads(make_proxy, make_backend):
    b1, b2 = make_backend(), make_backend()
    _tag(b1, "old")
    _tag(b2, "new")
    p = make_proxy(routes="* %s\n" % b1.addr)
    assert p.http("GET", "/x").body == b"old\n"
    time.sleep(0.1)
    p.write_routes("* %s\n" % b2.addr)  # atomic rename
    assert wait_for(lambda: p.http("GET", "/x").body == b"new\n", timeout=6, interval=0.2)


@pytest.mark.thumbtack_only
def test_broken_routes_file_keeps_old(make_proxy, make_backend):
    b1 = make_backend()
    _tag(b1, "old")
    p = make_proxy(routes="* %s\n" % b1.addr)
    assert p.http("GET", "/x").body == b"old\n"
    with open(p.routes_path, "w") as f:
        f.write("*,path_beg=\"/unterminated %s\n" % b1.addr)
    p.reload()
    time.sleep(1.5)
    assert p.proc.poll() is None
    assert p.http("GET", "/x").body == b"old\n"
    assert p.http("GET", "/y").body == b"old\n"
