//! What the path framework gives every backend, seen from outside: each route answers
//! `path-help` and appears in the OpenAPI document; fields are checked and ignored ones warned
//! about; operations a path lacks are 405; and existence checks make `create` and `update`
//! the policies' business, as in Vault.

mod common;

use common::Server;
use serde_json::json;

/// Every kind of mount, enabled at a path named after it.
async fn every_backend() -> Server {
    let s = common::dev();
    s.enable("mounts/kv1", "kv").await;
    s.enable("mounts/transit", "transit").await;
    s.enable("mounts/database", "database").await;
    s.enable("auth/approle", "approle").await;
    s.enable("auth/userpass", "userpass").await;
    s
}

/// A concrete path for a route's pattern as help prints it (`^keys/(?P<name>[^/]+)$`).
fn example(pattern: &str) -> String {
    let body = pattern.trim_start_matches('^').trim_end_matches('$');
    let mut out = String::new();
    let mut rest = body;
    while let Some(i) = rest.find("(?P<") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        let name_end = after.find('>').unwrap();
        out.push_str(&format!("x{}", &after[..name_end]));
        let close = after.find(')').unwrap();
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// The OpenAPI template of a pattern under `mount` (`/transit/keys/{name}`).
fn template(mount: &str, pattern: &str) -> String {
    let body = pattern.trim_start_matches('^').trim_end_matches('$');
    let mut out = format!("/{}", mount.trim_end_matches('/'));
    if !body.is_empty() {
        out.push('/');
    }
    let mut rest = body;
    while let Some(i) = rest.find("(?P<") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 4..];
        let name_end = after.find('>').unwrap();
        out.push_str(&format!("{{{}}}", &after[..name_end]));
        let close = after.find(')').unwrap();
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test]
async fn every_route_answers_help_and_is_in_the_openapi_document() {
    let s = every_backend().await;
    let doc = s.get("sys/internal/specs/openapi").await;
    assert_eq!(doc.status, 200, "{:?}", doc.body);
    assert_eq!(doc.body["openapi"], "3.0.2");
    let paths = doc.body["paths"].as_object().expect("paths");
    let mut routes = 0;
    for mount in [
        "secret/",
        "kv1/",
        "transit/",
        "database/",
        "auth/approle/",
        "auth/userpass/",
        "cubbyhole/",
        "auth/token/",
        "sys/",
    ] {
        let help = s.get(&format!("{mount}?help=1")).await;
        assert_eq!(help.status, 200, "{mount}: {:?}", help.body);
        let text = help.body["help"].as_str().unwrap().to_owned();
        let patterns: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with('^'))
            .collect();
        assert!(!patterns.is_empty(), "{mount} lists its routes: {text}");
        for pattern in patterns {
            routes += 1;
            let t = template(mount, pattern);
            assert!(
                paths.contains_key(&t) || paths.contains_key(&format!("{t}/")),
                "{mount}: {pattern} ({t}) is missing from the OpenAPI document"
            );
            let concrete = format!("{mount}{}", example(pattern));
            let one = s.get(&format!("{concrete}?help=1")).await;
            assert_eq!(one.status, 200, "{concrete}: {:?}", one.body);
            let one = one.body["help"].as_str().unwrap();
            assert!(
                one.contains(&format!("Matching Route: {pattern}")) || example(pattern).is_empty(),
                "{concrete} is served by {pattern}: {one}"
            );
        }
    }
    assert!(routes > 120, "only {routes} routes walked");
    // Login paths are marked as needing no token.
    assert_eq!(
        paths["/auth/approle/login"]["x-vault-unauthenticated"],
        true
    );
    // The document lists only mounts the caller can see.
    s.policy("kvonly", r#"path "kv1/*" { capabilities = ["read"] }"#)
        .await;
    let t = s.token(json!({"policies": ["kvonly"]})).await;
    let limited = s
        .call("GET", "sys/internal/specs/openapi", Some(&t), None)
        .await;
    assert_eq!(limited.status, 200, "{:?}", limited.body);
    let keys: Vec<&String> = limited.body["paths"].as_object().unwrap().keys().collect();
    assert!(keys.iter().any(|k| k.starts_with("/kv1/")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.starts_with("/transit/")), "{keys:?}");
}

