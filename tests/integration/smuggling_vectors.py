"""The request-smuggling vector table (issue 8): raw client bytes and what must come of them.

Each vector is (id, raw, expect):
  expect = ("reject",)                 the request is refused (4xx/5xx), the connection
                                        closes, nothing reaches the backend;
  expect = ("forward", [body, ...])    the backend receives exactly these requests, one per
                                        body, each with exactly that body; the client gets
                                        one 200 per request;
  expect = ("forward+reject", [...])   as forward, then the next request on the connection
                                        is refused and nothing after it is parsed.

Whatever the expectation, no request whose target or headers contain "SMUGGLED" may ever
reach the backend: every vector hides its second request behind that marker.
"""

SMUG = b"GET /SMUGGLED HTTP/1.1\r\nHost: example.com\r\n\r\n"
SMUG_POST = b"POST /SMUGGLED HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n"
# A second request that is really the client's own (pipelining, not smuggling).
NEXT = b"GET /next HTTP/1.1\r\nHost: example.com\r\n\r\n"


def req(method=b"POST", target=b"/v", headers=(), body=b"", version=b"HTTP/1.1",
        host=b"example.com", eol=b"\r\n"):
    out = method + b" " + target + b" " + version + eol
    if host is not None:
        out += b"Host: " + host + eol
    for h in headers:
        out += h + eol
    return out + eol + body


def chunk(data, ext=b""):
    return b"%x" % len(data) + ext + b"\r\n" + data + b"\r\n"


LAST = b"0\r\n\r\n"

VECTORS = []


def add(vid, raw, *expect):
    VECTORS.append((vid, raw, expect))


R = ("reject",)

# ---- CL.TE and TE.CL: both framing headers -> refused (RFC 9112 6.1) ----------------
cl_te_bodies = [
    ("cl_first", [b"Content-Length: 6", b"Transfer-Encoding: chunked"]),
    ("te_first", [b"Transfer-Encoding: chunked", b"Content-Length: 6"]),
    ("cl_first_lower", [b"content-length: 6", b"transfer-encoding: chunked"]),
    ("te_upper", [b"Content-Length: 6", b"TRANSFER-ENCODING: CHUNKED"]),
    ("cl_zero", [b"Content-Length: 0", b"Transfer-Encoding: chunked"]),
    ("cl_big", [b"Content-Length: 100", b"Transfer-Encoding: chunked"]),
    ("te_space_value", [b"Content-Length: 6", b"Transfer-Encoding:  chunked "]),
    ("te_tab_value", [b"Content-Length: 6", b"Transfer-Encoding:\tchunked"]),
    ("cl_between_te", [b"Transfer-Encoding: chunked", b"X: y", b"Content-Length: 6"]),
    ("two_cl_and_te", [b"Content-Length: 6", b"Content-Length: 6",
                       b"Transfer-Encoding: chunked"]),
]
for name, hs in cl_te_bodies:
    add("clte_" + name, req(headers=hs, body=LAST + SMUG), *R)
    add("tecl_" + name, req(headers=hs, body=b"5\r\nhello\r\n" + LAST + SMUG_POST), *R)

# ---- TE.TE: obfuscated Transfer-Encoding ----------------------------------------------
te_refused = [b"xchunked", b"chunked, identity", b"identity, chunked", b"gzip, chunked",
              b"chunked, chunked", b"chunked;q=1.0", b"chunk", b"chunked\x0b", b"\x0cchunked",
              b"identity", b"gzip", b"deflate", b"compress", b"br", b"\"chunked\"", b"chunked,",
              b", chunked", b"chunked\x00"]
for i, v in enumerate(te_refused):
    add("tete_value_%02d" % i, req(headers=[b"Transfer-Encoding: " + v],
                                   body=b"5\r\nhello\r\n" + LAST + SMUG), *R)
add("tete_two_headers", req(headers=[b"Transfer-Encoding: chunked",
                                     b"Transfer-Encoding: identity"],
                            body=LAST + SMUG), *R)
add("tete_two_chunked", req(headers=[b"Transfer-Encoding: chunked",
                                     b"Transfer-Encoding: chunked"],
                            body=LAST + SMUG), *R)
add("tete_space_before_colon", req(headers=[b"Transfer-Encoding : chunked"],
                                   body=LAST + SMUG), *R)
add("tete_tab_before_colon", req(headers=[b"Transfer-Encoding\t: chunked"],
                                 body=LAST + SMUG), *R)
