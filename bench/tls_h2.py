#!/usr/bin/python3
"""TLS and HTTP/2 benchmark (issue 9): thumbtack and nginx as TLS proxies, side by side in
one run, each alone against the same backend (build/bench/backend), same certificate
(EC P-256), TLS 1.3 by default, two workers each.

  handshakes: `openssl s_time -new` x2 in parallel (full handshakes/s, no resumption) and
              the server's CPU per handshake; both servers up at once and taking turns,
              BENCH_TLS_HS_ROUNDS (4) rounds of 5 s each, the median round reported (one
              sample each had moved the ratio by 5% from run to run);
  h2:         `h2load` over TLS with ALPN h2 (-c 20 -m 10): requests/s, CPU per request;
  h1:         `h2load --h1` over TLS (-c 50, keep-alive): requests/s, CPU per request;
  memory:     RSS per idle TLS keep-alive connection (both), and (thumbtack) per held idle
              HTTP/1.1-over-TLS stream (GRIP stream hold, one per TLS connection) and per
              held HTTP/2 stream (1,000 per TLS connection), the streams opened all at
              once (h2_held: every request is at the backend at the same time, so the RSS
              keeps the burst's high-water mark) and at a steady pace (h2_paced: each
              connection opens BENCH_H2_RPS streams a second, so few requests are in
              flight at once); each in a fresh process.

`make bench-tls` (bench/run.sh --tls). BENCH_TLS_SECS (10), BENCH_TLS_HELD (2000 TLS
connections), BENCH_H2_HELD (10000 streams), BENCH_H2_RPS (200 streams a second per
connection for h2_paced), BENCH_TLS_STEPS (comma-separated, default all: tls_idle,
tls_held, h2_held, h2_paced, handshakes, speed; e.g. BENCH_TLS_STEPS=h2_held,h2_paced
measures only the memory per held HTTP/2 stream), BENCH_TLS_SYSTEMS (default
"thumbtack,nginx"). Results in bench/results/tls-<stamp>/.
"""
import asyncio
import json
import os
import re
import ssl
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (process helpers, ports, /proc readers)
from bench import cpu_delta, cpu_of, log, mem_of, proc_tree, spawn, stop, stop_all, wait_port  # noqa: E402

SECS = int(os.environ.get("BENCH_TLS_SECS", "10"))
HELD = int(os.environ.get("BENCH_TLS_HELD", "2000"))
H2_HELD = int(os.environ.get("BENCH_H2_HELD", "10000"))
H2_RPS = int(os.environ.get("BENCH_H2_RPS", "200"))
STEPS = set(os.environ.get("BENCH_TLS_STEPS",
                           "tls_idle,tls_held,h2_held,h2_paced,handshakes,speed").split(","))
HS_ROUNDS = int(os.environ.get("BENCH_TLS_HS_ROUNDS", "4"))
HS_SECS = 5
SYSTEMS = os.environ.get("BENCH_TLS_SYSTEMS", "thumbtack,nginx").split(",")


def free_ports(n):
    """n free loopback ports (BENCH_PORT_BASE+50.. when set): the machine may run other
    servers on the usual bench ports."""
    if os.environ.get("BENCH_PORT_BASE"):
        base = int(os.environ["BENCH_PORT_BASE"]) + 50
        return list(range(base, base + n))
    import socket
    socks = [socket.socket() for _ in range(n)]
    for x in socks:
        x.bind(("127.0.0.1", 0))
    ports = [x.getsockname()[1] for x in socks]
    for x in socks:
        x.close()
    return ports


BACKEND, TT, TT_HTTP, TT_PUB, NGINX = free_ports(5)


def make_cert(d, port):
    os.makedirs(os.path.join(d, "runner", "certs"), exist_ok=True)
    base = os.path.join(d, "runner", "certs", "default_%d" % port)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", base + ".key", "-out", base + ".crt"],
                   check=True, capture_output=True)
    return base + ".crt", base + ".key"


def start_thumbtack(d):
    crt, key = make_cert(d, TT)
    with open(os.path.join(d, "pushpin.conf"), "w") as f:
        f.write("""[runner]
http_port=127.0.0.1:{http}
https_ports=127.0.0.1:{tls}
log_level=1
client_maxconn=50000
http2_max_concurrent_streams=1000
[proxy]
sig_key=changeme
[handler]
push_in_http_port={pub}
push_in_spec=
push_in_sub_specs=
command_spec=
""".format(http=TT_HTTP, tls=TT, pub=TT_PUB))
    p = spawn([bench.PARAMS["thumbtack"], "--config", os.path.join(d, "pushpin.conf"), "--route",
               "* 127.0.0.1:%d" % BACKEND], logfile=os.path.join(d, "thumbtack.log"))
    return p, crt, key


