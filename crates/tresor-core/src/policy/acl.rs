//! A compiled ACL: the union of a token's policies, built once per set of policies and evaluated
//! per request without parsing anything.
//!
//! Vault's rules, reproduced exactly: the same pattern in several policies merges (capabilities
//! unite, `deny` wins, parameter lists merge); an exact rule beats everything; otherwise the best
//! of the longest matching `*` prefix and the matching `+` patterns wins, by (1) later first
//! wildcard, (2) not a prefix, (3) fewer `+` segments, (4) longer, (5) lexically smaller.

use std::collections::HashMap;

use serde_json::Value;
use tresor_sdk::{Map, Operation};

use super::model::{cap, ParamRules, Permissions, Policy};

#[derive(Debug, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, Permissions>,
    prefix: HashMap<String, Permissions>,
    /// The distinct lengths of the `prefix` keys, longest first: the longest matching prefix
    /// is found with one lookup per length instead of one per character of the path.
    prefix_lens: Vec<usize>,
    segment: Vec<SegmentRule>,
}

/// A rule with `+` segments, split once when the ACL is built.
#[derive(Debug)]
struct SegmentRule {
    /// The pattern without a trailing `*`.
    pattern: String,
    segments: Vec<String>,
    is_prefix: bool,
    first_wildcard: usize,
    perms: Permissions,
}

/// What the ACL says about one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub allowed: bool,
    /// The rule grants `sudo` (needed on root-protected paths).
    pub sudo: bool,
    pub capabilities: u32,
    pub min_wrapping_ttl: Option<u64>,
    pub max_wrapping_ttl: Option<u64>,
}

