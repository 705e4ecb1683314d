//! Leases through the real binary: every token with a TTL has one; they are looked up, listed,
//! revoked one by one or by prefix, expire on time (the expiry task revokes the token), and
//! still expire after a restart.

mod common;

use std::time::{Duration, Instant};

use serde_json::{json, Value};

async fn token(s: &common::Server, body: Value) -> (String, String) {
    let r = s.post("auth/token/create", body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (
        r.body["auth"]["client_token"].as_str().unwrap().to_owned(),
        r.body["auth"]["accessor"].as_str().unwrap().to_owned(),
    )
}

async fn token_leases(s: &common::Server, root: &str) -> Vec<String> {
    let r = s
        .call(
            "LIST",
            "sys/leases/lookup/auth/token/create/",
            Some(root),
            None,
        )
        .await;
    match r.status.as_u16() {
        404 => Vec::new(),
        200 => r.data()["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| format!("auth/token/create/{}", k.as_str().unwrap()))
            .collect(),
        other => panic!("LIST leases: {other} {:?}", r.body),
    }
}

/// Polls until `f` holds (the expiry task runs in the background).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test]
async fn token_leases_are_looked_up_listed_and_revoked() {
    let s = common::dev();
    assert!(
        token_leases(&s, common::ROOT).await.is_empty(),
        "root has no lease"
    );
    let (t, _) = token(&s, json!({"ttl": "1h", "policies": ["default"]})).await;
    let leases = token_leases(&s, common::ROOT).await;
    assert_eq!(leases.len(), 1);
    let id = &leases[0];
    let look = s.put("sys/leases/lookup", json!({ "lease_id": id })).await;
    assert_eq!(look.status, 200, "{:?}", look.body);
    assert_eq!(look.data()["id"], id.as_str());
    assert_eq!(look.data()["renewable"], true);
    let ttl = look.data()["ttl"].as_u64().unwrap();
    assert!((3590..=3600).contains(&ttl), "{ttl}");
    assert!(look.data()["expire_time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(look.data()["last_renewal"], Value::Null);

    // Renewing the token moves its lease; the lease endpoint does not renew tokens.
    let r = s
        .call(
            "POST",
            "auth/token/renew-self",
            Some(&t),
            Some(json!({"increment": "2h"})),
        )
        .await;
    assert_eq!(r.status, 200);
    let look = s.put("sys/leases/lookup", json!({ "lease_id": id })).await;
    assert!(look.data()["ttl"].as_u64().unwrap() > 7000);
    assert!(look.data()["last_renewal"].is_string());
    let r = s.put("sys/leases/renew", json!({ "lease_id": id })).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.errors(),
        ["tokens cannot be renewed through this endpoint"]
    );

    // Listing and prefix revocation are for sudo; lookup is in the default policy.
    let r = s
        .call(
            "LIST",
            "sys/leases/lookup/auth/token/create/",
            Some(&t),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = s
        .call(
            "PUT",
            "sys/leases/lookup",
            Some(&t),
            Some(json!({ "lease_id": id })),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .call(
            "PUT",
            "sys/leases/revoke-prefix/auth/token/create",
            Some(&t),
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, 403);

    // Revoking the lease revokes the token.
    assert_eq!(
        s.put("sys/leases/revoke", json!({ "lease_id": id }))
            .await
            .status,
        204
    );
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&t), None)
            .await
            .status,
        403
    );
    let look = s.put("sys/leases/lookup", json!({ "lease_id": id })).await;
    assert_eq!(look.status, 400);
    assert_eq!(look.errors(), ["invalid lease"]);

    // And by prefix, every token with a lease at once.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(token(&s, json!({"ttl": "1h"})).await.0);
    }
    // A root token without TTL never expires, so it has no lease.
    let (lasting, _) = token(&s, json!({"policies": ["root"]})).await;
    assert_eq!(token_leases(&s, common::ROOT).await.len(), 3);
    let r = s
        .put("sys/leases/revoke-prefix/auth/token/create", json!({}))
        .await;
    assert_eq!(r.status, 204);
    for t in &tokens {
        assert_eq!(
            s.call("GET", "auth/token/lookup-self", Some(t), None)
                .await
                .status,
            403
        );
    }
    assert!(token_leases(&s, common::ROOT).await.is_empty());
    assert_eq!(s.put("sys/leases/tidy", json!({})).await.status, 202);
    // The token without a lease survives.
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&lasting), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn an_expired_lease_revokes_its_token_in_the_background() {
    let s = common::dev();
    let (t, accessor) = token(&s, json!({"ttl": "2s", "policies": ["root"]})).await;
    let (parent_child, _) = {
        // A child of the short-lived token goes with it.
        let r = s
            .call(
                "POST",
                "auth/token/create",
                Some(&t),
                Some(json!({"ttl": "1h", "policies": ["default"]})),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        (
            r.body["auth"]["client_token"].as_str().unwrap().to_owned(),
            (),
        )
    };
    assert_eq!(token_leases(&s, common::ROOT).await.len(), 2);
    eventually("the expired token's lease to be revoked", || async {
        token_leases(&s, common::ROOT).await.is_empty()
    })
    .await;
    // Revoked, not merely expired: the accessor is gone and the child too.
    let r = s
        .post(
            "auth/token/lookup-accessor",
            json!({ "accessor": accessor }),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&parent_child), None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn leases_survive_a_restart_and_still_expire() {
    let dir = tempfile::tempdir().unwrap();
    let (s, key, root) = common::durable(dir.path()).await;
    let short = s
        .call(
            "POST",
            "auth/token/create",
            Some(&root),
            Some(json!({"ttl": "3s"})),
        )
        .await
        .body["auth"]["accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let long = s
        .call(
            "POST",
            "auth/token/create",
            Some(&root),
            Some(json!({"ttl": "1h"})),
        )
        .await
        .body["auth"]["client_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(token_leases(&s, &root).await.len(), 2);
    drop(s);

    let s = common::reopen(dir.path(), &key).await;
    assert_eq!(token_leases(&s, &root).await.len(), 2, "leases are stored");
    eventually("the short lease to expire after the restart", || async {
        token_leases(&s, &root).await.len() == 1
    })
    .await;
    let r = s
        .call(
            "POST",
            "auth/token/lookup-accessor",
            Some(&root),
            Some(json!({ "accessor": short })),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&long), None)
            .await
            .status,
        200
    );
}
