//! Auth methods through the real binary: mounting them, AppRole (roles, role IDs, secret IDs,
//! CIDR bindings, use counts, TTLs, wrapping) and userpass (passwords, lockout), and the tokens
//! their logins make (policies, TTLs, renewal caps, revocation with the mount).

mod common;

use std::time::Duration;

use serde_json::{json, Value};

async fn enable(s: &common::Server, kind: &str) {
    s.enable(&format!("auth/{kind}"), kind).await;
}

async fn secret_id(s: &common::Server, role: &str, body: Value) -> (String, String) {
    let r = s
        .post(&format!("auth/approle/role/{role}/secret-id"), body)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    (
        r.data()["secret_id"].as_str().unwrap().to_owned(),
        r.data()["secret_id_accessor"].as_str().unwrap().to_owned(),
    )
}

async fn role_id(s: &common::Server, role: &str) -> String {
    let r = s.get(&format!("auth/approle/role/{role}/role-id")).await;
    r.data()["role_id"].as_str().unwrap().to_owned()
}

async fn login(s: &common::Server, role_id: &str, secret_id: &str) -> common::Reply {
    s.call(
        "POST",
        "auth/approle/login",
        None,
        Some(json!({"role_id": role_id, "secret_id": secret_id})),
    )
    .await
}

#[tokio::test]
async fn auth_mounts_are_listed_tuned_and_disabled_with_their_tokens() {
    let s = common::dev();
    enable(&s, "approle").await;
    let r = s.post("sys/auth/approle", json!({"type": "approle"})).await;
    assert_eq!(r.status, 400, "already mounted");
    let r = s.post("sys/auth/kvauth", json!({"type": "kv"})).await;
    assert_eq!(r.status, 400, "a secrets engine is not an auth method");
    let r = s
        .post("sys/mounts/approle2", json!({"type": "approle"}))
        .await;
    assert_eq!(r.status, 400, "an auth method is not a secrets engine");
    let list = s.get("sys/auth").await;
    assert_eq!(list.data()["approle/"]["type"], "approle");
    assert!(list.data()["approle/"]["accessor"]
        .as_str()
        .unwrap()
        .starts_with("auth_approle_"));
    assert_eq!(list.data()["token/"]["type"], "token");
    assert!(s
        .get("sys/mounts")
        .await
        .data()
        .get("auth/approle/")
        .is_none());

    let r = s
        .post(
            "sys/auth/approle/tune",
            json!({"default_lease_ttl": "30m", "max_lease_ttl": "1h"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let tune = s.get("sys/auth/approle/tune").await;
    assert_eq!(tune.data()["default_lease_ttl"], 1800);
    let tune = s.get("sys/mounts/auth/approle/tune").await;
    assert_eq!(tune.data()["max_lease_ttl"], 3600);

    // The mount's TTLs shape the tokens of a role that sets none.
    s.post("auth/approle/role/r", json!({})).await;
    let (sid, _) = secret_id(&s, "r", json!({})).await;
    let rid = role_id(&s, "r").await;
    let r = login(&s, &rid, &sid).await;
    assert_eq!(r.body["auth"]["lease_duration"], 1800);
    let t = r.client_token();
    let me = s
        .call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    assert_eq!(me.data()["path"], "auth/approle/login");
    assert_eq!(me.data()["display_name"], "approle");
    assert_eq!(me.data()["orphan"], true);
    assert_eq!(me.data()["meta"]["role_name"], "r");

    // Enabling needs sudo, as in Vault.
    let user = s.token(json!({"policies": ["default"]})).await;
    let r = s
        .call(
            "POST",
            "sys/auth/other",
            Some(&user),
            Some(json!({"type": "userpass"})),
        )
        .await;
    assert_eq!(r.status, 403);

    // Disabling the method revokes what it issued.
    assert_eq!(s.delete("sys/auth/approle").await.status, 204);
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&t), None)
            .await
            .status,
        403
    );
    assert!(s.get("sys/auth").await.data().get("approle/").is_none());
    assert_eq!(s.get("auth/approle/role/r").await.status, 404);
}