fn merge_params(into: &mut ParamRules, from: &ParamRules) {
    for (k, v) in from {
        match into.get_mut(k) {
            // An empty list means "any value" and absorbs the other's list.
            Some(existing) if existing.is_empty() || v.is_empty() => existing.clear(),
            Some(existing) => existing.extend(v.iter().cloned()),
            None => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge(into: &mut Permissions, from: &Permissions) {
    if into.capabilities & cap::DENY != 0 {
        return;
    }
    if from.capabilities & cap::DENY != 0 {
        *into = Permissions {
            capabilities: cap::DENY,
            ..Permissions::default()
        };
        return;
    }
    into.capabilities |= from.capabilities;
    merge_params(&mut into.allowed_parameters, &from.allowed_parameters);
    merge_params(&mut into.denied_parameters, &from.denied_parameters);
    for r in &from.required_parameters {
        if !into.required_parameters.contains(r) {
            into.required_parameters.push(r.clone());
        }
    }
    into.min_wrapping_ttl = match (into.min_wrapping_ttl, from.min_wrapping_ttl) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    into.max_wrapping_ttl = match (into.max_wrapping_ttl, from.max_wrapping_ttl) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
}

struct Candidate<'a> {
    first_wildcard: usize,
    is_prefix: bool,
    wildcards: usize,
    path: &'a str,
    perms: &'a Permissions,
}

impl Candidate<'_> {
    /// Vault's ordering: the greatest candidate wins.
    fn key(
        &self,
    ) -> (
        usize,
        bool,
        std::cmp::Reverse<usize>,
        usize,
        std::cmp::Reverse<&str>,
    ) {
        (
            self.first_wildcard,
            !self.is_prefix,
            std::cmp::Reverse(self.wildcards),
            self.path.len(),
            std::cmp::Reverse(self.path),
        )
    }
}

impl Acl {
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a Policy>) -> Acl {
        let mut acl = Acl::default();
        let mut segment: HashMap<String, Permissions> = HashMap::new();
        for policy in policies {
            if policy.name == "root" {
                acl.root = true;
                continue;
            }
            for rule in &policy.rules {
                let (table, key) = if rule.path.contains('+') {
                    (&mut segment, rule.path.clone())
                } else if let Some(p) = rule.path.strip_suffix('*') {
                    (&mut acl.prefix, p.to_owned())
                } else {
                    (&mut acl.exact, rule.path.clone())
                };
                match table.get_mut(&key) {
                    Some(existing) => merge(existing, &rule.permissions),
                    None => {
                        table.insert(key, rule.permissions.clone());
                    }
                }
            }
        }
        let mut lens: Vec<usize> = acl.prefix.keys().map(String::len).collect();
        lens.sort_unstable_by(|a, b| b.cmp(a));
        lens.dedup();
        acl.prefix_lens = lens;
        acl.segment = segment
            .into_iter()
            .map(|(full, perms)| {
                let (pattern, is_prefix) = match full.strip_suffix('*') {
                    Some(p) => (p.to_owned(), true),
                    None => (full.clone(), false),
                };
                SegmentRule {
                    segments: pattern.split('/').map(str::to_owned).collect(),
                    first_wildcard: full.find('+').unwrap_or(full.len()),
                    pattern,
                    is_prefix,
                    perms,
                }
            })
            .collect();
        acl
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The permissions that govern `path`, if any rule matches.
    fn lookup<'a>(&'a self, path: &str, list: bool) -> Option<&'a Permissions> {
        if let Some(p) = self.exact.get(path) {
            return Some(p);
        }
        let trimmed = path.strip_suffix('/').filter(|_| list);
        if let Some(p) = trimmed.and_then(|t| self.exact.get(t)) {
            return Some(p);
        }
        // A list names a directory with a trailing slash; Vault matches the wildcard rules
        // against the path without it first, so `kv/+/x` allows `LIST kv/a/x/`.
        trimmed
            .and_then(|t| self.non_exact(t))
            .or_else(|| self.non_exact(path))
    }

    /// The best glob or segment-wildcard rule for `path`, by Vault's precedence.
    fn non_exact<'a>(&'a self, path: &str) -> Option<&'a Permissions> {
        let mut best: Option<Candidate<'a>> = None;
        let mut consider = |c: Candidate<'a>| {
            if best.as_ref().is_none_or(|b| c.key() > b.key()) {
                best = Some(c);
            }
        };
        for &len in &self.prefix_lens {
            if len > path.len() || !path.is_char_boundary(len) {
                continue;
            }
            if let Some((k, p)) = self.prefix.get_key_value(&path[..len]) {
                consider(Candidate {
                    first_wildcard: k.len(),
                    is_prefix: true,
                    wildcards: 0,
                    path: k,
                    perms: p,
                });
                break;
            }
        }
        if self.segment.is_empty() {
            return best.map(|c| c.perms);
        }
        let parts: Vec<&str> = path.split('/').collect();
        'rules: for rule in &self.segment {
            let pat = &rule.segments;
            if parts.len() < pat.len() || (!rule.is_prefix && parts.len() != pat.len()) {
                continue;
            }
            let mut wildcards = 0;
            for (i, seg) in pat.iter().enumerate() {
                let last = i == pat.len() - 1;
                if seg == "+" {
                    wildcards += 1;
                } else if seg == parts[i]
                    || (rule.is_prefix && last && parts[i].starts_with(seg.as_str()))
                {
                } else {
                    continue 'rules;
                }
            }
            consider(Candidate {
                first_wildcard: rule.first_wildcard,
                is_prefix: rule.is_prefix,
                wildcards,
                path: &rule.pattern,
                perms: &rule.perms,
            });
        }
        best.map(|c| c.perms)
    }

    /// Whether the token may learn about the mount at `mount_path` (`secret/`): some rule at or
    /// under it grants something, as Vault's `hasMountAccess` decides for the CLI's preflight.
    pub fn has_mount_access(&self, mount_path: &str) -> bool {
        if self.root || self.capabilities(mount_path) != ["deny"] {
            return true;
        }
        let grants = |p: &Permissions| p.capabilities != 0 && p.capabilities & cap::DENY == 0;
        let under = |(k, p): (&String, &Permissions)| k.starts_with(mount_path) && grants(p);
        if self.exact.iter().any(under) || self.prefix.iter().any(under) {
            return true;
        }
        let mount: Vec<&str> = mount_path.trim_end_matches('/').split('/').collect();
        self.segment.iter().any(|rule| {
            let pat = &rule.segments;
            grants(&rule.perms)
                && mount.iter().enumerate().all(|(i, m)| match pat.get(i) {
                    Some(seg) if seg == "+" || seg == m => true,
                    Some(seg) => {
                        rule.is_prefix && i == pat.len() - 1 && m.starts_with(seg.as_str())
                    }
                    None => false,
                })
        })
    }

    /// The capabilities on `path`, as `sys/capabilities` answers them.
    pub fn capabilities(&self, path: &str) -> Vec<String> {
        if self.root {
            return vec!["root".into()];
        }
        let path = path.trim_start_matches('/');
        // Vault asks as a list, so that the list fallbacks apply.
        match self.lookup(path, true) {
            Some(p) if p.capabilities != 0 => cap::names(p.capabilities),
            _ => vec!["deny".into()],
        }
    }

    /// May this operation with these parameters go ahead on `path`?
    pub fn check(&self, op: Operation, path: &str, data: &Map) -> Decision {
        if self.root {
            return Decision {
                allowed: true,
                sudo: true,
                capabilities: !cap::DENY,
                ..Decision::default()
            };
        }
        let Some(p) = self.lookup(path, op == Operation::List) else {
            return Decision::default();
        };
        let caps = p.capabilities;
        let mut d = Decision {
            sudo: caps & cap::SUDO != 0,
            capabilities: caps,
            min_wrapping_ttl: p.min_wrapping_ttl,
            max_wrapping_ttl: p.max_wrapping_ttl,
            ..Decision::default()
        };
        if caps & cap::DENY != 0 {
            d.sudo = false;
            return d;
        }
        let needed = match op {
            Operation::Read => cap::READ,
            Operation::List => cap::LIST,
            Operation::Update => cap::UPDATE,
            Operation::Create => cap::CREATE,
            Operation::Delete => cap::DELETE,
            Operation::Patch => cap::PATCH,
        };
        if caps & needed == 0 {
            return d;
        }
        if matches!(
            op,
            Operation::Read | Operation::Update | Operation::Create | Operation::Patch
        ) {
            d.allowed = parameters_allowed(p, data);
        } else {
            d.allowed = true;
        }
        d
    }
}

