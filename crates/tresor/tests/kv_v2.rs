//! KV version 2 over HTTP, against the real binary in dev mode (KV v2 at `secret/`).

mod common;

use serde_json::json;

#[tokio::test]
async fn write_read_versions_and_metadata() {
    let s = common::dev();
    let w = s
        .post(
            "secret/data/app/db",
            json!({"data": {"user": "app", "password": "one"}}),
        )
        .await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    assert_eq!(w.data()["version"], 1);
    assert_eq!(w.data()["destroyed"], false);
    assert_eq!(w.data()["deletion_time"], "");
    assert!(w.data()["created_time"].as_str().unwrap().ends_with('Z'));
    let w2 = s
        .put(
            "secret/data/app/db",
            json!({"data": {"user": "app", "password": "two"}}),
        )
        .await;
    assert_eq!(w2.data()["version"], 2);

    let r = s.get("secret/data/app/db").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["data"], json!({"user": "app", "password": "two"}));
    assert_eq!(r.data()["metadata"]["version"], 2);
    for key in [
        "request_id",
        "lease_id",
        "renewable",
        "lease_duration",
        "wrap_info",
        "warnings",
        "auth",
    ] {
        assert!(r.body.get(key).is_some(), "envelope lacks {key}");
    }

    let v1 = s.get("secret/data/app/db?version=1").await;
    assert_eq!(v1.data()["data"]["password"], "one");
    assert_eq!(v1.data()["metadata"]["version"], 1);
    assert_eq!(s.get("secret/data/app/db?version=7").await.status, 404);

    let m = s.get("secret/metadata/app/db").await;
    assert_eq!(m.status, 200);
    assert_eq!(m.data()["current_version"], 2);
    assert_eq!(
        m.data()["oldest_version"],
        0,
        "Vault reports 0 until versions are pruned"
    );
    assert_eq!(m.data()["max_versions"], 0);
    assert_eq!(m.data()["cas_required"], false);
    assert_eq!(m.data()["delete_version_after"], "0s");
    assert!(m.data()["versions"]["1"].is_object() && m.data()["versions"]["2"].is_object());

    let l = s.list("secret/metadata").await;
    assert_eq!(l.data()["keys"], json!(["app/"]));
    let l = s
        .call(
            "GET",
            "secret/metadata/app?list=true",
            Some(common::ROOT),
            None,
        )
        .await;
    assert_eq!(l.data()["keys"], json!(["db"]));
    assert_eq!(s.list("secret/metadata/nothing").await.status, 404);
}

#[tokio::test]
async fn delete_undelete_destroy() {
    let s = common::dev();
    for p in ["a", "b", "c"] {
        s.post("secret/data/k", json!({"data": {"v": p}})).await;
    }
    // Soft delete of the latest version: 404 with its metadata, as Vault answers.
    assert_eq!(s.delete("secret/data/k").await.status, 204);
    let r = s.get("secret/data/k").await;
    assert_eq!(r.status, 404);
    assert_eq!(r.data()["data"], serde_json::Value::Null);
    assert_eq!(r.data()["metadata"]["version"], 3);
    assert_ne!(r.data()["metadata"]["deletion_time"], "");
    assert_eq!(
        s.get("secret/data/k?version=2").await.data()["data"]["v"],
        "b"
    );

    assert_eq!(
        s.post("secret/undelete/k", json!({"versions": [3]}))
            .await
            .status,
        204
    );
    assert_eq!(s.get("secret/data/k").await.data()["data"]["v"], "c");

    assert_eq!(
        s.post("secret/delete/k", json!({"versions": [1, 2]}))
            .await
            .status,
        204
    );
    assert_eq!(s.get("secret/data/k?version=1").await.status, 404);
    assert_eq!(s.get("secret/data/k?version=2").await.status, 404);

    assert_eq!(
        s.put("secret/destroy/k", json!({"versions": [2]}))
            .await
            .status,
        204
    );
    let d = s.get("secret/data/k?version=2").await;
    assert_eq!(d.status, 404);
    assert_eq!(d.data()["metadata"]["destroyed"], true);
    // A destroyed version cannot be undeleted.
    s.post("secret/undelete/k", json!({"versions": [1, 2]}))
        .await;
    assert_eq!(s.get("secret/data/k?version=1").await.status, 200);
    assert_eq!(s.get("secret/data/k?version=2").await.status, 404);
    let m = s.get("secret/metadata/k").await;
    assert_eq!(m.data()["versions"]["2"]["destroyed"], true);

    assert_eq!(s.post("secret/delete/k", json!({})).await.status, 400);

    assert_eq!(s.delete("secret/metadata/k").await.status, 204);
    assert_eq!(s.get("secret/metadata/k").await.status, 404);
    assert_eq!(s.get("secret/data/k?version=1").await.status, 404);
}