#[tokio::test]
async fn approle_roles_role_ids_and_secret_ids() {
    let s = common::dev();
    enable(&s, "approle").await;
    let r = s
        .post(
            "auth/approle/role/app",
            json!({"token_policies": "p1,default", "token_ttl": "1h", "token_max_ttl": "4h", "secret_id_ttl": 0}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let role = s.get("auth/approle/role/app").await;
    assert_eq!(role.data()["token_policies"], json!(["default", "p1"]));
    assert_eq!(role.data()["token_ttl"], 3600);
    assert_eq!(role.data()["token_max_ttl"], 14400);
    assert_eq!(role.data()["bind_secret_id"], true);
    assert_eq!(
        s.list("auth/approle/role").await.data()["keys"],
        json!(["app"])
    );

    let rid = role_id(&s, "app").await;
    assert_eq!(rid.len(), 36, "a UUID");
    let (sid, accessor) = secret_id(&s, "app", json!({"metadata": "{\"team\": \"a\"}"})).await;
    let r = login(&s, &rid, &sid).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["auth"]["policies"], json!(["default", "p1"]));
    assert_eq!(r.body["auth"]["lease_duration"], 3600);
    assert_eq!(r.body["auth"]["renewable"], true);
    assert_eq!(
        r.body["auth"]["metadata"],
        json!({"role_name": "app", "team": "a"})
    );

    // Bad credentials are one error; missing ones are named.
    for (rid_, sid_) in [(rid.as_str(), "wrong"), ("wrong", sid.as_str())] {
        let r = login(&s, rid_, sid_).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.errors(), ["invalid role or secret ID"]);
    }
    let r = s
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({ "role_id": rid })),
        )
        .await;
    assert_eq!(r.errors(), ["missing secret_id"]);

    // Lookups by secret ID and by accessor; the list shows accessors only.
    let look = s
        .post(
            "auth/approle/role/app/secret-id/lookup",
            json!({ "secret_id": sid }),
        )
        .await;
    assert_eq!(look.data()["secret_id_accessor"], accessor.as_str());
    assert_eq!(look.data()["metadata"], json!({"team": "a"}));
    assert_eq!(look.data()["expiration_time"], "0001-01-01T00:00:00Z");
    let listed = s.list("auth/approle/role/app/secret-id").await;
    assert_eq!(listed.data()["keys"], json!([accessor]));
    let by_acc = s
        .post(
            "auth/approle/role/app/secret-id-accessor/lookup",
            json!({ "secret_id_accessor": accessor }),
        )
        .await;
    assert_eq!(by_acc.data()["secret_id_accessor"], accessor.as_str());
    assert!(
        !listed.body.to_string().contains(&sid),
        "the list never shows a secret ID"
    );

    // A custom role ID replaces the old one; a custom secret ID works like a generated one.
    s.post(
        "auth/approle/role/app/role-id",
        json!({"role_id": "my-role"}),
    )
    .await;
    assert_eq!(login(&s, &rid, &sid).await.status, 400);
    assert_eq!(login(&s, "my-role", &sid).await.status, 200);
    let r = s
        .post(
            "auth/approle/role/app/custom-secret-id",
            json!({"secret_id": "my-secret"}),
        )
        .await;
    assert_eq!(r.data()["secret_id"], "my-secret");
    assert_eq!(login(&s, "my-role", "my-secret").await.status, 200);
    let dup = s
        .post(
            "auth/approle/role/app/custom-secret-id",
            json!({"secret_id": "my-secret"}),
        )
        .await;
    assert_eq!(dup.status, 400);

    // Destroyed secret IDs, by value or accessor, no longer log in.
    s.post(
        "auth/approle/role/app/secret-id/destroy",
        json!({"secret_id": "my-secret"}),
    )
    .await;
    assert_eq!(login(&s, "my-role", "my-secret").await.status, 400);
    s.post(
        "auth/approle/role/app/secret-id-accessor/destroy",
        json!({ "secret_id_accessor": accessor }),
    )
    .await;
    assert_eq!(login(&s, "my-role", &sid).await.status, 400);
    assert_eq!(
        s.post("auth/approle/tidy/secret-id", json!({}))
            .await
            .status,
        202
    );

    // A role must demand something; deleting it ends its logins.
    let r = s
        .post("auth/approle/role/loose", json!({"bind_secret_id": false}))
        .await;
    assert_eq!(r.status, 400);
    let (sid2, _) = secret_id(&s, "app", json!({})).await;
    assert_eq!(s.delete("auth/approle/role/app").await.status, 204);
    assert_eq!(login(&s, "my-role", &sid2).await.status, 400);
}

