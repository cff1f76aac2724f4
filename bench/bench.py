#!/usr/bin/python3
"""thumbtack benchmark suite (issues 2 and 3, "How it is shown").

Runs, one system at a time and against the same fast backend (build/bench/backend):
  proxy:  wrk through thumbtack, pushpin, nginx (keep-alive upstream) and the backend
          direct: requests/s, p99, proxy CPU seconds per 1,000 requests, ratios.
  zhttp:  (thumbtack, pushpin) wrk to a zhttpreq/ route served by a C handler
          (build/bench/zreq_backend, a ROUTER answering "ok"): requests/s, CPU.
  zmq:    (thumbtack, pushpin) items pushed over ZeroMQ (build/bench/zpub to the PULL
          input) into one channel with BENCH_BC_SMALL subscribers, back to back, and into
          BENCH_CHANNELS channels with one subscriber each: deliveries/s, CPU per delivery.
  floor:  bench/floor.c, the least a server can do for the held-stream steps (bc_small,
          bc_big, channels) with these load tools on this machine: the same steps run
          against it, so each row has its own floor in the same run.
  held:   (thumbtack, pushpin, nchan) memory per held idle stream connection,
          broadcast to 1k and 10k subscribers of one channel (paced and burst),
          10k channels with one subscriber each, long-poll cycles/s, new held
          connections/s, server CPU seconds per 1,000 deliveries.
Every system is optional: one that is missing or fails to start is skipped with a
note. Results: bench/results/<stamp>/ (results.json, results.md, logs) and the
markdown table on stdout. Parameters come from BENCH_* environment variables
(see PARAMS below); BENCH_QUICK=1 shrinks everything for a smoke run.
"""
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOLS = os.path.join(ROOT, "build", "bench")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")


def env_int(name, full, quick):
    v = os.environ.get(name)
    return int(v) if v else (quick if QUICK else full)


PARAMS = {
    "systems": os.environ.get("BENCH_SYSTEMS", "backend,nginx,thumbtack,pushpin,nchan,floor").split(","),
    "wrk_conns": env_int("BENCH_WRK_CONNS", 50, 50),
    "wrk_threads": env_int("BENCH_WRK_THREADS", 2, 2),
    "wrk_secs": env_int("BENCH_WRK_SECS", 10, 3),
    "wrk_warmup": env_int("BENCH_WRK_WARMUP", 2, 1),
    "held": env_int("BENCH_N", 10000, 1000),  # memory test and the big broadcast
    "bc_small": env_int("BENCH_BC_SMALL", 1000, 200),
    "paced_msgs": env_int("BENCH_PACED_MSGS", 20, 10),
    "paced_ms": env_int("BENCH_PACED_MS", 100, 100),
    "burst_deliveries": env_int("BENCH_BURST_DELIVERIES", 200000, 20000),
    "channels": env_int("BENCH_CHANNELS", 10000, 1000),
    "pub_batch": env_int("BENCH_PUB_BATCH", 100, 100),
    "lp_clients": env_int("BENCH_LP_CLIENTS", 100, 50),
    "lp_secs": env_int("BENCH_LP_SECS", 10, 3),
    # long-poll on one channel: clients, publishes per second
    "lps_clients": env_int("BENCH_LPS_CLIENTS", 1000, 200),
    "lps_rate": env_int("BENCH_LPS_RATE", 20, 20),
    "conn_secs": env_int("BENCH_CONN_SECS", 10, 3),
    # WebSocket-over-HTTP: clients, seconds per offered rate, offered rates (messages/s)
    "woh_n": env_int("BENCH_WOH_N", 5000, 500),
    "woh_secs": env_int("BENCH_WOH_SECS", 10, 3),
    "woh_rates": [int(x) for x in os.environ.get("BENCH_WOH_RATES", "10000,50000,80000").split(",")],
    "conn_conc": env_int("BENCH_CONN_CONC", 50, 20),
    "client_procs": env_int("BENCH_CLIENT_PROCS", 2, 1),
    "grip_target": os.environ.get("BENCH_GRIP_TARGET", "backend"),  # or "test"
    "thumbtack": os.environ.get("BENCH_THUMBTACK", os.path.join(ROOT, "build", "thumbtack")),
    "port_base": env_int("BENCH_PORT_BASE", 18100, 18100),
    # steps to run (comma list): proxy, zreq (wrk), and the held-connection ones: bc_small,
    # bc_big, ws_big, channels, longpoll, connrate, woh, zmq_bc, zmq_channels; and scale
    # (thumbtack only, fresh processes, after the systems)
    "steps": os.environ.get("BENCH_STEPS", "proxy,zreq,bc_small,bc_big,ws_big,channels,longpoll,"
                                           "lp_shared,connrate,woh,zmq_bc,zmq_channels,scale"),
    "zmq_burst_msgs": env_int("BENCH_ZMQ_BURST_MSGS", 200, 50),
    # scale: thumbtack alone, a fresh process per size, held streams at each size
    "scale_sizes": [int(x) for x in os.environ.get(
        "BENCH_SCALE_SIZES", "1000,2000" if os.environ.get("BENCH_QUICK") else "5000,10000,19000").split(",")],
    # steps besides the held ones: proxy (wrk), zreq (wrk to zhttpreq); BENCH_STEPS picks
    # among all of them when it names any of these
    "profile": os.environ.get("BENCH_PROFILE", "") not in ("", "0"),
}

HELD_STEPS = {"bc_small", "bc_big", "ws_big", "channels", "longpoll", "lp_shared", "connrate", "woh",
              "zmq_bc", "zmq_channels"}


def step_wanted(name):
    """proxy and zreq run unless BENCH_STEPS was given without them."""
    steps = {x.strip() for x in PARAMS["steps"].split(",")}
    if name in ("proxy", "zreq"):
        return "BENCH_STEPS" not in os.environ or name in steps
    return name in steps

PORTS = {
    "backend": PARAMS["port_base"],
    "nginx": PARAMS["port_base"] + 10,
    "thumbtack": PARAMS["port_base"] + 20,  # +21 publish, +22..+24 zmq
    "pushpin": PARAMS["port_base"] + 30,    # +31 publish, +32..+34 zmq
    "nchan": PARAMS["port_base"] + 40,
    "zreq": PARAMS["port_base"] + 50,       # the zhttpreq target the GRIP systems bind
    "floor": PARAMS["port_base"] + 60,      # +61 publish
}

# The held steps bench/floor.c can take part in (held streams and HTTP publishing only).
FLOOR_STEPS = {"bc_small", "bc_big", "channels"}

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # Popen objects, each leader of its own process group


