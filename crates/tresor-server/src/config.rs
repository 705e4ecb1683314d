//! Vault's server configuration, in HCL or JSON, from one or more files or a directory.
//!
//! Both syntaxes are first turned into one JSON shape (a block `listener "tcp" { … }` becomes
//! `"listener": [{"tcp": {…}}]`, as Vault's own JSON form allows), then read into [`Config`].
//! Keys Tresor does not use are kept as warnings; a value of the wrong type is an error that names
//! the file, the line and the key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct StorageConfig {
    pub kind: String,
    pub options: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListenerConfig {
    pub address: String,
    pub tls_disable: bool,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub tls_client_ca_file: Option<PathBuf>,
    pub tls_min_version: String,
    pub tls_require_and_verify_client_cert: bool,
    /// Where this listener's cluster port listens (Vault's default: the port after `address`).
    pub cluster_address: Option<String>,
    /// Timeouts and the connection cap.
    pub http: crate::limits::HttpLimits,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            address: "127.0.0.1:8200".into(),
            tls_disable: false,
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            tls_min_version: "tls12".into(),
            tls_require_and_verify_client_cert: false,
            cluster_address: None,
            http: crate::limits::HttpLimits::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub storage: Option<StorageConfig>,
    pub listeners: Vec<ListenerConfig>,
    pub api_addr: Option<String>,
    pub cluster_addr: Option<String>,
    pub ui: bool,
    pub disable_mlock: bool,
    pub log_level: Option<String>,
    pub default_lease_ttl: Option<u64>,
    pub max_lease_ttl: Option<u64>,
    /// Scheduled snapshots of integrated storage (`snapshot_auto "name" { … }`).
    pub snapshot_auto: Vec<SnapshotAuto>,
    /// Keys accepted but not used (yet), for the operator to see at start-up.
    pub warnings: Vec<String>,
}

/// A scheduled snapshot, with the fields of Vault Enterprise's automated snapshots (kept to a
/// local directory, the one storage Tresor writes them to): every `interval` seconds the active
/// node writes `<path_prefix>/<file_prefix>-<time>.snap` and keeps the newest `retain`.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotAuto {
    pub name: String,
    pub interval: u64,
    pub retain: usize,
    pub path_prefix: PathBuf,
    pub file_prefix: String,
}

#[derive(Debug, thiserror::Error)]
#[error("error loading configuration from {file}: {}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
pub struct ConfigError {
    pub file: String,
    pub line: Option<usize>,
    pub message: String,
}

/// Keys Vault knows that Tresor accepts without acting on them yet.
const ACCEPTED_UNUSED: &[&str] = &[
    "seal",
    "ha_storage",
    "ha_backend",
    "telemetry",
    "plugin_directory",
    "cluster_name",
    "disable_cache",
    "pid_file",
    "raw_storage_endpoint",
    "log_format",
    "log_file",
    "log_rotate_duration",
    "log_rotate_bytes",
    "log_rotate_max_files",
    "service_registration",
    "entropy",
    "user_lockout",
    "disable_clustering",
    "disable_performance_standby",
    "disable_sealwrap",
    "disable_printable_check",
    "enable_response_header_hostname",
    "enable_response_header_raft_node_id",
    "license_path",
    "cache_size",
    "default_max_request_duration",
    "introspection_endpoint",
    "imprecise_lease_role_tracking",
    "enable_ui",
    "administrative_namespace_path",
    "detect_deadlocks",
];

const LISTENER_UNUSED_OK: &[&str] = &[
    "tls_cipher_suites",
    "tls_prefer_server_cipher_suites",
    "tls_max_version",
    "tls_disable_client_certs",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
    "proxy_protocol_behavior",
    "proxy_protocol_authorized_addrs",
    "http_write_timeout",
    "max_request_size",
    "max_request_duration",
    "telemetry",
    "profiling",
    "inflight_requests_logging",
    "custom_response_headers",
    "unauthenticated_metrics_access",
    "chroot_namespace",
    "redact_addresses",
    "redact_cluster_name",
    "redact_version",
    "disable_replication_status_endpoints",
    "purpose",
    "role",
];

struct Source<'a> {
    file: &'a str,
    text: &'a str,
}

