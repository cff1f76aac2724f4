"""HTTP/2 client helpers for the tests: a blocking client on the `h2` library (Debian's
python3-h2), and raw frame writing for the abuse tests (which must send what a well-behaved
library refuses to)."""

import socket
import ssl
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
ENHANCE_YOUR_CALM, PROTOCOL_ERROR, REFUSED_STREAM, CANCEL, NO_ERROR, INTERNAL_ERROR = \
    0xb, 0x1, 0x7, 0x8, 0x0, 0x2


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.headers = None      # dict of the final response head (bytes keys lower-case)
        self.informational = []  # 1xx heads
        self.data = bytearray()
        self.ended = False
        self.reset = None        # RST_STREAM error code
        self.frames = 0          # DATA frames received

    @property
    def status(self):
        return int(self.headers[b":status"]) if self.headers else None

    def header(self, name):
        return (self.headers or {}).get(name.lower().encode() if isinstance(name, str) else name)


class H2Client:
    """One HTTP/2 connection (h2c prior knowledge, or TLS with ALPN h2)."""

    def __init__(self, port, tls_ctx=None, server_name="localhost", timeout=5.0, settings=None,
                 auto_ack=True):
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if tls_ctx is not None:
            tls_ctx.set_alpn_protocols(["h2"])
            raw = tls_ctx.wrap_socket(raw, server_hostname=server_name)
            assert raw.selected_alpn_protocol() == "h2", raw.selected_alpn_protocol()
        self.sock = raw
        self.sock.settimeout(timeout)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None)
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.streams = {}
        self.goaway = None       # (error code, last stream id) once received
        self.closed = False
        self.auto_ack = auto_ack  # give flow-control credit back as data arrives
        self.slow = set()         # streams whose data is not acknowledged
        self.remote_settings = {}
        self.flush()

    def flush(self):
        d = self.conn.data_to_send()
        if d:
            self.sock.sendall(d)

    def request(self, path, method="GET", headers=(), body=None, end=None, authority="example.com",
                scheme="http"):
        sid = self.conn.get_next_available_stream_id()
        hs = [(":method", method), (":path", path), (":scheme", scheme),
              (":authority", authority)] + list(headers)
        end_now = body is None if end is None else (end and body is None)
        self.conn.send_headers(sid, hs, end_stream=end_now)
        self.streams[sid] = Stream(sid)
        if body is not None:
            self.send_body(sid, body, end=True if end is None else end)
        self.flush()
        return sid

    def send_body(self, sid, body, end=True):
        """Send body in frames as the windows allow (pumping for WINDOW_UPDATEs)."""
        view = memoryview(body)
        deadline = time.monotonic() + 20
        while view:
            n = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                    len(view))
            if n <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError("no window to send the body")
                self.flush()
                self.pump(0.2)
                continue
            self.conn.send_data(sid, bytes(view[:n]))
            view = view[n:]
            self.flush()
        if end:
            self.conn.end_stream(sid)
        self.flush()

    def reset(self, sid, code=CANCEL):
        self.conn.reset_stream(sid, code)
        self.flush()

    def pump(self, timeout=0.5):
        """Read once (up to timeout) and handle the events. Returns False at EOF."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            d = self.sock.recv(1 << 20)
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            return True
        except (ConnectionResetError, ssl.SSLError, OSError):
            d = b""
        if not d:
            self.closed = True
            return False
        self.handle(d)
        return True

    def handle(self, d):
        for ev in self.conn.receive_data(d):
            s = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                s.headers = dict(ev.headers)
            elif isinstance(ev, h2.events.InformationalResponseReceived):
                s.informational.append(dict(ev.headers))
            elif isinstance(ev, h2.events.DataReceived):
                s.data += ev.data
                s.frames += 1
                if self.auto_ack and ev.stream_id not in self.slow:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif ev.flow_controlled_length:
                    # the connection window is given back; the stream's is not
                    self.conn.increment_flow_control_window(ev.flow_controlled_length)
            elif isinstance(ev, h2.events.StreamEnded):
                s.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if s is not None:
                    s.reset = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = (ev.error_code, ev.last_stream_id)
            elif isinstance(ev, h2.events.RemoteSettingsChanged):
                for k, v in ev.changed_settings.items():
                    self.remote_settings[k] = v.new_value
        self.flush()

    def wait(self, pred, timeout=5.0):
        end = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > end:
                return False
            if not self.pump(0.1) and not pred():
                return pred()
        return True

    def response(self, sid, timeout=5.0):
        s = self.streams[sid]
        assert self.wait(lambda: s.ended or s.reset is not None, timeout), \
            "stream %d did not end: %r %r" % (sid, s.headers, bytes(s.data[-300:]))
        return s

    def read_until(self, sid, needle, timeout=5.0):
        s = self.streams[sid]
        if isinstance(needle, str):
            needle = needle.encode()
        assert self.wait(lambda: needle in s.data, timeout), \
            "stream %d: no %r in %r" % (sid, needle, bytes(s.data[-300:]))
        return bytes(s.data)

    def close(self):
        try:
            self.conn.close_connection()
            self.flush()
        except Exception:
            pass
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---- raw frames ----------------------------------------------------------------------

def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", sid & 0x7FFFFFFF) + payload


def settings_frame(pairs=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def header_block(fields, encoder=None):
    enc = encoder or hpack.Encoder()
    return enc.encode(fields)


def request_fields(path="/", method="GET", authority="example.com", extra=()):
    return [(":method", method), (":path", path), (":scheme", "http"),
            (":authority", authority)] + list(extra)


class RawConn:
    """A client that writes frames as it likes and reads what comes back."""

    def __init__(self, port, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.enc = hpack.Encoder()
        self.sock.sendall(PREFACE + settings_frame())

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def headers(self, sid, fields, end_stream=True, end_headers=True):
        flags = (END_STREAM if end_stream else 0) | (END_HEADERS if end_headers else 0)
        return frame(HEADERS, flags, sid, header_block(fields, self.enc))

    def frames(self, timeout=3.0):
        """Every frame until EOF or timeout: list of (type, flags, sid, payload)."""
        out = []
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            while len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) < 9 + n:
                    break
                t, f = self.buf[3], self.buf[4]
                sid = int.from_bytes(self.buf[5:9], "big") & 0x7FFFFFFF
                out.append((t, f, sid, self.buf[9:9 + n]))
                self.buf = self.buf[9 + n:]
            self.sock.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                break
            except (ConnectionResetError, OSError):
                d = b""
            if not d:
                break
            self.buf += d
        return out

    def goaway(self, timeout=3.0):
        """The error code of the GOAWAY received (None if none came) and whether the
        connection was closed afterwards."""
        code = None
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            fs = self.frames(timeout=max(0.05, end - time.monotonic()))
            for t, f, sid, p in fs:
                if t == GOAWAY:
                    code = int.from_bytes(p[4:8], "big")
            if self.closed():
                return code, True
        return code, False

    def closed(self):
        self.sock.settimeout(0.05)
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, OSError):
            return True
        if not d:
            return True
        self.buf += d
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