#[tokio::test]
async fn approle_use_counts_ttls_and_cidr_bindings() {
    let s = common::dev();
    enable(&s, "approle").await;
    s.post(
        "auth/approle/role/svc",
        json!({"token_policies": "default"}),
    )
    .await;
    let rid = role_id(&s, "svc").await;

    let (twice, _) = secret_id(&s, "svc", json!({"num_uses": 2})).await;
    assert_eq!(login(&s, &rid, &twice).await.status, 200);
    assert_eq!(login(&s, &rid, &twice).await.status, 200);
    assert_eq!(login(&s, &rid, &twice).await.status, 400, "used up");

    let (short, _) = secret_id(&s, "svc", json!({"ttl": "2s"})).await;
    assert_eq!(login(&s, &rid, &short).await.status, 200);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_eq!(login(&s, &rid, &short).await.status, 400, "expired");

    let (elsewhere, _) = secret_id(&s, "svc", json!({"cidr_list": "10.0.0.0/8"})).await;
    let r = login(&s, &rid, &elsewhere).await;
    assert_eq!(r.status, 400);
    assert!(
        r.errors()[0].contains("unauthorized by CIDR restrictions on the secret ID"),
        "{:?}",
        r.body
    );
    let (here, _) = secret_id(&s, "svc", json!({"cidr_list": ["127.0.0.0/8"]})).await;
    assert_eq!(login(&s, &rid, &here).await.status, 200);

    // A token bound to another network is refused on every use from here.
    let (bound, _) = secret_id(&s, "svc", json!({"token_bound_cidrs": "10.0.0.0/8"})).await;
    let r = login(&s, &rid, &bound).await;
    assert_eq!(r.status, 200);
    let t = r.client_token();
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&t), None)
            .await
            .status,
        403
    );

    // A role bound to another network refuses even good secret IDs.
    s.post(
        "auth/approle/role/svc",
        json!({"secret_id_bound_cidrs": "10.0.0.0/8"}),
    )
    .await;
    let r = login(&s, &rid, &here).await;
    assert_eq!(r.status, 400);
    assert!(r.errors()[0].contains("CIDR restrictions on the role"));
    // And a secret ID outside the role's networks cannot be made.
    let r = s
        .post(
            "auth/approle/role/svc/secret-id",
            json!({"cidr_list": "192.168.0.0/16"}),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = s
        .post(
            "auth/approle/role/svc/secret-id",
            json!({"ttl": "1h", "num_uses": -1}),
        )
        .await;
    assert_eq!(r.status, 400);
}