add("tete_folded", req(headers=[b"Transfer-Encoding:", b" chunked"], body=LAST + SMUG), *R)
add("tete_folded_value", req(headers=[b"Transfer-Encoding: identity", b"\tchunked"],
                             body=LAST + SMUG), *R)
add("tete_leading_space_name", req(headers=[b" Transfer-Encoding: chunked"],
                                   body=LAST + SMUG), *R)
add("tete_cr_in_name", req(headers=[b"Transfer-Encoding\r: chunked"], body=LAST + SMUG), *R)
add("tete_nul_in_name", req(headers=[b"Transfer-\x00Encoding: chunked"], body=LAST + SMUG), *R)
# Names a lax backend might take for framing headers: never forwarded with a framing
# meaning, and the body is what the proxy framed.
add("tete_underscore_name", req(headers=[b"Transfer_Encoding: chunked", b"Content-Length: 5"],
                                body=b"hello"), "forward", [b"hello"])
add("cl_underscore_name", req(headers=[b"Content_Length: 50", b"Content-Length: 5"],
                              body=b"hello"), "forward", [b"hello"])
# Accepted spellings of the one valid coding: the body is de-chunked and re-framed.
for i, v in enumerate([b"chunked", b"Chunked", b"CHUNKED", b" chunked", b"chunked ",
                       b"chunked\t"]):
    add("te_ok_%d" % i, req(headers=[b"Transfer-Encoding: " + v],
                            body=chunk(b"hello") + LAST), "forward", [b"hello"])
add("te_http10", req(headers=[b"Transfer-Encoding: chunked"], version=b"HTTP/1.0",
                     body=LAST + SMUG), *R)

# ---- Content-Length: duplicates, signs, junk ------------------------------------------
cl_bad = [b"-1", b"+5", b"5 5", b"5,6", b"5, 6", b"0x5", b"5.0", b"5e0", b"five", b"", b" ",
          b"5\x00", b"5\x0b", b"\xd95", b"9007199254740993", b"18446744073709551621",
          b"99999999999999999999999999999", b"5;", b"5,", b",5", b"5 ,6"]
for i, v in enumerate(cl_bad):
    add("cl_bad_%02d" % i, req(headers=[b"Content-Length: " + v], body=b"hello" + SMUG), *R)
add("cl_dup_differ", req(headers=[b"Content-Length: 5", b"Content-Length: 6"],
                         body=b"hello!" + SMUG), *R)
add("cl_dup_differ_rev", req(headers=[b"Content-Length: 6", b"Content-Length: 5"],
                             body=b"hello!" + SMUG), *R)
add("cl_dup_list_differ", req(headers=[b"Content-Length: 5, 6"], body=b"hello!" + SMUG), *R)
add("cl_dup_third_differs", req(headers=[b"Content-Length: 5", b"Content-Length: 5",
                                         b"Content-Length: 0"], body=b"hello" + SMUG), *R)
# Unambiguous forms are accepted and forwarded with one Content-Length of our own.
for i, hs in enumerate([[b"Content-Length: 5", b"Content-Length: 5"],
                        [b"Content-Length: 5, 5"], [b"Content-Length: 005"],
                        [b"Content-Length:5"], [b"Content-Length:  5  "],
                        [b"content-length: 5"], [b"CONTENT-LENGTH: 5"]]):
    add("cl_ok_%d" % i, req(headers=hs, body=b"hello"), "forward", [b"hello"])
# Whatever follows a body the length has ended is the client's next request.
add("cl_short_then_next", req(headers=[b"Content-Length: 2"], body=b"he" + NEXT),
    "forward", [b"he", b""])
add("cl_zero_then_next", req(b"GET", headers=[b"Content-Length: 0"], body=NEXT),
    "forward", [b"", b""])

# ---- chunk sizes ----------------------------------------------------------------------
size_bad = [b"ffffffffffffffffff", b"10000000000000000", b"-5", b"0x5", b"5x", b"x5",
            b" 5", b"5 x", b"+5", b"5.0", b"", b"\x005", b"5\x00", b"g", b"5 5",
            b"4000000000000001"]
for i, v in enumerate(size_bad):
    add("chunk_size_bad_%02d" % i, req(headers=[b"Transfer-Encoding: chunked"],
                                       body=v + b"\r\nhello\r\n" + LAST + SMUG), *R)
add("chunk_size_bare_lf", req(headers=[b"Transfer-Encoding: chunked"],
                              body=b"5\nhello\r\n" + LAST + SMUG), *R)
