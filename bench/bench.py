#!/usr/bin/env python3
"""Drives a real keyplane server with wrk and prints one table.

Scenarios (per backend): native password sign-in at the default Argon2id parameters;
refresh with rotation (every connection walks its own chain of refresh tokens, so every
request is a real, successful rotation); RFC 7662 introspection authenticated by API key;
JWKS fetch; introspection while sign-ins saturate the hashing pool; sign-in at 80 % of
the measured capacity; and tenant fairness: another tenant's paced sign-ins, unloaded and
while a flood of random names at the first tenant saturates the hashing pool. Reports requests/s, p50 and p99 latency, error rate and the
server's peak RSS (VmHWM, reset before each scenario). Standard library only.
"""

import argparse
import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ADMIN_PASSWORD = "bench-admin-password"
USER_PASSWORD = "bench password 1234"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, backend, database_url, workdir, raise_rate_limits=True):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update({
            "KEYPLANE_PORT": str(self.port),
            "KEYPLANE_DATA_DIR": workdir,
            "KEYPLANE_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "KEYPLANE_LOG": "warn",
        })
        if raise_rate_limits:
            # All load comes from 127.0.0.1: raise the rate limits far above what the
            # benchmark sends, keeping the limiter (and its cost) in the measured path.
            for budget in ("", "DISCOVERY_"):
                for quota in ("PER_ADDRESS_PER_SECOND", "PER_ADDRESS_BURST", "PER_TENANT_PER_SECOND", "PER_TENANT_BURST"):
                    env[f"KEYPLANE_RATE_LIMIT__{budget}{quota}"] = "10000000"
        if database_url:
            env["KEYPLANE_DATABASE_URL"] = database_url
        self.log = open(os.path.join(workdir, "server.log"), "w")
        self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=self.log, stderr=self.log)
        for _ in range(600):
            try:
                urllib.request.urlopen(self.base + "/readyz", timeout=1)
                return
            except Exception:
                if self.proc.poll() is not None:
                    raise SystemExit(f"keyplane exited; see {workdir}/server.log")
                time.sleep(0.1)
        raise SystemExit("keyplane did not become ready")

    def reset_peak_rss(self):
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def peak_rss_mb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def call(method, url, body=None, headers=None, form=False):
    headers = dict(headers or {})
    data = None
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
    for attempt in range(50):
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read()
                return json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            if e.code != 429 or attempt == 49:
                raise
            time.sleep(float(e.headers.get("Retry-After", "1")) / 4)


