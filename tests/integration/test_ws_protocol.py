"""Issue 6: RFC 6455 on thumbtack's server side, by the Autobahn testsuite's case groups.

Every case runs twice: through the `test` target's /ws (its echo makes thumbtack's
behaviour visible without a backend) and through a passthrough WebSocket backend (a raw
echo server, wsutil.WsBackend). The client is a raw socket writing masked frames by hand,
so malformed input can be sent; the exact close code the client sees is asserted.

Groups (Autobahn numbering): 1 framing, 2 pings/pongs, 3 reserved bits, 4 opcodes,
5 fragmentation, 6 UTF-8 (with fail-fast), 7 close handshake and codes, 9 limits (1009),
12/13 permessage-deflate (allow_compression=true), plus the opening handshake's checks.

Pings: Pushpin relays a client's ping to the backend instead of answering it. Through a
passthrough backend the client gets the backend's pong; the test target echoes a ping back
as a ping (so does Pushpin's), and the client then answers it. Pushpin 1.36 (condure) is
lax on input checks: those cases are xfail in TT_AGAINST=pushpin mode.
"""

import os
import socket
import struct
import time
import zlib

import pytest

from conftest import IS_PUSHPIN, Proxy, check_sanitizers, dump_on_failure
from wsutil import (OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, WsBackend,
                    WsClient, encode_frame)

PP_LAX = pytest.mark.xfail(IS_PUSHPIN, reason="Pushpin 1.36 does not check this (no close code, "
                           "or the frame is relayed)", strict=False)
MAX_MESSAGE = 1024 * 1024


class Env:
    def __init__(self, proxy, backend):
        self.proxy, self.backend = proxy, backend


@pytest.fixture(scope="module")
def env():
    be = WsBackend()
    p = Proxy("testroute.local test\n* %s\n" % be.addr,
              config={"runner": {"allow_compression": "true"}})
    p.start()
    yield Env(p, be)
    code = p.stop()
    try:
        check_sanitizers(p)
        if not IS_PUSHPIN:
            assert code == 0, "thumbtack exited with %r on SIGTERM" % (code,)
        assert not be.errors, be.errors
    finally:
        p.cleanup()
        be.stop()


class Target:
    def __init__(self, kind, env):
        self.kind, self.env = kind, env
        self.host = "testroute.local" if kind == "test" else "ws.example"

    def connect(self, **kw):
        kw.setdefault("host", self.host)
        c = WsClient(self.env.proxy.port, **kw)
        assert c.resp.status == 101, (c.resp, c.resp.body)
        return c

    def pushpin_differs(self, reason, when=True):
        """Expect this case to fail against Pushpin 1.36 (it runs anyway)."""
        if IS_PUSHPIN and when:
            self.request.applymarker(pytest.mark.xfail(reason="Pushpin 1.36: " + reason,
                                                       strict=False))

    @property
    def ping_answer(self):
        """What the client gets for its ping: the backend's pong, or the test handler's echo."""
        return OP_PING if self.kind == "test" else OP_PONG


@pytest.fixture(params=["test", "passthrough"])
def ws(request, env):
    off = len(env.proxy.log())
    t = Target(request.param, env)
    t.request = request
    yield t
    dump_on_failure(request, env.proxy, off)
    check_sanitizers(env.proxy, off)


def echo_then_fail(ws, c, code):
    """After "hello" then a bad frame: the test handler's echo (synchronous) comes before the
    close; a remote backend's echo may still be on its way when the client is failed, and
    nothing may follow our close frame, so there it is optional."""
    f = c.recv_frame()
    if f.opcode == OP_TEXT:
        assert f.payload == b"hello"
    else:
        assert ws.kind == "passthrough", "the echo must come before the close: %r" % f
        c.r.buf[:0] = encode_frame(f.opcode, f.payload, mask=False)
    c.expect_close(code)


def echo(c, op, payload):
    c.send_frame(op, payload)
    got_op, got = c.recv_message()
    assert (got_op, got) == (op, payload if isinstance(payload, bytes) else payload.encode())


