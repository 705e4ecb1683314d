"""Differential test: every route of every Tresor backend, asked the same things as OpenBao.

The routes come from Tresor's own path tables (its OpenAPI document, which the path framework
builds from them), so a new route is covered the day it is added. Both servers get the same
mounts and the same objects, then each route and operation is sent, to both at once:

- `valid`: the root token and every required field;
- `unknown-field`: the same plus a field no route declares (Vault warns about it);
- `missing:<f>`: without one required field;
- `wrong-type:<f>`: a typed field given a value of another type;
- `no-token`, `default-token`: no token, and a token with only the `default` policy;
- `sealed`: at the end, once both servers are sealed.

Status codes, error texts and the shape of answers (keys and value types; ids, times and
random values differ by nature) are compared. Every difference must be listed in
ARCHITECTURE.md's table of deliberate differences, with its reason; a listed difference that no
longer occurs fails the test too, so the table stays true. The full comparison is written to
target/differential-report.md.

Part of the compatibility suite; on its own:

    .venv/bin/python -m pytest -q tests/compat/test_differential.py
"""

import base64
import fnmatch
import json
import pathlib
import re

import pytest

from conftest import ROOT, TOKEN, Server, bao_bin, dev_argv, free_port_pair, tresor_bin

ARCHITECTURE = ROOT / "ARCHITECTURE.md"
REPORT = ROOT / "target" / "differential-report.md"

MOUNTS = [
    ("POST", "sys/mounts/kv1", {"type": "kv"}),
    ("POST", "sys/mounts/transit", {"type": "transit"}),
    ("POST", "sys/mounts/database", {"type": "database"}),
    ("POST", "sys/auth/approle", {"type": "approle"}),
    ("POST", "sys/auth/userpass", {"type": "userpass"}),
]

SEED = [
    ("POST", "transit/keys/k1", {"exportable": True, "allow_plaintext_backup": True}),
    ("POST", "secret/data/s1", {"data": {"a": "1"}}),
    ("POST", "kv1/s1", {"a": "1"}),
    ("POST", "auth/approle/role/r1", {"token_policies": "default"}),
    ("POST", "auth/userpass/users/u1", {"password": "pw1"}),
    ("PUT", "sys/policies/acl/p1", {"policy": 'path "secret/*" { capabilities = ["read"] }'}),
    ("POST", "auth/token/roles/tr1", {}),
    ("POST", "database/config/db1", {"plugin_name": "postgresql-database-plugin", "verify_connection": False,
                                     "connection_url": "postgresql://{{username}}:{{password}}@127.0.0.1:1/x",
                                     "username": "u", "password": "p", "allowed_roles": "*"}),
    ("POST", "database/roles/dr1", {"db_name": "db1", "creation_statements": "CREATE ROLE x"}),
]

# Path parameters: the names of the seeded objects where a route is about one, else a name that
# does not exist. Keyed by template prefix, then parameter name.
PARAMS = {
    "/transit/": {"name": "k1", "type": "encryption-key", "version": "1", "urlalgorithm": "sha2-256",
                  "urlbytes": "16", "source": "platform", "plaintext": "plaintext"},
    "/secret/": {"path": "s1"},
    "/kv1/": {"path": "s1"},
    "/cubbyhole/": {"path": "c1"},
    "/auth/approle/": {"role_name": "r1"},
    "/auth/userpass/": {"username": "u1"},
    "/auth/token/": {"role_name": "tr1"},
    "/database/": {"name": "db1"},
    "/database/roles/": {"name": "dr1"},
    "/database/creds/": {"name": "dr1"},
    "/database/static-roles/": {"name": "sr1"},
    "/sys/policies/acl/": {"name": "p1"},
    "/sys/policy/": {"name": "p1"},
}
DEFAULT_PARAM = "x1"

# Valid values for fields whose name says more than their type. A callable takes the server's
# seeded values (tokens, accessors, ciphertexts differ between servers).
FIELDS = {
    "plaintext": base64.b64encode(b"hello").decode(),
    "input": base64.b64encode(b"hello").decode(),
    "ciphertext": lambda v: v["ciphertext"],
    "hmac": lambda v: v["hmac"],
    "signature": "vault:v1:AAAA",
    "token": lambda v: v["child_token"],
    "accessor": lambda v: v["child_accessor"],
    "secret_id": lambda v: v["secret_id"],
    "role_id": lambda v: v["role_id"],
    "password": "pw1",
    "policy": 'path "x/*" { capabilities = ["read"] }',
    "type": "kv",
    "plugin_name": "postgresql-database-plugin",
    "db_name": "db1",
    "lease_id": "x1/abc",
    "key": "a2V5",
    "backup": "e30=",
    "ciphertext_key": "AAAA",
}