#[tokio::test]
async fn fields_are_checked_and_ignored_ones_warned_about() {
    let s = every_backend().await;
    // A field that does not decode is a 400 naming it, and nothing is written.
    let r = s
        .post("auth/approle/role/r", json!({"secret_id_num_uses": "many"}))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    assert!(
        r.errors()[0].contains("\"secret_id_num_uses\""),
        "{:?}",
        r.body
    );
    assert_eq!(s.get("auth/approle/role/r").await.status, 404);
    // Loose input is taken as Vault takes it.
    let r = s
        .post(
            "auth/approle/role/r",
            json!({"secret_id_num_uses": "3", "token_ttl": "1h", "token_policies": "a, b"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let role = s.get("auth/approle/role/r").await;
    assert_eq!(role.data()["secret_id_num_uses"], 3);
    assert_eq!(role.data()["token_ttl"], 3600);
    assert_eq!(role.data()["token_policies"], json!(["a", "b"]));
    // An unknown parameter is ignored, with Vault's warning.
    let r = s
        .post(
            "transit/keys/k",
            json!({"type": "aes256-gcm96", "colour": "red"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [colour]"])
    );
    // Transit reads booleans with the one decoder (`"t"` is true).
    let r = s
        .post("transit/keys/k/config", json!({"deletion_allowed": "t"}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.data()["deletion_allowed"], true);
    // An operation the path does not have is 405; a path nobody serves is 404.
    assert_eq!(s.delete("transit/encrypt/k").await.status, 405);
    assert_eq!(s.get("auth/approle/login").await.status, 405);
    assert_eq!(s.get("transit/nothing/here").await.status, 404);
}

#[tokio::test]
async fn create_only_policies_behave_as_in_vault() {
    let s = every_backend().await;
    s.policy(
        "creator",
        r#"
        path "auth/approle/role/*" { capabilities = ["create"] }
        path "auth/userpass/users/*" { capabilities = ["create"] }
        path "auth/token/roles/*" { capabilities = ["create"] }
        path "transit/keys/*" { capabilities = ["create"] }
        "#,
    )
    .await;
    s.policy(
        "updater",
        r#"
        path "auth/approle/role/*" { capabilities = ["update"] }
        path "auth/userpass/users/*" { capabilities = ["update"] }
        path "auth/token/roles/*" { capabilities = ["update"] }
        path "transit/keys/*" { capabilities = ["update"] }
        "#,
    )
    .await;
    let creator = s.token(json!({"policies": ["creator"]})).await;
    let updater = s.token(json!({"policies": ["updater"]})).await;
    let cases = [
        ("auth/approle/role/{}", json!({"token_ttl": 60})),
        ("auth/userpass/users/{}", json!({"password": "pw-123456"})),
        ("auth/token/roles/{}", json!({"allowed_policies": "a"})),
    ];
    for (pattern, body) in cases {
        let new = pattern.replace("{}", "new");
        let other = pattern.replace("{}", "other");
        // `create` makes what does not exist yet, and cannot change it afterwards.
        let r = s
            .call("POST", &new, Some(&creator), Some(body.clone()))
            .await;
        assert_eq!(r.status, 204, "{new}: {:?}", r.body);
        let r = s
            .call("POST", &new, Some(&creator), Some(body.clone()))
            .await;
        assert_eq!(r.status, 403, "{new} again with create only: {:?}", r.body);
        // `update` changes what exists, and cannot make something new.
        let r = s
            .call("POST", &new, Some(&updater), Some(body.clone()))
            .await;
        assert_eq!(r.status, 204, "{new} with update: {:?}", r.body);
        let r = s
            .call("POST", &other, Some(&updater), Some(body.clone()))
            .await;
        assert_eq!(r.status, 403, "{other} with update only: {:?}", r.body);
    }
    // Vault's transit declares no existence check on `keys/:name`: creating a key is an
    // update, so `create` alone may not, and `update` may.
    let r = s
        .call("POST", "transit/keys/k1", Some(&creator), Some(json!({})))
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    let r = s
        .call("POST", "transit/keys/k1", Some(&updater), Some(json!({})))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // The name the ACL checked is the one written: a capitalised name is the same user.
    let r = s
        .call(
            "POST",
            "auth/userpass/users/NEW",
            Some(&creator),
            Some(json!({"password": "x-123456"})),
        )
        .await;
    assert_eq!(r.status, 403, "NEW is the existing user new: {:?}", r.body);
    let listed = s.list("auth/userpass/users").await;
    assert_eq!(listed.data()["keys"], json!(["new"]));
}
