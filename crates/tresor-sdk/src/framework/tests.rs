//! The framework on a small backend: routing, fields, warnings, existence, canonical paths,
//! flags, help, OpenAPI and secrets all come from its table.

use std::sync::Mutex;

use serde_json::{json, Value};

use super::*;
use crate::memory::MemoryView;
use crate::{Map, Request};

#[derive(Default)]
struct Toy {
    revoked: Mutex<Vec<String>>,
}

impl Paths for Toy {
    const HELP: &'static str = "A toy backend.";

    fn paths() -> Vec<Path<Self>> {
        vec![
            Path::new("items")
                .synopsis("List items.")
                .list(handler!(Self::list)),
            Path::new("items/{name}")
                .synopsis("An item.")
                .lowercase("name")
                .field(Field::new("count", Kind::Int, "How many."))
                .field(Field::new("tags", Kind::CommaList, "Labels."))
                .exists(handler!(Self::exists))
                .read(handler!(Self::read))
                .write(handler!(Self::write))
                .delete(handler!(Self::delete)),
            Path::new("login/{user}")
                .synopsis("Log in.")
                .login()
                .update(handler!(Self::read)),
            Path::new("admin/purge")
                .synopsis("Remove everything.")
                .sudo()
                .update(handler!(Self::list)),
            Path::new("raw/{path*}")
                .synopsis("Anything.")
                .arbitrary_input()
                .write(handler!(Self::list)),
            Path::new("mounts/{path*}/tune")
                .synopsis("Tune a mount.")
                .canonical("path", |p| p.trim_matches('/').to_owned())
                .read(handler!(Self::list)),
            Path::new("policies/{name}")
                .synopsis("A policy.")
                .canonical("name", |n| n.trim().to_lowercase())
                .read(handler!(Self::read)),
            Path::new("{rest*}").hidden().read(handler!(Self::list)),
        ]
    }

    fn secrets() -> Vec<Secret<Self>> {
        vec![
            Secret {
                kind: "a",
                renew: None,
                revoke: lease_handler!(Self::revoke_a),
            },
            Secret {
                kind: "b",
                renew: None,
                revoke: lease_handler!(Self::revoke_b),
            },
        ]
    }
}

impl Toy {
    async fn list(&self, c: &Call<'_>) -> Result<Option<Response>> {
        Ok(Some(Response::list(c.view.list("item/").await?)))
    }
    async fn exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(c.view
            .get(&format!("item/{}", c.param("name")))
            .await?
            .is_some())
    }
    async fn read(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let mut d = Map::new();
        d.insert("name".into(), c.param("name").into());
        d.insert("op".into(), c.operation().as_str().into());
        Ok(Some(Response::data(d)))
    }
    async fn write(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let count = c.req.int_field("count")?.unwrap_or(0);
        c.view
            .put(
                &format!("item/{}", c.param("name")),
                count.to_string().as_bytes(),
            )
            .await?;
        Ok(None)
    }
    async fn delete(&self, c: &Call<'_>) -> Result<Option<Response>> {
        c.view.delete(&format!("item/{}", c.param("name"))).await?;
        Ok(None)
    }
    async fn revoke_a(&self, _r: &Request, _v: &dyn StorageView) -> Result<()> {
        self.revoked.lock().unwrap().push("a".into());
        Ok(())
    }
    async fn revoke_b(&self, _r: &Request, _v: &dyn StorageView) -> Result<()> {
        self.revoked.lock().unwrap().push("b".into());
        Ok(())
    }
}

fn req(op: Operation, path: &str, data: Value) -> Request {
    Request::new(op, path).with_data(data.as_object().cloned().unwrap_or_default())
}

#[tokio::test]
async fn routes_by_pattern_and_operation() {
    let (b, v) = (Routed::new(Toy::default()), MemoryView::default());
    let r = b
        .handle(&req(Operation::Read, "items/Bob/", json!({})), &v)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.data.unwrap()["name"], "bob", "the segment is lowercased");
    let e = b
        .handle(&req(Operation::Patch, "items/x", json!({})), &v)
        .await;
    assert!(matches!(e, Err(Error::UnsupportedOperation)), "{e:?}");
    let e = b
        .handle(&req(Operation::List, "login/x", json!({})), &v)
        .await;
    assert!(matches!(e, Err(Error::UnsupportedOperation)), "{e:?}");
    // A create reaches a path only through its existence check's handler.
    let e = b
        .handle(&req(Operation::Create, "admin/purge", json!({})), &v)
        .await;
    assert!(matches!(e, Err(Error::UnsupportedOperation)), "{e:?}");
    let only = Routed::new(Toy::default());
    let e = only
        .handle(&req(Operation::Read, "items", json!({})), &v)
        .await;
    assert!(matches!(e, Err(Error::UnsupportedOperation)), "{e:?}");
}

#[tokio::test]
async fn a_field_that_does_not_decode_is_refused_before_the_handler() {
    let (b, v) = (Routed::new(Toy::default()), MemoryView::default());
    let e = b
        .handle(
            &req(Operation::Update, "items/a", json!({"count": "ten"})),
            &v,
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidRequest(_)));
    assert!(e.to_string().contains("\"count\""), "{e}");
    assert!(v.get("item/a").await.unwrap().is_none(), "nothing written");
    // Loose input that does decode reaches the handler.
    b.handle(
        &req(
            Operation::Update,
            "items/a",
            json!({"count": "10", "tags": "x,y"}),
        ),
        &v,
    )
    .await
    .unwrap();
    assert_eq!(v.get("item/a").await.unwrap().unwrap(), b"10");
}