# Routes whose valid request would end the test (the root token revoked, the server sealed) or
# reach outside the servers; they still get every other case.
NO_VALID = {
    ("post", "/auth/token/revoke-self"),
    ("post", "/sys/seal"),
    ("post", "/sys/step-down"),
}

# Shapes that differ by nature, not by behaviour.
VOLATILE = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r"|(hvs|s|hvb|b|vault)[.:][A-Za-z0-9:+/=._-]+"  # tokens, ciphertexts
    r"|\d{4}-\d{2}-\d{2}T[0-9:.]+Z"  # times
)

# Fields OpenBao adds that Vault does not have; Tresor follows Vault (see DESIGN.md).
OPENBAO_ONLY = {"current_metadata_version", "metadata_cas_required", "token_strictly_bind_ip", "soft_deleted"}


def shape(v):
    if isinstance(v, dict):
        return {k: shape(x) for k, x in sorted(v.items()) if k not in OPENBAO_ONLY}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    return type(v).__name__


def summary(status, body):
    """What is compared of one answer."""
    if not isinstance(body, dict):
        return {"status": status}
    out = {"status": status}
    if "errors" in body:
        out["errors"] = [VOLATILE.sub("<v>", e) for e in body["errors"]]
    else:
        for k in ("data", "auth", "wrap_info"):
            if body.get(k) is not None:
                out[k] = shape(body[k])
        if body.get("warnings"):
            out["warnings"] = [VOLATILE.sub("<v>", w) for w in body["warnings"]]
    return out


def sample(schema, name, values):
    v = FIELDS.get(name)
    if v is not None:
        return v(values) if callable(v) else v
    t = schema.get("type")
    if schema.get("format") == "duration":
        return "1h"
    return {"integer": 1, "boolean": True, "array": ["x"], "object": {"a": "b"}}.get(t, "x")


WRONG = {"integer": "not-a-number", "boolean": "maybe", "object": "not-an-object"}


def fill(template, values):
    params = {}
    for prefix, names in sorted(PARAMS.items(), key=lambda kv: len(kv[0])):
        if template.startswith(prefix):
            params.update(names)
    return re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), DEFAULT_PARAM), template)


def cases(template, method, op):
    """(case, http method, body builder) for one operation of one route."""
    body = (op.get("requestBody") or {}).get("content", {})
    schema = next(iter(body.values()), {}).get("schema", {}) if body else {}
    props = schema.get("properties", {})
    required = schema.get("required", [])
    listing = any(p.get("name") == "list" for p in op.get("parameters", []))
    http = "LIST" if listing else method.upper()

    def valid(values, drop=None, extra=None):
        b = {f: sample(props[f], f, values) for f in required if f != drop}
        b.update(extra or {})
        return b if method in ("post", "patch") else None

    out = [("no-token", http, valid), ("default-token", http, valid)]
    for f in required:
        out.append((f"missing:{f}", http, lambda v, f=f: valid(v, drop=f)))
    for f, s in props.items():
        wrong = WRONG.get(s.get("type"))
        if wrong is not None and method in ("post", "patch"):
            out.append((f"wrong-type:{f}", http, lambda v, f=f, w=wrong: valid(v, extra={f: w})))
    if (method, template) not in NO_VALID:
        if method in ("post", "patch"):
            out.append(("unknown-field", http, lambda v: valid(v, extra={"zz_unknown": "x"})))
        out.append(("valid", http, valid))
    return out


def seed(server):
    for method, path, body in MOUNTS + SEED:
        status, answer = server.request(method, path, body)
        assert status < 400, f"{server.name}: {method} {path}: {status} {answer}"
    values = {}
    _, enc = server.request("POST", "transit/encrypt/k1", {"plaintext": FIELDS["plaintext"]})
    values["ciphertext"] = enc["data"]["ciphertext"]
    _, h = server.request("POST", "transit/hmac/k1", {"input": FIELDS["input"]})
    values["hmac"] = h["data"]["hmac"]
    _, child = server.request("POST", "auth/token/create", {"policies": ["default"]})
    values["child_token"] = child["auth"]["client_token"]
    values["child_accessor"] = child["auth"]["accessor"]
    _, dflt = server.request("POST", "auth/token/create", {"policies": ["default"], "no_parent": True})
    values["default_token"] = dflt["auth"]["client_token"]
    _, rid = server.request("GET", "auth/approle/role/r1/role-id")
    values["role_id"] = rid["data"]["role_id"]
    _, sid = server.request("POST", "auth/approle/role/r1/secret-id", {})
    values["secret_id"] = sid["data"]["secret_id"]
    return values


