//! A backend's part of the OpenAPI 3 document (`sys/internal/specs/openapi`), from its table.
//!
//! As in Vault's document: one path item per pattern under the mount, `get` for reads, `post`
//! for creates and updates, `delete`, `patch` (a JSON merge patch), and lists as a `get` on the
//! path with a trailing slash and a required `list=true` query parameter. Login paths carry
//! `x-vault-unauthenticated`, root-protected ones `x-vault-sudo`.

use serde_json::{json, Value};

use super::{Kind, Path};
use crate::{Map, Operation};

/// The `paths` entries of the backend mounted at `mount` (`secret/`).
pub fn paths<B>(mount: &str, table: &[Path<B>]) -> Map {
    let mut out = Map::new();
    for p in table.iter().filter(|p| !p.flags.hidden) {
        let template = p.pattern.openapi(mount);
        let ops: Vec<Operation> = p.operations().collect();
        let params = path_parameters(p);
        let mut item = Map::new();
        item.insert("description".into(), p.synopsis.trim().into());
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params.clone()));
        }
        if p.flags.login {
            item.insert("x-vault-unauthenticated".into(), true.into());
        }
        if p.flags.sudo {
            item.insert("x-vault-sudo".into(), true.into());
        }
        let id = slug(&template);
        if ops.contains(&Operation::Read) {
            item.insert("get".into(), operation(p, &format!("read-{id}"), None));
        }
        if ops.contains(&Operation::Create) || ops.contains(&Operation::Update) {
            let body = body(p, "application/json");
            item.insert("post".into(), operation(p, &format!("write-{id}"), body));
        }
        if ops.contains(&Operation::Patch) {
            let body = body(p, "application/merge-patch+json");
            item.insert("patch".into(), operation(p, &format!("patch-{id}"), body));
        }
        if ops.contains(&Operation::Delete) {
            item.insert("delete".into(), operation(p, &format!("delete-{id}"), None));
        }
        let has_ops = item
            .keys()
            .any(|k| ["get", "post", "patch", "delete"].contains(&k.as_str()));
        if has_ops {
            out.insert(template.clone(), Value::Object(item));
        }
        if ops.contains(&Operation::List) {
            let mut list = Map::new();
            list.insert("description".into(), p.synopsis.trim().into());
            if !params.is_empty() {
                list.insert("parameters".into(), Value::Array(params));
            }
            let mut get = operation(p, &format!("list-{id}"), None);
            get["parameters"] = json!([{
                "name": "list",
                "in": "query",
                "description": "Must be set to `true`",
                "required": true,
                "schema": {"type": "string", "enum": ["true"]},
            }]);
            list.insert("get".into(), get);
            let list_template = if template.ends_with('/') {
                template
            } else {
                format!("{template}/")
            };
            out.insert(list_template, Value::Object(list));
        }
    }
    out
}

fn path_parameters<B>(p: &Path<B>) -> Vec<Value> {
    p.pattern
        .captures()
        .map(|name| {
            let description = p.field_def(name).map_or("", |f| f.description);
            json!({
                "name": name,
                "in": "path",
                "description": description,
                "required": true,
                "schema": {"type": "string"},
            })
        })
        .collect()
}

fn body<B>(p: &Path<B>, content_type: &str) -> Option<Value> {
    let captures: Vec<_> = p.pattern.captures().collect();
    let fields: Vec<_> = p
        .fields
        .iter()
        .filter(|f| !captures.contains(&f.name))
        .collect();
    if fields.is_empty() && !p.flags.arbitrary_input {
        return None;
    }
    let mut properties = Map::new();
    for f in &fields {
        properties.insert(f.name.into(), f.schema());
    }
    let mut schema = json!({"type": "object", "properties": properties});
    let required: Vec<_> = fields
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name)
        .collect();
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    if p.flags.arbitrary_input || fields.iter().any(|f| f.kind == Kind::Any) {
        schema["additionalProperties"] = true.into();
    }
    Some(json!({"required": false, "content": {content_type: {"schema": schema}}}))
}

fn operation<B>(p: &Path<B>, id: &str, body: Option<Value>) -> Value {
    let mut op = json!({
        "summary": p.synopsis.trim(),
        "operationId": id,
        "responses": {
            "200": {"description": "OK"},
            "204": {"description": "empty body"},
        },
    });
    if let Some(b) = body {
        op["requestBody"] = b;
    }
    op
}

/// An operation id from a path template: `/secret/data/{path}` → `secret-data-path`.
fn slug(template: &str) -> String {
    let s: String = template
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}
