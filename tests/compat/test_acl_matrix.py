"""The ACL matrix: the same policies and tokens on Tresor and on OpenBao, every token tries every
operation, and both servers must decide each one the same way (same status code), and answer the
capabilities endpoints with the same capabilities."""

POLICIES = {
    # `*` suffix globs, a list-only metadata rule.
    "glob": """
path "secret/data/app/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/app/*"
{
  capabilities = ["list"]
}
""",
    # `+` matches exactly one segment.
    "plus": """
path "secret/data/+/config" {
  capabilities = ["read"]
}
path "kv1/teams/+/+/shared" {
  capabilities = ["read", "list"]
}
""",
    # deny wins over everything, and the longer glob wins over the shorter.
    "deny": """
path "secret/data/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "secret/data/private/*" {
  capabilities = ["deny"]
}
path "kv1/*" {
  capabilities = ["read"]
}
path "kv1/open/*" {
  capabilities = ["create", "update", "read", "list"]
}
""",
    # Parameter constraints (KV v1 so that parameters are top-level).
    "params": """
path "kv1/params" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = {
    "color" = ["red", "blue"]
    "size"  = []
  }
}
path "kv1/denied" {
  capabilities = ["create", "update"]
  denied_parameters = {
    "secret" = []
    "level"  = ["high"]
  }
}
path "kv1/required" {
  capabilities = ["create", "update"]
  required_parameters = ["owner"]
}
""",
    # create but not update: writes to an existing key are refused.
    "createonly": """
path "kv1/co/*" {
  capabilities = ["create"]
}
""",
    # sudo on a root-protected path, and the old `policy =` form.
    "sudo": """
path "auth/token/accessors" {
  capabilities = ["list", "sudo"]
}
path "kv1/legacy/*" {
  policy = "write"
}
""",
    "nosudo": """
path "auth/token/accessors" {
  capabilities = ["list"]
}
path "sys/mounts" {
  capabilities = ["read"]
}
""",
}

# Written as root before the matrix runs.
SETUP = [
    ("POST", "sys/mounts/kv1", {"type": "kv"}),
    ("POST", "secret/data/app/existing", {"data": {"a": "1"}}),
    ("POST", "secret/data/web/config", {"data": {"a": "1"}}),
    ("POST", "secret/data/private/key", {"data": {"a": "1"}}),
    ("POST", "kv1/co/existing", {"a": "1"}),
    ("POST", "kv1/teams/x/y/shared", {"a": "1"}),
    ("POST", "kv1/open/doc", {"a": "1"}),
    ("POST", "kv1/params", {"color": "red"}),
]

OPERATIONS = [
    ("GET", "secret/data/app/existing", None),
    ("POST", "secret/data/app/new", {"data": {"a": "1"}}),
    ("POST", "secret/data/app/existing", {"data": {"a": "2"}}),
    ("DELETE", "secret/data/app/existing", None),
    ("LIST", "secret/metadata/app", None),
    ("LIST", "secret/metadata/app/", None),
    ("GET", "secret/data/app", None),
    ("GET", "secret/data/web/config", None),
    ("GET", "secret/data/web/deep/config", None),
    ("GET", "secret/data/private/key", None),
    ("POST", "secret/data/private/other", {"data": {"a": "1"}}),
    ("GET", "secret/data/other", None),
    ("GET", "kv1/teams/x/y/shared", None),
    ("GET", "kv1/teams/x/shared", None),
    ("LIST", "kv1/teams/x/y/shared", None),
    ("GET", "kv1/open/doc", None),
    ("POST", "kv1/open/doc", {"a": "2"}),
    ("POST", "kv1/closed", {"a": "2"}),
    ("GET", "kv1/closed", None),
    ("POST", "kv1/params", {"color": "blue"}),
    ("POST", "kv1/params", {"color": "green"}),
    ("POST", "kv1/params", {"color": "red", "size": "xl"}),
    ("POST", "kv1/params", {"shape": "round"}),
    ("POST", "kv1/denied", {"public": "x"}),
    ("POST", "kv1/denied", {"secret": "x"}),
    ("POST", "kv1/denied", {"level": "high"}),
    ("POST", "kv1/denied", {"level": "low"}),
    ("POST", "kv1/required", {"owner": "me", "x": "y"}),
    ("POST", "kv1/required", {"x": "y"}),
    ("POST", "kv1/co/fresh", {"a": "1"}),
    ("POST", "kv1/co/existing", {"a": "2"}),
    ("POST", "kv1/legacy/thing", {"a": "1"}),
    ("GET", "kv1/legacy/thing", None),
    ("DELETE", "kv1/legacy/thing", None),
    ("LIST", "auth/token/accessors", None),
    ("GET", "sys/mounts", None),
    ("POST", "sys/mounts/forbidden", {"type": "kv"}),
    ("GET", "sys/policies/acl/glob", None),
    ("GET", "auth/token/lookup-self", None),
    ("GET", "cubbyhole/none", None),
]