def start_nginx(d):
    crt, key = make_cert(d, NGINX)
    body = """  upstream backend {{ server 127.0.0.1:{b}; keepalive 64; keepalive_requests 1000000; }}
  server {{
    listen 127.0.0.1:{p} ssl http2 backlog=4096;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;
    ssl_session_tickets on;
    http2_max_concurrent_streams 1000;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_buffering on; }}
  }}""".format(b=BACKEND, p=NGINX, crt=crt, key=key)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(bench.nginx_conf(d, NGINX, body, False).replace("worker_processes auto",
                                                                "worker_processes 2"))
    return spawn(["/usr/sbin/nginx", "-c", conf, "-p", d, "-e", os.path.join(d, "error.log")],
                 logfile=os.path.join(d, "stderr.log"))


def measure(pids, fn):
    c0 = cpu_of(pids)
    t0 = time.monotonic()
    out = fn()
    wall = time.monotonic() - t0
    u, s = cpu_delta(c0, cpu_of(pids))
    return out, wall, u + s


def handshakes(port):
    args = ["openssl", "s_time", "-connect", "127.0.0.1:%d" % port, "-new", "-time",
            str(HS_SECS)]
    ps = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
          for _ in range(2)]
    total = 0
    for p in ps:
        out = p.communicate(timeout=HS_SECS + 30)[0]
        m = re.search(r"(\d+) connections in ([\d.]+)s", out)
        total += int(m.group(1)) if m else 0
    return total


def h2load(port, h1):
    args = ["h2load", "-t", "2", "-D", str(SECS)]
    args += ["--h1", "-c", "50"] if h1 else ["-c", "20", "-m", "10"]
    args.append("https://127.0.0.1:%d/" % port)
    out = subprocess.run(args, capture_output=True, text=True, timeout=SECS + 60).stdout
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                  r"(\d+) errored", out)
    ok = int(m.group(3)) if m else 0
    bad = (int(m.group(4)) + int(m.group(5))) if m else -1
    proto = "h2" if "Application protocol: h2" in out else (
        "http/1.1" if "Application protocol: http/1.1" in out else "?")
    return ok, bad, proto


