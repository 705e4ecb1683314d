//! Transit through the real binary: symmetric keys and HMAC keys, rotation across a restart,
//! the version policy, rewrap, data keys, batches, and the 400s for tampered or wrong input.

mod common;

use serde_json::{json, Value};

const HELLO: &str = "aGVsbG8="; // "hello"

async fn encrypt(s: &common::Server, key: &str, body: Value) -> String {
    let r = s.post(&format!("transit/encrypt/{key}"), body).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.data()["ciphertext"].as_str().unwrap().to_owned()
}

async fn post_as(s: &common::Server, token: &str, path: &str, body: Value) -> common::Reply {
    s.call("POST", path, Some(token), Some(body)).await
}

async fn decrypt(s: &common::Server, key: &str, body: Value) -> common::Reply {
    s.post(&format!("transit/decrypt/{key}"), body).await
}

#[tokio::test]
async fn every_symmetric_type_round_trips_and_refuses_tampering() {
    let s = common::dev();
    s.post("sys/mounts/transit", json!({"type": "transit"}))
        .await;
    for kind in ["aes128-gcm96", "aes256-gcm96", "chacha20-poly1305"] {
        let r = s
            .post(&format!("transit/keys/{kind}"), json!({ "type": kind }))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.data()["type"], kind);
        let ct = encrypt(&s, kind, json!({ "plaintext": HELLO })).await;
        assert!(ct.starts_with("vault:v1:"));
        let r = decrypt(&s, kind, json!({ "ciphertext": ct })).await;
        assert_eq!(r.data()["plaintext"], HELLO);

        // One flipped bit anywhere in the ciphertext is Vault's 400.
        let mut body = ct["vault:v1:".len()..].to_owned();
        let flip = if body.starts_with('A') { "B" } else { "A" };
        body.replace_range(0..1, flip);
        let r = decrypt(
            &s,
            kind,
            json!({ "ciphertext": format!("vault:v1:{body}") }),
        )
        .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.errors(), ["cipher: message authentication failed"]);
    }
    // Associated data must match.
    let ct = encrypt(
        &s,
        "aes256-gcm96",
        json!({"plaintext": HELLO, "associated_data": "YWFk"}),
    )
    .await;
    let r = decrypt(&s, "aes256-gcm96", json!({ "ciphertext": ct })).await;
    assert_eq!(r.status, 400);
    let r = decrypt(
        &s,
        "aes256-gcm96",
        json!({"ciphertext": ct, "associated_data": "YWFk"}),
    )
    .await;
    assert_eq!(r.data()["plaintext"], HELLO);

    for (body, error) in [
        (
            json!({"ciphertext": "garbage"}),
            "invalid ciphertext: no prefix",
        ),
        (
            json!({"ciphertext": "vault:v9:AAAA"}),
            "invalid ciphertext: version is too new",
        ),
        (
            json!({"ciphertext": "vault:v1:AAAA"}),
            "invalid ciphertext length",
        ),
    ] {
        let r = decrypt(&s, "aes256-gcm96", body).await;
        assert_eq!(
            (r.status.as_u16(), r.errors()),
            (400, vec![error.to_owned()])
        );
    }
    let r = decrypt(&s, "nokey", json!({"ciphertext": "vault:v1:AAAA"})).await;
    assert_eq!(r.errors(), ["encryption key not found"]);
    let r = s
        .post("transit/encrypt/aes256-gcm96", json!({"plaintext": "!!!"}))
        .await;
    assert_eq!(r.status, 400);
    let r = s.post("transit/keys/bad", json!({"type": "rot13"})).await;
    assert_eq!(r.errors(), ["unknown key type rot13"]);
}

