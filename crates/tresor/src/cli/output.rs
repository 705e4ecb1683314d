//! Printing answers the way Vault's CLI prints them: `table` (columns padded, empty cells as
//! `n/a`, durations humanised), `json` (the API secret, keys of maps sorted as Go writes them),
//! `yaml`, and `-field` (one raw value).

use std::io::{IsTerminal, Write};

use serde_json::{Map, Value};

use super::{yaml, Failure};
use crate::flags::Parsed;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Yaml,
}

impl Format {
    pub fn from_flags(flags: &Parsed) -> Result<Format, Failure> {
        let raw = flags
            .value("format")
            .map(str::to_owned)
            .or_else(|| std::env::var("VAULT_FORMAT").ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "table".into());
        Format::parse(&raw)
    }

    pub fn parse(raw: &str) -> Result<Format, Failure> {
        match raw.to_lowercase().as_str() {
            "table" | "" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "yaml" | "yml" => Ok(Format::Yaml),
            _ => Err(Failure::Local(format!(
                "Invalid output format: {}",
                raw.to_lowercase()
            ))),
        }
    }
}

/// A copy of `v` whose objects have their keys sorted, as Go writes its maps.
pub fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The answer as Vault's `api.Secret` marshals it: fixed field order, `auth` and `wrap_info` only
/// when present, data maps sorted.
pub fn secret_value(resp: &Value) -> Value {
    let mut out = Map::new();
    out.insert(
        "request_id".into(),
        resp.get("request_id").cloned().unwrap_or("".into()),
    );
    out.insert(
        "lease_id".into(),
        resp.get("lease_id").cloned().unwrap_or("".into()),
    );
    out.insert(
        "lease_duration".into(),
        resp.get("lease_duration").cloned().unwrap_or(0.into()),
    );
    out.insert(
        "renewable".into(),
        resp.get("renewable").cloned().unwrap_or(false.into()),
    );
    out.insert(
        "data".into(),
        sorted(resp.get("data").unwrap_or(&Value::Null)),
    );
    out.insert(
        "warnings".into(),
        resp.get("warnings").cloned().unwrap_or(Value::Null),
    );
    if let Some(auth) = resp.get("auth").filter(|a| !a.is_null()) {
        let mut a = Map::new();
        for (k, default) in [
            ("client_token", Value::from("")),
            ("accessor", "".into()),
            ("policies", Value::Null),
            ("token_policies", Value::Null),
            ("identity_policies", Value::Null),
            ("metadata", Value::Null),
            ("orphan", false.into()),
            ("entity_id", "".into()),
            ("lease_duration", 0.into()),
            ("renewable", false.into()),
            ("mfa_requirement", Value::Null),
        ] {
            a.insert(k.into(), sorted(auth.get(k).unwrap_or(&default)));
        }
        out.insert("auth".into(), Value::Object(a));
    }
    if let Some(w) = resp.get("wrap_info").filter(|w| !w.is_null()) {
        let mut info = Map::new();
        for (k, default) in [
            ("token", Value::from("")),
            ("accessor", "".into()),
            ("ttl", 0.into()),
            ("creation_time", "".into()),
            ("creation_path", "".into()),
            ("wrapped_accessor", "".into()),
        ] {
            info.insert(k.into(), w.get(k).cloned().unwrap_or(default));
        }
        out.insert("wrap_info".into(), Value::Object(info));
    }
    Value::Object(out)
}

/// Go's `json.MarshalIndent` with two spaces, which escapes `<`, `>` and `&` for HTML.
pub fn json_text(v: &Value) -> String {
    let s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

pub fn print_structured(format: Format, v: &Value) {
    match format {
        Format::Yaml => print!("{}", yaml::to_yaml(v)),
        _ => println!("{}", json_text(v)),
    }
}

/// Go's `%v` of a decoded JSON value: `<nil>`, `[a b]`, `map[k:v]`.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_value).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_value(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%q` of a list of strings: `["a" "b"]` with Go's quoting.
pub fn go_quoted_list(v: &Value) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| format!("{:?}", s.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    format!("[{}]", items.join(" "))
}

/// Vault's humanised duration: Go's `Duration.String()` without the `0m`/`0s` tails.
pub fn human_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut s = tresor_sdk::ttl::format_go(secs);
    if s.ends_with("m0s") {
        s.truncate(s.len() - 2);
    }
    if let Some(i) = s.find("h0m") {
        s.replace_range(i + 1..i + 3, "");
    }
    s
}