fn parameters_allowed(p: &Permissions, data: &Map) -> bool {
    if p.required_parameters.is_empty()
        && p.denied_parameters.is_empty()
        && p.allowed_parameters.is_empty()
    {
        return true;
    }
    let lower: Vec<(String, &Value)> = data.iter().map(|(k, v)| (k.to_lowercase(), v)).collect();
    for required in &p.required_parameters {
        if !lower.iter().any(|(k, _)| k == required) {
            return false;
        }
    }
    if lower.is_empty() {
        return true;
    }
    if !p.denied_parameters.is_empty() {
        if p.denied_parameters.contains_key("*") {
            return false;
        }
        for (k, v) in &lower {
            if let Some(values) = p.denied_parameters.get(k) {
                if value_denied(v, values) {
                    return false;
                }
            }
        }
    }
    if p.allowed_parameters.is_empty() {
        return true;
    }
    let allowed_all = p.allowed_parameters.contains_key("*");
    if allowed_all && p.allowed_parameters.len() == 1 {
        return true;
    }
    for (k, v) in &lower {
        match p.allowed_parameters.get(k) {
            None if !allowed_all => return false,
            Some(values) if !value_allowed(v, values) => return false,
            _ => {}
        }
    }
    true
}

/// Whether a denied list catches `v`. Backends read values loosely (`["admin"]`,
/// `"admin,default"` and `"Admin"` are all the policy `admin` to the token store), so besides
/// the whole value (Vault's rule), each element of a list, each part of a comma-separated
/// string, and each string in any case is compared.
fn value_denied(v: &Value, denied: &[Value]) -> bool {
    if value_in_list(v, denied) {
        return true;
    }
    let lowered: Vec<Value> = denied
        .iter()
        .map(|d| match d {
            Value::String(s) => Value::String(s.to_lowercase()),
            other => other.clone(),
        })
        .collect();
    let caught = |s: &str| value_in_list(&Value::String(s.trim().to_lowercase()), &lowered);
    match v {
        Value::Array(items) => items.iter().any(|item| match item {
            Value::String(s) => s.split(',').any(caught),
            other => value_denied(other, denied),
        }),
        Value::String(s) => s.split(',').any(caught),
        _ => false,
    }
}

/// Whether an allowed list admits `v`: a string as a whole (Vault's rule) and, since a backend
/// may split it, each of its comma-separated parts; a list element by element.
fn value_allowed(v: &Value, allowed: &[Value]) -> bool {
    let parts_allowed = |s: &str| {
        !s.contains(',')
            || s.split(',')
                .all(|part| value_in_list(&Value::String(part.trim().to_owned()), allowed))
    };
    match v {
        Value::String(s) => value_in_list(v, allowed) && parts_allowed(s),
        Value::Array(items) => {
            value_in_list(v, allowed)
                || (!items.is_empty() && items.iter().all(|item| value_allowed(item, allowed)))
        }
        _ => value_in_list(v, allowed),
    }
}

