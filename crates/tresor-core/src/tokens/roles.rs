//! Token roles (`auth/token/roles/:name`): named presets that constrain `create/:role`.

use serde::{Deserialize, Serialize};
use serde_json::json;
use tresor_sdk::{Map, Request};

use super::parse_cidrs;
use crate::error::CoreError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenRole {
    pub name: String,
    pub allowed_policies: Vec<String>,
    pub disallowed_policies: Vec<String>,
    pub allowed_policies_glob: Vec<String>,
    pub disallowed_policies_glob: Vec<String>,
    pub orphan: bool,
    pub renewable: bool,
    pub path_suffix: String,
    pub token_period: u64,
    pub token_explicit_max_ttl: u64,
    pub token_bound_cidrs: Vec<String>,
    pub token_no_default_policy: bool,
    pub token_num_uses: i64,
    pub token_type: String,
}

fn lower(v: Vec<String>) -> Vec<String> {
    let mut v: Vec<String> = v
        .into_iter()
        .map(|p| p.to_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

impl TokenRole {
    pub fn new(name: &str) -> Self {
        TokenRole {
            name: name.to_owned(),
            renewable: true,
            token_type: "default-service".into(),
            ..TokenRole::default()
        }
    }

    /// Applies the fields present in a write request.
    pub fn update(&mut self, req: &Request) -> Result<(), CoreError> {
        if let Some(v) = req.list_field("allowed_policies")? {
            self.allowed_policies = lower(v);
        }
        if let Some(v) = req.list_field("disallowed_policies")? {
            self.disallowed_policies = lower(v);
        }
        if let Some(v) = req.list_field("allowed_policies_glob")? {
            self.allowed_policies_glob = lower(v);
        }
        if let Some(v) = req.list_field("disallowed_policies_glob")? {
            self.disallowed_policies_glob = lower(v);
        }
        if let Some(b) = req.bool_field("orphan")? {
            self.orphan = b;
        }
        if let Some(b) = req.bool_field("renewable")? {
            self.renewable = b;
        }
        if let Some(s) = req.str_field("path_suffix")? {
            if s.contains("..") {
                return Err(CoreError::invalid("path_suffix cannot contain '..'"));
            }
            self.path_suffix = s.trim_matches('/').to_owned();
        }
        for (field, legacy) in [
            ("token_period", "period"),
            ("token_explicit_max_ttl", "explicit_max_ttl"),
        ] {
            let v = match req.duration_field(field)? {
                Some(v) => Some(v),
                None => req.duration_field(legacy)?,
            };
            if let Some(v) = v {
                match field {
                    "token_period" => self.token_period = v,
                    _ => self.token_explicit_max_ttl = v,
                }
            }
        }
        let cidrs = match req.list_field("token_bound_cidrs")? {
            Some(c) => Some(c),
            None => req.list_field("bound_cidrs")?,
        };
        if let Some(c) = cidrs {
            self.token_bound_cidrs = parse_cidrs(&c)?;
        }
        if let Some(b) = req.bool_field("token_no_default_policy")? {
            self.token_no_default_policy = b;
        }
        if let Some(n) = req.int_field("token_num_uses")? {
            if n < 0 {
                return Err(CoreError::invalid("token_num_uses cannot be negative"));
            }
            self.token_num_uses = n;
        }
        if let Some(t) = req.str_field("token_type")? {
            match t.as_str() {
                "service" | "default-service" | "default" => self.token_type = t,
                "batch" | "default-batch" => {
                    return Err(CoreError::invalid(
                        "batch tokens are not supported by Tresor yet",
                    ))
                }
                other => {
                    return Err(CoreError::invalid(format!(
                        "invalid 'token_type' value \"{other}\""
                    )))
                }
            }
        }
        let empty = |v: &serde_json::Value| {
            v.is_null() || v.as_str() == Some("") || v.as_array().is_some_and(|a| a.is_empty())
        };
        if req
            .data
            .get("allowed_entity_aliases")
            .is_some_and(|v| !empty(v))
        {
            return Err(CoreError::invalid(
                "allowed_entity_aliases is not supported by Tresor yet",
            ));
        }
        Ok(())
    }

    pub fn to_api(&self) -> Map {
        let v = json!({
            "allowed_entity_aliases": null,
            "allowed_policies": self.allowed_policies,
            "allowed_policies_glob": self.allowed_policies_glob,
            "disallowed_policies": self.disallowed_policies,
            "disallowed_policies_glob": self.disallowed_policies_glob,
            "explicit_max_ttl": self.token_explicit_max_ttl,
            "name": self.name,
            "orphan": self.orphan,
            "path_suffix": self.path_suffix,
            "period": self.token_period,
            "renewable": self.renewable,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "token_no_default_policy": self.token_no_default_policy,
            "token_period": self.token_period,
            "token_type": self.token_type,
        });
        let mut m = match v {
            serde_json::Value::Object(m) => m,
            _ => Map::new(),
        };
        if !self.token_bound_cidrs.is_empty() {
            m.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        }
        if self.token_num_uses > 0 {
            m.insert("token_num_uses".into(), json!(self.token_num_uses));
        }
        m
    }
}

pub use tresor_sdk::glob::matches as glob;
