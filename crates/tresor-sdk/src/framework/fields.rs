//! Request fields: their declared types and the one decoder of Vault's loose input.
//!
//! Vault decodes request data weakly (`mapstructure`'s weak decode): `"10"` is the integer 10,
//! `"1h"` a duration of 3600 s, `"t"` true, `"a, b"` a list of two. Every backend reads its
//! fields through these rules, so that the same input means the same thing on every path; a
//! value that does not fit is a 400 naming the field.

use std::borrow::Cow;

use serde_json::Value;

use crate::{Error, Map, Result};

/// The type of a field, as Vault's `framework.FieldType` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string; numbers and booleans are taken as their text.
    Str,
    /// A string, lowercased.
    LowerStr,
    /// A whole number; a string of digits too.
    Int,
    /// The same, where Vault declares an `int64` (its errors name the type).
    Int64,
    Bool,
    /// Seconds: a whole number, or a Go-style duration string (`"90s"`, `"1h30m"`, `"7d"`).
    Duration,
    /// A list of strings: a JSON list, or one string split at commas (`TypeCommaStringSlice`).
    /// Entries are trimmed and blanks dropped.
    CommaList,
    /// A list of whole numbers: a JSON list (of numbers or strings of digits), one number, or
    /// one string split at commas (`TypeCommaIntSlice`).
    CommaIntList,
    /// A list of strings: a JSON list, or one string as a one-element list, not split (a SQL
    /// statement may hold commas; `TypeStringSlice`). Entries trimmed, blanks dropped.
    List,
    /// A JSON object, or a string holding one.
    Map,
    /// An object of string values, or a list of `key=value` strings (`TypeKVPairs`).
    KvPairs,
    /// Any JSON value; the handler reads it.
    Any,
}

impl Kind {
    /// The OpenAPI schema of a field of this kind.
    pub fn openapi(self) -> Value {
        use serde_json::json;
        match self {
            Kind::Str | Kind::LowerStr => json!({"type": "string"}),
            Kind::Int => json!({"type": "integer"}),
            Kind::Int64 => json!({"type": "integer", "format": "int64"}),
            Kind::Bool => json!({"type": "boolean"}),
            Kind::Duration => json!({"type": "string", "format": "duration"}),
            Kind::CommaList | Kind::List => json!({"type": "array", "items": {"type": "string"}}),
            Kind::CommaIntList => json!({"type": "array", "items": {"type": "integer"}}),
            Kind::Map => json!({"type": "object"}),
            Kind::KvPairs => {
                json!({"type": "object", "additionalProperties": {"type": "string"}})
            }
            Kind::Any => json!({}),
        }
    }

    /// The name `path-help` shows, as Vault's field types print.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Str => "string",
            Kind::LowerStr => "lowercase string",
            Kind::Int => "int",
            Kind::Int64 => "int64",
            Kind::Bool => "bool",
            Kind::Duration => "duration (sec)",
            Kind::CommaList => "comma-separated strings",
            Kind::CommaIntList => "comma-separated integers",
            Kind::List => "slice",
            Kind::Map => "map",
            Kind::KvPairs => "keypair",
            Kind::Any => "any",
        }
    }
}

/// A documented default of a field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DefaultValue {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl DefaultValue {
    fn json(self) -> Value {
        match self {
            DefaultValue::Bool(b) => b.into(),
            DefaultValue::Int(n) => n.into(),
            DefaultValue::Str(s) => s.into(),
        }
    }
}

/// One declared field of a path.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub kind: Kind,
    pub description: &'static str,
    pub default: Option<DefaultValue>,
    pub required: bool,
}

impl Field {
    pub const fn new(name: &'static str, kind: Kind, description: &'static str) -> Field {
        Field {
            name,
            kind,
            description,
            default: None,
            required: false,
        }
    }

    pub const fn default(mut self, default: DefaultValue) -> Field {
        self.default = Some(default);
        self
    }

    pub const fn required(mut self) -> Field {
        self.required = true;
        self
    }

    /// The field's OpenAPI schema (type, default, description).
    pub fn schema(&self) -> Value {
        let mut s = self.kind.openapi();
        if let Value::Object(m) = &mut s {
            m.insert("description".into(), self.description.into());
            if let Some(d) = self.default {
                m.insert("default".into(), d.json());
            }
        }
        s
    }
}

