"""A raw-socket WebSocket client and server side (RFC 6455) for fault and cap tests that
must see exactly what crosses the wire: frames, closes, resets."""

import base64
import os
import struct

from helpers import Conn
from wsutil import accept_value as accept_key
from wsutil import encode_frame, read_frame_with

TEXT, BINARY, CLOSE, PING, PONG = 1, 2, 8, 9, 10


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
    return encode_frame(opcode, payload, fin=fin, mask=mask)


def send(c, opcode, payload=b"", fin=True, mask=True):
    c.send(frame(opcode, payload, fin, mask))


def recv_frame(c):
    """(fin, opcode, payload) of the next frame; raises helpers.Closed on EOF."""
    f = read_frame_with(c.read_exact)
    return f.fin, f.opcode, f.payload


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
        f = read_frame_with(self._exact)
        return f.fin, f.opcode, f.payload