# ---- 1: framing ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, 125, 126, 127, 128, 65535, 65536, 200000])
def test_framing_text_and_binary_lengths(ws, n):
    ws.pushpin_differs("its test handler never echoes messages of 64 KB and more",
                       ws.kind == "test" and n >= 65535)
    with ws.connect() as c:
        echo(c, OP_TEXT, b"*" * n)
        echo(c, OP_BINARY, bytes(range(256)) * (n // 256) + bytes(n % 256))


def test_framing_sent_bytewise_and_chopped(ws):
    """1.1.8/1.2.8 style: a frame arriving in pieces (down to one byte) is the same frame."""
    ws.pushpin_differs("its test handler never echoes messages of 64 KB and more",
                       ws.kind == "test")
    with ws.connect() as c:
        frame = encode_frame(OP_TEXT, b"x" * 300)
        for b in frame[:20]:
            c.send_raw(bytes([b]))
            time.sleep(0.002)
        c.send_raw(frame[20:])
        assert c.recv_message() == (OP_TEXT, b"x" * 300)
        data = encode_frame(OP_BINARY, os.urandom(70000))
        payload = None
        for i in range(0, len(data), 997):
            c.send_raw(data[i:i + 997])
        op, payload = c.recv_message()
        assert op == OP_BINARY and len(payload) == 70000


def test_framing_many_frames_in_one_write(ws):
    with ws.connect() as c:
        c.send_raw(b"".join(encode_frame(OP_TEXT, "m%d" % i) for i in range(200)))
        for i in range(200):
            assert c.recv_message() == (OP_TEXT, b"m%d" % i)


def test_framing_non_minimal_length_accepted(ws):
    """RFC 6455 does not forbid a longer length encoding on receipt."""
    with ws.connect() as c:
        key = os.urandom(4)
        payload = b"hello"
        masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        c.send_raw(bytes([0x81, 0x80 | 126]) + struct.pack("!H", 5) + key + masked)
        assert c.recv_message() == (OP_TEXT, b"hello")


@PP_LAX
def test_framing_64bit_length_with_top_bit_fails(ws):
    with ws.connect() as c:
        c.send_raw(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 63) + os.urandom(4))
        c.expect_close(1002)


@PP_LAX
def test_framing_unmasked_client_frame_fails(ws):
    with ws.connect() as c:
        echo(c, OP_TEXT, "before")
        c.send_frame(OP_TEXT, "unmasked", mask=False)
        c.expect_close(1002)


# ---- 2: pings and pongs ------------------------------------------------------------------

@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125)), b"\x00\xff\xfe"])
def test_ping_relayed_and_answered(ws, payload):
    ws.pushpin_differs("ping and pong payloads are lost on the way through zurl",
                       ws.kind == "passthrough")
    with ws.connect() as c:
        c.ping(payload)
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (ws.ping_answer, payload)
        if f.opcode == OP_PING:
            c.pong(f.payload)  # a ping deserves a pong; the test target echoes that too
            f = c.recv_frame()
            assert (f.opcode, f.payload) == (OP_PONG, payload)
        echo(c, OP_TEXT, "after")


def test_ten_pings_ten_answers_in_order(ws):
    ws.pushpin_differs("ping and pong payloads are lost on the way through zurl",
                       ws.kind == "passthrough")
    with ws.connect() as c:
        for i in range(10):
            c.ping(b"p%d" % i)
        for i in range(10):
            f = c.recv_frame()
            assert (f.opcode, f.payload) == (ws.ping_answer, b"p%d" % i)


def test_ping_sent_bytewise(ws):
    ws.pushpin_differs("ping and pong payloads are lost on the way through zurl",
                       ws.kind == "passthrough")
    with ws.connect() as c:
        for b in encode_frame(OP_PING, b"bytewise"):
            c.send_raw(bytes([b]))
            time.sleep(0.002)
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (ws.ping_answer, b"bytewise")