#[tokio::test]
async fn check_and_set() {
    let s = common::dev();
    let w = s
        .post(
            "secret/data/cas",
            json!({"data": {"a": 1}, "options": {"cas": 0}}),
        )
        .await;
    assert_eq!(w.status, 200);
    let conflict = s
        .post(
            "secret/data/cas",
            json!({"data": {"a": 2}, "options": {"cas": 0}}),
        )
        .await;
    assert_eq!(conflict.status, 400);
    assert!(conflict.errors()[0].contains("check-and-set parameter did not match"));
    assert_eq!(s.get("secret/data/cas").await.data()["data"]["a"], 1);
    assert_eq!(
        s.post(
            "secret/data/cas",
            json!({"data": {"a": 2}, "options": {"cas": 1}})
        )
        .await
        .status,
        200
    );

    // cas_required on the key, then on the mount.
    s.post("secret/metadata/cas", json!({"cas_required": true}))
        .await;
    let missing = s.post("secret/data/cas", json!({"data": {"a": 3}})).await;
    assert_eq!(missing.status, 400);
    assert!(missing.errors()[0].contains("check-and-set parameter required"));
    s.post(
        "secret/config",
        json!({"cas_required": true, "max_versions": 5, "delete_version_after": "1h"}),
    )
    .await;
    let c = s.get("secret/config").await;
    assert_eq!(
        c.data(),
        &json!({"cas_required": true, "delete_version_after": "1h0m0s", "max_versions": 5})
    );
    assert_eq!(
        s.post("secret/data/other", json!({"data": {"x": 1}}))
            .await
            .status,
        400
    );
    assert_eq!(
        s.post(
            "secret/data/other",
            json!({"data": {"x": 1}, "options": {"cas": 0}})
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn max_versions_and_custom_metadata() {
    let s = common::dev();
    s.post(
        "secret/metadata/mv",
        json!({"max_versions": 2, "custom_metadata": {"owner": "team-a"}}),
    )
    .await;
    for i in 1..=4 {
        s.post("secret/data/mv", json!({"data": {"i": i}})).await;
    }
    let m = s.get("secret/metadata/mv").await;
    assert_eq!(m.data()["current_version"], 4);
    assert_eq!(m.data()["oldest_version"], 3);
    assert_eq!(m.data()["versions"].as_object().unwrap().len(), 2);
    assert_eq!(m.data()["custom_metadata"], json!({"owner": "team-a"}));
    assert_eq!(s.get("secret/data/mv?version=1").await.status, 404);
    assert_eq!(
        s.get("secret/data/mv").await.data()["metadata"]["custom_metadata"]["owner"],
        "team-a"
    );

    let p = s
        .patch(
            "secret/metadata/mv",
            json!({"custom_metadata": {"env": "prod", "owner": null}}),
        )
        .await;
    assert_eq!(p.status, 204);
    assert_eq!(
        s.get("secret/metadata/mv").await.data()["custom_metadata"],
        json!({"env": "prod"})
    );
    assert_eq!(s.get("secret/metadata/mv").await.data()["max_versions"], 2);

    let bad = s
        .post(
            "secret/metadata/mv",
            json!({"custom_metadata": {"k": {"nested": 1}}}),
        )
        .await;
    assert_eq!(bad.status, 400);
    let bad = s
        .post("secret/metadata/mv", json!({"max_versions": "lots"}))
        .await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn delete_version_after_expires_versions() {
    let s = common::dev();
    s.post(
        "secret/metadata/short",
        json!({"delete_version_after": "1s"}),
    )
    .await;
    let w = s.post("secret/data/short", json!({"data": {"x": 1}})).await;
    assert_ne!(w.data()["deletion_time"], "");
    assert_eq!(s.get("secret/data/short").await.status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    assert_eq!(s.get("secret/data/short").await.status, 404);
}

#[tokio::test]
async fn patch_and_subkeys() {
    let s = common::dev();
    assert_eq!(
        s.patch("secret/data/p", json!({"data": {"a": 1}}))
            .await
            .status,
        404
    );
    assert_eq!(
        s.patch("secret/metadata/p", json!({"max_versions": 1}))
            .await
            .status,
        404
    );
    s.post(
        "secret/data/p",
        json!({"data": {"a": "1", "b": {"c": "2", "d": {"e": "3"}}}}),
    )
    .await;
    let p = s
        .patch(
            "secret/data/p",
            json!({"data": {"a": null, "b": {"c": "9"}, "n": "new"}}),
        )
        .await;
    assert_eq!(p.status, 200, "{:?}", p.body);
    assert_eq!(p.data()["version"], 2);
    let r = s.get("secret/data/p").await;
    assert_eq!(
        r.data()["data"],
        json!({"b": {"c": "9", "d": {"e": "3"}}, "n": "new"})
    );
    let bad_cas = s
        .patch(
            "secret/data/p",
            json!({"data": {"x": 1}, "options": {"cas": 1}}),
        )
        .await;
    assert_eq!(bad_cas.status, 400);

    let sk = s.get("secret/subkeys/p").await;
    assert_eq!(
        sk.data()["subkeys"],
        json!({"b": {"c": null, "d": {"e": null}}, "n": null})
    );
    assert_eq!(sk.data()["metadata"]["version"], 2);
    let sk1 = s.get("secret/subkeys/p?depth=1").await;
    assert_eq!(sk1.data()["subkeys"], json!({"b": null, "n": null}));
    assert_eq!(s.get("secret/subkeys/missing").await.status, 404);
}

#[tokio::test]
async fn bad_input_is_a_4xx_and_changes_nothing() {
    let s = common::dev();
    s.post("secret/data/keep", json!({"data": {"v": "original"}}))
        .await;
    for body in [
        json!({}),
        json!({"data": "not json"}),
        json!({"data": [1, 2]}),
    ] {
        let r = s.post("secret/data/keep", body.clone()).await;
        assert_eq!(r.status, 400, "{body}");
        assert!(!r.errors().is_empty());
    }
    let r = s
        .post("secret/data/../escape", json!({"data": {"x": 1}}))
        .await;
    assert!(r.status.is_client_error());
    assert_eq!(
        s.get("secret/data/keep").await.data()["data"]["v"],
        "original"
    );
    assert_eq!(
        s.get("secret/data/keep").await.data()["metadata"]["version"],
        1
    );
    let wrong = s.get("secret/nonsense/keep").await;
    assert_eq!(wrong.status, 404);
    assert!(wrong.body["warnings"][0]
        .as_str()
        .unwrap()
        .contains("Invalid path for a versioned K/V"));
    assert_eq!(
        s.call(
            "PATCH",
            "secret/destroy/keep",
            Some("root"),
            Some(json!({}))
        )
        .await
        .status,
        405
    );
}

#[tokio::test]
async fn a_delete_version_after_is_at_most_the_longest_go_duration() {
    let s = common::dev();
    // Past Go's longest duration (2^63-1 ns), Vault refuses it, and nothing is stored.
    let r = s
        .post(
            "secret/metadata/forever",
            json!({"delete_version_after": "99999999999999h"}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.errors(),
        ["error converting input for field \"delete_version_after\": time: invalid duration \"99999999999999h\""]
    );
    assert_eq!(s.get("secret/metadata/forever").await.status, 404);
    // The longest one is taken, and a version written under it is deleted centuries from now.
    let r = s
        .post(
            "secret/metadata/forever",
            json!({"delete_version_after": "2562047h47m16s"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let w = s
        .post("secret/data/forever", json!({"data": {"x": 1}}))
        .await;
    assert_eq!(w.status, 200, "{:?}", w.body);
    assert!(w.data()["deletion_time"]
        .as_str()
        .unwrap()
        .starts_with("23"));
    assert_eq!(s.get("secret/data/forever").await.status, 200);
}
