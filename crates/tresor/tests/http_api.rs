//! The HTTP layer's contract: tokens, methods, envelopes, errors and limits.

mod common;

use serde_json::json;

#[tokio::test]
async fn tokens_methods_and_errors() {
    let s = common::dev();
    // No token, a wrong token: 403 permission denied, nothing written.
    let r = s
        .call(
            "POST",
            "secret/data/x",
            None,
            Some(json!({"data": {"a": 1}})),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.body, json!({"errors": ["permission denied"]}));
    assert_eq!(
        s.call(
            "POST",
            "secret/data/x",
            Some("hvs.wrong"),
            Some(json!({"data": {"a": 1}}))
        )
        .await
        .status,
        403
    );
    assert_eq!(s.get("secret/data/x").await.status, 404);

    // Authorization: Bearer works like X-Vault-Token.
    let r = s
        .client()
        .post(s.url("secret/data/x"))
        .header("Authorization", "Bearer root")
        .json(&json!({"data": {"a": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // LIST and GET ?list=true answer the same.
    let a = s.list("secret/metadata/").await;
    let b = s
        .call("GET", "secret/metadata/?list=true", Some("root"), None)
        .await;
    assert_eq!(a.data(), b.data());

    // Malformed JSON, unknown path, wrong method.
    let bad = s
        .client()
        .post(s.url("secret/data/y"))
        .header("X-Vault-Token", "root")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert!(body["errors"][0]
        .as_str()
        .unwrap()
        .contains("failed to decode JSON"));
    let plain_patch = s
        .client()
        .patch(s.url("secret/data/x"))
        .header("X-Vault-Token", "root")
        .json(&json!({"data": {"b": 2}}))
        .send()
        .await
        .unwrap();
    assert_eq!(plain_patch.status(), 415);
    let untyped_patch = s
        .client()
        .patch(s.url("secret/data/x"))
        .header("X-Vault-Token", "root")
        .body(r#"{"data": {"b": 2}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        untyped_patch.status(),
        400,
        "Go's mime parser refuses no type"
    );
    let body: serde_json::Value = untyped_patch.json().await.unwrap();
    assert_eq!(body["errors"][0], "mime: no media type");
    assert_eq!(s.post("secret/data/y", json!([1, 2])).await.status, 400);
    assert_eq!(s.get("nowhere/at/all").await.status, 404);
    assert_eq!(s.get("sys/not-a-thing").await.status, 404);
    assert_eq!(
        s.call("OPTIONS", "secret/data/x", Some("root"), None)
            .await
            .status,
        405
    );
    assert_eq!(s.call("POST", "sys/health", None, None).await.status, 405);
    assert_eq!(
        s.call("GET", "../../etc/passwd", None, None).await.status,
        404
    );

    // Request ids are unique.
    let r1 = s.get("secret/data/x").await.body["request_id"].clone();
    let r2 = s.get("secret/data/x").await.body["request_id"].clone();
    assert_ne!(r1, r2);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let s = common::dev();
    let big = "x".repeat(33 * 1024 * 1024);
    // A client of its own: the server closes that connection after refusing the body.
    let r = reqwest::Client::new()
        .post(s.url("secret/data/big"))
        .header("X-Vault-Token", "root")
        .body(format!("{{\"data\": {{\"v\": \"{big}\"}}}}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(s.get("secret/data/big").await.status, 404);
}

#[tokio::test]
async fn mounts_api() {
    let s = common::dev();
    let list = s.get("sys/mounts").await;
    assert_eq!(list.data()["secret/"]["type"], "kv");
    assert_eq!(list.data()["secret/"]["options"]["version"], "2");
    assert_eq!(list.data()["sys/"]["type"], "system");
    // Vault's legacy shape: sys answers repeat their data at the top level.
    assert_eq!(list.body["secret/"]["type"], "kv");
    assert!(s
        .get("sys/internal/ui/mounts")
        .await
        .body
        .get("secret")
        .is_none());

    let m = s
        .post(
            "sys/mounts/team/kv",
            json!({"type": "kv", "description": "team", "options": {"version": "2"}, "config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}}),
        )
        .await;
    assert_eq!(m.status, 204, "{:?}", m.body);
    let read = s.get("sys/mounts/team/kv").await;
    assert_eq!(read.data()["description"], "team");
    assert_eq!(read.data()["config"]["default_lease_ttl"], 3600);
    let tune = s.get("sys/mounts/team/kv/tune").await;
    assert_eq!(tune.data()["default_lease_ttl"], 3600);
    assert_eq!(tune.data()["max_lease_ttl"], 7200);
    assert_eq!(
        s.post(
            "sys/mounts/team/kv/tune",
            json!({"max_lease_ttl": "3h", "description": "new"})
        )
        .await
        .status,
        204
    );
    assert_eq!(
        s.get("sys/mounts/team/kv/tune").await.data()["max_lease_ttl"],
        10800
    );
    assert_eq!(
        s.get("sys/mounts/secret/tune").await.data()["default_lease_ttl"],
        2764800
    );

    // Conflicts and bad input.
    assert_eq!(
        s.post("sys/mounts/secret", json!({"type": "kv"}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post("sys/mounts/secret/sub", json!({"type": "kv"}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post("sys/mounts/sys", json!({"type": "kv"})).await.status,
        400
    );
    assert_eq!(
        s.post("sys/mounts/x", json!({"type": "no-such-engine"}))
            .await
            .status,
        400
    );
    assert_eq!(s.post("sys/mounts/x", json!({})).await.status, 400);
    assert_eq!(
        s.post(
            "sys/mounts/x",
            json!({"type": "kv", "config": {"default_lease_ttl": "nope"}})
        )
        .await
        .status,
        400
    );

    // Data stays with the mount across a remount, and is gone after disable.
    s.post("team/kv/data/a", json!({"data": {"v": 1}})).await;
    let mv = s
        .post("sys/remount", json!({"from": "team/kv", "to": "moved"}))
        .await;
    assert_eq!(mv.status, 200, "{:?}", mv.body);
    let id = mv.data()["migration_id"].as_str().unwrap().to_owned();
    let st = s.get(&format!("sys/remount/status/{id}")).await;
    assert_eq!(st.data()["migration_info"]["status"], "success");
    assert_eq!(st.data()["migration_info"]["target_mount"], "moved/");
    assert_eq!(s.get("sys/remount/status/unknown").await.status, 404);
    assert_eq!(s.get("moved/data/a").await.data()["data"]["v"], 1);
    assert_eq!(s.get("team/kv/data/a").await.status, 404);
    assert_eq!(s.delete("sys/mounts/moved").await.status, 204);
    s.post("sys/mounts/moved", json!({"type": "kv-v2"})).await;
    assert_eq!(s.get("moved/data/a").await.status, 404);

    let ui = s.get("sys/internal/ui/mounts").await;
    assert_eq!(ui.data()["secret"]["moved/"]["options"]["version"], "2");
}