def test_unsolicited_pong_is_not_an_error(ws):
    """2.7/2.8: a pong nobody asked for is allowed; the connection goes on."""
    ws.pushpin_differs("ping and pong payloads are lost on the way through zurl",
                       ws.kind == "passthrough")
    with ws.connect() as c:
        c.pong(b"unsolicited")
        if ws.kind == "test":
            # the test handler echoes it (as Pushpin's); a pong needs no answer
            f = c.recv_frame()
            assert (f.opcode, f.payload) == (OP_PONG, b"unsolicited")
        echo(c, OP_TEXT, "still open")
        if ws.kind == "passthrough":
            assert ws.env.backend.pongs[-1:] == [b"unsolicited"]


@PP_LAX
def test_ping_over_125_bytes_fails(ws):
    with ws.connect() as c:
        c.send_frame(OP_PING, b"x" * 126)
        c.expect_close(1002)


# ---- 3: reserved bits --------------------------------------------------------------------

@PP_LAX
@pytest.mark.parametrize("rsv", [1, 2, 3, 5, 6, 7])
@pytest.mark.parametrize("op", [OP_TEXT, OP_BINARY, OP_PING, OP_CLOSE])
def test_reserved_bits_fail(ws, rsv, op):
    """3.x: a frame with RSV bits nobody negotiated fails with 1002, after the echo of
    what came before it (and nothing of it, nor of what follows, is relayed)."""
    with ws.connect() as c:
        c.send_raw(encode_frame(OP_TEXT, "hello") + encode_frame(op, b"rsv", rsv=rsv) +
                   encode_frame(OP_PING, b"after"))
        echo_then_fail(ws, c, 1002)


@PP_LAX
def test_rsv1_without_deflate_fails(ws):
    with ws.connect() as c:  # no permessage-deflate offered
        c.send_frame(OP_TEXT, b"x", rsv=4)
        c.expect_close(1002)


# ---- 4: opcodes --------------------------------------------------------------------------

@PP_LAX
@pytest.mark.parametrize("op", [3, 4, 5, 6, 7, 11, 12, 13, 14, 15])
def test_reserved_opcodes_fail(ws, op):
    with ws.connect() as c:
        c.send_raw(encode_frame(OP_TEXT, "hello") + encode_frame(op, b"payload"))
        echo_then_fail(ws, c, 1002)


# ---- 5: fragmentation --------------------------------------------------------------------

@PP_LAX
@pytest.mark.parametrize("op", [OP_PING, OP_PONG, OP_CLOSE])
def test_fragmented_control_frame_fails(ws, op):
    with ws.connect() as c:
        c.send_frame(op, b"frag", fin=False)
        c.expect_close(1002)


def test_fragmented_text_reassembled(ws):
    with ws.connect() as c:
        c.send_frame(OP_TEXT, "frag", fin=False)
        c.send_frame(OP_CONT, "ment", fin=False)
        c.send_frame(OP_CONT, "ed", fin=True)
        assert c.recv_message() == (OP_TEXT, b"fragmented")


def test_fragmented_binary_one_byte_frames(ws):
    with ws.connect() as c:
        data = os.urandom(300)
        c.send_raw(b"".join(encode_frame(OP_BINARY if i == 0 else OP_CONT, data[i:i + 1],
                                         fin=i == len(data) - 1) for i in range(len(data))))
        assert c.recv_message() == (OP_BINARY, data)


@PP_LAX
def test_ping_between_fragments(ws):
    """5.6-5.9: control frames may come between the fragments of a message: the ping is
    answered (here: relayed) at once, the message arrives whole."""
    with ws.connect() as c:
        c.send_frame(OP_TEXT, "frag", fin=False)
        c.ping(b"in between")
        c.send_frame(OP_CONT, "ment", fin=True)
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (ws.ping_answer, b"in between")
        assert c.recv_message() == (OP_TEXT, b"fragment")