#[tokio::test]
async fn login_tokens_are_limited_to_their_policies_and_max_ttl() {
    let s = common::dev();
    enable(&s, "approle").await;
    s.put(
        "sys/policies/acl/reader",
        json!({"policy": "path \"secret/data/app/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    s.post("secret/data/app/db", json!({"data": {"pw": "x"}}))
        .await;
    s.post("secret/data/other", json!({"data": {"pw": "y"}}))
        .await;
    s.post(
        "auth/approle/role/app",
        json!({"token_policies": "reader", "token_ttl": "2s", "token_max_ttl": "3s"}),
    )
    .await;
    let rid = role_id(&s, "app").await;
    let (sid, _) = secret_id(&s, "app", json!({})).await;
    let t = login(&s, &rid, &sid).await.client_token();
    assert_eq!(
        s.call("GET", "secret/data/app/db", Some(&t), None)
            .await
            .status,
        200
    );
    assert_eq!(
        s.call("GET", "secret/data/other", Some(&t), None)
            .await
            .status,
        403
    );
    assert_eq!(
        s.call(
            "POST",
            "secret/data/app/db",
            Some(&t),
            Some(json!({"data": {}}))
        )
        .await
        .status,
        403
    );
    // Renewal stops at token_max_ttl.
    let r = s
        .call(
            "POST",
            "auth/token/renew-self",
            Some(&t),
            Some(json!({"increment": "1h"})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert!(r.body["auth"]["lease_duration"].as_u64().unwrap() <= 3);
    assert!(!r.body["warnings"].is_null());
    tokio::time::sleep(Duration::from_millis(3300)).await;
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&t), None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn a_wrapped_secret_id_is_unwrapped_once_and_logs_in() {
    let s = common::dev();
    enable(&s, "approle").await;
    s.post("auth/approle/role/ci", json!({})).await;
    let rid = role_id(&s, "ci").await;
    let r = s
        .call_with(
            "POST",
            "auth/approle/role/ci/secret-id",
            Some(common::ROOT),
            Some(json!({})),
            &[("X-Vault-Wrap-TTL", "60s")],
        )
        .await;
    assert_eq!(r.body["data"], Value::Null);
    let wrapping = r.body["wrap_info"]["token"].as_str().unwrap().to_owned();
    let un = s
        .call(
            "POST",
            "sys/wrapping/unwrap",
            Some(&wrapping),
            Some(json!({})),
        )
        .await;
    let sid = un.data()["secret_id"].as_str().unwrap().to_owned();
    assert_eq!(login(&s, &rid, &sid).await.status, 200);
    let again = s
        .call(
            "POST",
            "sys/wrapping/unwrap",
            Some(&wrapping),
            Some(json!({})),
        )
        .await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.body["errors"],
        json!(["wrapping token is not valid or does not exist"])
    );
}

#[tokio::test]
async fn userpass_passwords_policies_and_lockout() {
    let s = common::dev();
    enable(&s, "userpass").await;
    let r = s
        .post("auth/userpass/users/bob", json!({"token_policies": "p1"}))
        .await;
    assert_eq!(r.status, 400, "a new user needs a password");
    let r = s
        .post(
            "auth/userpass/users/Bob",
            json!({"password": "pw-1", "token_policies": "p1", "token_ttl": "1h"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let user = s.get("auth/userpass/users/bob").await;
    assert_eq!(user.data()["token_policies"], json!(["p1"]));
    assert!(user.data().get("password").is_none());
    assert!(!user.body.to_string().contains("pw-1"));
    assert_eq!(
        s.list("auth/userpass/users").await.data()["keys"],
        json!(["bob"])
    );

    let login = |name: &'static str, pw: &'static str| {
        let s = &s;
        async move {
            s.call(
                "POST",
                &format!("auth/userpass/login/{name}"),
                None,
                Some(json!({ "password": pw })),
            )
            .await
        }
    };
    let r = login("bob", "pw-1").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["auth"]["policies"], json!(["default", "p1"]));
    assert_eq!(r.body["auth"]["metadata"], json!({"username": "bob"}));
    assert_eq!(r.body["auth"]["lease_duration"], 3600);
    let t = r.client_token();
    let me = s
        .call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    assert_eq!(me.data()["display_name"], "userpass-bob");
    assert_eq!(me.data()["path"], "auth/userpass/login/bob");

    // A wrong password and an unknown user read the same.
    let wrong = login("bob", "nope").await;
    let unknown = login("nobody", "pw-1").await;
    assert_eq!((wrong.status.as_u16(), unknown.status.as_u16()), (400, 400));
    assert_eq!(wrong.errors(), ["invalid username or password"]);
    assert_eq!(wrong.body, unknown.body);

    // New password, new policies.
    s.post(
        "auth/userpass/users/bob/password",
        json!({"password": "pw-2"}),
    )
    .await;
    assert_eq!(login("bob", "pw-1").await.status, 400);
    s.post(
        "auth/userpass/users/bob/policies",
        json!({"token_policies": ["p2"]}),
    )
    .await;
    let r = login("bob", "pw-2").await;
    assert_eq!(r.body["auth"]["policies"], json!(["default", "p2"]));

    // Five failures lock the user out, whatever the password.
    for _ in 0..5 {
        assert_eq!(login("bob", "bad").await.status, 400);
    }
    // A locked-out user answers as an unknown user does (Vault says "permission denied",
    // which tells an attacker the name exists).
    let locked = login("bob", "pw-2").await;
    assert_eq!(locked.status, 400);
    assert_eq!(locked.errors(), ["invalid username or password"]);
    assert_eq!(s.delete("auth/userpass/users/bob").await.status, 204);
    assert_eq!(login("bob", "pw-2").await.status, 400);
}

#[tokio::test]
async fn auth_methods_and_their_roles_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (s, key, root) = common::durable(dir.path()).await;
    let r = s
        .call(
            "POST",
            "sys/auth/approle",
            Some(&root),
            Some(json!({"type": "approle"})),
        )
        .await;
    assert_eq!(r.status, 204);
    s.call("POST", "auth/approle/role/r", Some(&root), Some(json!({})))
        .await;
    let rid = s
        .call("GET", "auth/approle/role/r/role-id", Some(&root), None)
        .await
        .body["data"]["role_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let sid = s
        .call(
            "POST",
            "auth/approle/role/r/secret-id",
            Some(&root),
            Some(json!({})),
        )
        .await
        .body["data"]["secret_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(s);
    let s = common::reopen(dir.path(), &key).await;
    let r = s
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": rid, "secret_id": sid})),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let raw = std::fs::read(dir.path().join("data/tresor.db")).unwrap();
    assert!(
        !raw.windows(sid.len()).any(|w| w == sid.as_bytes()),
        "a secret ID in storage"
    );
}

#[tokio::test]
async fn every_shared_token_parameter_shapes_the_login_token() {
    let s = common::dev();
    enable(&s, "approle").await;
    s.put(
        "sys/policies/acl/p1",
        json!({"policy": "path \"auth/token/lookup-self\" { capabilities = [\"read\"] }"}),
    )
    .await;
    let r = s
        .post(
            "auth/approle/role/p",
            json!({
                "token_policies": ["p1"],
                "token_no_default_policy": true,
                "token_num_uses": 3,
                "token_period": "1h",
                "token_explicit_max_ttl": "2h",
                "token_type": "service",
                "local_secret_ids": true,
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let role = s.get("auth/approle/role/p").await;
    assert_eq!(role.data()["token_num_uses"], 3);
    assert_eq!(role.data()["token_period"], 3600);
    assert_eq!(role.data()["token_explicit_max_ttl"], 7200);
    assert_eq!(role.data()["token_type"], "service");
    assert_eq!(role.data()["local_secret_ids"], true);
    let r = s
        .post("auth/approle/role/p", json!({"local_secret_ids": false}))
        .await;
    assert_eq!(r.status, 400, "local_secret_ids is fixed at creation");
    let r = s
        .post("auth/approle/role/p", json!({"token_type": "batch"}))
        .await;
    assert_eq!(r.status, 400);

    let rid = role_id(&s, "p").await;
    let (sid, _) = secret_id(&s, "p", json!({})).await;
    let r = login(&s, &rid, &sid).await;
    assert_eq!(
        r.body["auth"]["policies"],
        json!(["p1"]),
        "no default policy"
    );
    assert_eq!(r.body["auth"]["lease_duration"], 3600, "the period");
    assert_eq!(r.body["auth"]["num_uses"], 3);
    let t = r.client_token();
    let me = s
        .call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    assert_eq!(me.data()["period"], 3600);
    assert_eq!(me.data()["explicit_max_ttl"], 7200);
    assert_eq!(
        me.data()["num_uses"],
        2,
        "the lookup was one of its three uses"
    );
    s.call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    s.call("GET", "auth/token/lookup-self", Some(&t), None)
        .await;
    assert_eq!(
        s.call("GET", "auth/token/lookup-self", Some(&t), None)
            .await
            .status,
        403,
        "used up"
    );
}