/// A value that holds whole seconds, humanised; anything else (`"90m"`, `1.5`) as `%v`.
pub fn human_duration_value(v: &Value) -> String {
    match v.as_u64() {
        Some(s) => human_duration(s),
        None => go_value(v),
    }
}

/// Keys whose values Vault shows as durations.
pub fn looks_like_duration(k: &str) -> bool {
    k == "period"
        || k.ends_with("_period")
        || k == "duration"
        || k == "ttl"
        || k.ends_with("_ttl")
        || k.ends_with("_duration")
        || k == "lease_max"
        || k == "ttl_max"
}

/// Columns padded to their widest cell, four spaces apart, the last column not padded; empty
/// cells read `n/a` (Vault's columnize settings).
pub fn columns(rows: &[Vec<String>]) -> String {
    let ncols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let cell = |s: &str| -> String {
        let t = s.trim();
        if t.is_empty() {
            "n/a".into()
        } else {
            t.to_owned()
        }
    };
    let mut widths = vec![0; ncols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(cell(c).chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            let c = cell(c);
            if i + 1 < r.len() {
                line.push_str(&c);
                line.push_str(&" ".repeat(widths[i] - c.chars().count() + 4));
            } else {
                line.push_str(&c);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A table with a header row and its underline.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut all = vec![
        header.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
        header.iter().map(|h| "-".repeat(h.len())).collect(),
    ];
    all.extend(rows);
    columns(&all)
}

/// The Key/Value table of a map, durations humanised.
pub fn data_rows(data: &Map<String, Value>) -> Vec<Vec<String>> {
    let mut keys: Vec<&String> = data.keys().collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let v = &data[k];
            let shown = if looks_like_duration(k) {
                human_duration_value(v)
            } else {
                go_value(v)
            };
            vec![k.clone(), shown]
        })
        .collect()
}

/// Vault's `wrapAtLength`: kr/text's minimum-raggedness wrap at 78 columns (newlines become
/// spaces, runs of spaces become empty words).
pub fn wrap(text: &str) -> String {
    wrap_at(text, 78)
}

fn wrap_at(text: &str, limit: usize) -> String {
    let flat = text.trim().replace('\n', " ");
    let words: Vec<&str> = flat.split(' ').collect();
    let n = words.len();
    // prefix[k]: the width of the first k words, so a line's length is O(1).
    let mut prefix = vec![0usize; n + 1];
    for (k, w) in words.iter().enumerate() {
        prefix[k + 1] = prefix[k] + w.chars().count();
    }
    // length(i, j): words i..=j on one line.
    let length = |i: usize, j: usize| prefix[j + 1] - prefix[i] + (j - i);
    let mut cost = vec![0u64; n + 1];
    let mut brk = vec![n; n + 1];
    for i in (0..n).rev() {
        if length(i, n - 1) <= limit || i == n - 1 {
            cost[i] = 0;
            brk[i] = n;
            continue;
        }
        let mut best = u64::MAX;
        for (j, rest) in cost.iter().enumerate().take(n).skip(i + 1) {
            let len = length(i, j - 1);
            let d = limit as i64 - len as i64;
            let mut c = (d * d) as u64 + rest;
            if len > limit {
                c += 100_000;
            }
            if c < best {
                best = c;
                brk[i] = j;
            }
        }
        cost[i] = best;
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        lines.push(words[i..brk[i]].join(" "));
        i = brk[i];
    }
    lines.join("\n")
}

/// `wrapAtLengthWithPadding`: wrapped 2 columns narrower, every line indented.
fn wrap_padded(text: &str, pad: usize) -> String {
    wrap_at(text, 78 - pad)
        .lines()
        .map(|l| format!("{}{l}", " ".repeat(pad)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn print_warnings(resp: &Value) {
    if let Some(ws) = resp
        .get("warnings")
        .and_then(Value::as_array)
        .filter(|w| !w.is_empty())
    {
        let mut err = std::io::stderr();
        let _ = writeln!(
            err,
            "WARNING! The following warnings were returned from Vault:\n"
        );
        for w in ws {
            let _ = writeln!(
                err,
                "{}\n",
                wrap_padded(&format!("* {}", w.as_str().unwrap_or_default()), 2)
            );
        }
    }
}

/// The rows of Vault's table for a whole secret: lease, auth, wrap info, then data.
pub fn secret_rows(resp: &Value) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let lease_duration = resp
        .get("lease_duration")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    if lease_duration > 0 {
        let lease_id = resp.get("lease_id").and_then(Value::as_str).unwrap_or("");
        if !lease_id.is_empty() {
            rows.push(vec!["lease_id".into(), lease_id.into()]);
            rows.push(vec![
                "lease_duration".into(),
                human_duration(lease_duration),
            ]);
            rows.push(vec![
                "lease_renewable".into(),
                resp.get("renewable")
                    .and_then(Value::as_bool)
                    .unwrap_or(false)
                    .to_string(),
            ]);
        } else {
            rows.push(vec![
                "refresh_interval".into(),
                human_duration(lease_duration),
            ]);
        }
    }
    if let Some(auth) = resp.get("auth").filter(|a| !a.is_null()) {
        let s = |k: &str| auth.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let ttl = auth
            .get("lease_duration")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        rows.push(vec!["token".into(), s("client_token")]);
        rows.push(vec!["token_accessor".into(), s("accessor")]);
        rows.push(vec![
            "token_duration".into(),
            if ttl == 0 {
                "∞".into()
            } else {
                human_duration(ttl)
            },
        ]);
        rows.push(vec![
            "token_renewable".into(),
            auth.get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                .to_string(),
        ]);
        let list = |k: &str| go_quoted_list(auth.get(k).unwrap_or(&Value::Null));
        rows.push(vec!["token_policies".into(), list("token_policies")]);
        rows.push(vec!["identity_policies".into(), list("identity_policies")]);
        rows.push(vec!["policies".into(), list("policies")]);
        if let Some(meta) = auth.get("metadata").and_then(Value::as_object) {
            let mut keys: Vec<&String> = meta.keys().collect();
            keys.sort();
            for k in keys {
                rows.push(vec![format!("token_meta_{k}"), go_value(&meta[k])]);
            }
        }
    }
    if let Some(w) = resp.get("wrap_info").filter(|w| !w.is_null()) {
        let s = |k: &str| w.get(k).map(go_value).unwrap_or_default();
        rows.push(vec!["wrapping_token:".into(), s("token")]);
        rows.push(vec!["wrapping_accessor:".into(), s("accessor")]);
        rows.push(vec![
            "wrapping_token_ttl:".into(),
            human_duration(w.get("ttl").and_then(Value::as_u64).unwrap_or(0)),
        ]);
        rows.push(vec![
            "wrapping_token_creation_time:".into(),
            go_time(&s("creation_time")),
        ]);
        rows.push(vec![
            "wrapping_token_creation_path:".into(),
            s("creation_path"),
        ]);
        if w.get("wrapped_accessor")
            .and_then(Value::as_str)
            .is_some_and(|a| !a.is_empty())
        {
            rows.push(vec!["wrapped_accessor:".into(), s("wrapped_accessor")]);
        }
    }
    if let Some(data) = resp.get("data").and_then(Value::as_object) {
        rows.extend(data_rows(data));
    }
    rows
}

/// An RFC 3339 time as Go's `time.Time.String()` prints it (`2026-11-26 05:04:15.69 +0000 UTC`).
fn go_time(rfc3339: &str) -> String {
    let Ok(t) =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
    else {
        return rfc3339.to_owned();
    };
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let mut out = t.format(&base).unwrap_or_default();
    let nanos = t.nanosecond();
    if nanos > 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Prints a whole answer in the chosen format (Vault's `OutputSecret`).
pub fn output_secret(format: Format, resp: &Value) {
    match format {
        Format::Table => {
            print_warnings(resp);
            let rows = secret_rows(resp);
            if !rows.is_empty() {
                print!("{}", table(&["Key", "Value"], rows));
            }
        }
        _ => print_structured(format, &secret_value(resp)),
    }
}

/// Prints a map the way Vault's `OutputData` does (for the sections of `kv get`).
pub fn output_data(format: Format, data: &Map<String, Value>) {
    match format {
        Format::Table => print!("{}", table(&["Key", "Value"], data_rows(data))),
        _ => print_structured(format, &sorted(&Value::Object(data.clone()))),
    }
}

/// Prints a list answer's keys (Vault's `OutputList`).
pub fn output_list(format: Format, resp: &Value) {
    let keys = resp
        .get("data")
        .and_then(|d| d.get("keys"))
        .cloned()
        .unwrap_or(Value::Array(vec![]));
    match format {
        Format::Table => {
            print_warnings(resp);
            let rows: Vec<Vec<String>> = keys
                .as_array()
                .map(|a| a.iter().map(|k| vec![go_value(k)]).collect())
                .unwrap_or_default();
            print!("{}", table(&["Keys"], rows));
        }
        _ => print_structured(format, &keys),
    }
}

/// Prints a value as `-field` does: `%v` for table, the formatter's text otherwise; a newline
/// only when a person is looking.
pub fn print_raw(format: Format, v: &Value) {
    let text = match format {
        Format::Table => go_value(v),
        Format::Json => json_text(&sorted(v)),
        Format::Yaml => yaml::to_yaml(v),
    };
    let mut out = std::io::stdout();
    if out.is_terminal() {
        let _ = writeln!(out, "{text}");
    } else {
        let _ = write!(out, "{text}");
    }
}

/// The value of `-field=NAME` in a whole answer (Vault's `RawField`): the token rows when it
/// carries auth, the wrapping rows when wrapped, the lease rows otherwise, else the data's field.
pub fn field_value(resp: &Value, name: &str) -> Option<Value> {
    let auth = resp.get("auth").filter(|a| !a.is_null());
    let wrap = resp.get("wrap_info").filter(|w| !w.is_null());
    let data = resp.get("data").filter(|d| !d.is_null());
    let from = |o: Option<&Value>, k: &str| o.and_then(|x| x.get(k)).cloned();
    let found = if auth.is_some() {
        match name {
            "token" => from(auth, "client_token"),
            "token_accessor" => from(auth, "accessor"),
            "token_duration" => from(auth, "lease_duration"),
            "token_renewable" => from(auth, "renewable"),
            "token_policies" => from(auth, "token_policies"),
            "identity_policies" => from(auth, "identity_policies"),
            "policies" => from(auth, "policies"),
            _ => from(data, name),
        }
    } else if wrap.is_some() {
        match name {
            "wrapping_token" => from(wrap, "token"),
            "wrapping_accessor" => from(wrap, "accessor"),
            "wrapping_token_ttl" => from(wrap, "ttl"),
            "wrapping_token_creation_time" => from(wrap, "creation_time"),
            "wrapping_token_creation_path" => from(wrap, "creation_path"),
            "wrapped_accessor" => from(wrap, "wrapped_accessor"),
            _ => from(data, name),
        }
    } else {
        match name {
            "lease_duration" | "lease_id" | "request_id" | "renewable" => resp.get(name).cloned(),
            "refresh_interval" => resp.get("lease_duration").cloned(),
            "data" => data.map(|d| d.get("data").cloned().unwrap_or_else(|| d.clone())),
            _ => from(data, name),
        }
    };
    found.filter(|v| !v.is_null())
}

/// `-field` on a whole answer: prints the field, or fails as Vault does.
pub fn print_field(format: Format, resp: &Value, name: &str) -> Result<u8, Failure> {
    match field_value(resp, name) {
        Some(v) => {
            print_raw(format, &v);
            Ok(0)
        }
        None => Err(Failure::Local(format!(
            "Field \"{name}\" not present in secret"
        ))),
    }
}

/// `-field` on a map (`kv get` on KV v2 passes the secret's data).
pub fn print_map_field(format: Format, map: &Value, name: &str) -> Result<u8, Failure> {
    match map.get(name).filter(|v| !v.is_null()) {
        Some(v) => {
            print_raw(format, v);
            Ok(0)
        }
        None => Err(Failure::Local(format!(
            "Field \"{name}\" not present in map"
        ))),
    }
}

/// Vault's section header for `kv get`: the title between runs of `=`, as wide as the table
/// under it.
pub fn header_for_map(title: &str, data: &Map<String, Value>) -> String {
    let max_key = data.keys().map(|k| k.len()).max().unwrap_or(0);
    pad_equal_signs(title, max_key + 4 + 5)
}

pub fn pad_equal_signs(title: &str, total: usize) -> String {
    let mut signs = total as i64 - (title.len() as i64 + 2);
    if signs <= 0 {
        signs = 4;
    }
    if signs % 2 != 0 {
        signs += 1;
    }
    let side = "=".repeat((signs / 2) as usize);
    format!("{side} {title} {side}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_read_like_vaults() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(2764800), "768h");
        assert_eq!(human_duration(2764799), "767h59m59s");
        assert_eq!(human_duration(1800), "30m");
        assert_eq!(human_duration(3605), "1h5s");
        assert_eq!(human_duration(90), "1m30s");
        assert_eq!(human_duration_value(&json!("90m")), "90m");
    }

    #[test]
    fn prose_wraps_with_least_raggedness() {
        let w = wrap("Vault initialized with 3 key shares and a key threshold of 2. Please securely distribute the key shares printed above. When the Vault is re-sealed, restarted, or stopped, you must supply at least 2 of these keys to unseal it before it can start servicing requests.");
        assert_eq!(
            w,
            "Vault initialized with 3 key shares and a key threshold of 2. Please securely\ndistribute the key shares printed above. When the Vault is re-sealed,\nrestarted, or stopped, you must supply at least 2 of these keys to unseal it\nbefore it can start servicing requests."
        );
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let t = table(
            &["Key", "Value"],
            vec![
                vec!["created_time".into(), "x".into()],
                vec!["deletion_time".into(), "".into()],
            ],
        );
        assert_eq!(t, "Key              Value\n---              -----\ncreated_time     x\ndeletion_time    n/a\n");
    }

    #[test]
    fn go_formatting_of_values() {
        assert_eq!(go_value(&json!(null)), "<nil>");
        assert_eq!(go_value(&json!(["root"])), "[root]");
        assert_eq!(go_value(&json!({"b": 1, "a": "x"})), "map[a:x b:1]");
        assert_eq!(go_quoted_list(&json!(["default"])), "[\"default\"]");
        assert_eq!(go_quoted_list(&json!(null)), "[]");
    }

    #[test]
    fn headers_are_as_wide_as_their_tables() {
        let meta = json!({"created_time": 1, "custom_metadata": 2, "version": 3});
        assert_eq!(
            header_for_map("Metadata", meta.as_object().unwrap()),
            "======= Metadata ======="
        );
        let data = json!({"n": 1, "password": 2, "user": 3});
        assert_eq!(
            header_for_map("Data", data.as_object().unwrap()),
            "====== Data ======"
        );
        let one = json!({"a": 1});
        assert_eq!(
            header_for_map("Data", one.as_object().unwrap()),
            "== Data =="
        );
    }
}
