//! Regression tests for the findings of the security review (issue 14), each against the real
//! binary. A race is run often enough to have caught it before the fix (the review saw the
//! double unwrap in 4 of 5 trials with 8 threads).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Reply, Server, ROOT};
use serde_json::{json, Value};

/// A token with only `policies` (and `default`).
async fn token_with(s: &Server, policies: &[&str]) -> String {
    s.token(json!({ "policies": policies })).await
}

fn error_text(r: &Reply) -> String {
    r.errors().join("\n")
}

// 1. Auth methods cannot be enabled, disabled or tuned through `sys/mounts/auth/…`.
#[tokio::test]
async fn sys_mounts_cannot_reach_auth_methods() {
    let s = common::dev();
    s.policy(
        "mounter",
        r#"path "sys/mounts/*" { capabilities = ["create", "read", "update", "delete"] }"#,
    )
    .await;
    let t = token_with(&s, &["mounter"]).await;
    let r = s
        .call(
            "POST",
            "sys/mounts/auth/approle2",
            Some(&t),
            Some(json!({"type": "approle"})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(error_text(&r), "cannot mount \"auth/approle2/\"");
    assert!(s.get("sys/auth").await.data().get("approle2/").is_none());
    // Not even root mounts a secrets engine's way under auth/.
    let r = s
        .post("sys/mounts/auth/approle3", json!({"type": "approle"}))
        .await;
    assert_eq!(r.status, 400);

    let r = s.post("sys/auth/approle", json!({"type": "approle"})).await;
    assert_eq!(r.status, 204);
    let login = s
        .post("auth/token/create", json!({"policies": ["default"]}))
        .await;
    assert_eq!(login.status, 200);
    let r = s
        .call("DELETE", "sys/mounts/auth/approle", Some(&t), None)
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(error_text(&r), "cannot unmount \"auth/approle/\"");
    assert!(s.get("sys/auth").await.data().get("approle/").is_some());
    // Tuning an auth method needs sudo, whichever route is taken.
    let r = s
        .call(
            "POST",
            "sys/mounts/auth/approle/tune",
            Some(&t),
            Some(json!({"max_lease_ttl": "1h"})),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    // The same token still manages secrets engines.
    let r = s
        .call(
            "POST",
            "sys/mounts/kv-team",
            Some(&t),
            Some(json!({"type": "kv"})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

// 2. A token role does not make a root token for a non-root caller.
#[tokio::test]
async fn a_token_role_does_not_make_root_tokens() {
    let s = common::dev();
    let r = s
        .post(
            "auth/token/roles/ops",
            json!({"allowed_policies_glob": ["*"]}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    s.policy(
        "ops-creator",
        r#"path "auth/token/create/ops" { capabilities = ["update"] }"#,
    )
    .await;
    let t = token_with(&s, &["ops-creator"]).await;
    for asked in [json!(["root"]), json!([" Root "]), json!("default,ROOT")] {
        let r = s
            .call(
                "POST",
                "auth/token/create/ops",
                Some(&t),
                Some(json!({ "policies": asked })),
            )
            .await;
        assert_eq!(r.status, 400, "{asked}: {:?}", r.body);
        assert_eq!(
            error_text(&r),
            "root tokens may not be created without parent token being root"
        );
    }
    // The role still works for what it allows.
    let r = s
        .call(
            "POST",
            "auth/token/create/ops",
            Some(&t),
            Some(json!({"policies": ["ops-creator"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Nobody but the core makes wrapping tokens, not even root.
    let r = s
        .post(
            "auth/token/create",
            json!({"policies": ["response-wrapping"]}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(error_text(&r), "cannot assign policy \"response-wrapping\"");
    // A root parent may still make root tokens through the role.
    let r = s
        .post("auth/token/create/ops", json!({"policies": ["root"]}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

// 3. Auth methods never issue root tokens.
#[tokio::test]
async fn auth_methods_do_not_issue_root_tokens() {
    let s = common::dev();
    s.enable("auth/approle", "approle").await;
    s.enable("auth/userpass", "userpass").await;
    let r = s
        .post(
            "auth/approle/role/boss",
            json!({"token_policies": ["default", "ROOT"]}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let role_id = s.get("auth/approle/role/boss/role-id").await.data()["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret_id = s
        .post("auth/approle/role/boss/secret-id", json!({}))
        .await
        .data()["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id, "secret_id": secret_id})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(error_text(&r), "auth methods cannot create root tokens");

    let r = s
        .post(
            "auth/userpass/users/carol",
            json!({"password": "pw-carol", "token_policies": "root"}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s
        .call(
            "POST",
            "auth/userpass/login/carol",
            None,
            Some(json!({"password": "pw-carol"})),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(error_text(&r), "auth methods cannot create root tokens");
}

// 4. The ACL checks the name the handler acts on.
#[tokio::test]
async fn the_acl_checks_the_name_the_handler_uses() {
    let s = common::dev();
    s.enable("auth/userpass", "userpass").await;
    s.policy("admin", r#"path "secret/*" { capabilities = ["read"] }"#)
        .await;
    assert_eq!(
        s.post(
            "auth/token/roles/admin",
            json!({"allowed_policies": ["default"]})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        s.post("auth/userpass/users/carol", json!({"password": "original"}))
            .await
            .status,
        204
    );
    s.policy(
        "editor",
        r#"
path "sys/policies/acl/*" { capabilities = ["create", "update", "read"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }
path "auth/token/roles/*" { capabilities = ["create", "update", "read"] }
path "auth/token/roles/admin" { capabilities = ["deny"] }
path "auth/userpass/users/*" { capabilities = ["create", "update", "read"] }
path "auth/userpass/users/carol" { capabilities = ["deny"] }
path "auth/userpass/users/carol/*" { capabilities = ["deny"] }
"#,
    )
    .await;
    let t = token_with(&s, &["editor"]).await;
    let evil = json!({"policy": r#"path "*" { capabilities = ["sudo", "read", "update"] }"#});
    for path in [
        "sys/policies/acl/admin/",
        "sys/policies/acl/ADMIN",
        "sys/policies/acl/admin%20",
        "sys/policies/acl/%20Admin",
        "sys/policy/admin",
    ] {
        let r = s.call("PUT", path, Some(&t), Some(evil.clone())).await;
        assert_eq!(r.status, 403, "{path}: {:?}", r.body);
    }
    let admin = s.get("sys/policies/acl/admin").await;
    assert!(
        admin.data()["policy"]
            .as_str()
            .unwrap()
            .contains("secret/*"),
        "the admin policy was overwritten: {:?}",
        admin.body
    );
    for path in ["auth/token/roles/admin/", "auth/token/roles/ADMIN"] {
        let r = s
            .call(
                "POST",
                path,
                Some(&t),
                Some(json!({"allowed_policies": ["root"]})),
            )
            .await;
        assert_eq!(r.status, 403, "{path}: {:?}", r.body);
    }
    assert_eq!(
        s.get("auth/token/roles/admin").await.data()["allowed_policies"],
        json!(["default"])
    );
    for path in [
        "auth/userpass/users/CAROL",
        "auth/userpass/users/carol/",
        "auth/userpass/users/Carol/password",
    ] {
        let r = s
            .call("POST", path, Some(&t), Some(json!({"password": "stolen"})))
            .await;
        assert_eq!(r.status, 403, "{path}: {:?}", r.body);
    }
    let login = s
        .call(
            "POST",
            "auth/userpass/login/carol",
            None,
            Some(json!({"password": "original"})),
        )
        .await;
    assert_eq!(
        login.status, 200,
        "carol's password changed: {:?}",
        login.body
    );
    // `sys/capabilities-self` reports what the ACL will apply to each spelling.
    let caps = s
        .call(
            "POST",
            "sys/capabilities-self",
            Some(&t),
            Some(json!({"paths": ["sys/policies/acl/ADMIN", "auth/token/roles/Admin"]})),
        )
        .await;
    assert_eq!(caps.data()["sys/policies/acl/ADMIN"], json!(["deny"]));
    assert_eq!(caps.data()["auth/token/roles/Admin"], json!(["deny"]));
    // What the policy allows still works, under any spelling of an allowed name.
    let r = s
        .call(
            "PUT",
            "sys/policies/acl/Reader/",
            Some(&t),
            Some(json!({"policy": r#"path "kv/*" { capabilities = ["read"] }"#})),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(s.get("sys/policies/acl/reader").await.status, 200);
}

// 5. A single-use wrapping token unwraps once, however many ask at the same time.
#[tokio::test]
async fn a_wrapping_token_unwraps_once_under_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _key, root) = common::durable(dir.path()).await;
    assert_eq!(
        s.call(
            "POST",
            "sys/mounts/secret",
            Some(&root),
            Some(json!({"type": "kv"}))
        )
        .await
        .status,
        204
    );
    let w = s
        .call(
            "PUT",
            "secret/app",
            Some(&root),
            Some(json!({"password": "p"})),
        )
        .await;
    assert_eq!(w.status, 204);
    let remote = s.remote();
    for trial in 0..10 {
        let wrapped = s
            .call_with(
                "GET",
                "secret/app",
                Some(&root),
                None,
                &[("X-Vault-Wrap-TTL", "60")],
            )
            .await
            .wrap_token();
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let s = remote.clone();
                let wrapped = wrapped.clone();
                let root = root.clone();
                tokio::spawn(async move {
                    // Half with the token in the body, half as the request token.
                    if i % 2 == 0 {
                        s.call(
                            "POST",
                            "sys/wrapping/unwrap",
                            Some(&root),
                            Some(json!({ "token": wrapped })),
                        )
                        .await
                    } else {
                        s.call("POST", "sys/wrapping/unwrap", Some(&wrapped), None)
                            .await
                    }
                })
            })
            .collect();
        let mut got = 0;
        for t in tasks {
            let r = t.await.unwrap();
            if r.status == 200 {
                assert_eq!(r.data()["password"], "p");
                got += 1;
            } else {
                assert!(matches!(r.status.as_u16(), 400 | 403), "{:?}", r.body);
            }
        }
        assert_eq!(
            got, 1,
            "trial {trial}: the secret was unwrapped {got} times"
        );
    }
}

// 6. No child token outlives its parent's revocation.
#[tokio::test]
async fn no_child_outlives_its_revoked_parent() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _key, root) = common::durable(dir.path()).await;
    let r = s
        .call(
            "PUT",
            "sys/policies/acl/maker",
            Some(&root),
            Some(json!({"policy": r#"path "auth/token/create" { capabilities = ["update"] }"#})),
        )
        .await;
    assert_eq!(r.status, 204);
    let remote = s.remote();
    for trial in 0..8 {
        let parent = s
            .call(
                "POST",
                "auth/token/create",
                Some(&root),
                Some(json!({"policies": ["maker"]})),
            )
            .await
            .client_token();
        // Four clients make children as fast as they can while the parent revokes itself.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let s = remote.clone();
            let parent = parent.clone();
            tasks.push(tokio::spawn(async move {
                let mut made = Vec::new();
                for _ in 0..200 {
                    let r = s
                        .call(
                            "POST",
                            "auth/token/create",
                            Some(&parent),
                            Some(json!({"policies": ["default"]})),
                        )
                        .await;
                    if r.status != 200 {
                        break;
                    }
                    made.push(r.client_token());
                }
                made
            }));
        }
        let revoke = {
            let s = remote.clone();
            let parent = parent.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(5 + 7 * trial)).await;
                s.call("POST", "auth/token/revoke-self", Some(&parent), None)
                    .await
            })
        };
        let mut children = Vec::new();
        for t in tasks {
            children.extend(t.await.unwrap());
        }
        assert_eq!(revoke.await.unwrap().status, 204);
        for child in children {
            let r = s
                .call("GET", "auth/token/lookup-self", Some(&child), None)
                .await;
            assert_eq!(
                r.status, 403,
                "trial {trial}: a child outlived its revoked parent: {:?}",
                r.body
            );
        }
    }
}

// 6, continued. A renewal racing a revocation never brings the token back.
#[tokio::test]
async fn a_renewal_does_not_undo_a_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _key, root) = common::durable(dir.path()).await;
    let remote = s.remote();
    for trial in 0..8u64 {
        let r = s
            .call(
                "POST",
                "auth/token/create",
                Some(&root),
                Some(json!({"policies": ["default"], "ttl": "1h"})),
            )
            .await;
        let token = r.client_token();
        let accessor = r.body["auth"]["accessor"].as_str().unwrap().to_owned();
        let renewers: Vec<_> = (0..4)
            .map(|_| {
                let s = remote.clone();
                let token = token.clone();
                tokio::spawn(async move {
                    for _ in 0..200 {
                        let r = s
                            .call("POST", "auth/token/renew-self", Some(&token), None)
                            .await;
                        if r.status != 200 {
                            break;
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(5 + 7 * trial)).await;
        let revoked = s
            .call("POST", "auth/token/revoke-self", Some(&token), None)
            .await;
        assert_eq!(revoked.status, 204);
        for r in renewers {
            r.await.unwrap();
        }
        let r = s
            .call("GET", "auth/token/lookup-self", Some(&token), None)
            .await;
        assert_eq!(
            r.status, 403,
            "trial {trial}: the token came back: {:?}",
            r.body
        );
        let r = s
            .call(
                "POST",
                "auth/token/lookup-accessor",
                Some(&root),
                Some(json!({ "accessor": accessor })),
            )
            .await;
        assert_eq!(r.status, 400, "trial {trial}: {:?}", r.body);
    }
}

// 7. The audit log shows no value of a secret: numbers and booleans are hashed, and so is the
// accessor of a wrapped token.
#[tokio::test]
async fn audit_hashes_every_value() {
    let s = common::dev();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    let r = s
        .post(
            "sys/audit/file",
            json!({"type": "file", "options": {"file_path": log.to_str().unwrap()}}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let w = s
        .post(
            "secret/data/bank",
            json!({"data": {"pin": 987654321, "mfa": true}}),
        )
        .await;
    assert_eq!(w.status, 200);
    let read = s.get("secret/data/bank").await;
    assert_eq!(read.data()["data"]["pin"], 987654321);
    let wrapped = s
        .call_with(
            "POST",
            "auth/token/create",
            Some(ROOT),
            Some(json!({"policies": ["default"]})),
            &[("X-Vault-Wrap-TTL", "60")],
        )
        .await;
    let wrapped_accessor = wrapped.body["wrap_info"]["wrapped_accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(!raw.contains("987654321"), "a number reached the log");
    assert!(
        !raw.contains(&wrapped_accessor),
        "an accessor reached the log"
    );
    let hash = |input: &str| {
        let s = &s;
        let input = input.to_owned();
        async move {
            s.post("sys/audit-hash/file", json!({ "input": input }))
                .await
                .data()["hash"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let pin = hash("987654321").await;
    let yes = hash("true").await;
    let entries: Vec<Value> = raw
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let write = entries
        .iter()
        .find(|e| e["type"] == "request" && e["request"]["path"] == "secret/data/bank")
        .unwrap();
    assert_eq!(write["request"]["data"]["data"]["pin"], pin);
    assert_eq!(write["request"]["data"]["data"]["mfa"], yes);
}

async fn userpass_login(s: &common::Remote, user: &str, password: &str) -> Reply {
    s.call(
        "POST",
        &format!("auth/userpass/login/{user}"),
        None,
        Some(json!({ "password": password })),
    )
    .await
}

// 8. Concurrent guesses cannot outrun the lockout, and a locked-out user cannot be told from
// an unknown one.
#[tokio::test]
async fn userpass_lockout_cannot_be_outrun() {
    let s = common::dev();
    let remote = s.remote();
    s.enable("auth/userpass", "userpass").await;
    assert_eq!(
        s.post(
            "auth/userpass/users/dave",
            json!({"password": "right", "token_policies": "default"})
        )
        .await
        .status,
        204
    );
    let unknown = userpass_login(&remote, "nobody", "whatever").await;
    assert_eq!(unknown.status, 400);
    assert_eq!(error_text(&unknown), "invalid username or password");
    // Fifteen wrong guesses at once, then the right password while they are being checked.
    let guesses: Vec<_> = (0..15)
        .map(|i| {
            let s = remote.clone();
            tokio::spawn(async move { userpass_login(&s, "dave", &format!("wrong-{i}")).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let right = userpass_login(&remote, "dave", "right").await;
    for g in guesses {
        let r = g.await.unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(error_text(&r), "invalid username or password");
    }
    assert_eq!(
        (right.status, error_text(&right)),
        (unknown.status, error_text(&unknown)),
        "the locked-out user must answer as an unknown user does"
    );
    let again = userpass_login(&remote, "dave", "right").await;
    assert_eq!(
        (again.status, error_text(&again)),
        (unknown.status, error_text(&unknown))
    );
    // Concurrent logins with the right password lock nobody out.
    assert_eq!(
        s.post("auth/userpass/users/fred", json!({"password": "pw-f"}))
            .await
            .status,
        204
    );
    let logins: Vec<_> = (0..8)
        .map(|_| {
            let s = remote.clone();
            tokio::spawn(async move { userpass_login(&s, "fred", "pw-f").await })
        })
        .collect();
    for l in logins {
        let r = l.await.unwrap();
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    // Another user is not affected.
    assert_eq!(
        s.post("auth/userpass/users/erin", json!({"password": "pw"}))
            .await
            .status,
        204
    );
    assert_eq!(userpass_login(&remote, "erin", "pw").await.status, 200);
}

// 9. Creating a transit key through encrypt needs `create`, and never makes it exportable.
#[tokio::test]
async fn transit_encrypt_upsert_needs_create_and_takes_no_export_flags() {
    let s = common::dev();
    s.enable("mounts/transit", "transit").await;
    s.policy(
        "encrypter",
        r#"path "transit/encrypt/*" { capabilities = ["update"] }"#,
    )
    .await;
    s.policy(
        "key-maker",
        r#"path "transit/encrypt/*" { capabilities = ["create", "update"] }"#,
    )
    .await;
    let body = json!({"plaintext": "aGVsbG8=", "exportable": true, "allow_plaintext_backup": true});
    let t = token_with(&s, &["encrypter"]).await;
    let r = s
        .call(
            "POST",
            "transit/encrypt/payments",
            Some(&t),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    assert_eq!(s.get("transit/keys/payments").await.status, 404);
    let maker = token_with(&s, &["key-maker"]).await;
    let r = s
        .call(
            "POST",
            "transit/encrypt/payments",
            Some(&maker),
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let key = s.get("transit/keys/payments").await;
    assert_eq!(key.data()["exportable"], false);
    assert_eq!(key.data()["allow_plaintext_backup"], false);
    // Once the key exists, `update` is enough to encrypt with it.
    let r = s
        .call("POST", "transit/encrypt/payments", Some(&t), Some(body))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

fn limited_server(dir: &std::path::Path, extra: &str) -> Server {
    common::with_config(
        dir,
        "limits.hcl",
        &format!(
            "storage \"inmem\" {{}}\ndisable_mlock = true\nlistener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n{extra}}}\n"
        ),
    )
}

fn host_port(s: &Server) -> String {
    s.addr.trim_start_matches("http://").to_owned()
}

/// Whether the server closed `conn` within `limit` (reads until EOF or a reset).
fn closed_within(conn: &mut TcpStream, limit: Duration) -> bool {
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return true,
        }
    }
    false
}

// 10. A trickled header, an idle connection and too many connections are cut off.
#[tokio::test]
async fn http_timeouts_and_connection_cap_apply() {
    let dir = tempfile::tempdir().unwrap();
    let s = limited_server(
        dir.path(),
        "  http_read_header_timeout = \"2s\"\n  http_idle_timeout = \"3s\"\n  max_connections = 3\n",
    );
    let addr = host_port(&s);
    // A header trickled one byte every 400 ms is cut off at the header timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    let started = Instant::now();
    let mut cut = false;
    for b in b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n" {
        if slow.write_all(&[*b]).is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(400));
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    assert!(
        cut || closed_within(&mut slow, Duration::from_secs(2)),
        "a trickled header held the connection for {:?}",
        started.elapsed()
    );
    // So is a connection that never sends a byte.
    let mut silent = TcpStream::connect(&addr).unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(4)));
    // A keep-alive connection is closed once idle past the idle timeout, not before.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /v1/sys/seal-status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(!closed_within(&mut idle, Duration::from_millis(1500)));
    assert!(closed_within(&mut idle, Duration::from_secs(4)));

    // Three connections are served at once; a fourth waits for one of them to go.
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = TcpStream::connect(&addr).unwrap();
            c.write_all(b"GET /v1/sys/seal-status HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = c.read(&mut buf).unwrap();
            assert!(n > 0);
            c
        })
        .collect();
    let mut fourth = TcpStream::connect(&addr).unwrap();
    fourth
        .write_all(b"GET /v1/sys/seal-status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    fourth
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    assert!(
        fourth.read(&mut buf).is_err(),
        "a fourth connection was served past the cap"
    );
    drop(held);
    fourth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let n = fourth.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
}

// 11. A denied parameter value is caught in every spelling the backend reads.
#[tokio::test]
async fn denied_parameters_cannot_be_spelled_around() {
    let s = common::dev();
    s.policy("admin", r#"path "*" { capabilities = ["read"] }"#)
        .await;
    s.policy(
        "limited",
        r#"
path "auth/token/create" {
  capabilities = ["update", "sudo"]
  denied_parameters = { "policies" = ["admin"] }
}"#,
    )
    .await;
    let t = token_with(&s, &["limited"]).await;
    for asked in [
        json!("admin"),
        json!(["admin"]),
        json!("admin,default"),
        json!("Admin"),
        json!(["default", " ADMIN"]),
    ] {
        let r = s
            .call(
                "POST",
                "auth/token/create",
                Some(&t),
                Some(json!({ "policies": asked })),
            )
            .await;
        assert_eq!(r.status, 403, "{asked}: {:?}", r.body);
    }
    let r = s
        .call(
            "POST",
            "auth/token/create",
            Some(&t),
            Some(json!({"policies": ["default"]})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}

// 12 and 17. Rotations are serialised, encryptions counted and kept across a restart, and
// `sys/rotate/config` reads and checks Vault's settings.
#[tokio::test]
async fn barrier_rotation_is_serialised_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (s, key, root) = common::durable(dir.path()).await;
    let term = |r: &Reply| r.data()["term"].as_u64().unwrap();
    let before = s.call("GET", "sys/key-status", Some(&root), None).await;
    let start = term(&before);
    let remote = s.remote();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let s = remote.clone();
            let root = root.clone();
            tokio::spawn(async move { s.call("POST", "sys/rotate", Some(&root), None).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 204);
    }
    let after = s.call("GET", "sys/key-status", Some(&root), None).await;
    assert_eq!(term(&after), start + 8, "every rotation adds a term");

    for i in 0..20 {
        let r = s
            .call(
                "POST",
                &format!("cubbyhole/k{i}"),
                Some(&root),
                Some(json!({"v": i})),
            )
            .await;
        assert_eq!(r.status, 204);
    }
    let status = s.call("GET", "sys/key-status", Some(&root), None).await;
    let counted = status.data()["encryptions"].as_u64().unwrap();
    assert!(counted >= 20, "{:?}", status.body);
    // The upkeep stores the count within a second or two; a restart resumes from it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    s.kill();
    let s = common::reopen(dir.path(), &key).await;
    let resumed = s.call("GET", "sys/key-status", Some(&root), None).await;
    assert_eq!(term(&resumed), start + 8);
    assert!(
        resumed.data()["encryptions"].as_u64().unwrap() >= counted,
        "{:?}",
        resumed.body
    );

    let config = s.call("GET", "sys/rotate/config", Some(&root), None).await;
    assert_eq!(config.data()["max_operations"], 3_865_470_566u64);
    assert_eq!(config.data()["enabled"], true);
    let bad = s
        .call(
            "POST",
            "sys/rotate/config",
            Some(&root),
            Some(json!({"max_operations": 10})),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        error_text(&bad),
        "max_operations must be in the range [1000000,3865470566]"
    );
    let bad = s
        .call(
            "POST",
            "sys/rotate/config",
            Some(&root),
            Some(json!({"interval": "1h"})),
        )
        .await;
    assert_eq!(
        error_text(&bad),
        "interval must be greater or equal to 24h0m0s"
    );
    let ok = s
        .call(
            "POST",
            "sys/rotate/config",
            Some(&root),
            Some(json!({"max_operations": 2000000, "interval": "48h"})),
        )
        .await;
    assert_eq!(ok.status, 204, "{:?}", ok.body);
    let config = s.call("GET", "sys/rotate/config", Some(&root), None).await;
    assert_eq!(config.data()["max_operations"], 2_000_000);
    assert_eq!(config.data()["interval"], "48h0m0s");
}

// 13. A wrapping token lives no longer than the system's max TTL.
#[tokio::test]
async fn wrap_ttl_is_capped_at_the_system_max() {
    let s = common::dev();
    let r = s
        .call_with(
            "GET",
            "sys/mounts",
            Some(ROOT),
            None,
            &[("X-Vault-Wrap-TTL", "876000h")],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let ttl = r.body["wrap_info"]["ttl"].as_u64().unwrap();
    assert_eq!(ttl, 32 * 24 * 3600);
    let lookup = s
        .call(
            "POST",
            "sys/wrapping/lookup",
            Some(ROOT),
            Some(json!({"token": r.wrap_token()})),
        )
        .await;
    assert_eq!(lookup.data()["creation_ttl"], 32 * 24 * 3600);
}

// 14. `sys/internal/ui/mounts` names only the mounts the caller may use.
#[tokio::test]
async fn ui_mounts_lists_only_what_the_caller_may_use() {
    let s = common::dev();
    s.enable("mounts/private", "kv").await;
    s.enable("auth/hidden-up", "userpass").await;
    s.policy(
        "app",
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
    )
    .await;
    let t = token_with(&s, &["app"]).await;
    let r = s
        .call("GET", "sys/internal/ui/mounts", Some(&t), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let secret = r.data()["secret"].as_object().unwrap();
    assert!(secret.contains_key("secret/"), "{secret:?}");
    assert!(secret.contains_key("cubbyhole/"));
    assert!(!secret.contains_key("private/"), "{secret:?}");
    let auth = r.data()["auth"].as_object().unwrap();
    assert!(!auth.contains_key("hidden-up/"), "{auth:?}");
    assert!(auth.contains_key("token/"));
    // Root sees everything.
    let all = s.get("sys/internal/ui/mounts").await;
    assert!(all.data()["secret"]
        .as_object()
        .unwrap()
        .contains_key("private/"));
    assert!(all.data()["auth"]
        .as_object()
        .unwrap()
        .contains_key("hidden-up/"));
}

// 15. No answer may be cached.
#[tokio::test]
async fn answers_are_not_cached() {
    let s = common::dev();
    for path in [
        "secret/data/nothing",
        "sys/health",
        "auth/token/lookup-self",
    ] {
        let resp = s
            .client()
            .get(s.url(path))
            .header("X-Vault-Token", ROOT)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.headers()
                .get("cache-control")
                .and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{path}"
        );
    }
}

// 16. The data directory and file are private from the start, the process cannot dump core,
// and its memory is locked.
#[tokio::test]
async fn the_process_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (s, _key, _root) = common::durable(dir.path()).await;
    let data = dir.path().join("data");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tresor.db")), 0o600);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.pid())).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap();
    assert_eq!(
        core.split_whitespace().collect::<Vec<_>>()[4..6],
        ["0", "0"],
        "{core}"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    let locked: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(locked > 0, "memory is not locked: {status}");
}

// 18. A mount cannot be moved across the auth/ boundary.
#[tokio::test]
async fn remount_keeps_a_mount_on_its_side_of_auth() {
    let s = common::dev();
    s.enable("auth/userpass", "userpass").await;
    let r = s
        .post("sys/remount", json!({"from": "secret", "to": "auth/foo"}))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(error_text(&r), "cannot remount to destination auth/foo/");
    let r = s
        .post("sys/remount", json!({"from": "auth/userpass", "to": "kv2"}))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        error_text(&r),
        "cannot remount auth mount to non-auth mount \"kv2/\""
    );
    assert!(s.get("sys/mounts").await.data().get("secret/").is_some());
    assert!(s.get("sys/auth").await.data().get("userpass/").is_some());
    // Within a side, moves still work.
    let r = s
        .post(
            "sys/remount",
            json!({"from": "auth/userpass", "to": "auth/people"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
}
