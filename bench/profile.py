#!/usr/bin/env python3
"""Profiles Tresor under one scenario of the load benchmark with `perf`.

Starts a release Tresor (dev or durable mode) with the benchmark's state, drives SCENARIO with
tresor-load and records the server with `perf record` while the load runs, then prints the
hottest symbols (self time) and writes the raw profile to bench/results/perf-SCENARIO.data.
Build first: `cargo build --release -p tresor -p tresor-load`.

    .venv/bin/python bench/profile.py kv-read --concurrency 64 --seconds 5
"""

import argparse
import pathlib
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("scenario", choices=bench.SCENARIOS)
    ap.add_argument("--mode", default="dev", choices=["dev", "durable"])
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--audit", action="store_true", help="with a file audit device enabled")
    ap.add_argument("--callers", action="store_true", help="record call graphs (DWARF unwinding)")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    out = bench.ROOT / "bench" / "results" / f"perf-{args.scenario}.data"
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="tresor-profile-") as tmp:
        tmp = pathlib.Path(tmp)
        s = bench.start("tresor", args.mode, tmp / "tresor")
        try:
            bench.prepare(s)
            if args.audit:
                s.ok("PUT", "sys/audit/file", {"type": "file", "options": {"file_path": str(tmp / "audit.log")}})
            graph = ["--call-graph", "dwarf,16384"] if args.callers else []
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "999", *graph, "-o", str(out), "-p", str(s.proc.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            r = bench.run_load(s, args.scenario, args.concurrency, args.seconds, 0.5)
            perf.send_signal(2)
            perf.wait(60)
        finally:
            s.stop()
    print(f"{args.scenario} c={args.concurrency}: {r['rps']:.0f} req/s, {r['cpu_us_per_request']:.0f} µs CPU/req, "
          f"{r['errors']} errors")
    report = subprocess.run(["perf", "report", "-i", str(out), "--no-children", "--stdio", "--percent-limit", "0.5",
                             "--sort", "dso,symbol" if not args.callers else "symbol"],
                            capture_output=True, text=True)
    lines = [line.rstrip().removesuffix("-      -").rstrip() for line in report.stdout.splitlines()
             if line.strip() and not line.startswith("#")]
    dsos = subprocess.run(["perf", "report", "-i", str(out), "--no-children", "--stdio", "--sort", "dso"],
                          capture_output=True, text=True).stdout
    print(" ".join(line.split("%")[0].strip() + "% " + line.split()[-1] for line in dsos.splitlines()
                   if line.strip() and not line.startswith("#")))
    print("\n".join(lines[: args.top] if not args.callers else lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