#[tokio::test]
async fn ignored_parameters_are_warned_about() {
    let (b, v) = (Routed::new(Toy::default()), MemoryView::default());
    // A write that answers nothing stays a 204, as in Vault, but it still wrote.
    let r = b
        .handle(
            &req(
                Operation::Update,
                "items/a",
                json!({"zeta": 1, "alpha": 2, "count": 1}),
            ),
            &v,
        )
        .await
        .unwrap();
    assert!(r.is_none());
    // A read that answers carries the warning.
    let r = b
        .handle(&req(Operation::Read, "items/a", json!({"zeta": 1})), &v)
        .await
        .unwrap()
        .expect("item a was written");
    assert_eq!(
        r.warnings,
        ["Endpoint ignored these unrecognized parameters: [zeta]"]
    );
    // A path that takes any input warns about nothing; a read of nothing stays nothing.
    let r = b
        .handle(&req(Operation::Update, "raw/x", json!({"anything": 1})), &v)
        .await
        .unwrap()
        .unwrap();
    assert!(r.warnings.is_empty());
}

#[tokio::test]
async fn existence_checks_come_from_the_path() {
    let (b, v) = (Routed::new(Toy::default()), MemoryView::default());
    let probe = |p: &str| req(Operation::Update, p, json!({}));
    assert_eq!(b.exists(&probe("items/A"), &v).await.unwrap(), Some(false));
    b.handle(&probe("items/a"), &v).await.unwrap();
    assert_eq!(b.exists(&probe("items/A"), &v).await.unwrap(), Some(true));
    assert_eq!(b.exists(&probe("admin/purge"), &v).await.unwrap(), None);
    assert_eq!(b.exists(&probe("nowhere/x/y"), &v).await.unwrap(), None);
}

#[test]
fn canonical_paths_flags_and_help() {
    let b = Routed::new(Toy::default());
    assert_eq!(b.resolve("items/BoB//").path, "items/bob");
    assert_eq!(b.resolve("items/bob").path, "items/bob");
    assert_eq!(
        b.resolve("raw/A/b/").path,
        "raw/A/b/",
        "a rest segment is kept"
    );
    assert_eq!(b.resolve("policies/ Admin ").path, "policies/admin");
    assert_eq!(b.resolve("mounts//a/b//tune/").path, "mounts/a/b/tune");
    assert!(b.flags("login/x").login);
    assert!(!b.flags("items/x").login);
    assert!(b.flags("admin/purge/").sudo);
    assert!(
        b.resolve("admin/purge/").flags.sudo,
        "one call names and flags"
    );
    assert!(!b.resolve("nowhere/x/y").flags.sudo);
    assert!(!b.flags("items/x").sudo);
    let root = b.help("");
    assert!(root.contains("A toy backend."), "{root}");
    assert!(root.contains("^items/(?P<name>[^/]+)$"), "{root}");
    assert!(
        !root.contains("rest"),
        "hidden paths are not listed: {root}"
    );
    let one = b.help("items/x");
    assert!(
        one.contains("Matching Route: ^items/(?P<name>[^/]+)$"),
        "{one}"
    );
    assert!(
        one.contains("count (int)") && one.contains("How many."),
        "{one}"
    );
}

#[test]
fn the_openapi_paths_follow_the_table() {
    let doc = Routed::new(Toy::default()).openapi("toy/");
    let item = &doc["/toy/items/{name}"];
    for op in ["get", "post", "delete"] {
        assert!(item.get(op).is_some(), "{op}: {item}");
    }
    assert!(item.get("patch").is_none());
    assert_eq!(item["parameters"][0]["name"], "name");
    assert_eq!(item["parameters"][0]["in"], "path");
    let props = &item["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"];
    assert_eq!(props["count"]["type"], "integer");
    assert_eq!(props["tags"]["type"], "array");
    let list = &doc["/toy/items/"]["get"];
    assert_eq!(list["parameters"][0]["name"], "list");
    assert_eq!(doc["/toy/login/{user}"]["x-vault-unauthenticated"], true);
    assert_eq!(doc["/toy/admin/purge"]["x-vault-sudo"], true);
    assert!(doc.get("/toy/{rest}").is_none(), "hidden");
    let ids: Vec<&str> = doc
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op.get("operationId").and_then(Value::as_str))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "operation ids are unique: {ids:?}");
}

#[tokio::test]
async fn secrets_are_revoked_by_their_type() {
    let (b, v) = (Routed::new(Toy::default()), MemoryView::default());
    b.revoke(
        &req(Operation::Delete, "x", json!({"secret_type": "b"})),
        &v,
    )
    .await
    .unwrap();
    assert_eq!(*b.inner().revoked.lock().unwrap(), ["b"]);
    let e = b
        .renew(
            &req(Operation::Update, "x", json!({"secret_type": "a"})),
            &v,
        )
        .await;
    assert!(e.unwrap_err().to_string().contains("not renewable"));
    // With two kinds, a lease that names none is refused rather than guessed.
    assert!(b
        .revoke(&req(Operation::Delete, "x", json!({})), &v)
        .await
        .is_err());
}
