//! Init, unseal, seal, restart of a durable (`file`) server, and what storage holds.

mod common;

use serde_json::{json, Value};

fn keys(init: &Value) -> Vec<String> {
    init["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn init_unseal_seal_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = common::file_config(&data);
    let s = common::with_config(tmp.path(), "tresor.hcl", &cfg);

    // Not initialised yet: health 501, seal-status says so, other routes 503.
    assert_eq!(s.call("GET", "sys/health", None, None).await.status, 501);
    assert_eq!(
        s.call("GET", "sys/health?uninitcode=200", None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.call("GET", "sys/init", None, None).await.body,
        json!({"initialized": false})
    );
    let st = s.call("GET", "sys/seal-status", None, None).await.body;
    assert_eq!(st["initialized"], false);
    assert_eq!(st["sealed"], true);
    assert_eq!(st["type"], "shamir");

    let bad = s
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 3, "secret_threshold": 5})),
        )
        .await;
    assert_eq!(bad.status, 400);
    let init = s
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 5, "secret_threshold": 3})),
        )
        .await;
    assert_eq!(init.status, 200, "{:?}", init.body);
    let shares = keys(&init.body);
    assert_eq!(shares.len(), 5);
    assert_eq!(shares[0].len(), 66, "hex of 32 bytes plus the x coordinate");
    assert_eq!(init.body["keys_base64"].as_array().unwrap().len(), 5);
    let root = init.body["root_token"].as_str().unwrap().to_owned();
    assert!(root.starts_with("hvs.") && root.len() == 28, "{root}");
    let again = s
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
    assert_eq!(again.status, 400);

    // Sealed after init.
    assert_eq!(s.call("GET", "sys/health", None, None).await.status, 503);
    assert_eq!(
        s.call("GET", "sys/health?sealedcode=299", None, None)
            .await
            .status,
        299
    );
    let sealed = s.call("GET", "secret/data/x", Some(&root), None).await;
    assert_eq!(sealed.status, 503);
    assert_eq!(sealed.errors(), vec!["Vault is sealed"]);

    // Progress 1/3, 2/3; a repeated share does not count; garbage is a 400.
    let u = s
        .call("PUT", "sys/unseal", None, Some(json!({"key": shares[0]})))
        .await
        .body;
    assert_eq!(
        (
            u["sealed"].clone(),
            u["t"].clone(),
            u["n"].clone(),
            u["progress"].clone()
        ),
        (json!(true), json!(3), json!(5), json!(1))
    );
    let nonce = u["nonce"].as_str().unwrap().to_owned();
    assert!(!nonce.is_empty());
    let u = s
        .call("PUT", "sys/unseal", None, Some(json!({"key": shares[0]})))
        .await
        .body;
    assert_eq!(u["progress"], 1);
    let g = s
        .call(
            "PUT",
            "sys/unseal",
            None,
            Some(json!({"key": "not-a-key!"})),
        )
        .await;
    assert_eq!(g.status, 400);
    let u = s
        .call("PUT", "sys/unseal", None, Some(json!({"key": shares[3]})))
        .await
        .body;
    assert_eq!(u["progress"], 2);
    assert_eq!(u["nonce"], nonce);
    let reset = s
        .call("PUT", "sys/unseal", None, Some(json!({"reset": true})))
        .await
        .body;
    assert_eq!(reset["progress"], 0);

    // A full set that does not open the seal: 400 and progress starts over.
    let b64 = init.body["keys_base64"].as_array().unwrap();
    let mut wrong = hex_decode(&shares[1]);
    wrong[0] ^= 0xff;
    s.call("PUT", "sys/unseal", None, Some(json!({"key": shares[0]})))
        .await;
    s.call("PUT", "sys/unseal", None, Some(json!({"key": shares[2]})))
        .await;
    let w = s
        .call(
            "PUT",
            "sys/unseal",
            None,
            Some(json!({"key": hex_encode(&wrong)})),
        )
        .await;
    assert_eq!(w.status, 400, "{:?}", w.body);
    assert_eq!(
        s.call("GET", "sys/seal-status", None, None).await.body["progress"],
        0
    );

    // Unseal with base64 shares this time.
    for k in &b64[1..4] {
        s.call("PUT", "sys/unseal", None, Some(json!({"key": k})))
            .await;
    }
    let st = s.call("GET", "sys/seal-status", None, None).await.body;
    assert_eq!(st["sealed"], false, "{st}");
    assert_eq!(st["storage_type"], "file");
    assert!(st["cluster_name"]
        .as_str()
        .unwrap()
        .starts_with("vault-cluster-"));
    assert_eq!(s.call("GET", "sys/health", None, None).await.status, 200);
    assert_eq!(s.call("GET", "sys/leader", None, None).await.status, 200);

    let secret = "correct-horse-battery-staple-7d1e";
    s.call(
        "POST",
        "sys/mounts/secret",
        Some(&root),
        Some(json!({"type": "kv-v2"})),
    )
    .await;
    let w = s
        .call(
            "POST",
            "secret/data/db",
            Some(&root),
            Some(json!({"data": {"password": secret}})),
        )
        .await;
    assert_eq!(w.status, 200);

    // Seal needs a token; then everything is 503 again.
    assert_eq!(s.call("PUT", "sys/seal", None, None).await.status, 403);
    assert_eq!(
        s.call("PUT", "sys/seal", Some(&root), None).await.status,
        204
    );
    assert_eq!(
        s.call("GET", "secret/data/db", Some(&root), None)
            .await
            .status,
        503
    );
    assert_eq!(
        s.call("PUT", "sys/seal", None, None).await.status,
        204,
        "sealing a sealed server is done already, as in Vault"
    );
    drop(s);

    // Nothing secret is in the storage file in plaintext.
    let raw = std::fs::read(data.join("tresor.db")).unwrap();
    for needle in [secret.as_bytes(), root.as_bytes(), b"password", b"secret/"] {
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "{} found in storage",
            String::from_utf8_lossy(needle)
        );
    }

    // After a restart: sealed; after unsealing, everything is there.
    let s = common::with_config(tmp.path(), "tresor.hcl", &cfg);
    let st = s.call("GET", "sys/seal-status", None, None).await.body;
    assert_eq!(
        (st["initialized"].clone(), st["sealed"].clone()),
        (json!(true), json!(true))
    );
    for k in &shares[2..5] {
        s.call("PUT", "sys/unseal", None, Some(json!({"key": k})))
            .await;
    }
    let r = s.call("GET", "secret/data/db", Some(&root), None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.data()["data"]["password"], secret);
}