impl Source<'_> {
    /// The first line where `key` is assigned or opens a block, for error messages.
    fn line_of(&self, key: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| {
                let t = l.trim_start().trim_start_matches('"');
                t.strip_prefix(key).is_some_and(|rest| {
                    let rest = rest.trim_start_matches('"').trim_start();
                    rest.starts_with('=')
                        || rest.starts_with(':')
                        || rest.starts_with('{')
                        || rest.starts_with('"')
                })
            })
            .map(|i| i + 1)
    }

    fn err(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.to_owned(),
            line: self.line_of(key),
            message: format!("key \"{key}\": {}", message.into()),
        }
    }
}

/// Loads and merges the given files (or directories of `.hcl`/`.json` files), in order.
pub fn load(paths: &[PathBuf]) -> Result<Config, ConfigError> {
    let mut merged = Config::default();
    for p in paths {
        let files = if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| io_err(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| matches!(f.extension().and_then(|e| e.to_str()), Some("hcl" | "json")))
                .collect();
            files.sort();
            files
        } else {
            vec![p.clone()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| io_err(&f, e))?;
            let cfg = parse(&f.display().to_string(), &text)?;
            merge(&mut merged, cfg);
        }
    }
    Ok(merged)
}

fn io_err(p: &Path, e: std::io::Error) -> ConfigError {
    ConfigError {
        file: p.display().to_string(),
        line: None,
        message: e.to_string(),
    }
}

fn merge(into: &mut Config, from: Config) {
    if from.storage.is_some() {
        into.storage = from.storage;
    }
    into.listeners.extend(from.listeners);
    into.snapshot_auto.extend(from.snapshot_auto);
    macro_rules! take {
        ($($f:ident),*) => { $( if from.$f.is_some() { into.$f = from.$f; } )* };
    }
    take!(
        api_addr,
        cluster_addr,
        log_level,
        default_lease_ttl,
        max_lease_ttl
    );
    into.ui |= from.ui;
    into.disable_mlock |= from.disable_mlock;
    into.warnings.extend(from.warnings);
}

const MAX_HCL_NESTING: usize = 16;

/// How deep HCL text nests: `{`, `[` and `(` in expressions, and the `${ }` and `%{ }` of
/// strings and heredocs, whose insides the parser reads as expressions too. Comments, and the
/// text of strings and heredocs, do not count.
fn hcl_nesting_depth(text: &str) -> usize {
    enum Ctx {
        Bracket,
        Template,
        Str,
        Heredoc(String),
    }
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    let line_end = |i: usize| {
        (i..chars.len())
            .find(|&j| chars[j] == '\n')
            .unwrap_or(chars.len())
    };
    let mut stack: Vec<Ctx> = Vec::new();
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let in_text = matches!(stack.last(), Some(Ctx::Str | Ctx::Heredoc(_)));
        if let Some(Ctx::Heredoc(marker)) = stack.last() {
            if i == 0 || chars[i - 1] == '\n' {
                let end = line_end(i);
                let line: String = chars[i..end].iter().collect();
                if line.trim() == marker {
                    stack.pop();
                    i = end;
                    continue;
                }
            }
        }
        if in_text {
            match c {
                // `$${` and `%%{` are the literal text `${` and `%{`.
                '$' | '%' if at(i + 1) == Some(c) && at(i + 2) == Some('{') => i += 2,
                '$' | '%' if at(i + 1) == Some('{') => {
                    stack.push(Ctx::Template);
                    depth += 1;
                    i += 1;
                }
                '\\' if matches!(stack.last(), Some(Ctx::Str)) => i += 1,
                '"' | '\n' if matches!(stack.last(), Some(Ctx::Str)) => {
                    stack.pop();
                }
                _ => {}
            }
        } else {
            match c {
                '"' => stack.push(Ctx::Str),
                '<' if at(i + 1) == Some('<') => {
                    let mut j = i + 2;
                    if at(j) == Some('-') {
                        j += 1;
                    }
                    let start = j;
                    while at(j).is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '-') {
                        j += 1;
                    }
                    let end = line_end(j);
                    if j > start && chars[j..end].iter().all(|c| c.is_whitespace()) {
                        stack.push(Ctx::Heredoc(chars[start..j].iter().collect()));
                        i = end;
                    } else {
                        i += 1;
                    }
                }
                '#' => i = line_end(i),
                '/' if at(i + 1) == Some('/') => i = line_end(i),
                '/' if at(i + 1) == Some('*') => {
                    i += 2;
                    while i < chars.len() && !(chars[i] == '*' && at(i + 1) == Some('/')) {
                        i += 1;
                    }
                    i += 1;
                }
                '{' | '[' | '(' => {
                    stack.push(Ctx::Bracket);
                    depth += 1;
                }
                '}' | ']' | ')' => {
                    if matches!(stack.last(), Some(Ctx::Bracket | Ctx::Template)) {
                        stack.pop();
                        depth -= 1;
                    }
                }
                _ => {}
            }
        }
        deepest = deepest.max(depth);
        i += 1;
    }
    deepest
}

