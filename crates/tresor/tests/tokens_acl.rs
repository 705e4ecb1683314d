//! Tokens and ACL policies through the real binary: every request is authorised by the
//! policies of its token, and tokens live, expire and die as Vault's do.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

async fn token(s: &common::Server, body: Value) -> String {
    let r = s.post("auth/token/create", body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["auth"]["client_token"].as_str().unwrap().to_owned()
}

async fn status(
    s: &common::Server,
    method: &str,
    path: &str,
    tok: &str,
    body: Option<Value>,
) -> u16 {
    s.call(method, path, Some(tok), body).await.status.as_u16()
}

#[tokio::test]
async fn acl_matrix() {
    let s = common::dev();
    s.policy(
        "globs",
        r#"
path "secret/data/app/*" {
  capabilities = ["create", "read", "update"]
}
path "secret/metadata/app/*" { capabilities = ["list"] }
path "secret/data/app/locked" { capabilities = ["deny"] }
path "secret/data/+/shared" { capabilities = ["read"] }
"#,
    )
    .await;
    s.policy(
        "params",
        r#"
path "kv/restricted" {
  capabilities = ["create", "update"]
  allowed_parameters = { "colour" = ["red", "blue"] "size" = [] }
  denied_parameters = { "admin" = [] }
}
path "kv/required" {
  capabilities = ["create"]
  required_parameters = ["ticket"]
}
path "kv/create-only/*" { capabilities = ["create"] }
"#,
    )
    .await;
    s.post("sys/mounts/kv", json!({"type": "kv"})).await;
    for p in ["app/one", "app/locked", "team/shared", "other/x"] {
        s.post(&format!("secret/data/{p}"), json!({"data": {"v": 1}}))
            .await;
    }
    let g = token(&s, json!({"policies": ["globs"]})).await;
    let p = token(&s, json!({"policies": ["params"]})).await;
    let d = Some(json!({"data": {"v": 2}}));
    let cases: Vec<(&str, &str, &str, Option<Value>, u16)> = vec![
        (&g, "GET", "secret/data/app/one", None, 200),
        (&g, "POST", "secret/data/app/one", d.clone(), 200),
        (&g, "POST", "secret/data/app/new", d.clone(), 200),
        (&g, "DELETE", "secret/data/app/one", None, 403),
        (&g, "GET", "secret/data/app/locked", None, 403),
        (&g, "POST", "secret/data/app/locked", d.clone(), 403),
        (&g, "LIST", "secret/metadata/app/", None, 200),
        (&g, "LIST", "secret/metadata/", None, 403),
        (&g, "GET", "secret/data/team/shared", None, 200),
        (&g, "POST", "secret/data/team/shared", d.clone(), 403),
        (&g, "GET", "secret/data/other/x", None, 403),
        (&g, "GET", "sys/mounts", None, 403),
        (
            &g,
            "POST",
            "sys/policies/acl/evil",
            Some(json!({"policy": "path \"*\" { capabilities = [\"sudo\"] }"})),
            403,
        ),
        (
            &p,
            "POST",
            "kv/restricted",
            Some(json!({"colour": "red", "size": "xl"})),
            204,
        ),
        (
            &p,
            "POST",
            "kv/restricted",
            Some(json!({"colour": "green"})),
            403,
        ),
        (
            &p,
            "POST",
            "kv/restricted",
            Some(json!({"colour": "blue", "admin": true})),
            403,
        ),
        (
            &p,
            "POST",
            "kv/restricted",
            Some(json!({"shape": "round"})),
            403,
        ),
        (&p, "POST", "kv/required", Some(json!({"x": 1})), 403),
        (
            &p,
            "POST",
            "kv/required",
            Some(json!({"ticket": "T-1"})),
            204,
        ),
        (&p, "POST", "kv/create-only/a", Some(json!({"v": 1})), 204),
        (&p, "POST", "kv/create-only/a", Some(json!({"v": 2})), 403),
        (&p, "GET", "kv/create-only/a", None, 403),
    ];
    let mut wrong = Vec::new();
    for (tok, method, path, body, want) in cases {
        let got = status(&s, method, path, tok, body.clone()).await;
        if got != want {
            wrong.push(format!("{method} {path} {body:?}: got {got}, want {want}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // A denial changed nothing.
    assert_eq!(s.get("secret/data/app/locked").await.data()["data"]["v"], 1);
    assert_eq!(s.get("kv/create-only/a").await.data()["v"], 1);
    let denied = s.call("GET", "secret/data/other/x", Some(&g), None).await;
    assert!(denied.errors()[0].contains("permission denied"));
}

#[tokio::test]
async fn policies_api() {
    let s = common::dev();
    let list = s.get("sys/policy").await;
    assert_eq!(list.data()["policies"], json!(["default", "root"]));
    let default = s.get("sys/policy/default").await;
    assert!(default.data()["rules"]
        .as_str()
        .unwrap()
        .contains("auth/token/lookup-self"));
    let bad = s
        .put(
            "sys/policy/broken",
            json!({"policy": "path \"a\" {\n  capabilities = [\"read\"\n}\n"}),
        )
        .await;
    assert_eq!(bad.status, 400);
    assert!(bad.errors()[0].contains("line 3"), "{:?}", bad.errors());
    assert_eq!(s.get("sys/policy/broken").await.status, 404);
    let json_policy = r#"{"path": {"secret/*": {"capabilities": ["read"]}}}"#;
    assert_eq!(
        s.put("sys/policy/fromjson", json!({"policy": json_policy}))
            .await
            .status,
        204
    );
    assert_eq!(
        s.put(
            "sys/policy/Legacy",
            json!({"rules": "path \"secret/*\" {\n  policy = \"write\"\n}"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        s.get("sys/policies/acl/legacy").await.data()["name"],
        "legacy"
    );
    assert_eq!(
        s.list("sys/policies/acl").await.data()["keys"],
        json!(["default", "fromjson", "legacy", "root"])
    );
    assert_eq!(s.delete("sys/policy/default").await.status, 400);
    assert_eq!(s.delete("sys/policy/root").await.status, 400);
    assert_eq!(
        s.put("sys/policy/root", json!({"policy": json_policy}))
            .await
            .status,
        400
    );
    assert_eq!(s.delete("sys/policy/fromjson").await.status, 204);
    assert_eq!(s.get("sys/policy/fromjson").await.status, 404);

    // Capabilities answer what the ACL decides.
    let t = token(&s, json!({"policies": ["legacy"]})).await;
    let caps = s
        .post(
            "sys/capabilities",
            json!({"token": t, "path": "secret/data/x"}),
        )
        .await;
    assert_eq!(
        caps.data()["capabilities"],
        // The old `policy = "write"` predates `patch` and does not grant it (OpenBao agrees).
        json!(["create", "delete", "list", "read", "update"])
    );
    let own = s
        .call(
            "POST",
            "sys/capabilities-self",
            Some(&t),
            Some(json!({"paths": ["secret/x", "sys/mounts"]})),
        )
        .await;
    assert_eq!(own.data()["sys/mounts"], json!(["deny"]));
    let accessor = s
        .post("auth/token/lookup", json!({"token": t}))
        .await
        .data()["accessor"]
        .clone();
    let by_acc = s
        .post(
            "sys/capabilities-accessor",
            json!({"accessor": accessor, "path": "secret/x"}),
        )
        .await;
    assert!(by_acc.data()["capabilities"]
        .as_array()
        .unwrap()
        .contains(&json!("read")));
    assert_eq!(
        s.post("sys/capabilities", json!({"token": "root", "path": "x"}))
            .await
            .data()["capabilities"],
        json!(["root"])
    );
}

#[tokio::test]
async fn token_lifecycle() {
    let s = common::dev();
    s.policy(
        "reader",
        r#"path "secret/*" { capabilities = ["read", "list"] }"#,
    )
    .await;
    let c = s
        .post("auth/token/create", json!({"policies": ["reader"], "ttl": "1h", "meta": {"team": "a"}, "display_name": "ci", "num_uses": 0}))
        .await;
    let auth = &c.body["auth"];
    let t = auth["client_token"].as_str().unwrap().to_owned();
    assert!(t.starts_with("hvs.") && t.len() == 28);
    assert_eq!(auth["policies"], json!(["default", "reader"]));
    assert_eq!(auth["lease_duration"], 3600);
    assert_eq!(auth["renewable"], true);

    let me = s
        .call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    let d = me.data();
    for field in [
        "accessor",
        "creation_time",
        "creation_ttl",
        "display_name",
        "expire_time",
        "explicit_max_ttl",
        "id",
        "issue_time",
        "meta",
        "num_uses",
        "orphan",
        "path",
        "policies",
        "renewable",
        "ttl",
        "type",
    ] {
        assert!(d.get(field).is_some(), "lookup-self lacks {field}");
    }
    assert_eq!(d["id"], t.as_str());
    assert_eq!(d["display_name"], "token-ci");
    assert_eq!(d["meta"], json!({"team": "a"}));
    assert_eq!(d["orphan"], false);
    assert_eq!(d["path"], "auth/token/create");
    assert_eq!(d["type"], "service");
    assert!(d.get("last_renewal").is_none(), "never renewed");
    s.call("POST", "auth/token/renew-self", Some(&t), Some(json!({})))
        .await;
    let renewed = s
        .call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    assert!(renewed.data()["last_renewal"].is_string());
    assert!(
        renewed.data()["last_renewal_time"].as_i64().unwrap()
            >= d["creation_time"].as_i64().unwrap()
    );
    let acc = d["accessor"].as_str().unwrap().to_owned();
    let by_acc = s
        .post("auth/token/lookup-accessor", json!({"accessor": acc}))
        .await;
    assert_eq!(
        by_acc.data()["id"],
        "",
        "lookup-accessor does not reveal the token"
    );
    assert_eq!(
        s.post("auth/token/lookup", json!({"token": "hvs.unknown"}))
            .await
            .status,
        403
    );

    // Children may only get a subset of their parent's policies; root policy never.
    let bad = s
        .call(
            "POST",
            "auth/token/create",
            Some(&t),
            Some(json!({"policies": ["admin"]})),
        )
        .await;
    assert_eq!(
        bad.status, 403,
        "reader cannot even reach auth/token/create: {:?}",
        bad.body
    );
    s.policy(
        "maker",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await;
    let maker = token(&s, json!({"policies": ["maker", "reader"]})).await;
    let sub = s
        .call(
            "POST",
            "auth/token/create",
            Some(&maker),
            Some(json!({"policies": ["reader"]})),
        )
        .await;
    assert_eq!(sub.status, 200, "{:?}", sub.body);
    let sup = s
        .call(
            "POST",
            "auth/token/create",
            Some(&maker),
            Some(json!({"policies": ["root"]})),
        )
        .await;
    assert_eq!(sup.status, 400);
    let sup = s
        .call(
            "POST",
            "auth/token/create",
            Some(&maker),
            Some(json!({"policies": ["other"]})),
        )
        .await;
    assert_eq!(sup.status, 400);
    let orphan = s
        .call(
            "POST",
            "auth/token/create",
            Some(&maker),
            Some(json!({"no_parent": true})),
        )
        .await;
    assert_eq!(orphan.status, 400, "orphans need sudo");

    // Refused clearly for now.
    assert_eq!(
        s.post("auth/token/create", json!({"type": "batch"}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post("auth/token/create", json!({"entity_alias": "x"}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post("auth/token/create", json!({"ttl": "forever"}))
            .await
            .status,
        400
    );

    // Sudo-protected: listing accessors.
    assert_eq!(
        s.call("LIST", "auth/token/accessors", Some(&maker), None)
            .await
            .status,
        403
    );
    let all = s.list("auth/token/accessors").await;
    assert!(all.data()["keys"].as_array().unwrap().contains(&json!(acc)));
    s.policy(
        "lister",
        r#"path "auth/token/accessors" { capabilities = ["list", "sudo"] }"#,
    )
    .await;
    let lister = token(&s, json!({"policies": ["lister"]})).await;
    assert_eq!(
        s.call("LIST", "auth/token/accessors", Some(&lister), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn expiry_uses_renewal_and_max_ttl() {
    let s = common::dev();
    let short = token(&s, json!({"ttl": "2s"})).await;
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &short, None).await,
        200
    );

    let limited = token(&s, json!({"num_uses": 2})).await;
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &limited, None).await,
        200
    );
    let last = s
        .call("GET", "auth/token/lookup-self", Some(&limited), None)
        .await;
    assert_eq!(last.status, 200);
    assert_eq!(
        last.data()["num_uses"],
        -1,
        "the last use reports none left"
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &limited, None).await,
        403
    );

    let capped = token(&s, json!({"ttl": "2s", "explicit_max_ttl": "4s"})).await;
    let r = s
        .call(
            "POST",
            "auth/token/renew-self",
            Some(&capped),
            Some(json!({"increment": "1h"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["auth"]["lease_duration"].as_u64().unwrap() <= 4);
    assert!(!r.body["warnings"].is_null(), "capping is reported");

    let periodic = token(&s, json!({"period": "2s"})).await;
    let fixed = token(&s, json!({"ttl": "2s", "renewable": false})).await;
    assert_eq!(
        s.call("POST", "auth/token/renew-self", Some(&fixed), None)
            .await
            .status,
        400,
        "non-renewable"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let r = s
        .call("POST", "auth/token/renew-self", Some(&periodic), None)
        .await;
    assert_eq!(r.body["auth"]["lease_duration"], 2);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &short, None).await,
        403,
        "expired"
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &fixed, None).await,
        403
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &periodic, None).await,
        200,
        "renewed in time"
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &capped, None).await,
        403,
        "explicit max TTL"
    );

    let root_child = s
        .post("auth/token/create", json!({"policies": ["root"]}))
        .await;
    assert_eq!(
        root_child.body["auth"]["lease_duration"], 0,
        "root tokens without TTL never expire"
    );
}

#[tokio::test]
async fn revocation_cascades_and_orphans_survive() {
    let s = common::dev();
    s.policy(
        "maker",
        r#"
path "auth/token/create" { capabilities = ["update"] }
path "auth/token/create-orphan" { capabilities = ["update"] }
"#,
    )
    .await;
    let parent = token(&s, json!({"policies": ["maker"]})).await;
    let child = s
        .call("POST", "auth/token/create", Some(&parent), None)
        .await
        .body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let grandchild = s
        .call("POST", "auth/token/create", Some(&child), None)
        .await
        .body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let orphan = s
        .call("POST", "auth/token/create-orphan", Some(&parent), None)
        .await;
    assert_eq!(orphan.body["auth"]["orphan"], true);
    let orphan = orphan.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    s.call(
        "POST",
        "cubbyhole/note",
        Some(&child),
        Some(json!({"v": "mine"})),
    )
    .await;
    assert_eq!(
        s.call("GET", "cubbyhole/note", Some(&child), None)
            .await
            .data()["v"],
        "mine"
    );
    assert_eq!(
        s.call("GET", "cubbyhole/note", Some(&parent), None)
            .await
            .status,
        404,
        "cubbyholes are private"
    );

    assert_eq!(
        s.post("auth/token/revoke", json!({"token": parent}))
            .await
            .status,
        204
    );
    for t in [&parent, &child, &grandchild] {
        assert_eq!(
            status(&s, "GET", "auth/token/lookup-self", t, None).await,
            403
        );
    }
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &orphan, None).await,
        200
    );

    // revoke-orphan keeps the children, now orphans.
    let p2 = token(&s, json!({"policies": ["maker"]})).await;
    let c2 = s
        .call("POST", "auth/token/create", Some(&p2), None)
        .await
        .body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.post("auth/token/revoke-orphan", json!({"token": p2}))
            .await
            .status,
        204
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &p2, None).await,
        403
    );
    let c2_me = s
        .call("GET", "auth/token/lookup-self", Some(&c2), None)
        .await;
    assert_eq!(c2_me.status, 200);
    assert_eq!(c2_me.data()["orphan"], true);

    // revoke-accessor and revoke-self.
    let a = token(&s, json!({})).await;
    let acc = s
        .post("auth/token/lookup", json!({"token": a}))
        .await
        .data()["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.post("auth/token/revoke-accessor", json!({"accessor": acc}))
            .await
            .status,
        204
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &a, None).await,
        403
    );
    let b = token(&s, json!({})).await;
    assert_eq!(
        status(&s, "POST", "auth/token/revoke-self", &b, None).await,
        204
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &b, None).await,
        403
    );
    assert_eq!(s.post("auth/token/tidy", json!({})).await.status, 202);
}

#[tokio::test]
async fn roles_shape_tokens() {
    let s = common::dev();
    let r = s
        .post(
            "auth/token/roles/ci",
            json!({"allowed_policies": ["reader", "writer"], "disallowed_policies": ["admin"], "orphan": true,
                   "token_period": "1h", "token_bound_cidrs": ["127.0.0.0/8"], "path_suffix": "v1"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let read = s.get("auth/token/roles/ci").await;
    assert_eq!(read.data()["allowed_policies"], json!(["reader", "writer"]));
    assert_eq!(read.data()["token_period"], 3600);
    assert_eq!(
        s.list("auth/token/roles").await.data()["keys"],
        json!(["ci"])
    );

    let t = s
        .post("auth/token/create/ci", json!({"policies": ["reader"]}))
        .await;
    assert_eq!(t.status, 200, "{:?}", t.body);
    assert_eq!(t.body["auth"]["orphan"], true);
    assert_eq!(t.body["auth"]["lease_duration"], 3600);
    let tok = t.body["auth"]["client_token"].as_str().unwrap();
    let me = s
        .call("GET", "auth/token/lookup-self", Some(tok), None)
        .await;
    assert_eq!(me.data()["path"], "auth/token/create/ci/v1");
    assert_eq!(me.data()["period"], 3600);
    assert_eq!(
        s.post("auth/token/create/ci", json!({"policies": ["admin"]}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post("auth/token/create/ci", json!({"policies": ["other"]}))
            .await
            .status,
        400
    );
    let default = s.post("auth/token/create/ci", json!({})).await;
    assert_eq!(
        default.body["auth"]["policies"],
        json!(["default", "reader", "writer"])
    );
    assert_eq!(
        s.post("auth/token/create/nope", json!({})).await.status,
        400
    );

    // A role binding the token to another network: refused from loopback.
    s.post(
        "auth/token/roles/far",
        json!({"token_bound_cidrs": ["10.0.0.0/8"]}),
    )
    .await;
    let far = s.post("auth/token/create/far", json!({})).await;
    let far = far.body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", &far, None).await,
        403
    );
    assert_eq!(
        status(&s, "GET", "auth/token/lookup-self", tok, None).await,
        200
    );

    assert_eq!(s.delete("auth/token/roles/ci").await.status, 204);
    assert_eq!(s.get("auth/token/roles/ci").await.status, 404);
}

#[tokio::test]
async fn tools() {
    let s = common::dev();
    let r = s
        .post("sys/tools/random/16", json!({"format": "hex"}))
        .await;
    assert_eq!(r.data()["random_bytes"].as_str().unwrap().len(), 32);
    let r = s.post("sys/tools/random", json!({})).await;
    assert_eq!(r.data()["random_bytes"].as_str().unwrap().len(), 44);
    assert_eq!(s.post("sys/tools/random/0", json!({})).await.status, 400);
    assert_eq!(
        s.post("sys/tools/random", json!({"format": "rot13"}))
            .await
            .status,
        400
    );
    let h = s.post("sys/tools/hash", json!({"input": "aGVsbG8="})).await;
    assert_eq!(
        h.data()["sum"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
    let h = s
        .post(
            "sys/tools/hash/sha2-512",
            json!({"input": "aGVsbG8=", "format": "base64"}),
        )
        .await;
    assert!(h.data()["sum"].as_str().unwrap().ends_with("=="));
    assert_eq!(
        s.post("sys/tools/hash", json!({"input": "not base64!"}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post("sys/tools/hash/md5", json!({"input": "aGVsbG8="}))
            .await
            .status,
        400
    );
    // The default policy allows hashing but not random bytes. (A child of root asking for no
    // policies inherits root's, as in Vault, so ask for `default`.)
    let t = token(&s, json!({"policies": ["default"]})).await;
    assert_eq!(
        status(
            &s,
            "POST",
            "sys/tools/hash",
            &t,
            Some(json!({"input": "aGVsbG8="}))
        )
        .await,
        200
    );
    assert_eq!(
        status(&s, "POST", "sys/tools/random", &t, Some(json!({}))).await,
        403
    );
}

#[tokio::test]
async fn tokens_are_not_stored_in_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let (s, key, root) = common::durable(tmp.path()).await;
    let c = s
        .call(
            "POST",
            "auth/token/create",
            Some(&root),
            Some(json!({"policies": ["default"]})),
        )
        .await;
    let child = c.body["auth"]["client_token"].as_str().unwrap().to_owned();
    let accessor = c.body["auth"]["accessor"].as_str().unwrap().to_owned();
    drop(s);
    let raw = std::fs::read(tmp.path().join("data/tresor.db")).unwrap();
    for needle in [&root, &child, &accessor] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "found {needle} in storage"
        );
    }
    // And the token still works after a restart.
    let s = common::reopen(tmp.path(), &key).await;
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&child), None)
            .await
            .status,
        200
    );
}