/// A decoded field value.
#[derive(Debug, Clone, PartialEq)]
pub enum Decoded<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    Bool(bool),
    Seconds(u64),
    List(Vec<String>),
    Ints(Vec<i64>),
    Map(Cow<'a, Map>),
    Any(&'a Value),
}

/// Decodes `value` as a field of `kind`; a value that does not fit is a 400 naming `field`.
/// `null` is never passed here: a null field counts as absent.
pub fn decode<'a>(field: &str, kind: Kind, value: &'a Value) -> Result<Decoded<'a>> {
    Ok(match kind {
        Kind::Str => Decoded::Str(string(field, value)?),
        Kind::LowerStr => Decoded::Str(Cow::Owned(string(field, value)?.to_lowercase())),
        Kind::Int => Decoded::Int(int(value).ok_or_else(|| go_error(field, "int", value))?),
        Kind::Int64 => Decoded::Int(int(value).ok_or_else(|| go_error(field, "int64", value))?),
        Kind::Bool => Decoded::Bool(boolean(field, value)?),
        Kind::Duration => Decoded::Seconds(crate::ttl::parse_value(value).map_err(|e| {
            Error::invalid(format!("error converting input for field \"{field}\": {e}"))
        })?),
        Kind::CommaList => Decoded::List(list(field, value, true)?),
        Kind::List => Decoded::List(list(field, value, false)?),
        Kind::CommaIntList => Decoded::Ints(int_list(field, value)?),
        Kind::Map => Decoded::Map(map(field, value)?),
        Kind::KvPairs => Decoded::Map(kv_pairs(field, value)?),
        Kind::Any => Decoded::Any(value),
    })
}

/// Go's name of the map type Vault decodes objects into.
const MAP: &str = "map[string]interface {}";

/// The words of Vault's field decoder (mapstructure, over Go types) for a value that does not fit
/// the Go type `want`: clients and scripts match on them.
fn go_error(field: &str, want: &str, value: &Value) -> Error {
    let why = match (want, value) {
        ("int" | "int64", Value::String(_)) => {
            format!("'' cannot parse value as '{want}': strconv.ParseInt: invalid syntax")
        }
        ("bool", Value::String(_)) => {
            "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax".to_owned()
        }
        (want, got) => format!(
            "'' expected type '{want}', got unconvertible type '{}'",
            go_type(got)
        ),
    };
    Error::InvalidRequest(format!(
        "error converting input for field \"{field}\": {why}"
    ))
}

/// The Go type a JSON value decodes to, as mapstructure names it in its errors.
fn go_type(value: &Value) -> &'static str {
    match value {
        Value::String(_) => "string",
        Value::Number(_) => "json.Number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => MAP,
        Value::Null => "<nil>",
    }
}

fn string<'a>(field: &str, value: &'a Value) -> Result<Cow<'a, str>> {
    match value {
        Value::String(s) => Ok(Cow::Borrowed(s)),
        Value::Number(n) => Ok(Cow::Owned(n.to_string())),
        Value::Bool(b) => Ok(Cow::Owned(b.to_string())),
        other => Err(go_error(field, "string", other)),
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Go's `strconv.ParseBool`, plus the empty string (false) and the numbers 1 and 0.
fn boolean(field: &str, value: &Value) -> Result<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
            "false" | "0" | "f" | "F" | "FALSE" | "False" | "" => Ok(false),
            _ => Err(go_error(field, "bool", value)),
        },
        Value::Number(n) => match n.as_i64() {
            Some(1) => Ok(true),
            Some(0) => Ok(false),
            _ => Err(go_error(field, "bool", value)),
        },
        other => Err(go_error(field, "bool", other)),
    }
}

fn list(field: &str, value: &Value, split_commas: bool) -> Result<Vec<String>> {
    let items: Vec<String> = match value {
        Value::String(s) if split_commas => s.split(',').map(str::to_owned).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                other => Err(go_error(field, "string", other)),
            })
            .collect::<Result<_>>()?,
        other => return Err(go_error(field, "[]string", other)),
    };
    Ok(items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect())
}

fn int_list(field: &str, value: &Value) -> Result<Vec<i64>> {
    let parts: Vec<Value> = match value {
        Value::Array(a) => a.clone(),
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| Value::String(p.to_owned()))
            .collect(),
        n @ Value::Number(_) => vec![n.clone()],
        other => return Err(go_error(field, "[]int", other)),
    };
    parts
        .iter()
        .map(|v| int(v).ok_or_else(|| go_error(field, "int", v)))
        .collect()
}

fn map<'a>(field: &str, value: &'a Value) -> Result<Cow<'a, Map>> {
    match value {
        Value::Object(m) => Ok(Cow::Borrowed(m)),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(m)) => Ok(Cow::Owned(m)),
            _ => Err(go_error(field, MAP, value)),
        },
        other => Err(go_error(field, MAP, other)),
    }
}

