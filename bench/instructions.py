#!/usr/bin/env python3
"""Counts the instructions Tresor executes per request, under callgrind: a measure without noise.

Wall-clock and CPU time on a shared 2-core VM move by ±30 % between runs, which hides changes of a
few percent. Instruction counts do not move. This starts a release Tresor dev server under
`valgrind --tool=callgrind`, prepares the benchmark's state (a few secrets, a transit key, an
AppRole role, a policy-bound token), then for each scenario zeroes the counters, makes N requests
one after another on one keep-alive connection, dumps the counters and reports instructions per
request (the whole process: HTTP, routing, ACL, handler, storage, background tasks).

Compare two builds with TRESOR_BENCH_BIN (as bench.py):

    .venv/bin/python bench/instructions.py --requests 2000
    TRESOR_BENCH_BIN=/tmp/old/release/tresor .venv/bin/python bench/instructions.py --requests 2000
"""

import argparse
import http.client
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench  # noqa: E402

SCENARIOS = {
    "kv-read": lambda x: ("GET", "secret/data/bench/7", None, x["service"]),
    "transit-encrypt": lambda x: ("POST", "transit/encrypt/bench", {"plaintext": "aGVsbG8gd29ybGQ="}, x["service"]),
    "approle-login": lambda x: ("POST", "auth/approle/login", {"role_id": x["role-id"], "secret_id": x["secret-id"]}, None),
}


def callgrind_total(pid, out_dir, label):
    """Dumps the counters of process `pid` and returns the instructions since the last zeroing."""
    subprocess.run(["callgrind_control", f"--dump={label}", str(pid)], check=True, capture_output=True)
    for _ in range(100):
        for dump in out_dir.glob(f"callgrind.out.{pid}.*"):
            text = dump.read_text(errors="replace")
            m = re.search(r"^summary: (\d+)", text, re.M)
            if f"\ndesc: Trigger: dump {label}\n" in text and m:
                return int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError(f"no callgrind dump labelled {label}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--keep", metavar="DIR", help="copy the callgrind dumps here (for callgrind_annotate)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tresor-callgrind-") as tmp:
        tmp = pathlib.Path(tmp)
        port = bench.free_port()
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out.%p",
                str(bench.TRESOR), "server", "-dev", "-dev-root-token-id=root",
                f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token"]
        proc = subprocess.Popen(argv, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s = bench.Server.__new__(bench.Server)
        s.name, s.kind, s.mode, s.port, s.token, s.proc = "tresor-callgrind", "tresor", "dev", port, "root", proc
        s.addr = f"127.0.0.1:{port}"
        try:
            s.wait_listening(timeout=120)
            bench.write_secrets(s, 0, 16, threads=1)
            s.ok("POST", "sys/mounts/transit", {"type": "transit"})
            s.ok("POST", "transit/keys/bench", {})
            s.ok("PUT", "sys/policies/acl/bench", {"policy": bench.POLICY})
            s.ok("POST", "sys/auth/approle", {"type": "approle"})
            s.ok("POST", "auth/approle/role/bench", {"token_policies": "bench", "token_ttl": "1h"})
            role_id = s.ok("GET", "auth/approle/role/bench/role-id")["data"]["role_id"]
            secret_id = s.ok("POST", "auth/approle/role/bench/secret-id", {})["data"]["secret_id"]
            service = s.ok("POST", "auth/token/create", {"policies": ["bench"], "ttl": "24h"})["auth"]["client_token"]
            extra = {"role-id": role_id, "secret-id": secret_id, "service": service}
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            results = {}
            for name in args.scenarios.split(","):
                method, path, body, token = SCENARIOS[name](extra)
                for _ in range(20):  # warm caches and lazily built state outside the window
                    status, answer = s.call(method, path, body, token=token, conn=conn)
                    if status >= 400:
                        raise RuntimeError(f"{name}: {status} {answer}")
                subprocess.run(["callgrind_control", "--zero", str(proc.pid)], check=True, capture_output=True)
                for _ in range(args.requests):
                    s.call(method, path, body, token=token, conn=conn)
                results[name] = callgrind_total(proc.pid, tmp, name) / args.requests
            if args.keep:
                subprocess.run(["cp", "-r", f"{tmp}/.", args.keep], check=True)
            print(json.dumps({"binary": str(bench.TRESOR), "requests": args.requests,
                              "instructions_per_request": {k: round(v) for k, v in results.items()}}))
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