def log(msg):
    print("[bench] " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def spawn(args, logfile=None, stdin=None, stdout=None):
    out = open(logfile, "ab") if logfile else subprocess.DEVNULL
    p = subprocess.Popen(args, stdin=stdin, stdout=stdout if stdout else out,
                         stderr=out, start_new_session=True, cwd=ROOT)
    STARTED.append(p)
    return p


def stop(p, grace=5.0):
    """TERM the process group we started, then KILL what is left."""
    if p is None:
        return
    try:
        pgid = p.pid  # start_new_session: the child leads its own group
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            pass
    finally:
        if p in STARTED:
            STARTED.remove(p)


def stop_all():
    for p in list(STARTED):
        stop(p, grace=2.0)


def on_signal(signum, frame):
    stop_all()
    sys.exit(128 + signum)


def proc_tree(root):
    """root pid and all its descendants."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_of(pids):
    """{pid: (utime_s, stime_s)}"""
    res = {}
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                s = f.read()
        except OSError:
            continue
        fields = s[s.rindex(")") + 2:].split()
        res[p] = (int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK)
    return res


def cpu_delta(a, b):
    u = s = 0.0
    for p, (bu, bs) in b.items():
        au, as_ = a.get(p, (0.0, 0.0))
        u += bu - au
        s += bs - as_
    return u, s


def mem_of(pids):
    """(RSS kB, PSS kB) summed over pids."""
    rss = pss = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_port(port, proc, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        if port_open(port):
            return True
        time.sleep(0.1)
    return False


def http_get(port, path, timeout=5.0):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.status, r.read()


# ---------------------------------------------------------------- systems

class System:
    """A server under test. kind: proxy (wrk only), grip (pushpin/thumbtack), nchan or floor (bench/floor.c)."""

    def __init__(self, name, kind, port, pub_port=None):
        self.name, self.kind, self.port, self.pub_port = name, kind, port, pub_port
        self.proc = None
        self.note = None

    def pids(self):
        if self.proc is None or self.proc.poll() is not None:
            return []
        return proc_tree(self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stream_path(self, ch):
        return "/sub?channel=" + ch if self.kind == "nchan" else "/stream?channel=" + ch

    def ws_path(self, ch):
        """A WebSocket subscribed to channel ch: the test target's /ws (routed by a
        proto=ws route) for GRIP systems, nchan's websocket subscriber."""
        return "/sub?channel=" + ch if self.kind == "nchan" else "/ws?channel=" + ch

    def lp_path(self):
        return "/lp?channel=lp{i}" if self.kind == "nchan" else "/response?channel=lp{i}"

    def stop(self):
        stop(self.proc)
        self.proc = None


def nginx_conf(workdir, port, body, with_nchan):
    for d in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(workdir, d), exist_ok=True)
    load = "load_module /usr/lib/nginx/modules/ngx_nchan_module.so;\n" if with_nchan else ""
    return load + """worker_processes auto;
worker_rlimit_nofile 20000;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
daemon off;
master_process on;
events {{ worker_connections 20000; multi_accept on; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  client_body_temp_path {w}/body;
  proxy_temp_path {w}/proxy;
  fastcgi_temp_path {w}/fcgi;
  uwsgi_temp_path {w}/uwsgi;
  scgi_temp_path {w}/scgi;
{body}
}}
""".format(w=workdir, body=body)


def start_nginx(sysm, workdir, with_nchan):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        sysm.note = "nginx not installed"
        return False
    if with_nchan and not os.path.exists("/usr/lib/nginx/modules/ngx_nchan_module.so"):
        sysm.note = "libnginx-mod-nchan not installed"
        return False
    if with_nchan:
        body = """  server {{
    listen 127.0.0.1:{p} backlog=4096;
    location = /sub {{ nchan_subscriber http-raw-stream websocket; nchan_channel_id $arg_channel;
                      nchan_subscriber_first_message newest; }}
    location = /lp {{ nchan_subscriber longpoll; nchan_channel_id $arg_channel;
                     nchan_subscriber_first_message newest; }}
    location = /pub {{ nchan_publisher; nchan_channel_id $arg_channel; }}
  }}""".format(p=sysm.port)
    else:
        body = """  upstream backend {{ server 127.0.0.1:{b}; keepalive 64; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{p} backlog=4096;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering on; }}
  }}""".format(p=sysm.port, b=PORTS["backend"])
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(workdir, sysm.port, body, with_nchan))
    sysm.proc = spawn([nginx, "-c", conf, "-p", workdir, "-e", os.path.join(workdir, "error.log")],
                      logfile=os.path.join(workdir, "stderr.log"))
    return True