async def hold_tls(port, n, path, until=b"[stream opened]\n"):
    """n TLS connections, each sends one GET and reads its answer up to `until`, then
    stays open and idle."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["http/1.1"])
    conns = []
    sem = asyncio.Semaphore(100)

    async def one(i):
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx)
            w.write(("GET %s%d HTTP/1.1\r\nHost: localhost\r\n\r\n" % (path, i)).encode())
            await r.readuntil(until)
            conns.append(w)
    await asyncio.gather(*(one(i) for i in range(n)))
    return conns


def rss_settled(pids, timeout=20.0):
    last, since, end = None, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < end:
        r = mem_of(pids)[0]
        if r != last:
            last, since = r, time.monotonic()
        elif time.monotonic() - since > 1.5:
            break
        time.sleep(0.25)
    return last


def tls_memory(port, pids, path, until):
    """RSS per TLS connection held open (a fresh server: the RSS delta also holds what the
    allocator keeps of the handshakes' temporary memory)."""
    base = rss_settled(pids, 3)
    loop = asyncio.new_event_loop()
    conns = loop.run_until_complete(hold_tls(port, HELD, path, until))
    after = rss_settled(pids)
    for w in conns:
        w.transport.abort()
    loop.close()
    return round((after - base) / HELD, 2)


def h2_memory(port, pids, rps=0):
    """RSS per held HTTP/2 stream, 1,000 per connection: opened all at once, or rps a
    second per connection (h2load --rps)."""
    base = rss_settled(pids, 3)
    conns = max(1, H2_HELD // 1000)
    args = ["h2load", "-t", "1", "-c", str(conns), "-m", "1000", "-n", str(H2_HELD)]
    if rps:
        args += ["--rps", str(rps)]
    p = subprocess.Popen(args + ["https://127.0.0.1:%d/stream?channel=h2" % port],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2 + (H2_HELD / conns / rps if rps else 0))
    after = rss_settled(pids)
    p.kill()
    p.wait()
    return round((after - base) / H2_HELD, 2)


def run_system(name, work):
    d = os.path.join(work, name)
    os.makedirs(d, exist_ok=True)
    res = {}
    port = TT if name == "thumbtack" else NGINX

    def fresh():
        proc = start_thumbtack(d)[0] if name == "thumbtack" else start_nginx(d)
        return proc if wait_port(port, proc) else None
    # memory first, each in a fresh process
    steps = [("tls_idle", lambda pids: tls_memory(port, pids, "/?i=", b"\r\n\r\nok"))]
    if name == "thumbtack":
        steps.append(("tls_held", lambda pids: tls_memory(port, pids, "/stream?channel=tls",
                                                          b"[stream opened]\n")))
        steps.append(("h2_held", lambda pids: h2_memory(port, pids)))
        steps.append(("h2_paced", lambda pids: h2_memory(port, pids, H2_RPS)))
    for step, fn in steps:
        if step not in STEPS:
            continue
        proc = fresh()
        if proc is None:
            return {"note": "did not start"}
        res[step + "_kb"] = fn(proc_tree(proc.pid))
        stop(proc)
    if "speed" not in STEPS:
        return res
    proc = fresh()
    if proc is None:
        return {"note": "did not start"}
    pids = proc_tree(proc.pid)
    for key, h1 in (("h2", False), ("h1", True)):
        (ok, bad, proto), wall, cpu = measure(pids, lambda: h2load(port, h1))
        res[key + "_rps"] = round(ok / wall)
        res[key + "_errors"] = bad
        res[key + "_proto"] = proto
        res[key + "_cpu_us_per_req"] = round(cpu * 1e6 / max(ok, 1), 1)
    stop(proc)
    return res


def handshake_rounds(work, names):
    """Full handshakes with every server up at once, the servers taking turns round after
    round, so that a drift of the machine weighs on each alike; per server the median
    round's rate and CPU per handshake (and every round, for the record)."""
    up = {}
    for name in names:
        d = os.path.join(work, name)
        proc = start_thumbtack(d)[0] if name == "thumbtack" else start_nginx(d)
        port = TT if name == "thumbtack" else NGINX
        if wait_port(port, proc):
            up[name] = (proc, port, proc_tree(proc.pid))
    rounds = {name: [] for name in up}
    for _ in range(HS_ROUNDS):
        for name, (proc, port, pids) in up.items():
            n, wall, cpu = measure(pids, lambda: handshakes(port))
            rounds[name].append((round(n / wall), round(cpu * 1e6 / max(n, 1), 1)))
    for proc, _, _ in up.values():
        stop(proc)
    return {name: {"handshakes_s": round(statistics.median([r for r, _ in rs])),
                   "cpu_us_per_handshake": round(statistics.median([c for _, c in rs]), 1),
                   "handshake_rounds": rs} for name, rs in rounds.items() if rs}


def render(results):
    t, n = results.get("thumbtack", {}), results.get("nginx", {})

    def ratio(a, b):
        return "%.2f" % (a / b) if a and b else "–"
    rows = [
        ("TLS handshakes/s (openssl s_time -new x2, TLS 1.3, P-256; median of %d alternating "
         "rounds)" % HS_ROUNDS, "handshakes_s"),
        ("server CPU per handshake, us", "cpu_us_per_handshake"),
        ("proxied requests/s over h2 (h2load -c 20 -m 10)", "h2_rps"),
        ("server CPU per h2 request, us", "h2_cpu_us_per_req"),
        ("proxied requests/s, HTTP/1.1 over TLS (h2load --h1 -c 50)", "h1_rps"),
        ("server CPU per HTTP/1.1 request, us", "h1_cpu_us_per_req"),
        ("memory per idle TLS keep-alive connection (after one request), KB", "tls_idle_kb"),
        ("memory per held idle HTTP/1.1-over-TLS stream (GRIP stream hold), KB", "tls_held_kb"),
        ("memory per held HTTP/2 stream (1,000 per connection, opened at once), KB",
         "h2_held_kb"),
        ("memory per held HTTP/2 stream (1,000 per connection, %d/s each), KB" % H2_RPS,
         "h2_paced_kb"),
    ]
    out = ["| metric | thumbtack | nginx | thumbtack / nginx |", "|---|---:|---:|---:|"]
    for label, k in rows:
        a, b = t.get(k), n.get(k)
        out.append("| %s | %s | %s | %s |" % (label, a if a is not None else "–",
                                           b if b is not None else "–", ratio(a, b)))
    out.append("")
    out.append("errors: thumbtack h2 %s, h1 %s; nginx h2 %s, h1 %s. Protocols seen by h2load: "
               "thumbtack %s/%s, nginx %s/%s." % (
                   t.get("h2_errors"), t.get("h1_errors"), n.get("h2_errors"), n.get("h1_errors"),
                   t.get("h2_proto"), t.get("h1_proto"), n.get("h2_proto"), n.get("h1_proto")))
    return "\n".join(out)


def main():
    for tool in ("h2load", "openssl"):
        if not subprocess.run(["which", tool], capture_output=True).returncode == 0:
            log("%s is not installed" % tool)
            return 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = os.path.join(bench.HERE, "results", "tls-" + stamp)
    os.makedirs(work, exist_ok=True)
    results = {}
    try:
        be = spawn([os.path.join(bench.TOOLS, "backend"), str(BACKEND)],
                   logfile=os.path.join(work, "backend.log"))
        wait_port(BACKEND, be)
        for name in SYSTEMS:
            if name == "nginx" and not os.path.exists("/usr/sbin/nginx"):
                results[name] = {"note": "nginx not installed"}
                continue
            log("%s ..." % name)
            results[name] = run_system(name, work)
            log("%s: %s" % (name, results[name]))
        if "handshakes" in STEPS:
            names = [n for n in SYSTEMS if "note" not in results.get(n, {})]
            log("handshakes (%s, taking turns) ..." % ", ".join(names))
            for name, hs in handshake_rounds(work, names).items():
                results[name].update(hs)
                log("%s: %s" % (name, hs))
    finally:
        stop_all()
    md = render(results)
    with open(os.path.join(work, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    with open(os.path.join(work, "results.md"), "w") as f:
        f.write(md + "\n")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