/// Parses one file's text. JSON if it looks like JSON, HCL otherwise.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let src = Source { file, text };
    let root = if text.trim_start().starts_with('{') {
        serde_json::from_str::<Value>(text).map_err(|e| ConfigError {
            file: file.to_owned(),
            line: Some(e.line()),
            message: format!("invalid JSON: {e}"),
        })?
    } else {
        // The HCL parser backtracks: its time doubles with each level of nesting. No server
        // configuration nests this deep, and a file that does is refused before it can hang
        // the start.
        if hcl_nesting_depth(text) > MAX_HCL_NESTING {
            return Err(ConfigError {
                file: file.to_owned(),
                line: None,
                message: format!("invalid HCL: nested more than {MAX_HCL_NESTING} levels deep"),
            });
        }
        let body = hcl::parse(text).map_err(|e| ConfigError {
            file: file.to_owned(),
            line: None,
            message: format!("invalid HCL: {e}"),
        })?;
        hcl_body_to_json(&body)
    };
    let Value::Object(root) = root else {
        return Err(ConfigError {
            file: file.to_owned(),
            line: None,
            message: "configuration must be an object".into(),
        });
    };
    read_config(&src, root)
}

fn hcl_body_to_json(body: &hcl::Body) -> Value {
    let mut out = Map::new();
    for s in body.iter() {
        match s {
            hcl::Structure::Attribute(a) => {
                let v: hcl::Value = a.expr().clone().into();
                out.insert(
                    a.key().to_owned(),
                    serde_json::to_value(v).unwrap_or(Value::Null),
                );
            }
            hcl::Structure::Block(b) => {
                let mut inner = hcl_body_to_json(b.body());
                for label in b.labels().iter().rev() {
                    let mut m = Map::new();
                    m.insert(label.as_str().to_owned(), inner);
                    inner = Value::Object(m);
                }
                match out
                    .entry(b.identifier().to_owned())
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(list) => list.push(inner),
                    other => *other = Value::Array(vec![inner]),
                }
            }
        }
    }
    Value::Object(out)
}

/// A block given as one object or a list of objects (`listener "tcp" {}` twice, or JSON).
fn block_list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => vec![other],
    }
}

/// A block's type label and its body, e.g. `("tcp", {address: …})`.
type TypedBlock = (String, Map<String, Value>);

/// `{"tcp": {...}}` entries, flattened to (type, body) pairs.
fn typed_blocks(src: &Source, key: &str, v: Value) -> Result<Vec<TypedBlock>, ConfigError> {
    let mut out = Vec::new();
    for item in block_list(v) {
        let Value::Object(m) = item else {
            return Err(src.err(key, "expected a block like `KEY \"type\" { ... }`"));
        };
        for (kind, body) in m {
            for b in block_list(body) {
                match b {
                    Value::Object(body) => out.push((kind.clone(), body)),
                    _ => {
                        return Err(src.err(key, format!("the \"{kind}\" block must be an object")))
                    }
                }
            }
        }
    }
    Ok(out)
}

fn as_bool(src: &Source, key: &str, v: &Value) -> Result<bool, ConfigError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "t" => Ok(true),
            "false" | "0" | "f" | "" => Ok(false),
            _ => Err(src.err(key, format!("expected a boolean, got \"{s}\""))),
        },
        other => Err(src.err(key, format!("expected a boolean, got {other}"))),
    }
}

fn as_string(src: &Source, key: &str, v: &Value) -> Result<String, ConfigError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(src.err(key, format!("expected a string, got {other}"))),
    }
}