add("chunk_size_bare_cr", req(headers=[b"Transfer-Encoding: chunked"],
                              body=b"5\rhello\r\n" + LAST + SMUG), *R)
add("chunk_data_too_long", req(headers=[b"Transfer-Encoding: chunked"],
                               body=b"3\r\nhello\r\n" + LAST + SMUG), *R)
add("chunk_data_no_crlf", req(headers=[b"Transfer-Encoding: chunked"],
                              body=b"5\r\nhello" + LAST + SMUG), *R)
add("chunk_data_lf_only", req(headers=[b"Transfer-Encoding: chunked"],
                              body=b"5\r\nhello\n" + LAST + SMUG), *R)
add("chunk_last_bare_lf", req(headers=[b"Transfer-Encoding: chunked"],
                              body=b"5\r\nhello\r\n0\n\n" + SMUG), *R)
add("chunk_smuggle_in_data", req(headers=[b"Transfer-Encoding: chunked"],
                                 body=chunk(SMUG) + LAST), "forward", [SMUG])
add("chunk_leading_zeros", req(headers=[b"Transfer-Encoding: chunked"],
                               body=b"0000000000000005\r\nhello\r\n" + LAST),
    "forward", [b"hello"])
add("chunk_upper_hex", req(headers=[b"Transfer-Encoding: chunked"],
                           body=b"A\r\n0123456789\r\n" + LAST), "forward", [b"0123456789"])
add("chunk_many_small", req(headers=[b"Transfer-Encoding: chunked"],
                            body=b"".join(chunk(b"%d" % (i % 10)) for i in range(200)) + LAST),
    "forward", [b"".join(b"%d" % (i % 10) for i in range(200))])
add("chunk_size_line_4097", req(headers=[b"Transfer-Encoding: chunked"],
                                body=b"0" * 4096 + b"5\r\nhello\r\n" + LAST + SMUG), *R)
add("chunk_trailer_then_next", req(headers=[b"Transfer-Encoding: chunked"],
                                    body=chunk(b"hello") + b"0\r\nX-T: 1\r\n\r\n" + NEXT),
    "forward", [b"hello", b""])
add("chunk_trailer_fold", req(headers=[b"Transfer-Encoding: chunked"],
                              body=chunk(b"hello") + b"0\r\nX-T: 1\r\n folded\r\n\r\n" + SMUG),
    *R)
add("chunk_trailer_no_colon", req(headers=[b"Transfer-Encoding: chunked"],
                                  body=chunk(b"hello") + b"0\r\nGET /SMUGGLED\r\n\r\n"), *R)
add("chunk_trailer_content_length", req(headers=[b"Transfer-Encoding: chunked"],
                                        body=chunk(b"hello") + b"0\r\nContent-Length: 50\r\n"
                                        b"\r\n"), "forward", [b"hello"])
add("chunk_trailer_nul", req(headers=[b"Transfer-Encoding: chunked"],
                             body=chunk(b"hello") + b"0\r\nX: a\x00b\r\n\r\n" + SMUG), *R)

# ---- chunk extensions -----------------------------------------------------------------
ext_ok = [b";a=b", b";a", b";a=\"b c\"", b" ;a=b", b"\t;a", b";a=b;c=d", b";;", b";a=\x80"]
for i, e in enumerate(ext_ok):
    add("chunk_ext_ok_%d" % i, req(headers=[b"Transfer-Encoding: chunked"],
                                   body=chunk(b"hello", e) + LAST), "forward", [b"hello"])
ext_bad = [b";a=\x00", b";a=\x01", b";a=\x7f", b";a\rb", b";a=b\r\n\r\n" + SMUG + b"0",
           b" x", b";" + b"a" * 4100]
for i, e in enumerate(ext_bad):
    add("chunk_ext_bad_%d" % i, req(headers=[b"Transfer-Encoding: chunked"],
                                    body=b"5" + e + b"\r\nhello\r\n" + LAST + SMUG), *R)

# ---- obs-fold -------------------------------------------------------------------------
for i, hs in enumerate([[b"X-A: a", b" b"], [b"X-A: a", b"\tb"],
                        [b"Content-Length: 5", b" 0"], [b"Host2: x", b"  Content-Length: 5"],
                        [b"X-A:", b" Transfer-Encoding: chunked"],
                        [b"X-A: a", b" ", b"Content-Length: 5"]]):
    add("obs_fold_%d" % i, req(headers=hs, body=b"hello" + SMUG), *R)
