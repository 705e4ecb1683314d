#!/usr/bin/env python3
"""Runs hvac's own integration suite against Tresor and prints a table per module.

hvac's source distribution on PyPI ships `tests/integration_tests`: unittest classes that each
start a server (`vault server -config=<json>`, TLS with the bundled certificates), initialise and
unseal it over the API, and drive it through hvac. They find the server as `vault` on PATH and
read its version from `vault -version`, so a link named `vault` to Tresor's binary goes first on
PATH; the tests themselves are run from the unpacked distribution, never copied.

Every module must pass in full, except the modules in expected-failures.toml (features not built
yet, each with its reason). A listed module that passes fails the run too: the list only shrinks.

    .venv/bin/python tests/hvac/run.py            # TRESOR_BIN, else target/debug/tresor
"""

import argparse
import importlib.metadata
import os
import pathlib
import subprocess
import sys
import tarfile
import tomllib
import xml.etree.ElementTree as ET

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORK = ROOT / "target" / "hvac-suite"
EXPECTED = pathlib.Path(__file__).with_name("expected-failures.toml")


def sdist():
    """hvac's unpacked source distribution, the version installed in this venv."""
    version = importlib.metadata.version("hvac")
    tree = WORK / f"hvac-{version}"
    if not (tree / "tests" / "integration_tests").is_dir():
        dl = WORK / "download"
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                        f"hvac=={version}", "-d", str(dl)], check=True)
        with tarfile.open(dl / f"hvac-{version}.tar.gz") as t:
            t.extractall(WORK, filter="data")
    return tree


def vault_link(tresor):
    bin_dir = WORK / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    link = bin_dir / "vault"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(pathlib.Path(tresor).resolve())
    return bin_dir


def results(junit):
    """module -> {passed, failed, skipped, failures: [test names]} from pytest's JUnit XML."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        module = case.get("file") or ""
        if not module.startswith("tests/"):
            # A class skipped as a whole is reported at unittest's own file.
            module = case.get("classname", "").rsplit(".", 1)[0].replace(".", "/") + ".py"
        module = module.removeprefix("tests/integration_tests/")
        r = out.setdefault(module, {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "ran": set()})
        r["ran"].add(case.get("name"))
        if case.find("skipped") is not None:
            r["skipped"] += 1
        elif case.find("failure") is not None or case.find("error") is not None:
            r["failed"] += 1
            r["failures"].append(case.get("name"))
        else:
            r["passed"] += 1
    return out


def tests_of(expected_tests, module):
    """The tests of `module` listed as expected failures."""
    return {key.split("::", 1)[1] for key in expected_tests if key.split("::", 1)[0] == module}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", help="only tests matching this pytest expression")
    ap.add_argument("--workers", default="2")
    ap.add_argument("modules", nargs="*", help="only these modules (paths under tests/integration_tests)")
    args = ap.parse_args()
    tresor = os.environ.get("TRESOR_BIN", str(ROOT / "target" / "debug" / "tresor"))
    listed = tomllib.loads(EXPECTED.read_text())
    expected, expected_tests = listed["modules"], listed.get("tests", {})
    tree = sdist()
    env = os.environ.copy()
    env["PATH"] = f"{vault_link(tresor)}{os.pathsep}{env['PATH']}"
    junit = WORK / "junit.xml"
    targets = [f"tests/integration_tests/{m}" for m in args.modules] or ["tests/integration_tests"]
    # Modules that cannot even be imported without their feature's test servers (LDAP, OIDC).
    ignore = [f"--ignore=tests/integration_tests/{m}" for m, e in expected.items() if not e.get("run", True)]
    argv = [sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-o", "junit_family=xunit1", "-p", "no:cacheprovider",
            f"--junitxml={junit}", "-n", args.workers, *ignore, *(["-k", args.k] if args.k else []), *targets]
    proc = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=3600)
    if not junit.exists():
        print(proc.stdout[-5000:], proc.stderr[-5000:])
        return 1
    got = results(junit)
    bad = []
    print(f"{'module':48} {'pass':>5} {'fail':>5} {'skip':>5}  verdict")
    for module in sorted(set(got) | set(expected)):
        r = got.get(module, {"passed": 0, "failed": 0, "skipped": 0, "failures": [], "ran": set()})
        why = expected.get(module, {}).get("reason")
        if module in expected and not expected[module].get("run", True):
            verdict = f"not run: {why}"
        elif module not in got:
            if args.modules or args.k:
                continue
            verdict = "MISSING from the run"
            bad.append(module)
        elif why and r["failed"]:
            verdict = f"expected failure: {why}"
        elif why:
            verdict = "PASSES but is listed as an expected failure: remove it from expected-failures.toml"
            bad.append(module)
        elif set(r["failures"]) - tests_of(expected_tests, module):
            unexpected = sorted(set(r["failures"]) - tests_of(expected_tests, module))
            verdict = "FAILED: " + ", ".join(unexpected[:6]) + (" …" if len(unexpected) > 6 else "")
            bad.append(module)
        elif r["ran"] & (tests_of(expected_tests, module) - set(r["failures"])):
            passing = sorted(r["ran"] & (tests_of(expected_tests, module) - set(r["failures"])))
            verdict = "PASS but are listed as expected failures: " + ", ".join(passing)
            bad.append(module)
        elif r["failed"]:
            verdict = f"ok, but for {r['failed']} listed test(s)"
        else:
            verdict = "ok"
        print(f"{module:48} {r['passed']:5} {r['failed']:5} {r['skipped']:5}  {verdict}")
    total = {k: sum(r[k] for r in got.values()) for k in ("passed", "failed", "skipped")}
    print(f"hvac {importlib.metadata.version('hvac')} integration suite: {total['passed']} passed, "
          f"{total['failed']} failed, {total['skipped']} skipped; {len(bad)} module(s) not as expected")
    if bad:
        print("\n".join(line for line in proc.stdout.splitlines() if line.startswith(("FAILED", "ERROR")))[-20000:])
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