#[tokio::test]
async fn key_rotation_keeps_old_entries_readable() {
    let s = common::dev();
    s.post("secret/data/before", json!({"data": {"v": 1}}))
        .await;
    assert_eq!(s.get("sys/key-status").await.data()["term"], 1);
    assert_eq!(s.post("sys/rotate", json!({})).await.status, 204);
    assert_eq!(s.get("sys/key-status").await.data()["term"], 2);
    s.post("secret/data/after", json!({"data": {"v": 2}})).await;
    assert_eq!(s.get("secret/data/before").await.data()["data"]["v"], 1);
    assert_eq!(s.get("secret/data/after").await.data()["data"]["v"], 2);
}

#[tokio::test]
async fn single_share_and_health_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let s = common::with_config(
        tmp.path(),
        "t.json",
        r#"{"storage": {"inmem": {}}, "listener": {"tcp": {"address": "127.0.0.1:0", "tls_disable": true}}}"#,
    );
    let init = s
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
    let key = init.body["keys"][0].as_str().unwrap().to_owned();
    assert_eq!(key.len(), 64, "one share is the key itself");
    let u = s
        .call("PUT", "sys/unseal", None, Some(json!({"key": key})))
        .await
        .body;
    assert_eq!(u["sealed"], false);
    assert_eq!(u["storage_type"], "inmem");
    assert_eq!(
        s.call("GET", "sys/health?activecode=204", None, None)
            .await
            .status,
        204
    );
    assert_eq!(s.call("HEAD", "sys/health", None, None).await.status, 200);
    assert_eq!(
        s.call("GET", "sys/health?activecode=abc", None, None)
            .await
            .status,
        400
    );
    let missing = s.call("PUT", "sys/unseal", None, Some(json!({}))).await;
    assert_eq!(missing.status, 200, "already unsealed answers the status");
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
