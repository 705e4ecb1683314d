#!/usr/bin/env python3
"""The cluster benchmark: a three-node Tresor cluster on integrated Raft storage against a
three-node OpenBao cluster on Raft, on this machine, in one run.

For each product: three server processes on loopback (Raft timings at performance_multiplier=1
for both), the first initialised (one key share) and unsealed, the other two joined through
`sys/storage/raft/join` and unsealed; that whole formation is timed until the configuration lists
three voters. Then the state of bench.py (10,000 secrets, transit key, AppRole, a policy-bound
token) is made through the active node, and the load generator measures, alternating A B B A:

- writes (KV v2 write, AppRole login) at 64 connections against the active node;
- reads (KV v2 read, token lookup-self) at 64 connections against the active node alone, and
  spread over all three nodes at once (three load generators, 64 connections each), to show
  whether standbys add read capacity.

Last, failover: the active node is killed (SIGKILL) under no load, and the time until another
node answers `sys/health` as active and takes a write is measured, over several trials (the
killed node is restarted, unsealed and rejoins between trials).

Nothing is pinned to a CPU here: nine processes share the machine's cores, as they would share
a user's. Results go to bench/results/cluster.json and cluster.md.
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

ROOT = bench.ROOT


class Node(bench.Server):
    """A server of a cluster: started from its configuration, not yet initialised."""

    def __init__(self, kind, index, workdir, api_port, cluster_port):
        self.config_path = workdir / "server.hcl"
        self.kind_name = kind
        data = workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        # The same configuration for both: Vault's language.
        text = (f'storage "raft" {{\n  path = "{data}"\n  node_id = "n{index}"\n  performance_multiplier = 1\n}}\n'
                f'listener "tcp" {{\n  address = "127.0.0.1:{api_port}"\n  cluster_address = "127.0.0.1:{cluster_port}"\n  tls_disable = true\n}}\n'
                f'api_addr = "http://127.0.0.1:{api_port}"\ncluster_addr = "https://127.0.0.1:{cluster_port}"\ndisable_mlock = true\n')
        binary = str(bench.TRESOR) if kind == "tresor" else bench.bao_bin()
        self.config_path.write_text(text)
        self.argv = [binary, "server", f"-config={self.config_path}"]
        self.workdir = workdir
        super().__init__(f"{kind}-n{index}", kind, "durable", self.argv, api_port, workdir)

    def restart(self):
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_listening()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()


def ports():
    p = bench.free_port()
    return p, p + 1


def health(node):
    try:
        status, _ = node.call("GET", "sys/health", token=None)
        return status
    except OSError:
        return None


def wait_for(what, check, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise RuntimeError(f"timed out waiting for {what}")


def voters(node):
    try:
        status, body = node.call("GET", "sys/storage/raft/configuration")
    except OSError:
        return 0
    if status != 200:
        return 0
    return sum(1 for s in body["data"]["config"]["servers"] if s.get("voter"))


def form(kind, workdir):
    nodes = []
    for i in range(3):
        api, cluster = ports()
        nodes.append(Node(kind, i + 1, workdir / f"n{i + 1}", api, cluster))
    first = nodes[0]
    t0 = time.time()
    init = first.ok("PUT", "sys/init", {"secret_shares": 1, "secret_threshold": 1}, token=None)
    key = init["keys"][0]
    first.ok("PUT", "sys/unseal", {"key": key}, token=None)
    wait_for(f"{kind} n1 active", lambda: health(first) == 200)
    token = init["root_token"]
    for n in nodes:
        n.token = token
        n.unseal_key = key
    for n in nodes[1:]:
        n.ok("PUT", "sys/storage/raft/join", {"leader_api_addr": f"http://{first.addr}"}, token=None)
        n.ok("PUT", "sys/unseal", {"key": key}, token=None)
    wait_for(f"{kind} standbys", lambda: all(health(n) in (200, 429) for n in nodes))
    wait_for(f"{kind} three voters", lambda: voters(first) == 3)
    formed = time.time() - t0
    first.ok("POST", "sys/mounts/secret", {"type": "kv", "options": {"version": "2"}})
    return nodes, formed


def active_of(nodes):
    for n in nodes:
        if n.proc.poll() is None and health(n) == 200:
            return n
    return None


def share_extra(nodes, active):
    for n in nodes:
        n.extra = active.extra


def run_spread(nodes, scenario, concurrency, seconds, warmup):
    with concurrent.futures.ThreadPoolExecutor(len(nodes)) as pool:
        runs = list(pool.map(lambda n: bench.run_load(n, scenario, concurrency, seconds, warmup), nodes))
    return {"rps": sum(r["rps"] for r in runs), "p50_ms": max(r["p50_ms"] for r in runs),
            "p99_ms": max(r["p99_ms"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "cpu_us_per_request": 0.0}


def failover(nodes, trials):
    times = []
    for _ in range(trials):
        active = active_of(nodes)
        if active is None:
            raise RuntimeError("no active node")
        t0 = time.time()
        active.kill9()
        others = [n for n in nodes if n is not active]

        def taken_over():
            for n in others:
                if health(n) == 200:
                    try:
                        status, _ = n.call("PUT", "secret/data/failover", {"data": {"t": str(t0)}})
                    except OSError:
                        continue
                    if status == 200:
                        return True
            return False

        wait_for("a new active node", taken_over, timeout=60)
        times.append(time.time() - t0)
        active.restart()
        active.ok("PUT", "sys/unseal", {"key": active.unseal_key}, token=None)
        wait_for("the old node back as a standby", lambda: health(active) == 429)
        time.sleep(1.0)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "cluster"))
    args = ap.parse_args()
    bao_version = subprocess.run([bench.bao_bin(), "version"], capture_output=True, text=True).stdout.split()[1]
    result = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "machine": f"{os.cpu_count()} CPUs, {os.uname().sysname} {os.uname().release}",
              "openbao_version": bao_version, "seconds": args.seconds, "warmup": args.warmup,
              "rows": [], "formation_s": {}, "failover_s": {}}
    errors = 0
    with tempfile.TemporaryDirectory(prefix="tresor-cluster-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        clusters = {}
        try:
            for kind in ("tresor", "bao"):
                print(f"forming {kind}:", flush=True)
                nodes, formed = form(kind, tmp / kind)
                clusters[kind] = nodes
                result["formation_s"][kind] = formed
                active = active_of(nodes)
                bench.prepare(active)
                share_extra(nodes, active)
                print(f"  formed in {formed:.2f} s", flush=True)
            plan = [("kv-write", "active"), ("approle-login", "active"), ("kv-read", "active"),
                    ("kv-read", "all"), ("lookup-self", "active"), ("lookup-self", "all")]
            for scenario, target in plan:
                runs = {"tresor": [], "bao": []}
                for kind in ("tresor", "bao", "bao", "tresor"):
                    nodes = clusters[kind]
                    if target == "active":
                        runs[kind].append(bench.run_load(active_of(nodes), scenario, 64, args.seconds, args.warmup))
                    else:
                        runs[kind].append(run_spread(nodes, scenario, 64, args.seconds, args.warmup))
                row = {"scenario": scenario, "target": target, "concurrency": 64}
                for kind, rs in runs.items():
                    row[kind] = {k: bench.mean(rs, k) for k in ("rps", "p50_ms", "p99_ms")}
                    row[kind]["errors"] = sum(r["errors"] for r in rs)
                    errors += row[kind]["errors"]
                row["ratio_rps"] = row["tresor"]["rps"] / max(row["bao"]["rps"], 1e-9)
                result["rows"].append(row)
                print(f"  {scenario:14} {target:6} tresor {row['tresor']['rps']:9.0f}/s  bao {row['bao']['rps']:8.0f}/s  x{row['ratio_rps']:.1f}", flush=True)
            for kind in ("tresor", "bao"):
                print(f"failover {kind}:", flush=True)
                times = failover(clusters[kind], args.trials)
                result["failover_s"][kind] = {"trials": times, "p50": statistics.median(times), "max": max(times)}
                print(f"  p50 {statistics.median(times):.2f} s, max {max(times):.2f} s", flush=True)
        finally:
            for nodes in clusters.values():
                for n in nodes:
                    if n.proc.poll() is None:
                        n.stop()
    out = pathlib.Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(result) + "\n")
    print(markdown(result))
    if errors:
        print(f"{errors} requests failed", file=sys.stderr)
        return 1
    return 0


def markdown(r):
    lines = [f"# Three-node clusters: Tresor (integrated Raft) vs OpenBao {r['openbao_version']} (Raft)", "",
             f"Run {r['when']} on {r['machine']}; {r['seconds']} s per run after {r['warmup']} s warm-up, A B B A; "
             "all nine processes unpinned. 64 connections per load generator; `all` runs one generator per node at once.", "",
             "| scenario | against | Tresor req/s | OpenBao req/s | ratio | Tresor p50/p99 ms | OpenBao p50/p99 ms |",
             "|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        t, b = row["tresor"], row["bao"]
        lines.append(f"| {row['scenario']} | {row['target']} | {t['rps']:.0f} | {b['rps']:.0f} | {row['ratio_rps']:.1f}× | "
                     f"{t['p50_ms']:.2f}/{t['p99_ms']:.2f} | {b['p50_ms']:.2f}/{b['p99_ms']:.2f} |")
    lines += ["", "| | Tresor | OpenBao |", "|---|---|---|",
              f"| init + unseal + join of three nodes, to three voters (s) | {r['formation_s']['tresor']:.2f} | {r['formation_s']['bao']:.2f} |"]
    if r["failover_s"]:
        t, b = r["failover_s"]["tresor"], r["failover_s"]["bao"]
        lines.append(f"| failover after kill -9 of the active node, p50 / max of {len(t['trials'])} (s) | {t['p50']:.2f} / {t['max']:.2f} | {b['p50']:.2f} / {b['max']:.2f} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