/// `key=value` pairs as Vault's TypeKVPairs reads them: an object, its scalar values taken as
/// text (`true` as "1"), or a list of `key=value` strings, where a single value is a list of one.
/// Nothing is split on commas or trimmed, and a JSON object inside a string stays a string.
fn kv_pairs<'a>(field: &str, value: &'a Value) -> Result<Cow<'a, Map>> {
    if let Value::Object(m) = value {
        if m.values().all(|v| v.is_string()) {
            return Ok(Cow::Borrowed(m));
        }
        if m.values().all(is_scalar) {
            let weak = m
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(weak_text(v))));
            return Ok(Cow::Owned(weak.collect()));
        }
    }
    // Not a map of scalars: Vault reads it again as a list, an object being a list of one.
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut m = Map::new();
    for (i, item) in items.into_iter().enumerate() {
        if !is_scalar(item) {
            return Err(Error::InvalidRequest(format!(
                "error converting input for field \"{field}\": decoding failed due to the following error(s):\n\n'[{i}]' expected type 'string', got unconvertible type '{}'",
                go_type(item)
            )));
        }
        match weak_text(item).split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                m.insert(k.to_owned(), v.into());
            }
            _ => {
                return Err(Error::InvalidRequest(format!(
                    "error converting input for field \"{field}\": invalid key pair at index {i} in field \"{field}\""
                )))
            }
        }
    }
    Ok(Cow::Owned(m))
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Object(_))
}

/// A scalar as mapstructure's weak decoding turns it into a string.
fn weak_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => if *b { "1" } else { "0" }.into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ok(kind: Kind, v: Value) -> Decoded<'static> {
        let v: &'static Value = Box::leak(Box::new(v));
        decode("f", kind, v).unwrap()
    }

    #[test]
    fn loose_input_as_vault_reads_it() {
        assert_eq!(ok(Kind::Int, json!("10")), Decoded::Int(10));
        assert_eq!(ok(Kind::Int, json!(10.0)), Decoded::Int(10));
        assert_eq!(ok(Kind::Duration, json!("1h")), Decoded::Seconds(3600));
        assert_eq!(ok(Kind::Duration, json!(90)), Decoded::Seconds(90));
        assert_eq!(ok(Kind::Bool, json!("t")), Decoded::Bool(true));
        assert_eq!(ok(Kind::Bool, json!(0)), Decoded::Bool(false));
        assert_eq!(ok(Kind::Str, json!(5)), Decoded::Str("5".into()));
        assert_eq!(ok(Kind::LowerStr, json!("AbC")), Decoded::Str("abc".into()));
        assert_eq!(
            ok(Kind::CommaList, json!("a, b,,c")),
            Decoded::List(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            ok(Kind::List, json!("a, b")),
            Decoded::List(vec!["a, b".into()])
        );
        assert_eq!(
            ok(Kind::CommaIntList, json!("1, 2")),
            Decoded::Ints(vec![1, 2])
        );
        assert_eq!(
            ok(Kind::CommaIntList, json!([3, "4"])),
            Decoded::Ints(vec![3, 4])
        );
        assert_eq!(
            ok(Kind::Map, json!("{\"a\":1}")),
            Decoded::Map(Cow::Owned(json!({"a": 1}).as_object().unwrap().clone()))
        );
    }

    #[test]
    fn key_value_pairs_as_vault_reads_them() {
        let pairs = |v: Value| match ok(Kind::KvPairs, v) {
            Decoded::Map(m) => Value::Object(m.into_owned()),
            other => panic!("{other:?}"),
        };
        // Checked against OpenBao 2.7 (`auth/token/create`'s `meta`).
        assert_eq!(
            pairs(json!(["a=1", "b = 2"])),
            json!({"a": "1", "b ": " 2"})
        );
        assert_eq!(pairs(json!("a=1,b=2")), json!({"a": "1,b=2"}));
        assert_eq!(
            pairs(json!({"a": 1, "b": true, "c": null, "d": "x"})),
            json!({"a": "1", "b": "1", "c": "", "d": "x"})
        );
        let err = |v: Value| decode("meta", Kind::KvPairs, &v).unwrap_err().to_string();
        let bad_pair =
            "error converting input for field \"meta\": invalid key pair at index 0 in field \"meta\"";
        assert_eq!(err(json!(5)), bad_pair);
        assert_eq!(err(json!("{\"a\":\"1\"}")), bad_pair);
        assert_eq!(err(json!(["=x"])), bad_pair);
        assert_eq!(
            err(json!({"a": {"x": 1}})),
            "error converting input for field \"meta\": decoding failed due to the following error(s):\n\n'[0]' expected type 'string', got unconvertible type 'map[string]interface {}'"
        );
    }

    #[test]
    fn a_value_that_does_not_fit_names_its_field() {
        for (kind, v) in [
            (Kind::Int, json!("ten")),
            (Kind::Int, json!(1.5)),
            (Kind::Bool, json!("yes")),
            (Kind::Bool, json!(2)),
            (Kind::Duration, json!("5x")),
            (Kind::Duration, json!(-1)),
            (Kind::Str, json!({"a": 1})),
            (Kind::CommaList, json!([{"a": 1}])),
            (Kind::CommaIntList, json!("1,x")),
            (Kind::Map, json!("[1]")),
            (Kind::KvPairs, json!({"a": [1]})),
        ] {
            let e = decode("ttl_x", kind, &v).unwrap_err().to_string();
            assert!(e.contains("\"ttl_x\""), "{kind:?} {v}: {e}");
        }
    }
}