def admin_headers():
    token = base64.b64encode(f"admin:{ADMIN_PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def seed(server, users, slug="bench"):
    base = server.base
    call("POST", base + "/api/v1/platform/tenants", {"slug": slug, "name": "Benchmark"}, admin_headers())
    key = call("POST", base + f"/api/v1/platform/tenants/{slug}/keys", {"description": "bench", "roles": ["tenant_admin"]}, admin_headers())["key"]
    for i in range(users):
        call("POST", base + "/api/v1/users", {"user_name": f"u{i}", "password": USER_PASSWORD}, {"X-API-Key": key})
    return key


def login(server, key, user):
    return call("POST", server.base + "/api/v1/users/auth/_login", {"username": user, "password": USER_PASSWORD}, {"X-API-Key": key})


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_script(workdir, name, text):
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


SIGNIN_LUA = """
local users, key, password, rate_delay = {users}, {key}, {password}, {delay}
local counter = 0
function request()
  counter = counter + 1
  local body = '{{"username":"u' .. (counter % users) .. '","password":"' .. password .. '"}}'
  return wrk.format("POST", "/api/v1/users/auth/_login", {{["X-API-Key"] = key, ["Content-Type"] = "application/json"}}, body)
end
function delay() return rate_delay end
"""

# A brute-force flood: random names, as an attacker sends them (each costs a hash).
FLOOD_LUA = """
local key = {key}
local counter = 0
function request()
  counter = counter + 1
  local body = '{{"username":"intruder' .. counter .. '-' .. math.random(1000000000) .. '","password":"guess"}}'
  return wrk.format("POST", "/api/v1/users/auth/_login", {{["X-API-Key"] = key, ["Content-Type"] = "application/json"}}, body)
end
-- Every answer is a 401 but for 429s (the tenant's hashing lane full), counted apart.
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
limited = 0
function response(status, headers, body) if status == 429 then limited = limited + 1 end end
function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("limited") end
  io.write(string.format("Refused with 429: %d\\n", n))
end
"""

REFRESH_LUA = """
local tokens = {{{tokens}}}
local next_thread = 0
function setup(thread)
  next_thread = next_thread + 1
  thread:set("token", tokens[next_thread])
end
function request()
  return wrk.format("POST", "/api/v1/users/auth/_refresh", {{["Authorization"] = "Bearer " .. token}}, "")
end
function response(status, headers, body)
  if status == 200 then
    local rotated = string.match(body, '"refresh_token":"([^"]+)"')
    if rotated then token = rotated end
  end
end
"""

INTROSPECT_LUA = """
local tokens, key = {{{tokens}}}, {key}
local counter = 0
function request()
  counter = counter + 1
  local body = "token=" .. tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/t/bench/oauth2/introspect", {{["X-API-Key"] = key, ["Content-Type"] = "application/x-www-form-urlencoded"}}, body)
end
"""

JWKS_LUA = """
wrk.method = "GET"
wrk.path = "/t/bench/.well-known/jwks.json"
"""


def unit_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(server, script, threads, connections, duration):
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", "--latency", "--timeout", "10s", "-s", script, server.base]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {m.group(1): unit_ms(m.group(2), m.group(3)) for m in re.finditer(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(non2xx.group(1)) if non2xx else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if sock:
        errors += sum(int(x) for x in sock.groups())
    seconds = float(re.search(r"requests in ([\d.]+)(ms|s|m)", out).group(1)) * {"ms": 0.001, "s": 1, "m": 60}[re.search(r"requests in [\d.]+(ms|s|m)", out).group(1)]
    limited = re.search(r"Refused with 429: (\d+)", out)
    if limited:  # the flood: every answer but a 429 is the expected 401
        errors = int(limited.group(1))
    ok_rps = (total - min(errors, total)) / max(seconds, 0.001)
    return {"rps": ok_rps, "p50": lat.get("50", float("nan")), "p99": lat.get("99", float("nan")), "errors": errors, "total": total}


def scenario(server, name, script, threads, connections, duration, rows, backend):
    server.reset_peak_rss()
    r = run_wrk(server, script, threads, connections, duration)
    r.update(name=name, backend=backend, rss=server.peak_rss_mb(), conns=connections)
    rows.append(r)
    return r


def bench_backend(args, backend, hash_info, rows):
    workdir = tempfile.mkdtemp(prefix=f"keyplane-bench-{backend}-")
    database_url = None
    pg_name = None
    if backend == "postgres":
        pg_name = f"kp_bench_{int(time.time())}"
        subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", f'CREATE DATABASE "{pg_name}"'], check=True)
        database_url = f"postgres://postgres@127.0.0.1:5432/{pg_name}"
    server = Server(args.binary, backend, database_url, workdir)
    try:
        # Two connections per hashing thread: the pool never idles between requests and
        # its queue (~100 ms of work) never overflows into 429s.
        signin_conns = hash_info["cores"] * 2
        chains = args.refresh_connections
        key = seed(server, max(chains, 8))
        d = args.duration
        signin_script = write_script(workdir, "signin.lua", SIGNIN_LUA.format(users=max(chains, 8), key=lua_string(key), password=lua_string(USER_PASSWORD), delay=0))
        signin = scenario(server, "password sign-in (_login)", signin_script, 2, signin_conns, d, rows, backend)

        sessions = [login(server, key, f"u{i % 8}") for i in range(chains)]
        refresh_script = write_script(workdir, "refresh.lua", REFRESH_LUA.format(tokens=",".join(lua_string(s["refresh_token"]) for s in sessions)))
        scenario(server, "refresh with rotation (_refresh)", refresh_script, chains, chains, d, rows, backend)

        access = [login(server, key, f"u{i}")["token"] for i in range(8)]
        introspect_script = write_script(workdir, "introspect.lua", INTROSPECT_LUA.format(tokens=",".join(lua_string(t) for t in access), key=lua_string(key)))
        scenario(server, "introspection (API key)", introspect_script, 2, args.connections, d, rows, backend)

        jwks_script = write_script(workdir, "jwks.lua", JWKS_LUA)
        scenario(server, "JWKS fetch", jwks_script, 2, args.connections, d, rows, backend)

        # Introspection while sign-ins saturate the hashing pool.
        server.reset_peak_rss()
        saturate = subprocess.Popen(["wrk", "-t1", f"-c{signin_conns * 2}", f"-d{d}", "-s", signin_script, server.base], stdout=subprocess.DEVNULL)
        time.sleep(0.5)
        r = run_wrk(server, introspect_script, 1, max(2, args.connections // 4), d)
        saturate.wait()
        r.update(name="introspection while sign-ins saturate", backend=backend, rss=server.peak_rss_mb(), conns=max(2, args.connections // 4))
        rows.append(r)

        # Sign-in at 80 % of the capacity just measured: each connection waits its turn.
        rate = max(1.0, 0.8 * signin["rps"])
        delay_ms = max(0, int(signin_conns * 1000 / rate))
        paced = write_script(workdir, "signin80.lua", SIGNIN_LUA.format(users=max(chains, 8), key=lua_string(key), password=lua_string(USER_PASSWORD), delay=delay_ms))
        scenario(server, "sign-in at 80 % of capacity", paced, 2, signin_conns, d, rows, backend)

        # Tenant fairness: another tenant's sign-ins, unloaded and while a flood of random
        # names at the first tenant saturates the hashing pool (errors are 429s).
        other_key = seed(server, 1, slug="other")
        other = write_script(workdir, "other.lua", SIGNIN_LUA.format(users=1, key=lua_string(other_key), password=lua_string(USER_PASSWORD), delay=100))
        scenario(server, "other tenant's sign-in, unloaded", other, 1, 2, d, rows, backend)
        flood = write_script(workdir, "flood.lua", FLOOD_LUA.format(key=lua_string(key)))
        server.reset_peak_rss()
        flood_result = {}
        flooding = threading.Thread(target=lambda: flood_result.update(run_wrk(server, flood, 1, signin_conns * 8, d)))
        flooding.start()
        time.sleep(0.5)
        r = run_wrk(server, other, 1, 2, d)
        flooding.join()
        r.update(name="other tenant's sign-in during a flood", backend=backend, rss=server.peak_rss_mb(), conns=2)
        rows.append(r)
        # The flood itself: failed sign-ins served (counted, audited) and those refused.
        flood_result.update(name="the flood (random names, one tenant)", backend=backend, rss=server.peak_rss_mb(), conns=signin_conns * 8)
        rows.append(flood_result)
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if pg_name:
            subprocess.run(["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-c", f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'], check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", default="target/release/keyplane")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--refresh-connections", type=int, default=16)
    parser.add_argument("--smoke", action="store_true", help="a few seconds in all: proves the benchmark runs")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args()
    if args.smoke:
        args.duration, args.connections, args.refresh_connections = "1s", 4, 2

    hash_info = json.loads(subprocess.run([args.binary, "hash-benchmark", "--iterations", "3" if args.smoke else "20"], capture_output=True, text=True, check=True).stdout)
    rows = []
    for backend in args.backends.split(","):
        bench_backend(args, backend.strip(), hash_info, rows)

    ceiling = hash_info["ceiling_per_s"]
    print()
    print(f"Argon2id {hash_info['memory_kib'] // 1024} MiB, {hash_info.get('passes', hash_info.get('iterations'))} passes: one hash {hash_info['hash_ms_median']} ms; "
          f"sign-in ceiling {hash_info['cores']} cores / hash time = {ceiling:.0f}/s")
    sep = "|" if args.markdown else " "
    header = ["backend", "scenario", "conns", "ok req/s", "p50 ms", "p99 ms", "errors", "peak RSS MB"]
    table = [header]
    for r in rows:
        err = 100.0 * r["errors"] / max(1, r["total"])
        table.append([r["backend"], r["name"], str(r["conns"]), f"{r['rps']:.0f}", f"{r['p50']:.2f}", f"{r['p99']:.2f}", f"{err:.2f}%", f"{r['rss']:.1f}"])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for n, row in enumerate(table):
        cells = [c.ljust(w) for c, w in zip(row, widths)]
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(cells))
        if args.markdown and n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        if r["name"].startswith("password sign-in"):
            print(f"{r['backend']}: sign-in reached {r['rps']:.0f}/s = {100 * r['rps'] / ceiling:.0f} % of the ceiling")
    failed = [r for r in rows if r["total"] == 0]
    if failed:
        print("no request completed in: " + ", ".join(r["name"] for r in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    import urllib.parse  # noqa: F401  (used by call())
    sys.exit(main())