#[tokio::test]
async fn rotation_survives_a_restart_and_the_version_policy_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (s, key, root) = common::durable(dir.path()).await;
    post_as(&s, &root, "sys/mounts/transit", json!({"type": "transit"})).await;
    // Encrypting with a key that does not exist yet creates it, as in Vault.
    let r = post_as(
        &s,
        &root,
        "transit/encrypt/app",
        json!({ "plaintext": HELLO }),
    )
    .await;
    let v1 = r.body["data"]["ciphertext"].as_str().unwrap().to_owned();
    let r = post_as(&s, &root, "transit/keys/app/rotate", json!({})).await;
    assert_eq!(r.body["data"]["latest_version"], 2);
    let r = post_as(
        &s,
        &root,
        "transit/encrypt/app",
        json!({ "plaintext": HELLO }),
    )
    .await;
    let v2 = r.body["data"]["ciphertext"].as_str().unwrap().to_owned();
    assert!(v2.starts_with("vault:v2:"));
    drop(s);

    let s = common::reopen(dir.path(), &key).await;
    for ct in [&v1, &v2] {
        let r = post_as(
            &s,
            &root,
            "transit/decrypt/app",
            json!({ "ciphertext": ct }),
        )
        .await;
        assert_eq!(r.body["data"]["plaintext"], HELLO, "{:?}", r.body);
    }
    // Rewrap moves old ciphertext to the newest version.
    let r = post_as(&s, &root, "transit/rewrap/app", json!({ "ciphertext": v1 })).await;
    let rewrapped = r.body["data"]["ciphertext"].as_str().unwrap().to_owned();
    assert!(rewrapped.starts_with("vault:v2:"));
    // min_decryption_version refuses what came before it.
    let r = post_as(
        &s,
        &root,
        "transit/keys/app/config",
        json!({"min_decryption_version": 2}),
    )
    .await;
    assert_eq!(r.body["data"]["keys"].as_object().unwrap().len(), 1);
    let r = post_as(
        &s,
        &root,
        "transit/decrypt/app",
        json!({ "ciphertext": v1 }),
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.body["errors"][0],
        "ciphertext or signature version is disallowed by policy (too old)"
    );
    let r = post_as(
        &s,
        &root,
        "transit/decrypt/app",
        json!({ "ciphertext": rewrapped }),
    )
    .await;
    assert_eq!(r.body["data"]["plaintext"], HELLO);
    // Trim drops old versions for good; deletion must be allowed first.
    post_as(
        &s,
        &root,
        "transit/keys/app/config",
        json!({"min_encryption_version": 2}),
    )
    .await;
    let r = post_as(
        &s,
        &root,
        "transit/keys/app/trim",
        json!({"min_available_version": 2}),
    )
    .await;
    assert_eq!(r.body["data"]["min_available_version"], 2, "{:?}", r.body);
    let r = s
        .call("DELETE", "transit/keys/app", Some(&root), None)
        .await;
    assert_eq!(r.status, 400);
    post_as(
        &s,
        &root,
        "transit/keys/app/config",
        json!({"deletion_allowed": true}),
    )
    .await;
    assert_eq!(
        s.call("DELETE", "transit/keys/app", Some(&root), None)
            .await
            .status,
        204
    );
    assert_eq!(
        s.call("GET", "transit/keys/app", Some(&root), None)
            .await
            .status,
        404
    );
    // The key material never reaches the storage file in the clear.
    drop(s);
    let raw = std::fs::read(dir.path().join("data/tresor.db")).unwrap();
    assert!(
        !raw.windows(13).any(|w| w == b"\"versions\":{\""),
        "key policy in the clear"
    );
}