fn as_duration(src: &Source, key: &str, v: &Value) -> Result<u64, ConfigError> {
    tresor_sdk::ttl::parse_value(v).map_err(|e| src.err(key, e))
}

/// A listener timeout. Go reads 0 as "no timeout"; here it is refused, since it would let a
/// client hold a connection forever.
fn as_timeout(src: &Source, key: &str, v: &Value) -> Result<std::time::Duration, ConfigError> {
    match as_duration(src, key, v)? {
        0 => Err(src.err(
            key,
            "a timeout of 0 would let a client hold a connection forever",
        )),
        s => Ok(std::time::Duration::from_secs(s)),
    }
}

fn read_config(src: &Source, root: Map<String, Value>) -> Result<Config, ConfigError> {
    let mut cfg = Config::default();
    for (key, value) in root {
        match key.as_str() {
            "storage" | "backend" => {
                let mut blocks = typed_blocks(src, &key, value)?;
                if blocks.len() != 1 {
                    return Err(src.err(&key, "exactly one storage backend must be given"));
                }
                let (kind, options) = blocks.remove(0);
                cfg.storage = Some(StorageConfig { kind, options });
            }
            "listener" => {
                for (kind, body) in typed_blocks(src, &key, value)? {
                    if kind != "tcp" {
                        return Err(
                            src.err("listener", format!("unsupported listener type \"{kind}\""))
                        );
                    }
                    cfg.listeners
                        .push(read_listener(src, body, &mut cfg.warnings)?);
                }
            }
            "snapshot_auto" => {
                for (name, body) in typed_blocks(src, &key, value)? {
                    cfg.snapshot_auto.push(read_snapshot_auto(src, name, body)?);
                }
            }
            "api_addr" => cfg.api_addr = Some(as_string(src, &key, &value)?),
            "cluster_addr" => cfg.cluster_addr = Some(as_string(src, &key, &value)?),
            "ui" => cfg.ui = as_bool(src, &key, &value)?,
            "disable_mlock" => cfg.disable_mlock = as_bool(src, &key, &value)?,
            "log_level" => {
                let level = as_string(src, &key, &value)?.to_ascii_lowercase();
                if !matches!(
                    level.as_str(),
                    "trace" | "debug" | "info" | "warn" | "warning" | "err" | "error"
                ) {
                    return Err(src.err(&key, format!("unknown log level \"{level}\"")));
                }
                cfg.log_level = Some(level);
            }
            "default_lease_ttl" => cfg.default_lease_ttl = Some(as_duration(src, &key, &value)?),
            "max_lease_ttl" => cfg.max_lease_ttl = Some(as_duration(src, &key, &value)?),
            k if ACCEPTED_UNUSED.contains(&k) => cfg.warnings.push(format!(
                "{}: \"{k}\" is accepted but not used by Tresor yet",
                src.file
            )),
            k => cfg
                .warnings
                .push(format!("{}: unknown key \"{k}\" ignored", src.file)),
        }
    }
    if let (Some(d), Some(m)) = (cfg.default_lease_ttl, cfg.max_lease_ttl) {
        if d > m {
            return Err(src.err(
                "default_lease_ttl",
                "default_lease_ttl is greater than max_lease_ttl",
            ));
        }
    }
    Ok(cfg)
}

fn read_snapshot_auto(
    src: &Source,
    name: String,
    body: Map<String, Value>,
) -> Result<SnapshotAuto, ConfigError> {
    let mut snap = SnapshotAuto {
        name,
        interval: 0,
        retain: 1,
        path_prefix: PathBuf::new(),
        file_prefix: "vault-snapshot".into(),
    };
    for (key, v) in body {
        match key.as_str() {
            "interval" => snap.interval = as_duration(src, &key, &v)?,
            "retain" => {
                snap.retain = match tresor_sdk::ttl::parse_value(&v) {
                    Ok(n) if n > 0 => n as usize,
                    _ => return Err(src.err(&key, "expected a positive number of snapshots")),
                }
            }
            "path_prefix" => snap.path_prefix = as_string(src, &key, &v)?.into(),
            "file_prefix" => snap.file_prefix = as_string(src, &key, &v)?,
            "storage_type" => {
                let t = as_string(src, &key, &v)?;
                if t != "local" {
                    return Err(src.err(
                        &key,
                        format!("unsupported snapshot storage_type \"{t}\"; Tresor writes snapshots to a local directory (\"local\")"),
                    ));
                }
            }
            _ => return Err(src.err(&key, format!("unknown key \"{key}\" in snapshot_auto"))),
        }
    }
    if snap.interval == 0 {
        return Err(src.err("snapshot_auto", "interval must be set"));
    }
    if snap.path_prefix.as_os_str().is_empty() {
        return Err(src.err("snapshot_auto", "path_prefix must be set"));
    }
    if snap.file_prefix.is_empty() || snap.file_prefix.contains('/') {
        return Err(src.err("file_prefix", "file_prefix must be a file name"));
    }
    Ok(snap)
}