add("obs_fold_first_line", b"POST /v HTTP/1.1\r\n Host: example.com\r\nContent-Length: 5\r\n\r\n"
    b"hello" + SMUG, *R)

# ---- NUL and control bytes ------------------------------------------------------------
for i, c in enumerate([b"\x00", b"\x01", b"\x08", b"\x0b", b"\x0c", b"\x1b", b"\x7f"]):
    add("ctl_value_%d" % i, req(headers=[b"X-A: a" + c + b"b", b"Content-Length: 5"],
                                body=b"hello" + SMUG), *R)
    add("ctl_name_%d" % i, req(headers=[b"X-" + c + b"A: a", b"Content-Length: 5"],
                               body=b"hello" + SMUG), *R)
    add("ctl_target_%d" % i, req(target=b"/v" + c + b"x", headers=[b"Content-Length: 5"],
                                 body=b"hello" + SMUG), *R)
add("ctl_method_nul", req(method=b"PO\x00ST", headers=[b"Content-Length: 5"],
                          body=b"hello" + SMUG), *R)
add("ctl_bare_cr_value", req(headers=[b"X-A: a\rContent-Length: 50", b"Content-Length: 5"],
                             body=b"hello" + SMUG), *R)
add("ctl_bare_cr_line_end", b"POST /v HTTP/1.1\rHost: example.com\r\nContent-Length: 5\r\n\r\n"
    b"hello" + SMUG, *R)
add("ctl_cr_cr_lf", req(headers=[b"Content-Length: 5\r"], body=b"hello" + SMUG), *R)
add("ctl_nul_before_head", b"\x00" + req(headers=[b"Content-Length: 5"], body=b"hello"), *R)
add("ctl_del_in_host", req(host=b"exa\x7fmple.com", headers=[b"Content-Length: 0"],
                           body=SMUG), *R)
# A bare LF ends a line (RFC 9112 2.2): accepted, and the head is written anew with CRLF,
# so a parser behind us cannot see a different request.
add("lf_only_head", req(headers=[b"Content-Length: 5"], body=b"hello", eol=b"\n"),
    "forward", [b"hello"])
add("lf_mixed_head", b"POST /v HTTP/1.1\r\nHost: example.com\nContent-Length: 5\r\n\nhello",
    "forward", [b"hello"])
add("lf_value_ends_cr_cl", b"POST /v HTTP/1.1\nHost: example.com\nX: a\r\r\nContent-Length: 5"
    b"\n\nhello" + SMUG, *R)

# ---- over-long lines ------------------------------------------------------------------
add("long_request_line", req(b"GET", target=b"/" + b"a" * 9000, body=SMUG), *R)
add("long_header_value", req(headers=[b"X-A: " + b"a" * 9000, b"Content-Length: 0"],
                             body=SMUG), *R)
add("long_header_name", req(headers=[b"X-" + b"a" * 9000 + b": v"], body=SMUG), *R)
add("long_target_4097", req(b"GET", target=b"/" + b"a" * 4096, body=SMUG), *R)
add("too_many_headers", req(headers=[b"X-%d: v" % i for i in range(70)], body=SMUG), *R)
add("long_trailer", req(headers=[b"Transfer-Encoding: chunked"],
                        body=chunk(b"hello") + b"0\r\nX: " + b"a" * 70000 + b"\r\n\r\n" + SMUG), *R)

# ---- request-target forms -------------------------------------------------------------
add("absolute_form", req(b"GET", target=b"http://example.com/v", body=b""), "forward", [b""])
add("absolute_form_https", req(b"GET", target=b"https://example.com/v?q", body=b""),
    "forward", [b""])
add("absolute_form_userinfo", req(b"GET", target=b"http://u:p@example.com/v", body=SMUG), *R)
add("absolute_form_bad_host", req(b"GET", target=b"http://exa mple.com/v", body=SMUG), *R)
add("absolute_form_empty_host", req(b"GET", target=b"http:///v", body=SMUG), *R)
add("absolute_form_crlf_host", req(b"GET", target=b"http://a%0d%0aX:b/v", body=SMUG), *R)
add("authority_form_connect", req(b"CONNECT", target=b"example.com:443", body=SMUG), *R)
add("authority_form_get", req(b"GET", target=b"example.com:80", body=SMUG), *R)
add("asterisk_form_get", req(b"GET", target=b"*", body=SMUG), *R)
add("relative_target", req(b"GET", target=b"v/x", body=SMUG), *R)
add("connect_origin_form", req(b"CONNECT", target=b"/v", body=SMUG), *R)
add("host_twice", req(headers=[b"Host: other.example", b"Content-Length: 0"], body=SMUG), *R)
add("host_missing_11", req(host=None, headers=[b"Content-Length: 0"], body=SMUG), *R)
add("host_with_path", req(host=b"example.com/x", headers=[b"Content-Length: 0"], body=SMUG), *R)
add("host_userinfo", req(host=b"u@example.com", headers=[b"Content-Length: 0"], body=SMUG), *R)

