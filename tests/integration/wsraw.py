"""A raw-socket WebSocket client and server side (RFC 6455) for fault and cap tests that
must see exactly what crosses the wire: frames, closes, resets."""

import base64
import hashlib
import os
import struct

from helpers import Conn

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


def accept_key(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def connect(port, path="/ws", host="example.com", headers=(), timeout=5.0):
    """Open a WebSocket through the proxy. Returns (conn, head): conn is None unless the
    answer is 101."""
    c = Conn(port, timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: %s" % host, "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: %s" % key, "Sec-WebSocket-Version: 13"]
    lines += ["%s: %s" % kv for kv in headers]
    c.send(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = c.read_head()
    if head.status != 101:
        return None, head
    assert head.header("Sec-WebSocket-Accept") == accept_key(key)
    return c, head


def frame(opcode, payload=b"", fin=True, mask=True):
    if isinstance(payload, str):
        payload = payload.encode()
    b0 = (0x80 if fin else 0) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
        _mask_fast(payload, key)
    return head + key + masked


def _mask_fast(payload, key):
    k = (key * (len(payload) // 4 + 1))[:len(payload)]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(len(payload),
                                                                              "big")


def send(c, opcode, payload=b"", fin=True, mask=True):
    c.send(frame(opcode, payload, fin, mask))


def recv_frame(c):
    """(fin, opcode, payload) of the next frame; raises helpers.Closed on EOF."""
    b0, b1 = c.read_exact(2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", c.read_exact(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", c.read_exact(8))[0]
    key = c.read_exact(4) if b1 & 0x80 else None
    data = c.read_exact(n)
    if key:
        data = _mask_fast(data, key) if n else data
    return bool(b0 & 0x80), b0 & 0x0F, data


def recv_message(c):
    """(opcode, payload) of the next data or control message (fragments joined)."""
    fin, op, data = recv_frame(c)
    while not fin:
        fin, _, more = recv_frame(c)
        data += more
    return op, data


def close_code(payload):
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


def server_handshake(rc):
    """Backend side over a backend.RawConn: read the upgrade request, answer 101. Returns
    the request head (bytes) or None."""
    from backend import header_of, parse_head
    head = rc.read_head(timeout=10)
    if head is None:
        return None
    _, _, headers = parse_head(head)
    key = header_of(headers, "Sec-WebSocket-Key")
    rc.send("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key))
    return head


class RawFrames:
    """Frame reader over a backend.RawConn (the proxy masks what it sends to a backend)."""

    def __init__(self, rc):
        self.rc = rc

    def _exact(self, n):
        data = self.rc.read_exact(n, timeout=10)
        if len(data) < n:
            raise EOFError()
        return data

    def recv(self):
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._exact(8))[0]
        key = self._exact(4) if b1 & 0x80 else None
        data = self._exact(n) if n else b""
        if key and n:
            data = _mask_fast(data, key)
        return bool(b0 & 0x80), b0 & 0x0F, data
