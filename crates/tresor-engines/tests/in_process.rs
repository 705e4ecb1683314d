//! Behaviour that depends on time, tested in-process: a core with these backends over
//! in-memory storage, its clock moved forward instead of waiting. Each request still passes
//! the token check, the ACL and the lease machinery, as over HTTP.

use std::time::Duration;

use serde_json::{json, Value};
use tresor_core::harness::{Harness, ROOT};
use tresor_core::CoreError;
use tresor_sdk::{Error, Operation, Response};

async fn harness() -> Harness {
    Harness::new(tresor_engines::registry())
        .await
        .expect("a dev core starts")
}

fn data(r: Result<Option<Response>, CoreError>) -> Value {
    let r = r.expect("the request succeeds").expect("an answer");
    Value::Object(r.data.unwrap_or_default())
}

fn message(r: Result<Option<Response>, CoreError>) -> String {
    r.expect_err("the request is refused").to_string()
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn kv_versions_are_deleted_once_their_time_is_up() {
    let h = harness().await;
    h.write("secret/metadata/app", json!({"delete_version_after": "1h"}))
        .await
        .unwrap();
    h.write("secret/data/app", json!({"data": {"k": "v"}}))
        .await
        .unwrap();
    assert_eq!(data(h.read("secret/data/app").await)["data"]["k"], "v");
    h.advance(2 * HOUR);
    match h.read("secret/data/app").await {
        Err(CoreError::Backend(Error::NotFound(Some(r)))) => {
            let meta = &r.data.unwrap()["metadata"];
            assert_ne!(meta["deletion_time"], "", "{meta}");
            assert_eq!(meta["destroyed"], false);
        }
        other => panic!("a deleted version is a 404 with its metadata: {other:?}"),
    }
}

#[tokio::test]
async fn approle_secret_ids_expire_after_their_ttl() {
    let h = harness().await;
    h.write("sys/auth/approle", json!({"type": "approle"}))
        .await
        .unwrap();
    h.write("auth/approle/role/r", json!({"secret_id_ttl": "60s"}))
        .await
        .unwrap();
    let role_id = data(h.read("auth/approle/role/r/role-id").await)["role_id"].clone();
    let secret = data(h.write("auth/approle/role/r/secret-id", json!({})).await);
    assert_eq!(secret["secret_id_ttl"], 60);
    let creds = json!({"role_id": role_id, "secret_id": secret["secret_id"]});
    let login = h
        .call(Operation::Update, "auth/approle/login", None, creds.clone())
        .await
        .unwrap()
        .unwrap();
    assert!(login.auth.unwrap()["client_token"].as_str().is_some());
    h.advance(Duration::from_secs(61));
    let refused = h
        .call(Operation::Update, "auth/approle/login", None, creds)
        .await;
    assert_eq!(message(refused), "invalid role or secret ID");
}

async fn token(h: &Harness, ttl: &str) -> String {
    let auth = h
        .write(
            "auth/token/create",
            json!({"ttl": ttl, "policies": ["default"]}),
        )
        .await
        .unwrap()
        .unwrap()
        .auth
        .unwrap();
    auth["client_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tokens_stop_working_at_their_ttl_and_their_lease_revokes_them() {
    let h = harness().await;
    let used = token(&h, "1m").await;
    let idle = token(&h, "1m").await;
    let me = h
        .call(
            Operation::Read,
            "auth/token/lookup-self",
            Some(&used),
            Value::Null,
        )
        .await;
    assert_eq!(data(me)["ttl"], 60);
    assert_eq!(h.expire().await.unwrap(), 0, "nothing is due yet");
    h.advance(Duration::from_secs(120));
    // A token past its TTL is refused at once, before its lease is revoked.
    let expired = h
        .call(
            Operation::Read,
            "auth/token/lookup-self",
            Some(&used),
            Value::Null,
        )
        .await;
    assert!(
        matches!(expired, Err(CoreError::PermissionDenied)),
        "{expired:?}"
    );
    // The lease of a token nobody used since revokes it when it falls due.
    let lookup = |t: &str| {
        h.call(
            Operation::Update,
            "auth/token/lookup",
            Some(ROOT),
            json!({ "token": t }),
        )
    };
    // (The core's own expiry task may get there first; either way the lease revokes it.)
    h.expire().await.unwrap();
    assert_eq!(message(lookup(&idle).await), "bad token");
    assert_eq!(message(lookup(&used).await), "bad token");
}

#[tokio::test]
async fn a_locked_out_user_may_log_in_again_after_fifteen_minutes() {
    let h = harness().await;
    h.write("sys/auth/userpass", json!({"type": "userpass"}))
        .await
        .unwrap();
    h.write("auth/userpass/users/bob", json!({"password": "right-pw"}))
        .await
        .unwrap();
    let login = |pw: &str| {
        h.call(
            Operation::Update,
            "auth/userpass/login/bob",
            None,
            json!({ "password": pw }),
        )
    };
    for _ in 0..5 {
        assert_eq!(
            message(login("wrong").await),
            "invalid username or password"
        );
    }
    assert_eq!(
        message(login("right-pw").await),
        "invalid username or password",
        "locked out"
    );
    h.advance(Duration::from_secs(16 * 60));
    let ok = login("right-pw").await.unwrap().unwrap();
    assert_eq!(ok.auth.unwrap()["metadata"]["username"], "bob");
}

#[tokio::test]
async fn transit_keys_rotate_themselves_when_their_period_has_passed() {
    let h = harness().await;
    h.write("sys/mounts/transit", json!({"type": "transit"}))
        .await
        .unwrap();
    h.write("transit/keys/k", json!({"auto_rotate_period": "1h"}))
        .await
        .unwrap();
    assert_eq!(data(h.read("transit/keys/k").await)["latest_version"], 1);
    h.advance(2 * HOUR);
    assert_eq!(data(h.read("transit/keys/k").await)["latest_version"], 2);
    h.advance(Duration::from_secs(60));
    assert_eq!(
        data(h.read("transit/keys/k").await)["latest_version"],
        2,
        "not again before the next period"
    );
}

#[tokio::test]
async fn the_system_backend_reads_names_as_its_table_says() {
    let h = harness().await;
    h.write(
        "sys/policies/acl/mounter",
        json!({"policy": r#"path "sys/mounts/kv" { capabilities = ["create", "update", "read"] }
path "sys/policies/acl/*" { capabilities = ["create", "update"] }
path "sys/policies/acl/admin" { capabilities = ["deny"] }"#}),
    )
    .await
    .unwrap();
    let auth = h
        .write("auth/token/create", json!({"policies": ["mounter"]}))
        .await
        .unwrap()
        .unwrap()
        .auth
        .unwrap();
    let t = auth["client_token"].as_str().unwrap().to_owned();
    // `sys/mounts//kv/` is the mount `kv/`, which the policy names without slashes.
    h.call(
        Operation::Update,
        "sys/mounts//kv/",
        Some(&t),
        json!({"type": "kv"}),
    )
    .await
    .expect("the canonical path is allowed");
    assert_eq!(data(h.read("sys/mounts/kv").await)["type"], "kv");
    // A policy name is trimmed and lowercased before the ACL: the deny on `admin` holds.
    let denied = h
        .call(
            Operation::Update,
            "sys/policies/acl/ ADMIN ",
            Some(&t),
            json!({"policy": ""}),
        )
        .await;
    assert!(matches!(denied, Err(CoreError::Forbidden(_))), "{denied:?}");
    // Root-protected paths need sudo, which the table declares.
    let sealing = h
        .call(Operation::Update, "sys/seal", Some(&t), json!({}))
        .await;
    assert!(
        matches!(sealing, Err(CoreError::Forbidden(_))),
        "{sealing:?}"
    );
}