@PP_LAX
def test_pong_between_fragments_fragments_sent_slowly(ws):
    with ws.connect() as c:
        c.send_frame(OP_TEXT, "a", fin=False)
        time.sleep(0.2)
        c.pong(b"pong")
        time.sleep(0.2)
        c.send_frame(OP_CONT, "b", fin=True)
        op, data = c.recv_message(skip_control=True)
        assert (op, data) == (OP_TEXT, b"ab")


@PP_LAX
def test_continuation_without_start_fails(ws):
    with ws.connect() as c:
        c.send_frame(OP_CONT, "orphan", fin=True)
        c.expect_close(1002)


@PP_LAX
def test_continuation_not_final_without_start_fails(ws):
    with ws.connect() as c:
        c.send_frame(OP_CONT, "orphan", fin=False)
        c.expect_close(1002)


@PP_LAX
def test_new_message_inside_fragmented_one_fails(ws):
    with ws.connect() as c:
        c.send_frame(OP_TEXT, "one", fin=False)
        c.send_frame(OP_TEXT, "two", fin=True)
        c.expect_close(1002)


def test_empty_fragments(ws):
    with ws.connect() as c:
        c.send_frame(OP_TEXT, "", fin=False)
        c.send_frame(OP_CONT, "", fin=False)
        c.send_frame(OP_CONT, "", fin=True)
        assert c.recv_message() == (OP_TEXT, b"")


# ---- 6: UTF-8 ----------------------------------------------------------------------------

VALID_UTF8 = [
    "κόσμε".encode(), b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80",
    b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf", b"\xed\x9f\xbf",
    b"\xee\x80\x80", b"\xef\xbf\xbd", "Hello-µ@ßöäüàá-UTF-8!!".encode(),
]
INVALID_UTF8 = [
    b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",  # surrogate
    b"\x80", b"\xbf", b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",  # stray, overlong
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xfe", b"\xff",  # out of range
    b"\xed\xbf\xbf", b"\xc2", b"\xe0\xa0", b"\xf0\x90\x80",  # surrogate; truncated
    b"\xc1\xbf", b"\xf8\x88\x80\x80\x80",
]


@pytest.mark.parametrize("text", VALID_UTF8, ids=lambda b: b.hex())
def test_valid_utf8_echoed_whole_and_fragmented(ws, text):
    with ws.connect() as c:
        echo(c, OP_TEXT, text)
        # split at every byte: a character may straddle frames
        c.send_raw(b"".join(encode_frame(OP_TEXT if i == 0 else OP_CONT, text[i:i + 1],
                                         fin=i == len(text) - 1) for i in range(len(text))))
        assert c.recv_message() == (OP_TEXT, text)


@PP_LAX
@pytest.mark.parametrize("text", INVALID_UTF8, ids=lambda b: b.hex())
def test_invalid_utf8_fails_1007(ws, text):
    with ws.connect() as c:
        c.send_frame(OP_TEXT, text)
        c.expect_close(1007)


@PP_LAX
def test_invalid_utf8_fragmented_fails_1007(ws):
    with ws.connect() as c:
        text = INVALID_UTF8[0]
        c.send_raw(b"".join(encode_frame(OP_TEXT if i == 0 else OP_CONT, text[i:i + 1],
                                         fin=i == len(text) - 1) for i in range(len(text))))
        c.expect_close(1007)


@PP_LAX
def test_invalid_utf8_fails_fast_inside_a_frame(ws):
    """6.4.1-6.4.4: bad bytes at the start of a large text frame: the close comes before
    the rest of the frame (which is never sent)."""
    with ws.connect() as c:
        frame = encode_frame(OP_TEXT, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80" +
                             b"a" * 100000)
        c.send_raw(frame[:40])
        t0 = time.monotonic()
        c.expect_close(1007)
        assert time.monotonic() - t0 < 2.0


@PP_LAX
def test_invalid_utf8_fails_fast_in_first_fragment(ws):
    with ws.connect() as c:
        c.send_frame(OP_TEXT, b"ok \xed\xa0\x80", fin=False)
        c.expect_close(1007)  # the message's second fragment never comes


