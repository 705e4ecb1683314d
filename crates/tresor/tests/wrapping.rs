//! Response wrapping through the real binary: `X-Vault-Wrap-TTL` on any request, the
//! `sys/wrapping/*` endpoints, single use, expiry, and the policies' wrapping TTL bounds.

mod common;

use std::time::Duration;

use serde_json::{json, Value};

const WRAP60: &[(&str, &str)] = &[("X-Vault-Wrap-TTL", "60s")];

#[tokio::test]
async fn a_wrapped_read_unwraps_once() {
    let s = common::dev();
    s.post("secret/data/db", json!({"data": {"password": "pw-1"}}))
        .await;
    let r = s
        .call_with("GET", "secret/data/db", Some(common::ROOT), None, WRAP60)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["data"], Value::Null, "the data is not in the answer");
    let info = &r.body["wrap_info"];
    assert_eq!(info["ttl"], 60);
    assert_eq!(info["creation_path"], "secret/data/db");
    assert!(info["accessor"].as_str().is_some_and(|a| a.len() == 24));
    assert!(info["creation_time"].as_str().unwrap().ends_with('Z'));
    let token = r.wrap_token();
    assert!(token.starts_with("hvs."));

    let look = s
        .post("sys/wrapping/lookup", json!({ "token": token }))
        .await;
    assert_eq!(look.data()["creation_path"], "secret/data/db");
    assert_eq!(look.data()["creation_ttl"], 60);

    let un = s
        .post("sys/wrapping/unwrap", json!({ "token": token }))
        .await;
    assert_eq!(un.status, 200, "{:?}", un.body);
    assert_eq!(un.data()["data"]["password"], "pw-1");
    let again = s
        .post("sys/wrapping/unwrap", json!({ "token": token }))
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.errors(),
        ["wrapping token is not valid or does not exist"]
    );
    let look = s
        .post("sys/wrapping/lookup", json!({ "token": token }))
        .await;
    assert_eq!(look.status, 400);
}

#[tokio::test]
async fn a_wrapped_token_is_unwrapped_with_the_wrapping_token_itself() {
    let s = common::dev();
    let r = s
        .call_with(
            "POST",
            "auth/token/create",
            Some(common::ROOT),
            Some(json!({"policies": ["default"]})),
            WRAP60,
        )
        .await;
    assert_eq!(r.body["auth"], Value::Null);
    let wrapped_accessor = r.body["wrap_info"]["wrapped_accessor"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrapping = r.wrap_token();
    // The wrapping token can do nothing but unwrap.
    let denied = s.call("GET", "secret/data/x", Some(&wrapping), None).await;
    assert_eq!(denied.status, 403);
    let un = s
        .call(
            "POST",
            "sys/wrapping/unwrap",
            Some(&wrapping),
            Some(json!({})),
        )
        .await;
    assert_eq!(un.status, 200, "{:?}", un.body);
    let child = un.body["auth"]["client_token"].as_str().unwrap().to_owned();
    assert_eq!(un.body["auth"]["accessor"], wrapped_accessor.as_str());
    let me = s
        .call("GET", "auth/token/lookup-self", Some(&child), None)
        .await;
    assert_eq!(me.status, 200);
    assert_eq!(me.data()["policies"], json!(["default"]));
    let again = s
        .call(
            "POST",
            "sys/wrapping/unwrap",
            Some(&wrapping),
            Some(json!({})),
        )
        .await;
    // As in Vault, checked before the token itself: the 400 clients test for, not a 403.
    assert_eq!(again.status, 400, "a used wrapping token is gone");
    assert_eq!(
        again.body["errors"],
        json!(["wrapping token is not valid or does not exist"])
    );
}

#[tokio::test]
async fn wrap_rewrap_and_expiry() {
    let s = common::dev();
    let r = s
        .post("sys/wrapping/wrap", json!({"secret_id": "abc"}))
        .await;
    assert_eq!(
        (r.status.as_u16(), r.errors()),
        (
            400,
            vec!["endpoint requires response wrapping to be used".to_owned()]
        ),
        "clients ask for the wrapping, as Vault's CLI does"
    );
    let r = s
        .call_with(
            "POST",
            "sys/wrapping/wrap",
            Some(common::ROOT),
            Some(json!({"secret_id": "abc"})),
            &[("X-Vault-Wrap-TTL", "5m")],
        )
        .await;
    assert_eq!(r.body["wrap_info"]["ttl"], 300);
    let first = r.wrap_token();
    let r = s
        .post("sys/wrapping/rewrap", json!({ "token": first }))
        .await;
    let second = r.wrap_token();
    assert_ne!(first, second);
    assert_eq!(
        s.post("sys/wrapping/unwrap", json!({ "token": first }))
            .await
            .status,
        400
    );
    let un = s
        .post("sys/wrapping/unwrap", json!({ "token": second }))
        .await;
    assert_eq!(un.data()["secret_id"], "abc");

    let r = s
        .call_with(
            "POST",
            "sys/wrapping/wrap",
            Some(common::ROOT),
            Some(json!({"k": "v"})),
            &[("X-Vault-Wrap-TTL", "1")],
        )
        .await;
    let short = r.wrap_token();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        s.post("sys/wrapping/unwrap", json!({ "token": short }))
            .await
            .status,
        400
    );
    let bad = s
        .call_with(
            "GET",
            "secret/config",
            Some(common::ROOT),
            None,
            &[("X-Vault-Wrap-TTL", "soon")],
        )
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn policies_bound_the_wrapping_ttl() {
    let s = common::dev();
    s.post("secret/data/app", json!({"data": {"k": "v"}})).await;
    let policy = r#"path "secret/data/app" {
  capabilities = ["read"]
  min_wrapping_ttl = "30s"
  max_wrapping_ttl = "90s"
}"#;
    assert_eq!(
        s.put("sys/policies/acl/wrapped", json!({ "policy": policy }))
            .await
            .status,
        204
    );
    let t = s.token(json!({"policies": ["wrapped"]})).await;
    let read = |ttl: Option<&'static str>| {
        let t = t.clone();
        let s = &s;
        async move {
            let headers: Vec<(&str, &str)> =
                ttl.map(|v| ("X-Vault-Wrap-TTL", v)).into_iter().collect();
            s.call_with("GET", "secret/data/app", Some(&t), None, &headers)
                .await
                .status
        }
    };
    assert_eq!(read(None).await, 403, "wrapping is required");
    assert_eq!(read(Some("60")).await, 200);
    assert_eq!(read(Some("120")).await, 403, "above max_wrapping_ttl");
    assert_eq!(read(Some("10")).await, 403, "below min_wrapping_ttl");
    // The built-in policy of wrapping tokens cannot be replaced.
    let r = s
        .put(
            "sys/policies/acl/response-wrapping",
            json!({"policy": "path \"*\" { capabilities = [\"sudo\"] }"}),
        )
        .await;
    assert_eq!(r.status, 400);
}