CAPABILITY_PATHS = [
    "secret/data/app/x", "secret/metadata/app/x", "secret/data/web/config", "secret/data/private/key",
    "kv1/teams/a/b/shared", "kv1/open/x", "kv1/other", "kv1/params", "kv1/legacy/x",
    "auth/token/accessors", "sys/mounts", "sys/policies/acl/x", "cubbyhole/x", "nomount/x",
]


def prepare(server):
    for method, path, body in SETUP:
        status, answer = server.request(method, path, body)
        assert status in (200, 204), f"{server.name} setup {method} {path}: {status} {answer}"
    tokens = {}
    for name, text in POLICIES.items():
        status, answer = server.request("PUT", f"sys/policies/acl/{name}", {"policy": text})
        assert status == 204, f"{server.name} policy {name}: {status} {answer}"
        status, answer = server.request("POST", "auth/token/create", {"policies": [name]})
        assert status == 200, answer
        tokens[name] = answer["auth"]["client_token"]
    status, answer = server.request("POST", "auth/token/create", {"policies": ["default"]})
    tokens["default-only"] = answer["auth"]["client_token"]
    return tokens


def test_acl_decisions_match_openbao(tresor, bao):
    t_tokens, b_tokens = prepare(tresor), prepare(bao)
    mismatches, denials = [], 0
    for name in t_tokens:
        for method, path, body in OPERATIONS:
            ts, tb = tresor.request(method, path, body, token=t_tokens[name])
            bs, bb = bao.request(method, path, body, token=b_tokens[name])
            denials += bs == 403
            if ts != bs:
                mismatches.append(f"[{name}] {method} {path} {body}: tresor={ts} bao={bs}\n  {tb}\n  {bb}")
            elif ts == 403 and tb != bb:
                mismatches.append(f"[{name}] {method} {path}: denial bodies differ\n  {tb}\n  {bb}")
    assert not mismatches, "\n".join(mismatches)
    # The matrix means something only if both outcomes occur often.
    total = len(t_tokens) * len(OPERATIONS)
    assert total // 4 < denials < total - total // 8, (denials, total)


def test_capabilities_match_openbao(tresor, bao):
    t_tokens, b_tokens = prepare(tresor), prepare(bao)
    mismatches = []
    for name in t_tokens:
        for path in CAPABILITY_PATHS:
            answers = []
            for server, tokens in ((tresor, t_tokens), (bao, b_tokens)):
                _, self_caps = server.request("POST", "sys/capabilities-self", {"paths": [path]}, token=tokens[name])
                _, look = server.request("POST", "auth/token/lookup", {"token": tokens[name]})
                _, by_acc = server.request(
                    "POST", "sys/capabilities-accessor", {"accessor": look["data"]["accessor"], "paths": [path]}
                )
                _, by_tok = server.request("POST", "sys/capabilities", {"token": tokens[name], "paths": [path]})
                answers.append([sorted(a[path]) for a in (self_caps, by_acc, by_tok)])
            if answers[0] != answers[1]:
                mismatches.append(f"[{name}] {path}: tresor={answers[0]} bao={answers[1]}")
    assert not mismatches, "\n".join(mismatches)