fn read_listener(
    src: &Source,
    body: Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<ListenerConfig, ConfigError> {
    let mut l = ListenerConfig::default();
    for (key, v) in body {
        match key.as_str() {
            "address" => l.address = as_string(src, &key, &v)?,
            "cluster_address" => l.cluster_address = Some(as_string(src, &key, &v)?),
            "tls_disable" => l.tls_disable = as_bool(src, &key, &v)?,
            "tls_cert_file" => l.tls_cert_file = Some(as_string(src, &key, &v)?.into()),
            "tls_key_file" => l.tls_key_file = Some(as_string(src, &key, &v)?.into()),
            "tls_client_ca_file" => l.tls_client_ca_file = Some(as_string(src, &key, &v)?.into()),
            "tls_min_version" => {
                let s = as_string(src, &key, &v)?;
                if !matches!(s.as_str(), "tls10" | "tls11" | "tls12" | "tls13") {
                    return Err(src.err(
                        &key,
                        format!("unknown TLS version \"{s}\"; use tls12 or tls13"),
                    ));
                }
                if matches!(s.as_str(), "tls10" | "tls11") {
                    warnings.push(format!(
                        "{}: tls_min_version \"{s}\" is below what Tresor serves; using tls12",
                        src.file
                    ));
                    l.tls_min_version = "tls12".into();
                } else {
                    l.tls_min_version = s;
                }
            }
            "tls_require_and_verify_client_cert" => {
                l.tls_require_and_verify_client_cert = as_bool(src, &key, &v)?
            }
            "http_read_header_timeout" => l.http.read_header_timeout = as_timeout(src, &key, &v)?,
            "http_read_timeout" => l.http.read_timeout = as_timeout(src, &key, &v)?,
            "http_idle_timeout" => l.http.idle_timeout = as_timeout(src, &key, &v)?,
            // Tresor's own: Vault has no cap on a listener's connections.
            "max_connections" => {
                l.http.max_connections = match tresor_sdk::ttl::parse_value(&v) {
                    Ok(n) if n > 0 => n as usize,
                    _ => return Err(src.err(&key, "expected a positive number of connections")),
                }
            }
            k if LISTENER_UNUSED_OK.contains(&k) => warnings.push(format!(
                "{}: listener key \"{k}\" is accepted but not used by Tresor yet",
                src.file
            )),
            k => warnings.push(format!(
                "{}: unknown listener key \"{k}\" ignored",
                src.file
            )),
        }
    }
    if !l.tls_disable && (l.tls_cert_file.is_none() || l.tls_key_file.is_none()) {
        return Err(src.err(
            "listener",
            "TLS is enabled (tls_disable is false) but tls_cert_file or tls_key_file is missing",
        ));
    }
    if l.tls_require_and_verify_client_cert && l.tls_client_ca_file.is_none() {
        return Err(src.err(
            "tls_require_and_verify_client_cert",
            "requires tls_client_ca_file to verify client certificates against",
        ));
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `server_config` fuzz target: 469 bytes of nested objects and operators
    /// took the HCL parser two minutes. Nesting past any real configuration is refused at once.
    #[test]
    fn deep_nesting_is_refused_before_the_parser_sees_it() {
        let deep = format!("a = {}", "{ x = 1 > ".repeat(MAX_HCL_NESTING + 1));
        let err = parse("deep.hcl", &deep).unwrap_err();
        assert!(
            err.message.contains("nested more than 16 levels"),
            "{}",
            err.message
        );
        // The second hid its nesting in `${ }` inside strings from the first version of the guard.
        for found in [
            &include_bytes!(
                "../../../fuzz/regressions/server_config/timeout-06d97bbf588c3a873c2a4ff02ff248c7d05dcdaa"
            )[..],
            &include_bytes!(
                "../../../fuzz/regressions/server_config/timeout-c4248052b8d0048c8bf30023f97e5c7e4d06d795"
            )[..],
        ] {
            let err = parse("found.hcl", &String::from_utf8_lossy(found)).unwrap_err();
            assert!(
                err.message.contains("nested more than 16 levels"),
                "{}",
                err.message
            );
        }
        assert_eq!(hcl_nesting_depth(HCL), 1);
        assert_eq!(hcl_nesting_depth("a = \"{{{[[[\" # ((((\n b = [{}]"), 2);
        assert_eq!(hcl_nesting_depth("/* {{{ */ a = {} // ((("), 1);
        // The insides of `${ }` in strings and heredocs are expressions too (found in review).
        assert_eq!(hcl_nesting_depth(r#"a = "${ {x = {y = 1}} }""#), 3);
        assert_eq!(hcl_nesting_depth(r#"a = "$${ {{{ }""#), 0);
        assert_eq!(
            hcl_nesting_depth("a = <<EOF\n)))) ${ [[1]] }\n# ${ (1) }\nEOF\nb = {}\n"),
            3
        );
        assert_eq!(hcl_nesting_depth("a = <<-EOT\n  {{{\n  EOT\nb = [1]"), 1);
        let hidden = format!(
            "a = \"${{ {} }}\"",
            "{ x = 1 > ".repeat(MAX_HCL_NESTING + 1)
        );
        assert!(parse("hidden.hcl", &hidden)
            .unwrap_err()
            .message
            .contains("nested more than 16 levels"));
    }

    const HCL: &str = r#"
storage "file" {
  path = "/var/lib/vault"
}

listener "tcp" {
  address     = "0.0.0.0:8200"
  tls_disable = "true"
}

listener "tcp" {
  address       = "127.0.0.1:8201"
  tls_cert_file = "cert.pem"
  tls_key_file  = "key.pem"
  tls_min_version = "tls13"
}

seal "awskms" {
  region = "us-east-1"
}

api_addr = "https://vault.example.com:8200"
cluster_addr = "https://10.0.0.1:8201"
ui = true
disable_mlock = true
log_level = "Info"
default_lease_ttl = "768h"
max_lease_ttl = 3600000
"#;

    #[test]
    fn reads_raft_storage_cluster_addresses_and_scheduled_snapshots() {
        let c = parse(
            "node.hcl",
            r#"
storage "raft" {
  path = "/var/lib/tresor"
  node_id = "node1"
  performance_multiplier = 1
  retry_join {
    leader_api_addr = "https://10.0.0.2:8200"
  }
  retry_join {
    leader_api_addr = "https://10.0.0.3:8200"
  }
}
listener "tcp" {
  address = "0.0.0.0:8200"
  cluster_address = "0.0.0.0:8201"
  tls_disable = true
}
cluster_addr = "https://10.0.0.1:8201"
api_addr = "https://10.0.0.1:8200"
snapshot_auto "daily" {
  interval = "24h"
  retain = 7
  path_prefix = "/var/backups/tresor"
}
"#,
        )
        .unwrap();
        let storage = c.storage.as_ref().unwrap();
        assert_eq!(storage.kind, "raft");
        assert_eq!(storage.options["node_id"], "node1");
        assert_eq!(
            storage.options["retry_join"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            c.listeners[0].cluster_address.as_deref(),
            Some("0.0.0.0:8201")
        );
        assert_eq!(c.cluster_addr.as_deref(), Some("https://10.0.0.1:8201"));
        assert_eq!(
            c.snapshot_auto,
            vec![SnapshotAuto {
                name: "daily".into(),
                interval: 86_400,
                retain: 7,
                path_prefix: "/var/backups/tresor".into(),
                file_prefix: "vault-snapshot".into(),
            }]
        );
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn scheduled_snapshots_need_an_interval_a_directory_and_local_storage() {
        for (body, key) in [
            ("path_prefix = \"/b\"", "interval must be set"),
            ("interval = \"1h\"", "path_prefix must be set"),
            (
                "interval = \"1h\"\npath_prefix = \"/b\"\nstorage_type = \"aws-s3\"",
                "unsupported snapshot storage_type",
            ),
            (
                "interval = \"1h\"\npath_prefix = \"/b\"\nretain = 0",
                "positive number",
            ),
        ] {
            let e = parse("s.hcl", &format!("snapshot_auto \"x\" {{\n{body}\n}}\n")).unwrap_err();
            assert!(e.to_string().contains(key), "{body}: {e}");
        }
    }

    #[test]
    fn reads_vault_hcl() {
        let c = parse("vault.hcl", HCL).unwrap();
        let s = c.storage.unwrap();
        assert_eq!(s.kind, "file");
        assert_eq!(s.options["path"], "/var/lib/vault");
        assert_eq!(c.listeners.len(), 2);
        assert_eq!(c.listeners[0].address, "0.0.0.0:8200");
        assert!(c.listeners[0].tls_disable);
        assert_eq!(
            c.listeners[1].tls_cert_file.as_deref(),
            Some(Path::new("cert.pem"))
        );
        assert_eq!(c.listeners[1].tls_min_version, "tls13");
        assert_eq!(
            c.api_addr.as_deref(),
            Some("https://vault.example.com:8200")
        );
        assert!(c.ui && c.disable_mlock);
        assert_eq!(c.log_level.as_deref(), Some("info"));
        assert_eq!(c.default_lease_ttl, Some(768 * 3600));
        assert_eq!(c.max_lease_ttl, Some(3_600_000));
        assert!(c.warnings.iter().any(|w| w.contains("\"seal\"")));
    }

    #[test]
    fn reads_json_with_legacy_spellings() {
        let json = r#"{
  "backend": {"inmem": {}},
  "listener": {"tcp": {"address": "127.0.0.1:9200", "tls_disable": 1}},
  "max_lease_ttl": "10h",
  "something_new": 1
}"#;
        let c = parse("vault.json", json).unwrap();
        assert_eq!(c.storage.unwrap().kind, "inmem");
        assert_eq!(c.listeners.len(), 1);
        assert!(c.listeners[0].tls_disable);
        assert_eq!(c.max_lease_ttl, Some(36000));
        assert!(c.warnings.iter().any(|w| w.contains("something_new")));

        let list = r#"{"storage": {"inmem": {}}, "listener": [{"tcp": {"address": "a:1", "tls_disable": true}}, {"tcp": {"address": "b:2", "tls_disable": true}}]}"#;
        assert_eq!(parse("v.json", list).unwrap().listeners.len(), 2);
    }

    #[test]
    fn bad_values_name_file_line_and_key() {
        let text = "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1:8200\"\n  tls_disable = \"maybe\"\n}\n";
        let e = parse("bad.hcl", text).unwrap_err();
        assert_eq!(e.file, "bad.hcl");
        assert_eq!(e.line, Some(4));
        let msg = e.to_string();
        assert!(
            msg.contains("bad.hcl") && msg.contains("line 4") && msg.contains("tls_disable"),
            "{msg}"
        );

        let e = parse("syntax.hcl", "storage \"inmem\" {\n").unwrap_err();
        assert!(e.to_string().contains("syntax.hcl"));

        let e = parse("tls.hcl", "listener \"tcp\" {\n address = \"x:1\"\n}\n").unwrap_err();
        assert!(e.to_string().contains("tls_cert_file"), "{e}");

        let e = parse("j.json", "{\"ui\": \"sometimes\"}").unwrap_err();
        assert!(e.to_string().contains("\"ui\""), "{e}");
    }

    #[test]
    fn files_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.hcl"),
            "storage \"inmem\" {}\nlog_level = \"debug\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("b.json"),
            r#"{"listener": {"tcp": {"address": "127.0.0.1:1", "tls_disable": true}}, "log_level": "warn"}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("ignored.txt"), "not config").unwrap();
        let c = load(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(c.storage.unwrap().kind, "inmem");
        assert_eq!(c.listeners.len(), 1);
        assert_eq!(c.log_level.as_deref(), Some("warn"));
    }
}