# ---- HTTP/1.0 and keep-alive ----------------------------------------------------------
add("http10_keepalive_pair", req(b"GET", version=b"HTTP/1.0", headers=[b"Connection: keep-alive"])
    + req(b"GET", version=b"HTTP/1.0"), "forward", [b"", b""])
add("http10_close_then_more", req(b"GET", version=b"HTTP/1.0") + SMUG, "forward", [b""])
add("http10_post_cl", req(version=b"HTTP/1.0", headers=[b"Content-Length: 5"], body=b"hello"),
    "forward", [b"hello"])
add("http10_post_no_length", req(version=b"HTTP/1.0", body=SMUG), "forward", [b""])
add("http10_keepalive_cl_then_smuggle",
    req(version=b"HTTP/1.0", headers=[b"Connection: keep-alive", b"Content-Length: 5"],
        body=b"hello") + req(b"GET", target=b"/second", version=b"HTTP/1.0"),
    "forward", [b"hello", b""])
add("http11_close_then_more", req(b"GET", headers=[b"Connection: close"]) + SMUG,
    "forward", [b""])
add("http09", b"GET /v\r\n\r\n" + SMUG, *R)
add("http12", req(b"GET", version=b"HTTP/1.2", body=SMUG), *R)
# With h2c (prior knowledge) on, the preface starts HTTP/2 and the HTTP/1 text after it is
# a connection error: GOAWAY, then close; nothing reaches the backend.
add("http20_preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SMUG, "h2-goaway")
add("http_lowercase_version", req(b"GET", version=b"http/1.1", body=SMUG), *R)
add("h2c_upgrade", req(b"GET", headers=[b"Upgrade: h2c", b"HTTP2-Settings: AAMAAABkAAQAAP__",
                                        b"Connection: Upgrade, HTTP2-Settings"]),
    "forward", [b""])

# ---- pipelining after errors ----------------------------------------------------------
good = req(headers=[b"Content-Length: 5"], body=b"hello")
for i, bad in enumerate([req(headers=[b"Content-Length: 5", b"Transfer-Encoding: chunked"],
                             body=LAST),
                         req(headers=[b"Content-Length: x"]),
                         req(headers=[b"Transfer-Encoding: gzip"]),
                         req(headers=[b"X-A: a", b" b"]),
                         b"GET /v HTTP/9.9\r\nHost: example.com\r\n\r\n",
                         req(headers=[b"Transfer-Encoding: chunked"], body=b"zz\r\n"),
                         b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
                         req(b"GET", host=b"a b"),
                         b"GET /v HTTP/1.1\r\nHost: example.com\r\nX-A: a\rb\r\n\r\n",
                         req(headers=[b"Content-Length: 5", b"Content-Length: 6"])]):
    add("pipeline_after_error_%d" % i, good + bad + SMUG, "forward+reject", [b"hello"])
add("pipeline_three_good", good + good + good, "forward", [b"hello"] * 3)
add("pipeline_chunked_then_get", req(headers=[b"Transfer-Encoding: chunked"],
                                     body=chunk(b"hello") + LAST) + req(b"GET"),
    "forward", [b"hello", b""])
add("pipeline_expect_continue", req(headers=[b"Content-Length: 5", b"Expect: 100-continue"],
                                    body=b"hello") + req(b"GET"), "forward", [b"hello", b""])

# ---- JSON-P (GET with a body on an auto cross-origin route) -------------------------
add("jsonp_get_body_is_dropped", req(b"GET", target=b"/v?callback=cb", host=b"aco.local",
                                     headers=[b"Content-Length: %d" % len(SMUG)], body=SMUG),
    "forward", [b""])
add("jsonp_get_chunked_body_is_dropped",
    req(b"GET", target=b"/v?callback=cb", host=b"aco.local",
        headers=[b"Transfer-Encoding: chunked"], body=chunk(SMUG) + LAST), "forward", [b""])