def grip_conf(sysm, workdir, routes_line):
    """A Pushpin-format config, shared by pushpin and thumbtack."""
    p = sysm.port
    run = os.path.join(workdir, "run")
    logs = os.path.join(workdir, "log")
    os.makedirs(run, exist_ok=True)
    os.makedirs(logs, exist_ok=True)
    with open(os.path.join(workdir, "routes"), "w") as f:
        f.write(routes_line + "\n")
    conf = """[global]
include={{libdir}}/internal.conf
rundir={run}
ipc_prefix=bench-
port_offset=0

[runner]
services=condure,zurl,pushpin-proxy,pushpin-handler
http_port=127.0.0.1:{p}
logdir={logs}
log_level=1
client_buffer_size=8192
client_maxconn=50000
condure_bin=condure
zurl_bin=zurl

[proxy]
routesfile=routes
debug=false
sig_iss=pushpin
sig_key=changeme
updates_check=off
zurl_out_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in
zurl_out_stream_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-in-stream
zurl_in_specs=ipc://{{rundir}}/{{ipc_prefix}}zurl-out

[handler]
push_in_spec=tcp://127.0.0.1:{z0}
push_in_sub_specs=tcp://127.0.0.1:{z1}
push_in_http_addr=127.0.0.1
push_in_http_port={pub}
stats_spec=ipc://{{rundir}}/{{ipc_prefix}}stats
command_spec=tcp://127.0.0.1:{z2}
""".format(run=run, logs=logs, p=p, pub=sysm.pub_port, z0=p + 2, z1=p + 3, z2=p + 4)
    path = os.path.join(workdir, "pushpin.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path


def grip_routes():
    b = "127.0.0.1:%d" % PORTS["backend"]
    # WebSockets go to the test target's /ws in both GRIP systems: it subscribes each
    # connection to its channel as a GRIP backend would (bench/backend.c speaks no WS).
    ws = "*,proto=ws,path_beg=/woh %s,over_http\n*,proto=ws test\n" % b
    z = "*,path_beg=/zreq zhttpreq/tcp://127.0.0.1:%d\n" % PORTS["zreq"]
    if PARAMS["grip_target"] == "test":
        return ws + z + "*,path_beg=/stream test\n*,path_beg=/response test\n* " + b
    return ws + z + "* " + b


def start_system(name, workdir):
    os.makedirs(workdir, exist_ok=True)
    port = PORTS[name]
    if name == "backend":
        s = System("backend (direct)", "proxy", port)
        s.proc = spawn([os.path.join(TOOLS, "backend"), str(port)], logfile=os.path.join(workdir, "backend.log"))
    elif name == "nginx":
        s = System("nginx", "proxy", port)
        if not start_nginx(s, workdir, False):
            return s
    elif name == "nchan":
        s = System("nchan", "nchan", port, port)
        if not start_nginx(s, workdir, True):
            return s
    elif name == "pushpin":
        s = System("pushpin", "grip", port, port + 1)
        if not shutil.which("pushpin"):
            s.note = "pushpin not installed"
            return s
        conf = grip_conf(s, workdir, grip_routes())
        s.proc = spawn(["pushpin", "--config", conf], logfile=os.path.join(workdir, "stderr.log"))
    elif name == "floor":
        # The least a server can do for the held-stream steps (see bench/floor.c).
        s = System("floor (bare C)", "floor", port, port + 1)
        s.proc = spawn([os.path.join(TOOLS, "floor"), str(port), str(port + 1)],
                       logfile=os.path.join(workdir, "stderr.log"))
    elif name == "thumbtack":
        s = System("thumbtack", "grip", port, port + 1)
        exe = PARAMS["thumbtack"]
        if not os.access(exe, os.X_OK):
            s.note = "not built (%s missing)" % os.path.relpath(exe, ROOT)
            return s
        conf = grip_conf(s, workdir, grip_routes())
        s.proc = spawn([exe, "--config", conf], logfile=os.path.join(workdir, "stderr.log"))
    else:
        s = System(name, "proxy", 0)
        s.note = "unknown system"
        return s
    if not wait_port(s.port, s.proc) or (s.pub_port and not wait_port(s.pub_port, s.proc)):
        s.note = "failed to start (see %s)" % os.path.relpath(workdir, ROOT)
        s.stop()
        return s
    # Proxying systems must answer the backend's "ok" before anything is measured.
    if s.kind not in ("nchan", "floor"):
        try:
            st, body = http_get(s.port, "/")
            if st != 200 or body != b"ok\n":
                raise RuntimeError("GET / answered %d %r" % (st, body[:60]))
        except Exception as e:  # noqa: BLE001 - any failure means "skip with a note"
            s.note = "started but does not proxy: %s" % e
            s.stop()
    return s


# ---------------------------------------------------------------- proxy benchmark

def parse_dur_ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(port, secs, latency=True, path="/"):
    args = ["wrk", "-c", str(PARAMS["wrk_conns"]), "-t", str(PARAMS["wrk_threads"]),
            "-d", "%ds" % secs]
    if latency:
        args.append("--latency")
    args.append("http://127.0.0.1:%d%s" % (port, path))
    out = subprocess.run(args, capture_output=True, text=True, timeout=secs + 30).stdout
    r = {"raw": out}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    r["p99_ms"] = parse_dur_ms(*m.groups()) if m else None
    m = re.search(r"^\s+50%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    r["p50_ms"] = parse_dur_ms(*m.groups()) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["sock_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return r


def bench_proxy(s, path="/"):
    if PARAMS["wrk_warmup"] > 0:
        run_wrk(s.port, PARAMS["wrk_warmup"], latency=False, path=path)
    pids = s.pids()
    c0 = cpu_of(pids)
    r = run_wrk(s.port, PARAMS["wrk_secs"], path=path)
    c1 = cpu_of(pids)
    u, sy = cpu_delta(c0, c1)
    r["cpu_user"], r["cpu_sys"] = u, sy
    r["cpu_per_1k"] = (u + sy) / r["requests"] * 1000 if r["requests"] else None
    return r


def wait_zreq(s, timeout=10.0):
    """The handler must have (re)connected to this system's bound DEALER."""
    end = time.time() + timeout
    while time.time() < end:
        try:
            st, body = http_get(s.port, "/zreq", timeout=2)
            if st == 200 and body == b"ok\n":
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(0.2)
    raise RuntimeError("GET /zreq never answered 200 ok")


# ---------------------------------------------------------------- held-connection benchmarks

class Subs:
    """n held stream connections spread over a few loadc processes."""

    def __init__(self, s, n, path, logdir, tag, ws=False):
        procs = max(1, min(PARAMS["client_procs"], (n + 999) // 1000))
        procs = max(procs, (n + 17999) // 18000)  # 20,000 open files per process at most
        self.procs = []
        base = 0
        for i in range(procs):
            k = n // procs + (1 if i < n % procs else 0)
            p = spawn([os.path.join(TOOLS, "loadc"), "sub", "port=%d" % s.port, "n=%d" % k,
                       "base=%d" % base, "path=" + path, "maxtime=300", "ws=%d" % ws],
                      logfile=os.path.join(logdir, "loadc-%s.log" % tag),
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            self.procs.append(p)
            base += k
        self.ok = self.fail = self.retries = 0
        self.secs = 0.0

    def _readline(self, p, timeout):
        sel = selectors.DefaultSelector()
        sel.register(p.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout)
        sel.close()
        if not ready:
            return None
        line = p.stdout.readline()
        return line.decode() if line else None

    def wait_ready(self, timeout):
        end = time.time() + timeout
        for p in self.procs:
            line = self._readline(p, max(0.1, end - time.time()))
            if not line or not line.startswith("ready"):
                raise RuntimeError("subscribers not ready after %.0f s" % timeout)
            kv = dict(x.split("=") for x in line.split()[1:])
            self.ok += int(kv["ok"])
            self.fail += int(kv["fail"])
            self.retries += int(kv.get("retries", 0))
            self.secs = max(self.secs, float(kv["secs"]))
        return self.ok

    def cmd(self, c):
        for p in self.procs:
            p.stdin.write((c + "\n").encode())
            p.stdin.flush()

    def stats(self):
        self.cmd("stats")
        agg = {"recv": 0, "first_ns": 0, "last_ns": 0, "closed": 0, "hist": {}}
        for p in self.procs:
            line = self._readline(p, 10)
            if not line:
                raise RuntimeError("loadc did not answer stats")
            d = json.loads(line)
            agg["recv"] += d["recv"]
            agg["closed"] += d["closed"]
            if d["recv"]:
                agg["first_ns"] = min(agg["first_ns"] or d["first_ns"], d["first_ns"])
                agg["last_ns"] = max(agg["last_ns"], d["last_ns"])
            for v, c in d["hist"]:
                agg["hist"][v] = agg["hist"].get(v, 0) + c
        return agg

    def wait_recv(self, expected, timeout, idle=3.0):
        """Poll until expected messages arrived, or nothing new for idle s, or timeout."""
        end = time.time() + timeout
        last, last_change = -1, time.time()
        while True:
            st = self.stats()
            if st["recv"] >= expected or time.time() > end:
                return st
            if st["recv"] != last:
                last, last_change = st["recv"], time.time()
            elif time.time() - last_change > idle:
                return st
            time.sleep(0.1)

    def close(self):
        for p in self.procs:
            try:
                p.stdin.write(b"quit\n")
                p.stdin.flush()
            except OSError:
                pass
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            stop(p)


def pct(hist, q):
    total = sum(hist.values())
    if not total:
        return None
    want = min(int(q * total), total - 1)
    acc = 0
    for v in sorted(hist):
        acc += hist[v]
        if acc > want:
            return v / 1000.0  # us -> ms
    return None


def publish(s, chan, nchan=1, count=1, interval_ms=0, conns=1, fmt="stream", timeout=120):
    kind = "nchan" if s.kind == "nchan" else "grip"
    args = [os.path.join(TOOLS, "loadc"), "pub", "port=%d" % s.pub_port, "kind=" + kind,
            "fmt=" + fmt, "chan=" + chan, "nchan=%d" % nchan, "count=%d" % count,
            "interval_ms=%d" % interval_ms, "batch=%d" % PARAMS["pub_batch"],
            "conns=%d" % conns, "maxtime=%d" % timeout]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 10)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("publish failed: " + out.stderr.strip()[:200])
    return json.loads(out.stdout.strip().splitlines()[-1])


def publish_zmq(s, chan, nchan=1, count=1, interval_ms=0, timeout=120):
    """Items over ZeroMQ PUSH to the system's PULL input (push_in_spec, port+2)."""
    args = [os.path.join(TOOLS, "zpub"), "spec=tcp://127.0.0.1:%d" % (s.port + 2),
            "chan=" + chan, "nchan=%d" % nchan, "count=%d" % count,
            "interval_ms=%d" % interval_ms, "maxtime=%d" % timeout]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout + 10)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("zmq publish failed: " + out.stderr.strip()[:200])
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(s, subs, expected, timeout, send):
    """One measured delivery phase: send() publishes (returns the publisher's stats), then
    wait until `expected` messages arrived (or timeout). Returns (pub, metrics): recv, secs
    from the first publish to the last receipt, deliveries/s, p50/p99, and the server's
    CPU (user, sys, and seconds per 1k deliveries)."""
    pids = s.pids()
    c0 = cpu_of(pids)
    pub = send()
    st = subs.wait_recv(expected, timeout)
    u, sy = cpu_delta(c0, cpu_of(pids))
    n = st["recv"]
    dt = (st["last_ns"] - pub["first_ns"]) / 1e9 if n else None
    return pub, {"recv": n, "secs": dt, "deliveries_per_s": n / dt if dt else None,
                 "p50_ms": pct(st["hist"], 0.5), "p99_ms": pct(st["hist"], 0.99),
                 "cpu_user": u, "cpu_sys": sy,
                 "cpu_per_1k": (u + sy) / n * 1000 if n else None}


def zmq_broadcast(s, logdir):
    """BENCH_BC_SMALL subscribers on one channel; BENCH_ZMQ_BURST_MSGS items pushed back to
    back over ZeroMQ: deliveries/s and CPU per delivery."""
    n = PARAMS["bc_small"]
    ch = "zb%d" % n
    res = {"subs": n}
    subs = Subs(s, n, s.stream_path(ch), logdir, "zb")
    try:
        ok = subs.wait_ready(max(60, n / 100))
        res.update(ok=ok, fail=subs.fail)
        if ok == 0:
            raise RuntimeError("no subscriber connected")
        settle(s, 1.0)
        publish_zmq(s, ch)
        warm = subs.wait_recv(ok, 15)
        res["warmup_recv"] = warm["recv"]
        subs.cmd("reset")
        msgs = PARAMS["zmq_burst_msgs"]
        _, m = measure(s, subs, ok * msgs, 120, lambda: publish_zmq(s, ch, count=msgs))
        res.update(m, msgs=msgs, expected=ok * msgs)
    finally:
        subs.close()
    settle(s, 1.5)
    return res


def zmq_channels(s, logdir):
    """BENCH_CHANNELS channels with one subscriber each; one item each pushed over ZeroMQ."""
    n = PARAMS["channels"]
    res = {"channels": n}
    subs = Subs(s, n, s.stream_path("zc{i}"), logdir, "zc")
    try:
        ok = subs.wait_ready(max(60, n / 100))
        res.update(ok=ok, fail=subs.fail)
        settle(s, 1.0)
        _, m = measure(s, subs, ok, 60, lambda: publish_zmq(s, "zc{i}", nchan=n, count=1))
        m["secs_all"] = m.pop("secs")
        res.update(m)
    finally:
        subs.close()
    settle(s, 1.5)
    return res


def settle(s, secs=1.0):
    time.sleep(secs)
    if not s.alive():
        raise RuntimeError("server exited")


def probe_stream(s, logdir):
    """One subscriber, one message: is held streaming working at all?"""
    subs = Subs(s, 1, s.stream_path("probe"), logdir, "probe")
    try:
        if subs.wait_ready(10) != 1:
            raise RuntimeError("GET %s did not answer 200" % s.stream_path("probe"))
        settle(s, 0.3)
        pub = publish(s, "probe", timeout=10)
        if pub["errors"]:
            raise RuntimeError("publish API answered an error")
        st = subs.wait_recv(1, 5, idle=5)
        if st["recv"] < 1:
            raise RuntimeError("published message never reached the subscriber")
    finally:
        subs.close()


def broadcast(s, n, logdir, measure_mem=False, ws=False):
    """n subscribers on one channel: paced latency, burst throughput, CPU per delivery.
    ws: the subscribers are WebSockets and the messages ws-message items."""
    res = {"subs": n, "ws": ws}
    ch = ("ws%d" if ws else "bc%d") % n
    fmt = "ws" if ws and s.kind != "nchan" else "stream"
    pids = s.pids()
    if measure_mem:
        time.sleep(1.0)
        res["mem_before_kb"] = mem_of(pids)
    subs = Subs(s, n, s.ws_path(ch) if ws else s.stream_path(ch), logdir, ch, ws=ws)
    try:
        ok = subs.wait_ready(max(60, n / 100))
        res.update(ok=ok, fail=subs.fail, retries=subs.retries, connect_secs=subs.secs)
        if ok == 0:
            raise RuntimeError("no subscriber connected")
        settle(s, 1.0)
        pids = s.pids()
        if measure_mem:
            after = mem_of(pids)
            before = res["mem_before_kb"]
            res["mem_after_kb"] = after
            res["kb_per_conn_rss"] = (after[0] - before[0]) / ok
            res["kb_per_conn_pss"] = (after[1] - before[1]) / ok
        # warm-up message: every subscriber must be subscribed before timing starts
        publish(s, ch, fmt=fmt)
        warm = subs.wait_recv(ok, 15)
        res["warmup_recv"] = warm["recv"]
        subs.cmd("reset")

        # Paced messages are spaced so that a fan-out fits in the gap on this
        # machine (10 deliveries per ms): the latency is then the fan-out time, not
        # a growing backlog.
        paced_ms = max(PARAMS["paced_ms"], n // 10)
        res["paced_ms"] = paced_ms
        phases = (("paced", PARAMS["paced_msgs"], paced_ms),
                  ("burst", max(3, min(500, PARAMS["burst_deliveries"] // n)), 0))
        for name, msgs, interval in phases:
            c0 = cpu_of(pids)
            pub = publish(s, ch, count=msgs, interval_ms=interval, fmt=fmt, timeout=120)
            st = subs.wait_recv(ok * msgs, 60 + msgs * interval / 1000.0)
            c1 = cpu_of(pids)
            u, sy = cpu_delta(c0, c1)
            dt = (st["last_ns"] - pub["first_ns"]) / 1e9 if st["recv"] else None
            res[name] = {
                "msgs": msgs, "expected": ok * msgs, "recv": st["recv"], "pub_errors": pub["errors"],
                "p50_ms": pct(st["hist"], 0.5), "p99_ms": pct(st["hist"], 0.99),
                "max_ms": pct(st["hist"], 1.0),
                "secs": dt, "deliveries_per_s": st["recv"] / dt if dt else None,
                "cpu_user": u, "cpu_sys": sy,
                "cpu_user_per_1k": u / st["recv"] * 1000 if st["recv"] else None,
                "cpu_sys_per_1k": sy / st["recv"] * 1000 if st["recv"] else None,
                "closed": st["closed"],
            }
            subs.cmd("reset")
    finally:
        subs.close()
    settle(s, 1.5)
    return res


def many_channels(s, logdir):
    n = PARAMS["channels"]
    res = {"channels": n}
    subs = Subs(s, n, s.stream_path("m{i}"), logdir, "chan")
    try:
        ok = subs.wait_ready(max(60, n / 100))
        res.update(ok=ok, fail=subs.fail, retries=subs.retries, connect_secs=subs.secs)
        settle(s, 1.0)
        conns = 8 if s.kind == "nchan" else 4
        pub, m = measure(s, subs, ok, 60,
                         lambda: publish(s, "m{i}", nchan=n, count=1, conns=conns, timeout=120))
        m["secs_all"] = m.pop("secs")
        res.update(m, pub_posts=pub["posts"], pub_errors=pub["errors"],
                   pub_secs=(pub["last_resp_ns"] - pub["first_ns"]) / 1e9)
    finally:
        subs.close()
    settle(s, 1.5)
    return res


def longpoll(s, logdir, shared=False):
    """Long-poll cycles: each poller on its own channel, published to as fast as it waits
    (shared=False), or lps_clients pollers on one channel published to lps_rate times a
    second (shared=True: at most lps_clients x lps_rate cycles/s)."""
    kind = "nchan" if s.kind == "nchan" else "grip"
    secs = PARAMS["lp_secs"]
    extra = []
    n = PARAMS["lp_clients"]
    path = s.lp_path()
    if shared:
        n = PARAMS["lps_clients"]
        path = path.replace("{i}", "")
        extra = ["rate=%d" % PARAMS["lps_rate"]]
    pids = s.pids()
    c0 = cpu_of(pids)
    args = [os.path.join(TOOLS, "loadc"), "lp", "port=%d" % s.port, "pubport=%d" % s.pub_port,
            "kind=" + kind, "n=%d" % n, "path=" + path,
            "batch=%d" % PARAMS["pub_batch"], "conns=2", "duration=%d" % secs, "warmup=1",
            "maxtime=%d" % (secs + 30)] + extra
    out = subprocess.run(args, capture_output=True, text=True, timeout=secs + 40)
    c1 = cpu_of(pids)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("lp failed: " + out.stderr.strip()[:200])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    u, sy = cpu_delta(c0, c1)
    r["cpu_user"], r["cpu_sys"] = u, sy
    if shared:
        r["clients"], r["rate"] = n, PARAMS["lps_rate"]
        r["offered_per_s"] = n * PARAMS["lps_rate"]
    settle(s, 1.0)
    return r


def connrate(s, logdir):
    secs = PARAMS["conn_secs"]
    pids = s.pids()
    c0 = cpu_of(pids)
    args = [os.path.join(TOOLS, "loadc"), "connrate", "port=%d" % s.port,
            "path=" + s.stream_path("cr"), "conc=%d" % PARAMS["conn_conc"],
            "duration=%d" % secs, "maxtime=%d" % (secs + 10)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=secs + 30)
    c1 = cpu_of(pids)
    if out.returncode != 0 or not out.stdout.strip():
        raise RuntimeError("connrate failed: " + out.stderr.strip()[:200])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    u, sy = cpu_delta(c0, c1)
    r["cpu_user"], r["cpu_sys"] = u, sy
    r["cpu_per_1k"] = (u + sy) / r["conns"] * 1000 if r["conns"] else None
    settle(s, 2.0)
    return r


def woh(s, logdir):
    """Client-to-backend messages through WebSocket-over-HTTP: woh_n WebSocket clients on
    a route to bench/backend.c with over_http, each offered rate for woh_secs seconds; the
    backend counts the TEXT events it gets."""
    n = PARAMS["woh_n"]
    procs = max(1, min(PARAMS["client_procs"], (n + 999) // 1000))
    out = {"clients": n, "rates": []}
    for rate in PARAMS["woh_rates"]:
        ps, base = [], 0
        for i in range(procs):
            k = n // procs + (1 if i < n % procs else 0)
            ps.append(spawn([os.path.join(TOOLS, "loadc"), "sub", "port=%d" % s.port, "n=%d" % k,
                             "base=%d" % base, "path=/woh", "ws=1", "maxtime=120",
                             "send=%d" % (rate // procs), "secs=%d" % PARAMS["woh_secs"]],
                            logfile=os.path.join(logdir, "loadc-woh.log"),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE))
            base += k
        row = {"offered": rate, "ready": 0, "sent": 0, "closed": 0}
        try:
            sel = selectors.DefaultSelector()
            for p in ps:
                sel.register(p.stdout, selectors.EVENT_READ)
            ready_lines, c0, n0 = 0, None, None
            end = time.time() + 120
            done = 0
            while done < len(ps) and time.time() < end:
                for key, _ in sel.select(1.0):
                    line = key.fileobj.readline().decode()
                    if line.startswith("ready"):
                        kv = dict(x.split("=") for x in line.split()[1:])
                        row["ready"] += int(kv["ok"])
                        ready_lines += 1
                        if ready_lines == len(ps):
                            c0 = cpu_of(s.pids())
                            n0 = int(http_get(PORTS["backend"], "/woh-count")[1])
                    elif line.startswith("sent"):
                        kv = dict(x.split("=") for x in line.split()[1:])
                        row["sent"] += int(kv["n"])
                        row["closed"] += int(kv["closed"])
                        done += 1
            sel.close()
            time.sleep(1.0)  # what is in flight reaches the backend
            c1 = cpu_of(s.pids())
            n1 = int(http_get(PORTS["backend"], "/woh-count")[1])
            secs = PARAMS["woh_secs"]
            row["received"] = n1 - (n0 or 0)
            row["msgs_per_s"] = row["received"] / secs
            u, sy = cpu_delta(c0, c1) if c0 else (None, None)
            row["cpu_per_1k"] = (u + sy) / row["received"] * 1000 if c0 and row["received"] else None
        finally:
            for p in ps:
                try:
                    p.stdin.write(b"quit\n")
                    p.stdin.flush()
                except OSError:
                    pass
                stop(p)
        out["rates"].append(row)
        settle(s, 2.0)
    return out


def scale(outdir):
    """Cost against size: for each of scale_sizes, a fresh thumbtack holds that many idle
    streams (one channel each, spread over loadc processes and so over source ports);
    memory per held stream, CPU over 10 s idle (timers and keep-alives), and a burst of
    messages to one channel all of them share, with CPU per delivery."""
    rows = []
    for n in PARAMS["scale_sizes"]:
        s = start_system("thumbtack", os.path.join(outdir, "scale-%d" % n))
        row = {"n": n}
        rows.append(row)
        if s.note:
            row["error"] = s.note
            continue
        subs = None
        try:
            probe_stream(s, os.path.join(outdir, "scale-%d" % n))
            settle(s, 1.0)
            pids = s.pids()
            before = mem_of(pids)
            subs = Subs(s, n, s.stream_path("sc"), outdir, "scale-%d" % n)
            ok = subs.wait_ready(max(60, n / 100))
            row.update(ok=ok, fail=subs.fail, connect_secs=subs.secs)
            settle(s, 1.0)
            after = mem_of(pids)
            row["kb_per_conn"] = (after[0] - before[0]) / max(ok, 1)
            c0 = cpu_of(pids)
            time.sleep(10.0)
            u, sy = cpu_delta(c0, cpu_of(pids))
            row["idle_cpu_pct"] = 100.0 * (u + sy) / 10.0
            publish(s, "sc", fmt="stream")
            subs.wait_recv(ok, 30)
            subs.cmd("reset")
            msgs, gap = 10, max(100, n // 10)
            pub, m = measure(s, subs, ok * msgs, 60 + msgs * gap / 1000.0,
                             lambda: publish(s, "sc", count=msgs, interval_ms=gap, fmt="stream"))
            got = m["recv"]
            row.update(recv=got, expected=ok * msgs, p99_ms=m["p99_ms"], pub_errors=pub["errors"],
                       us_per_delivery=(m["cpu_user"] + m["cpu_sys"]) / got * 1e6 if got else None,
                       user_us_per_delivery=m["cpu_user"] / got * 1e6 if got else None)
        except Exception as e:  # noqa: BLE001 - record and go on with the next size
            row["error"] = str(e)
            log("  scale %d failed: %s" % (n, e))
        finally:
            if subs:
                subs.close()
            s.stop()
    return rows


def start_profile(s, logdir):
    """perf record (cpu-clock: the VM has no hardware counters) of the server's main
    process, call graphs included, for make profile."""
    os.makedirs(logdir, exist_ok=True)
    data = os.path.join(logdir, "perf.data")
    p = spawn(["perf", "record", "-e", "cpu-clock", "-F", "997", "-g", "-p", str(s.proc.pid),
               "-o", data], logfile=os.path.join(logdir, "perf-record.log"))
    time.sleep(0.5)
    return {"proc": p, "data": data, "dir": logdir}


def fold_stacks(script_text):
    """perf script output -> 'frame;frame;... count' lines, root first (flame-graph input)."""
    counts, stack, comm = {}, [], None
    for line in script_text.splitlines():
        if not line.strip():
            if stack:
                key = ";".join([comm] + stack[::-1])
                counts[key] = counts.get(key, 0) + 1
            stack, comm = [], None
            continue
        if not line.startswith((" ", "\t")):
            comm = line.split()[0]
            continue
        parts = line.strip().split(None, 1)
        sym = parts[1] if len(parts) > 1 else parts[0]
        sym = sym.split(" (")[0]
        if "+0x" in sym:
            sym = sym.split("+0x")[0]
        stack.append(sym)
    if stack:
        key = ";".join([comm] + stack[::-1])
        counts[key] = counts.get(key, 0) + 1
    return "\n".join("%s %d" % (k, v) for k, v in sorted(counts.items())) + "\n"


def finish_profile(prof):
    prof["proc"].send_signal(signal.SIGINT)
    try:
        prof["proc"].wait(30)
    except subprocess.TimeoutExpired:
        stop(prof["proc"])
    out = {"data": os.path.relpath(prof["data"], ROOT)}
    script = subprocess.run(["perf", "script", "-i", prof["data"]], capture_output=True, text=True)
    folded = os.path.join(prof["dir"], "perf.folded")
    with open(folded, "w") as fh:
        fh.write(fold_stacks(script.stdout))
    report = subprocess.run(["perf", "report", "-i", prof["data"], "--stdio", "--no-children",
                             "--percent-limit", "0.5", "-g", "none"], capture_output=True, text=True)
    rep = os.path.join(prof["dir"], "perf-report.txt")
    with open(rep, "w") as fh:
        fh.write(report.stdout)
    out["folded"] = os.path.relpath(folded, ROOT)
    out["report"] = os.path.relpath(rep, ROOT)
    log("profile: %s, %s" % (out["folded"], out["report"]))
    return out


def bench_held(s, logdir):
    out = {}
    wanted = [x.strip() for x in PARAMS["steps"].split(",") if x.strip() in HELD_STEPS]
    steps = [
        ("bc_small", lambda: broadcast(s, PARAMS["bc_small"], logdir)),
        ("bc_big", lambda: broadcast(s, PARAMS["held"], logdir, measure_mem=True)),
        # RSS does not shrink when the stream subscribers of bc_big go, so the idle
        # WebSocket's memory is measured only when no other held step ran before it
        # (BENCH_STEPS=ws_big).
        ("ws_big", lambda: broadcast(s, PARAMS["held"], logdir, ws=True,
                                     measure_mem=not ({"bc_small", "bc_big"} & set(wanted)))),
        ("channels", lambda: many_channels(s, logdir)),
        ("longpoll", lambda: longpoll(s, logdir)),
        ("lp_shared", lambda: longpoll(s, logdir, shared=True)),
        ("connrate", lambda: connrate(s, logdir)),
    ]
    if s.kind == "grip":
        steps.append(("woh", lambda: woh(s, logdir)))
        steps += [("zmq_bc", lambda: zmq_broadcast(s, logdir)),
                  ("zmq_channels", lambda: zmq_channels(s, logdir))]
    for name, fn in steps:
        if name not in wanted or (s.kind == "floor" and name not in FLOOR_STEPS):
            continue
        if not s.alive():
            out[name] = {"error": "server exited"}
            continue
        t = time.time()
        log("  %s: %s" % (s.name, name))
        try:
            out[name] = fn()
        except Exception as e:  # noqa: BLE001 - record and go on with the next step
            out[name] = {"error": str(e)}
            log("  %s: %s failed: %s" % (s.name, name, e))
        out[name]["wall_secs"] = round(time.time() - t, 1)
    return out


# ---------------------------------------------------------------- report

def f(v, fmt="%.0f", none="–"):
    return none if v is None else fmt % v


def ratio(a, b):
    return None if not a or not b else a / b


def render(results):
    sysres = results["systems"]
    lines = []
    P = PARAMS
    lines.append("Measured %s by `make bench` (bench/run.sh)%s.\n" % (
        results["started"], " with BENCH_QUICK=1" if QUICK else ""))
    lines.append("### Plain proxying (wrk -c %d -t %d -d %ds, GET / -> backend \"ok\")\n"
                 % (P["wrk_conns"], P["wrk_threads"], P["wrk_secs"]))
    lines.append("| system | req/s | p99 ms | proxy CPU s / 1k req | req/s vs nginx | req/s vs pushpin "
                 "| CPU vs nginx | CPU vs pushpin | errors |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    ng = sysres.get("nginx", {}).get("proxy") or {}
    pp = sysres.get("pushpin", {}).get("proxy") or {}
    for name in ("thumbtack", "pushpin", "nginx", "backend"):
        r = sysres.get(name)
        if r is None or (name == "pushpin" and not r.get("proxy") and not r.get("note")):
            continue
        label = r["label"]
        pr = r.get("proxy")
        if not pr or "rps" not in pr:
            lines.append("| %s | skipped: %s |||||||| " % (label, r.get("note") or (pr or {}).get("error")))
            continue
        cpu = pr.get("cpu_per_1k") if name != "backend" else None
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            label, f(pr["rps"]), f(pr["p99_ms"], "%.2f"),
            f(cpu, "%.4f") if name != "backend" else "(backend: %s)" % f(pr.get("cpu_per_1k"), "%.4f"),
            f(ratio(pr["rps"], ng.get("rps")), "%.2f"), f(ratio(pr["rps"], pp.get("rps")), "%.2f"),
            f(ratio(cpu, ng.get("cpu_per_1k")), "%.2f") if cpu else "–",
            f(ratio(cpu, pp.get("cpu_per_1k")), "%.2f") if cpu else "–",
            pr["non2xx"] + pr["sock_errors"]))
    lines.append("")

    held = [(n, sysres[n]) for n in ("thumbtack", "pushpin", "nchan", "floor") if n in sysres]
    lines.append("### Held connections (%d held; long-poll %d clients %ds; new held conns %d at a time %ds)\n"
                 % (P["held"], P["lp_clients"], P["lp_secs"], P["conn_conc"], P["conn_secs"]))
    lines.append("| system | KB per held conn (RSS) | (PSS) | connect %d held, s | %d channels: time to deliver all, s "
                 "| delivered | CPU s / 1k deliveries | long-poll cycles/s | new held conns/s | conn p99 ms |" % (P["held"], P["channels"]))
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in held:
        h = r.get("held")
        if not h:
            lines.append("| %s | skipped: %s |||||||||" % (r["label"], r.get("note")))
            continue
        bb, ch, lp, cr = (h.get(k, {}) for k in ("bc_big", "channels", "longpoll", "connrate"))
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["label"], f(bb.get("kb_per_conn_rss"), "%.1f"), f(bb.get("kb_per_conn_pss"), "%.1f"),
            f(bb.get("connect_secs"), "%.2f") + (" (%d retried)" % bb["retries"] if bb.get("retries") else ""),
            f(ch.get("secs_all"), "%.3f"),
            "%s/%s" % (ch.get("recv", "–"), ch.get("ok", "–")) if "recv" in ch else (ch.get("error") or "–"),
            f(ch.get("cpu_per_1k"), "%.4f"),
            f(lp.get("cycles_per_s")) if "cycles_per_s" in lp else (lp.get("error") or "–"),
            f(cr.get("conns_per_s")) if "conns_per_s" in cr else (cr.get("error") or "–"),
            f((cr.get("p99_us") or 0) / 1000.0 if "p99_us" in cr else None, "%.2f")))
    lines.append("")

    lines.append("### Broadcast to one channel (paced: spaced so one fan-out fits in the gap, deliveries/s"
                 " is then set by the pace; burst: %d deliveries published back to back)\n" % P["burst_deliveries"])
    lines.append("| system | subs | phase | delivered | deliveries/s | p50 ms | p99 ms | max ms "
                 "| CPU user s / 1k | CPU sys s / 1k |")
    lines.append("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in held:
        h = r.get("held")
        if not h:
            continue
        for key in ("bc_small", "bc_big", "ws_big"):
            if key not in h:
                continue
            b = h.get(key, {})
            if "error" in b and "paced" not in b:
                lines.append("| %s | %s | error: %s |||||||| " % (r["label"], b.get("subs", "–"), b["error"]))
                continue
            for ph in ("paced", "burst"):
                x = b.get(ph)
                if not x:
                    continue
                what = "%s (%d msgs%s)" % (ph, x["msgs"], ", %d ms apart" % b["paced_ms"] if ph == "paced" else "")
                lines.append("| %s | %s | %s | %d/%d | %s | %s | %s | %s | %s | %s |" % (
                    r["label"], "%d%s" % (b["ok"], " WebSocket" if b.get("ws") else ""), what, x["recv"], x["expected"],
                    f(x["deliveries_per_s"]), f(x["p50_ms"], "%.1f"), f(x["p99_ms"], "%.1f"),
                    f(x["max_ms"], "%.1f"), f(x["cpu_user_per_1k"], "%.4f"), f(x["cpu_sys_per_1k"], "%.4f")))
    lines.append("")

    zsys = [(n, sysres[n]) for n in ("thumbtack", "pushpin") if n in sysres]
    if zsys:
        lines.append("### ZeroMQ publishing and zhttpreq backends (zpub PUSH to the PULL input;"
                     " %d items back to back into one channel with %d subscribers, and one item into"
                     " each of %d channels with one subscriber; wrk -c %d -d %ds to a zhttpreq/ route)\n"
                     % (P["zmq_burst_msgs"], P["bc_small"], P["channels"], P["wrk_conns"], P["wrk_secs"]))
        lines.append("| system | 1 channel x %d subs: deliveries/s | CPU s / 1k deliveries | p99 ms "
                     "| %d channels: deliveries/s | CPU s / 1k deliveries | zhttpreq req/s | p99 ms "
                     "| CPU s / 1k req | errors |" % (P["bc_small"], P["channels"]))
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in zsys:
            h = r.get("held") or {}
            zb, zc, zr = h.get("zmq_bc", {}), h.get("zmq_channels", {}), r.get("zreq") or {}
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                r["label"],
                f(zb.get("deliveries_per_s")) if "recv" in zb else (zb.get("error") or r.get("note") or "–"),
                f(zb.get("cpu_per_1k"), "%.5f"), f(zb.get("p99_ms"), "%.1f"),
                f(zc.get("deliveries_per_s")) if "recv" in zc else (zc.get("error") or "–"),
                f(zc.get("cpu_per_1k"), "%.5f"),
                f(zr.get("rps")) if "rps" in zr else (zr.get("error") or "–"),
                f(zr.get("p99_ms"), "%.2f"), f(zr.get("cpu_per_1k"), "%.4f"),
                (zr.get("non2xx", 0) + zr.get("sock_errors", 0)) if "rps" in zr else "–"))
        tt, pp2 = sysres.get("thumbtack") or {}, sysres.get("pushpin") or {}
        th, ph = tt.get("held") or {}, pp2.get("held") or {}
        rows = [
            ("ZMQ into 1 channel: CPU s / 1k deliveries, lower is better",
             th.get("zmq_bc", {}).get("cpu_per_1k"), ph.get("zmq_bc", {}).get("cpu_per_1k")),
            ("ZMQ into 1 channel: deliveries/s, higher is better",
             th.get("zmq_bc", {}).get("deliveries_per_s"), ph.get("zmq_bc", {}).get("deliveries_per_s")),
            ("ZMQ into %d channels: CPU s / 1k deliveries, lower is better" % P["channels"],
             th.get("zmq_channels", {}).get("cpu_per_1k"), ph.get("zmq_channels", {}).get("cpu_per_1k")),
            ("zhttpreq req/s, higher is better", (tt.get("zreq") or {}).get("rps"),
             (pp2.get("zreq") or {}).get("rps")),
            ("zhttpreq CPU s / 1k req, lower is better", (tt.get("zreq") or {}).get("cpu_per_1k"),
             (pp2.get("zreq") or {}).get("cpu_per_1k")),
        ]
        lines.append("")
        lines.append("| metric | thumbtack | pushpin | thumbtack / pushpin |")
        lines.append("|---|---:|---:|---:|")
        for label, a, b_ in rows:
            lines.append("| %s | %s | %s | %s |" % (label, f(a, "%.3g"), f(b_, "%.3g"),
                                                   f(ratio(a, b_), "%.2f")))
        lines.append("")

    lsys = [(n, sysres[n]) for n in ("thumbtack", "pushpin", "nchan") if n in sysres]
    if any(((r.get("held") or {}).get("lp_shared")) for _, r in lsys):
        lines.append("### Long-poll on one channel (%d clients, %d publishes/s, %d s: at most %d cycles/s)\n"
                     % (P["lps_clients"], P["lps_rate"], P["lp_secs"], P["lps_clients"] * P["lps_rate"]))
        lines.append("| system | cycles/s | of offered | other answers | reconnects | CPU s / 1k cycles |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for name, r in lsys:
            x = (r.get("held") or {}).get("lp_shared") or {}
            if "cycles_per_s" not in x:
                lines.append("| %s | %s |||||" % (r["label"], x.get("error") or r.get("note") or "–"))
                continue
            cpu = (x["cpu_user"] + x["cpu_sys"]) / x["cycles"] * 1000 if x.get("cycles") else None
            lines.append("| %s | %s | %s | %d | %d | %s |" % (
                r["label"], f(x["cycles_per_s"]), f(100.0 * x["cycles_per_s"] / x["offered_per_s"], "%.0f%%"),
                x["other"], x["reconnects"], f(cpu, "%.4f")))
        lines.append("")

    wsys = [(n, sysres[n]) for n in ("thumbtack", "pushpin") if n in sysres]
    if wsys:
        lines.append("### WebSocket-over-HTTP: client messages to the backend (%d WebSocket clients on an"
                     " over_http route to the C backend, each offered rate for %d s; 16-byte text messages)\n"
                     % (P["woh_n"], P["woh_secs"]))
        lines.append("| system | offered msgs/s | clients ready | sent | received by the backend "
                     "| received/s | clients closed | CPU s / 1k messages |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in wsys:
            w = (r.get("held") or {}).get("woh") or {}
            if "rates" not in w:
                lines.append("| %s | %s |||||||" % (r["label"], w.get("error") or r.get("note") or "–"))
                continue
            for x in w["rates"]:
                lines.append("| %s | %d | %d | %d | %s | %s | %d | %s |" % (
                    r["label"], x["offered"], x["ready"], x["sent"], f(x.get("received")),
                    f(x.get("msgs_per_s")), x["closed"], f(x.get("cpu_per_1k"), "%.4f")))
        lines.append("")

    if results.get("scale"):
        lines.append("### Scale: thumbtack holding N idle streams (a fresh process per size, one"
                     " channel; 10 messages to all of it, spaced N/10 ms)\n")
        lines.append("| held streams | connected | KB per stream (RSS) | idle CPU %, 10 s | delivered "
                     "| CPU us per delivery (user + sys) | of which user | p99 ms |")
        lines.append("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for x in results["scale"]:
            if "kb_per_conn" not in x:
                lines.append("| %d | %s |||||||" % (x["n"], x.get("error", "–")))
                continue
            lines.append("| %d | %d | %s | %s | %s/%s | %s | %s | %s |" % (
                x["n"], x["ok"], f(x["kb_per_conn"], "%.2f"), f(x.get("idle_cpu_pct"), "%.2f"),
                f(x.get("recv")), f(x.get("expected")), f(x.get("us_per_delivery"), "%.2f"),
                f(x.get("user_us_per_delivery"), "%.2f"), f(x.get("p99_ms"), "%.0f")))
        lines.append("")

    # Ratios on the headline numbers.
    def key_metrics(h):
        bb = h.get("bc_big", {})
        paced, burst = bb.get("paced") or {}, bb.get("burst") or {}
        wb = h.get("ws_big", {})
        wpaced, wburst = wb.get("paced") or {}, wb.get("burst") or {}
        tot = lambda x: (x["cpu_user_per_1k"] + x["cpu_sys_per_1k"]) if x.get("cpu_user_per_1k") is not None else None  # noqa: E731
        return [
            ("KB per idle WebSocket (RSS), lower is better", wb.get("kb_per_conn_rss")),
            ("WebSocket broadcast %d paced p99 ms, lower is better" % P["held"], wpaced.get("p99_ms")),
            ("WebSocket broadcast %d burst deliveries/s, higher is better" % P["held"],
             wburst.get("deliveries_per_s")),
            ("WebSocket broadcast %d burst CPU s / 1k deliveries, lower is better" % P["held"], tot(wburst)),
            ("KB per held conn (RSS), lower is better", bb.get("kb_per_conn_rss")),
            ("broadcast %d paced p99 ms, lower is better" % P["held"], paced.get("p99_ms")),
            ("broadcast %d burst deliveries/s, higher is better" % P["held"], burst.get("deliveries_per_s")),
            ("broadcast %d burst CPU s / 1k deliveries, lower is better" % P["held"], tot(burst)),
            ("%d channels time to deliver all s, lower is better" % P["channels"], h.get("channels", {}).get("secs_all")),
            ("long-poll cycles/s, higher is better", h.get("longpoll", {}).get("cycles_per_s")),
            ("new held conns/s, higher is better", h.get("connrate", {}).get("conns_per_s")),
        ]
    have = [(n, r) for n, r in held if r.get("held")]
    if have:
        lines.append("### Ratios (held connections)\n")
        cols = [r["label"] for _, r in have]
        refs = [n for n in ("pushpin", "nchan", "floor") if any(n == m for m, _ in have)]
        others = [(n, r) for n, r in have]
        hdr = "| metric | " + " | ".join(cols)
        for ref in refs:
            for n, r in others:
                if n != ref:
                    hdr += " | %s / %s" % (r["label"], ref)
        lines.append(hdr + " |")
        ncols = hdr.count("|")
        lines.append("|---" + "|---:" * (ncols - 1) + "|")
        metrics = {n: key_metrics(r["held"]) for n, r in have}
        for i in range(len(metrics[have[0][0]])):
            label = metrics[have[0][0]][i][0]
            row = "| %s | " % label + " | ".join(f(metrics[n][i][1], "%.3g") for n, _ in have)
            for ref in refs:
                for n, _ in others:
                    if n != ref:
                        row += " | " + f(ratio(metrics[n][i][1], metrics[ref][i][1]), "%.2f")
            lines.append(row + " |")
        lines.append("")

    notes = ["Notes: one run, %s, %d CPUs, load average before the run %s; every system run alone against the"
             " same single-threaded C backend (bench/backend.c). CPU = utime+stime from /proc of all the"
             " server's processes (pushpin: runner, condure, zurl, pushpin-proxy, pushpin-handler; nginx: master"
             " and workers). Memory = RSS (and PSS) of those processes before and after opening the held"
             " connections; kernel socket buffers not included." % (results["host"], os.cpu_count(), results["loadavg"]),
             "GRIP systems hold via the backend's Grip-Hold answer (BENCH_GRIP_TARGET=%s); publishes go to"
             " POST /publish/ with up to %d items per request; Nchan (http-raw-stream and longpoll"
             " subscribers) takes one POST per channel and message." % (P["grip_target"], P["pub_batch"]),
             "Latency = receipt time minus the CLOCK_REALTIME stamp the publisher put in the message just before"
             " sending the POST.",
             "floor (bare C): bench/floor.c, the least a server can do for the held-stream steps on this"
             " machine with these load tools: worker threads each with an epoll set and a SO_REUSEPORT"
             " listener hold the streams, a publish thread scans each POST for channel and content, answers"
             " (Connection: close), hands every worker the request's messages in one batch, and a worker"
             " writes what is queued for a channel to each subscriber with one write(2); no queues,"
             " timers, ids, filters or stats."
             " Only bc_small, bc_big and channels are run against it.",
             "WebSocket broadcast: each subscriber is a WebSocket to /ws?channel=... (pushpin and thumbtack:"
             " the test target's /ws, routed by `*,proto=ws test`, which subscribes it as a GRIP backend would;"
             " nchan: its websocket subscriber); GRIP systems are sent ws-message items."]
    for name, r in sysres.items():
        if r.get("note"):
            notes.append("%s: %s." % (r["label"], r["note"]))
    lines.append("\n".join("- " + n for n in notes))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- main

def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    outdir = os.path.join(HERE, "results", stamp)
    os.makedirs(outdir, exist_ok=True)
    busy = [p for n, p in PORTS.items() for p in (p, p + 1) if port_open(p)]
    if busy:
        log("ports already in use: %s (set BENCH_PORT_BASE)" % busy)
        return 1
    results = {"params": PARAMS, "ports": PORTS, "started": stamp,
               "host": os.uname().nodename, "loadavg": open("/proc/loadavg").read().split()[0],
               "systems": {}}
    t_start = time.time()
    backend = None
    zreq = None
    try:
        backend = start_system("backend", os.path.join(outdir, "backend"))
        if backend.note:
            log("backend: " + backend.note)
            return 1
        # One zhttpreq handler for the run: it connects to whichever system has bound the
        # zreq port (ZeroMQ reconnects on its own when the next one starts).
        zexe = os.path.join(TOOLS, "zreq_backend")
        if os.access(zexe, os.X_OK):
            zreq = spawn([zexe, "tcp://127.0.0.1:%d" % PORTS["zreq"]],
                         logfile=os.path.join(outdir, "zreq_backend.log"))
        for name in PARAMS["systems"]:
            name = name.strip()
            if not name:
                continue
            log("%s: starting (%.0f s so far)" % (name, time.time() - t_start))
            if name == "backend":
                s = backend
            else:
                s = start_system(name, os.path.join(outdir, name))
            entry = {"label": s.name, "note": s.note}
            results["systems"][name] = entry
            if s.note:
                log("%s: skipped: %s" % (name, s.note))
                continue
            try:
                prof = start_profile(s, os.path.join(outdir, name)) if PARAMS["profile"] else None
                if s.kind in ("proxy", "grip") and step_wanted("proxy"):
                    log("  %s: wrk" % name)
                    try:
                        entry["proxy"] = bench_proxy(s)
                    except Exception as e:  # noqa: BLE001
                        entry["proxy"] = {"error": str(e)}
                if s.kind == "grip" and zreq is not None and step_wanted("zreq"):
                    log("  %s: wrk to the zhttpreq route" % name)
                    try:
                        wait_zreq(s)
                        entry["zreq"] = bench_proxy(s, path="/zreq")
                    except Exception as e:  # noqa: BLE001
                        entry["zreq"] = {"error": str(e)}
                if s.kind in ("grip", "nchan", "floor"):
                    try:
                        probe_stream(s, os.path.join(outdir, name))
                    except Exception as e:  # noqa: BLE001
                        entry["note"] = "held streaming not working: %s" % e
                        log("%s: %s" % (name, entry["note"]))
                    else:
                        entry["held"] = bench_held(s, os.path.join(outdir, name))
                if prof:
                    entry["profile"] = finish_profile(prof)
            finally:
                if s is not backend:
                    s.stop()
        if step_wanted("scale") and "thumbtack" in [x.strip() for x in PARAMS["systems"]]:
            log("scale: %s held streams (%.0f s so far)" % (PARAMS["scale_sizes"], time.time() - t_start))
            results["scale"] = scale(os.path.join(outdir, "scale"))
    finally:
        stop_all()
    results["wall_secs"] = round(time.time() - t_start, 1)
    md = render(results)
    for r in results["systems"].values():
        if "proxy" in r:
            r["proxy"].pop("raw", None)
        for v in (r.get("held") or {}).values():
            for ph in ("paced", "burst"):
                if isinstance(v.get(ph), dict):
                    v[ph].pop("hist", None)
    with open(os.path.join(outdir, "results.json"), "w") as fh:
        json.dump(results, fh, indent=1, default=str)
    with open(os.path.join(outdir, "results.md"), "w") as fh:
        fh.write(md)
    latest = os.path.join(HERE, "results", "latest")
    try:
        if os.path.islink(latest):
            os.unlink(latest)
        os.symlink(stamp, latest)
    except OSError:
        pass
    print(md)
    log("done in %.0f s; results in %s" % (results["wall_secs"], os.path.relpath(outdir, ROOT)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
