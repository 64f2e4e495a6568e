"""HTTP figures of `twofa serve` for benchmarks/run (issue 13), with wrk on this machine:

- GET /api/v1/users/me, requests/s: twofa serve against a minimal FastAPI + uvicorn (2 workers)
  + PyJWT implementation of the same endpoint (benchmarks/peer/fastapi_me.py), same database;
- /me p99 latency while 16 logins hash at once;
- login throughput with 2 cores against 1 (the server pinned with taskset).

Usage: python3 benchmarks/serve.py /path/to/twofa   (twofa-serve beside it)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

TWOFA = sys.argv[1]
SECONDS = int(os.environ.get("HTTP_SECONDS", "10"))
PASSWORD = "benchmark passphrase 42"
HERE = os.path.dirname(os.path.abspath(__file__))
folder = tempfile.mkdtemp(prefix="twofa-http-")
os.chmod(folder, 0o700)
database = os.path.join(folder, "twofa.db")
environment = dict(os.environ, TWOFA_DB=database, TWOFA_ISSUER="bench")
children = []


def start_server(pin=None):
    argv = [TWOFA, "serve", "--listen", "127.0.0.1:0"]
    if pin:
        argv = ["taskset", "-c", pin] + argv
    process = subprocess.Popen(argv, env=environment, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    children.append(process)
    line = process.stderr.readline()
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not match:
        raise SystemExit(f"twofa serve did not start: {line}")
    # Keep reading the access log so the pipe never fills.
    subprocess.Popen(["cat"], stdin=process.stderr, stdout=open(os.environ.get("SERVE_LOG", os.devnull), "a"))
    return process, f"http://127.0.0.1:{match.group(1)}"


def stop(process):
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def post(url, body):
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))


def wrk(url, connections, seconds, script=None, header=None, latency=False):
    argv = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    if script:
        argv += ["-s", script]
    if header:
        argv += ["-H", header]
    if latency:
        argv += ["--latency"]
    output = subprocess.run(argv + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        sample = subprocess.run(["curl", "-s", "-i", url] + (["-H", header] if header else []), capture_output=True, text=True)
        raise SystemExit(f"wrk {url}: {errors.group(1)} failed responses\n{output}\none of them:\n{sample.stdout}")
    p99 = None
    if latency:
        match = re.search(r"99%\s+([\d.]+)(us|ms|s)", output)
        p99 = float(match.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[match.group(2)]
    return rate, p99


def main():
    register = subprocess.run(
        [TWOFA, "register", "bench", "--password-stdin"], input=PASSWORD + "\n", env=environment,
        capture_output=True, text=True)
    if register.returncode != 0:
        raise SystemExit(register.stderr)
    login_script = os.path.join(folder, "login.lua")
    with open(login_script, "w") as script:
        script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                     f'wrk.body = \'{{"username": "bench", "password": "{PASSWORD}"}}\'\n')
    rows = []

    server, base = start_server()
    token = post(base + "/api/v1/auth/login", {"username": "bench", "password": PASSWORD})["access_token"]
    jwks = urllib.request.urlopen(base + "/.well-known/jwks.json").read().decode()
    header = f"Authorization: Bearer {token}"
    ours, _ = wrk(base + "/api/v1/users/me", 64, SECONDS, header=header)

    peer_env = dict(environment, TWOFA_JWKS=jwks)
    # The virtual environment scripts/test and benchmarks/run make (FastAPI, uvicorn, PyJWT).
    uvicorn = os.path.join(os.path.dirname(HERE), ".build/python-tools/bin/uvicorn")
    peer = subprocess.Popen(
        [uvicorn, "fastapi_me:app", "--workers", "2", "--port", "18765", "--log-level", "warning", "--no-access-log"],
        cwd=os.path.join(HERE, "peer"), env=peer_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children.append(peer)
    for _ in range(300):
        try:
            request = urllib.request.Request("http://127.0.0.1:18765/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
            urllib.request.urlopen(request)
            break
        except Exception:
            time.sleep(0.1)
    theirs, _ = wrk("http://127.0.0.1:18765/api/v1/users/me", 64, SECONDS, header=header)
    peer.send_signal(signal.SIGTERM)
    peer.wait(timeout=30)
    rows.append(("`GET /api/v1/users/me`, requests/s (wrk, 64 connections)", f"{ours:,.0f}",
                 f"{theirs:,.0f} (FastAPI + uvicorn ×2 + PyJWT)", f"{ours / theirs:.2f}×", "≥ 10,000/s and ≥ 4×",
                 "met" if ours >= 10_000 and ours >= 4 * theirs else "**missed**"))

    # A wrong password: a real account against a name that is no account (each name tried
    # once, so none locks), interleaved, medians.
    known, unknown = [], []
    for index in range(30):
        subprocess.run([TWOFA, "register", f"known{index}", "--password-stdin"], input=PASSWORD + "\n",
                       env=environment, capture_output=True, text=True, check=True)
    for index in range(30):
        for name, times in ((f"known{index}", known), (f"nobody{index}", unknown)):
            started = time.perf_counter()
            try:
                post(base + "/api/v1/auth/login", {"username": name, "password": "not the password"})
            except urllib.error.HTTPError as error:
                assert error.code == 401, error.code
            times.append((time.perf_counter() - started) * 1000)
    known.sort()
    unknown.sort()
    ratio = unknown[15] / known[15]
    rows.append(("`POST /auth/login`, wrong password: unknown user vs real one (median)", f"{unknown[15]:.1f} ms",
                 f"{known[15]:.1f} ms", f"{ratio:.2f}×", "0.9–1.1×", "met" if 0.9 <= ratio <= 1.1 else "**missed**"))

    # /me while 16 logins hash at once.
    logins = subprocess.Popen(["wrk", "-t1", "-c16", f"-d{SECONDS + 2}s", "-s", login_script, base + "/api/v1/auth/login"],
                              stdout=subprocess.PIPE, text=True)
    time.sleep(1)
    _, p99 = wrk(base + "/api/v1/users/me", 4, SECONDS, header=header, latency=True)
    logins.wait()
    rows.append(("`/me` p99 while 16 logins hash at once", f"{p99:.1f} ms", "", "", "≤ 50 ms",
                 "met" if p99 <= 50 else "**missed**"))
    stop(server)

    rates = {}
    for pin in ["0", "0,1"]:
        server, base = start_server(pin)
        rates[pin], _ = wrk(base + "/api/v1/auth/login", 16, SECONDS, script=login_script)
        stop(server)
    ratio = rates["0,1"] / rates["0"]
    rows.append(("logins/s (yescrypt), 2 cores against 1", f"{rates['0,1']:.1f}/s", f"{rates['0']:.1f}/s (1 core)",
                 f"{ratio:.2f}×", "≥ 1.7×", "met" if ratio >= 1.7 else "**missed**"))

    print("\n| HTTP | twofa serve | other | ratio | target | met |")
    print("| --- | ---: | ---: | ---: | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nwrk, {SECONDS} s a figure, on the same {os.cpu_count()} cores as the server.")


try:
    main()
finally:
    for child in children:
        if child.poll() is None:
            child.kill()
    shutil.rmtree(folder, ignore_errors=True)