/// An empty list admits any value; strings match with `*` globs at either end.
fn value_in_list(v: &Value, list: &[Value]) -> bool {
    if list.is_empty() {
        return true;
    }
    list.iter().any(|item| match (item, v) {
        (Value::String(pattern), Value::String(s)) => tresor_sdk::glob::matches(pattern, s),
        _ => item == v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::model::parse;
    use serde_json::json;

    fn acl(texts: &[&str]) -> Acl {
        let policies: Vec<Policy> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| parse(&format!("p{i}"), t).unwrap())
            .collect();
        Acl::new(&policies)
    }

    fn allows(a: &Acl, op: Operation, path: &str) -> bool {
        a.check(op, path, &Map::new()).allowed
    }

    #[test]
    fn denied_values_are_caught_in_every_spelling() {
        let a = acl(&[r#"
path "auth/token/create" {
  capabilities = ["update"]
  denied_parameters = { "policies" = ["admin"] }
}
path "kv/x" {
  capabilities = ["update"]
  allowed_parameters = { "v" = ["a", "b"] }
}"#]);
        let check = |path: &str, data: Value| {
            let Value::Object(m) = data else { panic!() };
            a.check(Operation::Update, path, &m).allowed
        };
        for bad in [
            json!("admin"),
            json!(["admin"]),
            json!("default,admin"),
            json!(" Admin "),
            json!(["default", "ADMIN"]),
        ] {
            assert!(
                !check("auth/token/create", json!({ "policies": bad.clone() })),
                "{bad} passed"
            );
        }
        assert!(check("auth/token/create", json!({"policies": ["default"]})));
        assert!(check("kv/x", json!({"v": ["a", "b"]})));
        assert!(!check("kv/x", json!({"v": ["a", "c"]})));
        assert!(!check("kv/x", json!({"v": []})));
        let globbed = acl(&[r#"
path "auth/token/create" {
  capabilities = ["update"]
  allowed_parameters = { "policies" = ["team-*"] }
}"#]);
        let Value::Object(m) = json!({"policies": "team-a,admin"}) else {
            panic!()
        };
        assert!(
            !globbed
                .check(Operation::Update, "auth/token/create", &m)
                .allowed
        );
        let Value::Object(m) = json!({"policies": "team-a,team-b"}) else {
            panic!()
        };
        assert!(
            globbed
                .check(Operation::Update, "auth/token/create", &m)
                .allowed
        );
    }

    #[test]
    fn exact_prefix_and_segment_precedence() {
        let a = acl(&[r#"
path "secret/*" { capabilities = ["read"] }
path "secret/data/app" { capabilities = ["update"] }
path "secret/+/team/*" { capabilities = ["list"] }
path "secret/data/team/x" { capabilities = ["deny"] }
path "secret/data/+/y" { capabilities = ["create"] }
"#]);
        use Operation::*;
        assert!(allows(&a, Read, "secret/anything/deep"));
        assert!(allows(&a, Update, "secret/data/app"));
        assert!(!allows(&a, Read, "secret/data/app"), "exact beats prefix");
        // secret/+/team/* (first wildcard at 7) vs secret/* (glob at 7): not-prefix wins? both
        // prefixes; fewer wildcards wins: secret/* has none.
        assert!(allows(&a, Read, "secret/data/team/z"));
        assert!(!allows(&a, Read, "secret/data/team/x"));
        // secret/data/+/y: first wildcard at 12 beats secret/* at 7.
        assert!(allows(&a, Create, "secret/data/q/y"));
        assert!(!allows(&a, Read, "secret/data/q/y"));
        assert!(!allows(&a, Read, "other/path"));
    }

    #[test]
    fn later_wildcard_and_longer_prefix_win() {
        let a = acl(&[r#"
path "kv/+/b/+" { capabilities = ["read"] }
path "kv/a/+/c" { capabilities = ["update"] }
"#]);
        use Operation::*;
        assert!(allows(&a, Update, "kv/a/b/c"), "first wildcard later wins");
        assert!(!allows(&a, Read, "kv/a/b/c"));
        assert!(allows(&a, Read, "kv/z/b/c"));

        let b = acl(&[r#"
path "kv/a/+/c" { capabilities = ["update"] }
path "kv/a/b*" { capabilities = ["list"] }
path "kv/a/bc*" { capabilities = ["delete"] }
"#]);
        // The glob of kv/a/b* sits later (6) than the + of kv/a/+/c (5): the prefix wins.
        assert!(allows(&b, List, "kv/a/b/c"));
        assert!(!allows(&b, Update, "kv/a/b/c"));
        assert!(allows(&b, Update, "kv/a/x/c"));
        assert!(allows(&b, Delete, "kv/a/bcd"), "longest prefix wins");
        assert!(allows(&b, List, "kv/a/bx"));
    }

    #[test]
    fn policies_merge_and_deny_wins() {
        let a = acl(&[
            r#"path "s/*" { capabilities = ["read"] }"#,
            r#"path "s/*" { capabilities = ["list"] }"#,
            r#"path "s/locked" { capabilities = ["read"] }"#,
            r#"path "s/locked" { capabilities = ["deny"] }"#,
        ]);
        assert!(allows(&a, Operation::Read, "s/x"));
        assert!(allows(&a, Operation::List, "s/x"));
        assert!(!allows(&a, Operation::Read, "s/locked"));
        assert_eq!(a.capabilities("s/locked"), vec!["deny"]);
        assert_eq!(a.capabilities("s/x"), vec!["list", "read"]);
        assert_eq!(a.capabilities("t"), vec!["deny"]);
    }

    #[test]
    fn list_matches_exact_rule_without_trailing_slash() {
        let a = acl(&[r#"path "secret/metadata/app" { capabilities = ["list"] }"#]);
        assert!(allows(&a, Operation::List, "secret/metadata/app/"));
        assert!(!allows(&a, Operation::Read, "secret/metadata/app/"));
    }

    #[test]
    fn mount_access_for_the_cli_preflight() {
        let a = acl(&[r#"path "secret/data/app/*" { capabilities = ["read"] }
path "kv/+/shared" { capabilities = ["list"] }
path "other/*" { capabilities = ["deny"] }"#]);
        assert!(a.has_mount_access("secret/"));
        assert!(a.has_mount_access("kv/"));
        assert!(!a.has_mount_access("other/"));
        assert!(!a.has_mount_access("sys/"));
    }

    #[test]
    fn list_matches_wildcard_rules_without_trailing_slash() {
        let a = acl(&[r#"path "kv/+/+/shared" { capabilities = ["list"] }"#]);
        assert!(allows(&a, Operation::List, "kv/a/b/shared/"));
        assert!(!allows(&a, Operation::List, "kv/a/shared/"));
        assert_eq!(a.capabilities("kv/a/b/shared/"), ["list"]);
    }

    #[test]
    fn parameter_constraints() {
        let a = acl(&[r#"
path "p/allowed" {
  capabilities = ["create", "update"]
  allowed_parameters = { "name" = [] "size" = ["small", "med*"] }
}
path "p/denied" {
  capabilities = ["update"]
  denied_parameters = { "admin" = [] "role" = ["root"] }
}
path "p/required" {
  capabilities = ["update"]
  required_parameters = ["ticket"]
}
path "p/all-denied" {
  capabilities = ["update"]
  denied_parameters = { "*" = [] }
}
"#]);
        let ok = |path: &str, data: serde_json::Value| {
            a.check(Operation::Update, path, data.as_object().unwrap())
                .allowed
        };
        assert!(ok("p/allowed", json!({"name": "x", "size": "small"})));
        assert!(ok("p/allowed", json!({"size": "medium"})));
        assert!(!ok("p/allowed", json!({"size": "large"})));
        assert!(!ok("p/allowed", json!({"other": 1})));
        assert!(ok("p/allowed", json!({})));
        assert!(ok("p/denied", json!({"role": "user"})));
        assert!(!ok("p/denied", json!({"role": "root"})));
        assert!(!ok("p/denied", json!({"admin": false})));
        assert!(!ok("p/required", json!({"other": 1})));
        assert!(ok("p/required", json!({"ticket": "T-1"})));
        assert!(!ok("p/all-denied", json!({"x": 1})));
        assert!(ok("p/all-denied", json!({})));
    }

    #[test]
    fn root_allows_everything_and_sudo_is_reported() {
        let root = Acl::new(&[Policy {
            name: "root".into(),
            text: String::new(),
            rules: vec![],
        }]);
        assert!(
            root.check(Operation::Delete, "sys/anything", &Map::new())
                .sudo
        );
        assert_eq!(root.capabilities("x"), vec!["root"]);
        let a = acl(&[r#"path "sys/mounts/*" { capabilities = ["update", "sudo"] }"#]);
        let d = a.check(Operation::Update, "sys/mounts/x", &Map::new());
        assert!(d.allowed && d.sudo);
    }

    #[test]
    fn globs_in_values() {
        assert!(tresor_sdk::glob::matches("*", "x"));
        assert!(tresor_sdk::glob::matches("ab*", "abc"));
        assert!(tresor_sdk::glob::matches("*bc", "abc"));
        assert!(tresor_sdk::glob::matches("*b*", "abc"));
        assert!(!tresor_sdk::glob::matches("*z*", "abc"));
        assert!(tresor_sdk::glob::matches("abc", "abc"));
    }
}