# ---- 7: close handshake and codes --------------------------------------------------------

@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                  3000, 3999, 4000, 4999])
def test_close_code_relayed_back(ws, code):
    """7.7.x: a valid code comes back in the close reply."""
    with ws.connect() as c:
        c.send_close(code, b"reason")
        f = c.expect_close(code, reply=False)
        if not IS_PUSHPIN:
            assert f.close_reason == b"reason"


def test_close_without_code(ws):
    """7.3.1: an empty close is relayed as it is, and comes back without code (Pushpin 1.36
    answers it with 1000 itself; both are valid, ours keeps the backend's answer)."""
    with ws.connect() as c:
        c.send_close()
        c.expect_close(1000 if IS_PUSHPIN else None, reply=False)


def test_close_with_123_byte_reason(ws):
    with ws.connect() as c:
        reason = b"r" * 123
        c.send_close(1000, reason)
        f = c.expect_close(1000, reply=False)
        if not IS_PUSHPIN:
            assert f.close_reason == reason


def test_message_then_close(ws):
    """7.1.1: the echo comes before the close reply."""
    ws.pushpin_differs("it may relay the backend's close reply before its echo",
                       ws.kind == "passthrough")
    with ws.connect() as c:
        c.send_raw(encode_frame(OP_TEXT, "last words") + encode_frame(OP_CLOSE, b"\x03\xe8"))
        assert c.recv_message() == (OP_TEXT, b"last words")
        c.expect_close(1000, reply=False)


def test_frames_after_close_ignored(ws):
    """7.1.2-7.1.5: nothing the client sends after its close is relayed or answered."""
    with ws.connect() as c:
        c.send_raw(encode_frame(OP_CLOSE, b"\x03\xe8") + encode_frame(OP_TEXT, "after") +
                   encode_frame(OP_PING, b"after"))
        f = c.expect_close(1000, reply=False)
        assert f.opcode == OP_CLOSE


@PP_LAX
@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1012 + 4, 1100, 2000, 2999, 5000,
                                  65535])
def test_invalid_close_code_fails_1002(ws, code):
    """7.9.x."""
    with ws.connect() as c:
        c.send_frame(OP_CLOSE, struct.pack("!H", code))
        c.expect_close(1002)


@PP_LAX
def test_close_payload_one_byte_fails(ws):
    with ws.connect() as c:
        c.send_frame(OP_CLOSE, b"\x03")
        c.expect_close(1002)


@PP_LAX
def test_close_reason_124_bytes_fails(ws):
    """7.3.6: the close payload is then 126 bytes, over the control frame cap."""
    with ws.connect() as c:
        c.send_close(1000, b"r" * 124)
        c.expect_close(1002)