def routes(server):
    status, doc = server.request("GET", "sys/internal/specs/openapi")
    assert status == 200, doc
    out = []
    for template, item in sorted(doc["paths"].items()):
        for method in ("get", "post", "patch", "delete"):
            if method in item:
                out.append((template, method, item[method]))
    # Deletes last, so that the objects they remove serve every other route first.
    return sorted(out, key=lambda r: r[1] == "delete")


def deliberate():
    """The table of deliberate differences in ARCHITECTURE.md: (method, route, case, reason)."""
    text = ARCHITECTURE.read_text()
    section = text.split("### Deliberate differences from OpenBao", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0] not in ("method", "---") and not set(cells[0]) <= {"-"}:
            rows.append(tuple(cells))
    return rows


def matches(value, cell):
    """A cell holds one glob or several, separated by commas."""
    return any(fnmatch.fnmatchcase(value, p.strip()) for p in cell.split(","))


def listed(rows, method, template, case):
    return [r for r in rows if matches(method, r[0]) and matches(template, r[1]) and matches(case, r[2])]


@pytest.fixture(scope="module")
def pair():
    port_a, port_b = free_port_pair(), free_port_pair()
    a = Server("tresor", dev_argv(tresor_bin(), port_a), f"http://127.0.0.1:{port_a}")
    try:
        b = Server("bao", dev_argv(bao_bin(), port_b), f"http://127.0.0.1:{port_b}")
    except Exception:
        a.stop()
        raise
    yield a, b
    a.stop()
    b.stop()


def test_every_route_answers_as_openbao_does(pair):
    tresor, bao = pair
    values = {s.name: seed(s) for s in pair}
    table = routes(tresor)
    diffs = []
    compared = 0

    def ask(case, http, template, build, token_of):
        nonlocal compared
        path = fill(template, values)[1:]
        answers = []
        for s in pair:
            body = build(values[s.name]) if build else None
            answers.append(s.request(http, path, body, token=token_of(s)))
        got = [summary(*a) for a in answers]
        compared += 1
        if got[0] != got[1]:
            diffs.append((http, template, case, got[0], got[1]))

    for template, method, op in table:
        for case, http, build in cases(template, method, op):
            token = {"no-token": lambda s: None, "default-token": lambda s: values[s.name]["default_token"]}.get(
                case, lambda s: TOKEN)
            ask(case, http, template, build, token)
    for s in pair:
        status, answer = s.request("POST", "sys/seal")
        assert status == 204, answer
    for template, method, op in table:
        http = "LIST" if any(p.get("name") == "list" for p in op.get("parameters", [])) else method.upper()
        ask("sealed", http, template, None, lambda s: TOKEN)

    rows = deliberate()
    unexplained = [d for d in diffs if not listed(rows, d[0], d[1], d[2])]
    stale = [r for r in rows if not any(listed([r], d[0], d[1], d[2]) for d in diffs)]
    REPORT.parent.mkdir(exist_ok=True)
    lines = [f"# Differential test: {compared} requests compared, {len(diffs)} differ, "
             f"{len(unexplained)} not in ARCHITECTURE.md\n",
             "| method | route | case | tresor | openbao | listed |", "|---|---|---|---|---|---|"]
    for http, template, case, a, b in diffs:
        why = "yes" if listed(rows, http, template, case) else "**no**"
        lines.append(f"| {http} | `{template}` | {case} | `{json.dumps(a)}` | `{json.dumps(b)}` | {why} |")
    REPORT.write_text("\n".join(lines) + "\n")
    assert compared > 500, f"only {compared} requests compared"
    assert not unexplained, (f"{len(unexplained)} differences from OpenBao are not in ARCHITECTURE.md "
                             f"(see {REPORT}); first: {unexplained[:5]}")
    assert not stale, f"ARCHITECTURE.md lists differences that no longer occur: {stale}"