#[tokio::test]
async fn derived_convergent_datakeys_hmac_and_batches() {
    let s = common::dev();
    s.post("sys/mounts/transit", json!({"type": "transit"}))
        .await;
    let r = s
        .post(
            "transit/keys/d",
            json!({"derived": true, "convergent_encryption": true}),
        )
        .await;
    assert_eq!(r.data()["derived"], true);
    let ctx = "Y3R4LTE="; // "ctx-1"
    let r = s
        .post("transit/encrypt/d", json!({ "plaintext": HELLO }))
        .await;
    assert_eq!(r.status, 400, "context is required");
    let a = encrypt(&s, "d", json!({"plaintext": HELLO, "context": ctx})).await;
    let b = encrypt(&s, "d", json!({"plaintext": HELLO, "context": ctx})).await;
    assert_eq!(a, b, "convergent");
    let r = decrypt(&s, "d", json!({"ciphertext": a, "context": "b3RoZXI="})).await;
    assert_eq!(r.status, 400, "wrong context");
    let r = decrypt(&s, "d", json!({"ciphertext": a, "context": ctx})).await;
    assert_eq!(r.data()["plaintext"], HELLO);

    s.post("transit/keys/k", json!({})).await;
    let r = s
        .post("transit/datakey/plaintext/k", json!({"bits": 512}))
        .await;
    let plain = r.data()["plaintext"].as_str().unwrap().to_owned();
    let wrapped = r.data()["ciphertext"].as_str().unwrap().to_owned();
    assert_eq!(
        decrypt(&s, "k", json!({ "ciphertext": wrapped }))
            .await
            .data()["plaintext"],
        plain
    );
    let r = s.post("transit/datakey/wrapped/k", json!({})).await;
    assert!(r.data().get("plaintext").is_none());

    let r = s.post("transit/hmac/k", json!({ "input": HELLO })).await;
    let mac = r.data()["hmac"].as_str().unwrap().to_owned();
    let ok = s
        .post("transit/verify/k", json!({"input": HELLO, "hmac": mac}))
        .await;
    assert_eq!(ok.data()["valid"], true);
    let bad = s
        .post(
            "transit/verify/k",
            json!({"input": "b3RoZXI=", "hmac": mac}),
        )
        .await;
    assert_eq!(bad.data()["valid"], false);
    let r512 = s
        .post("transit/hmac/k/sha2-512", json!({ "input": HELLO }))
        .await;
    let mac512 = r512.data()["hmac"].as_str().unwrap().to_owned();
    assert!(mac512.len() > mac.len());
    let ok = s
        .post(
            "transit/verify/k/sha2-512",
            json!({"input": HELLO, "hmac": mac512}),
        )
        .await;
    assert_eq!(ok.data()["valid"], true);

    // Batches report each item, with its reference, and 400 when one failed.
    let r = s
        .post(
            "transit/encrypt/k",
            json!({"batch_input": [{"plaintext": HELLO, "reference": "one"}, {"plaintext": "!!!", "reference": "two"}]}),
        )
        .await;
    assert_eq!(r.status, 400);
    let results = r.data()["batch_results"].as_array().unwrap();
    assert_eq!(results[0]["reference"], "one");
    assert!(results[0]["ciphertext"]
        .as_str()
        .unwrap()
        .starts_with("vault:v1:"));
    assert_eq!(results[1]["reference"], "two");
    assert_eq!(results[1]["error"], "illegal base64 data at input byte 0");
    let ct = results[0]["ciphertext"].clone();
    let r = s
        .post(
            "transit/decrypt/k",
            json!({"batch_input": [{ "ciphertext": ct }]}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["batch_results"][0]["plaintext"], HELLO);

    let r = s.post("transit/random/16", json!({"format": "hex"})).await;
    assert_eq!(r.data()["random_bytes"].as_str().unwrap().len(), 32);
    let r = s.post("transit/hash", json!({ "input": HELLO })).await;
    assert_eq!(
        r.data()["sum"],
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );

    // An encrypt to a missing key creates it, derived exactly when a context comes along (a
    // `derived` field is not encrypt's to take), and only of a type that encrypts.
    encrypt(&s, "up-ctx", json!({"plaintext": HELLO, "context": ctx})).await;
    let r = s.get("transit/keys/up-ctx").await;
    assert_eq!(r.data()["derived"], true);
    encrypt(&s, "up-plain", json!({"plaintext": HELLO, "derived": true})).await;
    assert_eq!(
        s.get("transit/keys/up-plain").await.data()["derived"],
        false
    );
    let r = s
        .post(
            "transit/encrypt/up-ec",
            json!({"plaintext": HELLO, "type": "ecdsa-p256"}),
        )
        .await;
    assert_eq!(
        r.errors(),
        ["key type ecdsa-p256 not supported for this operation"]
    );
    assert_eq!(s.get("transit/keys/up-ec").await.status, 404);
}

#[tokio::test]
async fn signing_keys_export_backup_and_restore() {
    let s = common::dev();
    s.post("sys/mounts/transit", json!({"type": "transit"}))
        .await;
    for kind in [
        "ed25519",
        "ecdsa-p256",
        "ecdsa-p384",
        "ecdsa-p521",
        "rsa-2048",
    ] {
        let r = s
            .post(&format!("transit/keys/{kind}"), json!({ "type": kind }))
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        assert_eq!(r.data()["supports_signing"], true);
        let key1 = &r.data()["keys"]["1"];
        assert!(
            key1["public_key"].as_str().is_some_and(|k| !k.is_empty()),
            "{key1:?}"
        );
        let sig = s
            .post(&format!("transit/sign/{kind}"), json!({ "input": HELLO }))
            .await;
        assert_eq!(sig.status, 200, "{kind}: {:?}", sig.body);
        let signature = sig.data()["signature"].as_str().unwrap().to_owned();
        assert!(signature.starts_with("vault:v1:"));
        let ok = s
            .post(
                &format!("transit/verify/{kind}"),
                json!({"input": HELLO, "signature": signature}),
            )
            .await;
        assert_eq!(ok.data()["valid"], true, "{kind}");
        let bad = s
            .post(
                &format!("transit/verify/{kind}"),
                json!({"input": "b3RoZXI=", "signature": signature}),
            )
            .await;
        assert_eq!(bad.data()["valid"], false, "{kind}");
        // Signing keys do not encrypt (RSA keys do).
        let enc = s
            .post(
                &format!("transit/encrypt/{kind}"),
                json!({ "plaintext": HELLO }),
            )
            .await;
        assert_eq!(
            enc.status.as_u16(),
            if kind == "rsa-2048" { 200 } else { 400 },
            "{kind}"
        );
    }
    // JWS marshaling and prehashed input for ECDSA.
    let jws = s
        .post(
            "transit/sign/ecdsa-p256",
            json!({"input": HELLO, "marshaling_algorithm": "jws"}),
        )
        .await;
    let sig = jws.data()["signature"].as_str().unwrap().to_owned();
    assert!(!sig.contains('=') && !sig["vault:v1:".len()..].contains('+'));
    let ok = s
        .post(
            "transit/verify/ecdsa-p256",
            json!({"input": HELLO, "signature": sig, "marshaling_algorithm": "jws"}),
        )
        .await;
    assert_eq!(ok.data()["valid"], true);
    let digest = "LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ="; // sha256("hello")
    let pre = s
        .post(
            "transit/sign/ecdsa-p256",
            json!({"input": digest, "prehashed": true}),
        )
        .await;
    let sig = pre.data()["signature"].as_str().unwrap().to_owned();
    let ok = s
        .post(
            "transit/verify/ecdsa-p256",
            json!({"input": HELLO, "signature": sig}),
        )
        .await;
    assert_eq!(
        ok.data()["valid"],
        true,
        "a prehashed signature is the signature of the message"
    );
    let r = s
        .post("transit/sign/aes256", json!({ "input": HELLO }))
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .post(
            "transit/sign/ecdsa-p256",
            json!({"input": HELLO, "hash_algorithm": "md5"}),
        )
        .await;
    assert_eq!(r.status, 400);

    // Export needs `exportable`; public keys are always available.
    let r = s.get("transit/export/signing-key/ed25519").await;
    assert_eq!(r.status, 400);
    let r = s.get("transit/export/public-key/ecdsa-p256").await;
    assert!(r.data()["keys"]["1"]
        .as_str()
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));

    // Backup needs both `exportable` and `allow_plaintext_backup`; a restored key decrypts
    // what the original encrypted.
    s.post("transit/keys/b", json!({})).await;
    let ct = encrypt(&s, "b", json!({ "plaintext": HELLO })).await;
    assert_eq!(s.get("transit/backup/b").await.status, 400);
    s.post(
        "transit/keys/b/config",
        json!({"exportable": true, "allow_plaintext_backup": true}),
    )
    .await;
    let backup = s.get("transit/backup/b").await.data()["backup"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = s.post("transit/restore", json!({ "backup": backup })).await;
    assert_eq!(r.status, 400, "exists already");
    let r = s
        .post("transit/restore/b2", json!({ "backup": backup }))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(
        decrypt(&s, "b2", json!({ "ciphertext": ct })).await.data()["plaintext"],
        HELLO
    );
    // Each key shows its last backup; the restored one shows its restore too.
    let original = s.get("transit/keys/b").await;
    assert_eq!(original.data()["backup_info"]["version"], 1);
    assert!(original.data()["backup_info"]["time"].is_string());
    assert!(original.data().get("restore_info").is_none());
    let restored = s.get("transit/keys/b2").await;
    assert_eq!(restored.data()["restore_info"]["version"], 1);
    assert_eq!(
        restored.data()["backup_info"],
        original.data()["backup_info"]
    );
    let r = s
        .post("transit/restore/b3", json!({"backup": "bm90IGEgYmFja3Vw"}))
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .post(
            "transit/keys/b/config",
            json!({"auto_rotate_period": "10m"}),
        )
        .await;
    assert_eq!(r.status, 400, "at least an hour");
    let r = s
        .post(
            "transit/keys/b/config",
            json!({"auto_rotate_period": "24h"}),
        )
        .await;
    assert_eq!(r.data()["auto_rotate_period"], 86400);
}