@PP_LAX
def test_close_reason_not_utf8_fails_1007(ws):
    with ws.connect() as c:
        c.send_close(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited")
        c.expect_close(1007)


def test_tcp_close_without_close_frame(ws):
    """The client vanishing is not an error for the next client."""
    c = ws.connect()
    c.send_text("x")
    c.close()
    with ws.connect() as c2:
        echo(c2, OP_TEXT, "next")


# ---- 9: limits ---------------------------------------------------------------------------

@pytest.mark.thumbtack_only
def test_message_at_cap_passes(ws):
    with ws.connect(timeout=20) as c:
        echo(c, OP_BINARY, os.urandom(MAX_MESSAGE))


@pytest.mark.thumbtack_only
def test_messages_at_cap_back_to_back(ws):
    """A read that completes one large frame also brings the next one's start: neither is
    too big."""
    with ws.connect(timeout=20) as c:
        a, b = os.urandom(MAX_MESSAGE), os.urandom(MAX_MESSAGE - 1)
        c.send_raw(encode_frame(OP_BINARY, a) + encode_frame(OP_BINARY, b) +
                   encode_frame(OP_TEXT, "small"))
        assert c.recv_message() == (OP_BINARY, a)
        assert c.recv_message() == (OP_BINARY, b)
        assert c.recv_message() == (OP_TEXT, b"small")


@pytest.mark.thumbtack_only
def test_frame_over_cap_fails_1009_at_once(ws):
    """The header alone says it is too big: 1009 without waiting for the payload."""
    with ws.connect() as c:
        c.send_raw(encode_frame(OP_BINARY, b"", length=MAX_MESSAGE + 1)[:14])
        c.expect_close(1009)


@pytest.mark.thumbtack_only
def test_fragmented_message_over_cap_fails_1009(ws):
    with ws.connect(timeout=20) as c:
        half = MAX_MESSAGE // 2
        c.send_frame(OP_BINARY, b"a" * half, fin=False)
        c.send_frame(OP_CONT, b"b" * half, fin=False)
        c.send_frame(OP_CONT, b"c", fin=True)
        c.expect_close(1009)


# ---- 12/13: permessage-deflate -----------------------------------------------------------

def deflate_connect(ws, **kw):
    c = ws.connect(deflate=True, **kw)
    ext = c.resp.header("Sec-WebSocket-Extensions") or ""
    assert ext.startswith("permessage-deflate"), c.resp.headers
    assert c.deflate
    return c


@pytest.mark.thumbtack_only
@pytest.mark.parametrize("n", [0, 16, 1000, 65536, 500000])
def test_deflate_echo(ws, n):
    with deflate_connect(ws) as c:
        data = (b"compress me " * (n // 12 + 1))[:n]
        c.send_compressed(OP_TEXT, data)
        assert c.recv_message() == (OP_TEXT, data)
        rnd = os.urandom(n)
        c.send_compressed(OP_BINARY, rnd)
        assert c.recv_message() == (OP_BINARY, rnd)
        c.send_frame(OP_TEXT, "plain frames still fine")
        assert c.recv_message() == (OP_TEXT, b"plain frames still fine")


@pytest.mark.thumbtack_only
def test_deflate_fragmented_compressed_message(ws):
    with deflate_connect(ws) as c:
        z = zlib.compressobj(6, zlib.DEFLATED, -15)
        data = b"fragmented and compressed " * 100
        comp = (z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH))[:-4]
        third = len(comp) // 3
        c.send_frame(OP_TEXT, comp[:third], fin=False, rsv=4)
        c.ping(b"mid")
        c.send_frame(OP_CONT, comp[third:2 * third], fin=False)
        c.send_frame(OP_CONT, comp[2 * third:], fin=True)
        f = c.recv_frame()
        assert (f.opcode, f.payload) == (ws.ping_answer, b"mid")
        assert c.recv_message() == (OP_TEXT, data)


@pytest.mark.thumbtack_only
def test_deflate_bomb_fails_1009(ws):
    """The inflated size is capped like any message."""
    with deflate_connect(ws) as c:
        c.send_compressed(OP_BINARY, bytes(MAX_MESSAGE + 1))
        c.expect_close(1009)


@pytest.mark.thumbtack_only
def test_deflate_corrupt_data_fails_1007(ws):
    with deflate_connect(ws) as c:
        c.send_frame(OP_BINARY, b"\xff\xff\xff\xff not deflate", rsv=4)
        c.expect_close(1007)


@pytest.mark.thumbtack_only
def test_deflate_invalid_utf8_fails_1007(ws):
    with deflate_connect(ws) as c:
        c.send_compressed(OP_TEXT, b"ok \xed\xa0\x80")
        c.expect_close(1007)


@pytest.mark.thumbtack_only
def test_deflate_rsv1_on_continuation_fails(ws):
    with deflate_connect(ws) as c:
        c.send_frame(OP_TEXT, b"a", fin=False)
        c.send_frame(OP_CONT, b"b", fin=True, rsv=4)
        c.expect_close(1002)


@pytest.mark.thumbtack_only
def test_deflate_rsv1_on_control_frame_fails(ws):
    with deflate_connect(ws) as c:
        c.send_frame(OP_PING, b"a", rsv=4)
        c.expect_close(1002)


@pytest.mark.thumbtack_only
def test_deflate_offers_parameters(ws):
    """RFC 7692: an offer we cannot take (server window below 15) is declined, the next
    acceptable offer is taken; unknown parameters decline that offer."""
    c = ws.connect(extensions="permessage-deflate; server_max_window_bits=10, "
                              "permessage-deflate; client_max_window_bits=12")
    with c:
        assert "permessage-deflate" in (c.resp.header("Sec-WebSocket-Extensions") or "")
        c.send_compressed(OP_TEXT, b"window twelve")
        assert c.recv_message() == (OP_TEXT, b"window twelve")
    with ws.connect(extensions="permessage-deflate; bogus_param") as c:
        assert c.resp.header("Sec-WebSocket-Extensions") is None
        c.send_text("plain")
        assert c.recv_message() == (OP_TEXT, b"plain")


def test_deflate_not_negotiated_without_allow_compression(make_proxy):
    p = make_proxy("* test\n")
    with WsClient(p.port, host="x", deflate=True) as c:
        assert c.resp.status == 101
        assert c.resp.header("Sec-WebSocket-Extensions") is None
        assert not c.deflate
        if not IS_PUSHPIN:
            c.send_frame(OP_TEXT, b"x", rsv=4)
            c.expect_close(1002)


# ---- the opening handshake ---------------------------------------------------------------

BAD_UPGRADE = (b"Request contained an Upgrade header with value \"websocket\" but the request "
               b"was not a valid WebSocket request.\n")


def upgrade_lines(method="GET", version="13", key="dGhlIHNhbXBsZSBub25jZQ==", extra=()):
    lines = ["%s /ws HTTP/1.1" % method, "Upgrade: websocket", "Connection: Upgrade"]
    if version is not None:
        lines.append("Sec-WebSocket-Version: " + version)
    if key is not None:
        lines.append("Sec-WebSocket-Key: " + key)
    return [lines[0]] + lines[1:] + list(extra)


def _req_line_first(lines, host):
    return [lines[0], "Host: " + host] + lines[1:]


@pytest.mark.parametrize("case", ["no-key", "version-12", "post", "no-version"])
def test_invalid_upgrade_gets_400(env, case):
    kw = {"no-key": dict(key=None), "version-12": dict(version="12"),
          "post": dict(method="POST", extra=["Content-Length: 0"]),
          "no-version": dict(version=None)}[case]
    lines = upgrade_lines(**kw)
    s = socket.create_connection(("127.0.0.1", env.proxy.port), timeout=5)
    with s:
        s.sendall(("\r\n".join(_req_line_first(lines, "testroute.local")) + "\r\n\r\n").encode())
        data = b""
        s.settimeout(3)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                data += d
                if b"\r\n\r\n" in data and data.endswith(b".\n"):
                    break
        except socket.timeout:
            pass
    if IS_PUSHPIN and not data:
        pytest.xfail("Pushpin 1.36 drops some invalid upgrades without an answer")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 "), data
    assert body == BAD_UPGRADE
    if case == "version-12" and not IS_PUSHPIN:
        assert b"\r\nSec-WebSocket-Version: 13" in head


def test_data_right_behind_the_handshake(ws):
    """Frames sent in the same write as the upgrade request are not lost."""
    c = WsClient(ws.env.proxy.port, host=ws.host, connect=False)
    with c:
        c.handshake(extra_bytes=encode_frame(OP_TEXT, "early") + encode_frame(OP_TEXT, "bird"))
        assert c.resp.status == 101
        assert c.recv_message() == (OP_TEXT, b"early")
        assert c.recv_message() == (OP_TEXT, b"bird")


def test_test_target_unknown_path_404(env):
    c = WsClient(env.proxy.port, path="/nope", host="testroute.local")
    with c:
        assert c.resp.status == 404
        assert c.resp.body == b"no such test resource\n"
