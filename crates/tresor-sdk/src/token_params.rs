//! The token parameters every auth method shares (Vault's `tokenutil`): how the token a login
//! creates looks. An auth backend stores them with its role or user and hands them to the core
//! in a [`LoginAuth`]; the core makes the token. Backends never see tokens.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::framework::{Field, Kind};

use crate::{Error, Map, Request, Result};

/// The fields of [`TokenParams`], for a path's table.
pub const FIELDS: &[Field] = &[
    Field::new(
        "token_ttl",
        Kind::Duration,
        "The initial ttl of the token to generate",
    ),
    Field::new(
        "token_max_ttl",
        Kind::Duration,
        "The maximum lifetime of the generated token",
    ),
    Field::new(
        "token_policies",
        Kind::CommaList,
        "Comma-separated list of policies",
    ),
    TOKEN_BOUND_CIDRS,
    TOKEN_EXPLICIT_MAX_TTL,
    TOKEN_NO_DEFAULT_POLICY,
    TOKEN_NUM_USES,
    TOKEN_PERIOD,
    TOKEN_TYPE,
];

/// The token fields a token role takes (Vault's allow-list for `auth/token/roles/:name`: a
/// role's tokens take their policies and TTLs from the request that creates them).
pub const ROLE_FIELDS: &[Field] = &[
    TOKEN_BOUND_CIDRS,
    TOKEN_EXPLICIT_MAX_TTL,
    TOKEN_NO_DEFAULT_POLICY,
    TOKEN_NUM_USES,
    TOKEN_PERIOD,
    TOKEN_TYPE,
];

const TOKEN_BOUND_CIDRS: Field = Field::new("token_bound_cidrs", Kind::CommaList, "Comma separated string or JSON list of CIDR blocks. If set, specifies the blocks of IP addresses which are allowed to use the generated token.");
const TOKEN_EXPLICIT_MAX_TTL: Field = Field::new("token_explicit_max_ttl", Kind::Duration, "If set, tokens created via this role carry an explicit maximum TTL. During renewal, the current maximum TTL values of the role and the mount are not checked for changes, and any updates to these values will have no effect on the token being renewed.");
const TOKEN_NO_DEFAULT_POLICY: Field = Field::new(
    "token_no_default_policy",
    Kind::Bool,
    "If true, the 'default' policy will not automatically be added to generated tokens",
);
const TOKEN_NUM_USES: Field = Field::new(
    "token_num_uses",
    Kind::Int,
    "The maximum number of times a token may be used, a value of zero means unlimited",
);
const TOKEN_PERIOD: Field = Field::new("token_period", Kind::Duration, "If set, tokens created via this role will have no max lifetime; instead, their renewal period will be fixed to this value. This takes an integer number of seconds, or a string duration (e.g. \"24h\").");
const TOKEN_TYPE: Field = Field::new(
    "token_type",
    Kind::Str,
    "The type of token to generate, service or batch",
)
.default(crate::framework::DefaultValue::Str("default-service"));

/// The older names of the token fields. Each auth method kept its own few (userpass: `policies`,
/// `ttl`, `max_ttl`, `bound_cidrs`; approle: `policies`, `period`); a path declares those it
/// takes, and [`TokenParams::update`] reads only those, so an old name a method never had is an
/// unknown field there, as in Vault.
pub mod legacy {
    use crate::framework::{Field, Kind};

    pub const TTL: Field = Field::new("ttl", Kind::Duration, "Use \"token_ttl\" instead. If this and \"token_ttl\" are both specified, only \"token_ttl\" will be used.");
    pub const MAX_TTL: Field = Field::new("max_ttl", Kind::Duration, "Use \"token_max_ttl\" instead. If this and \"token_max_ttl\" are both specified, only \"token_max_ttl\" will be used.");
    pub const POLICIES: Field = Field::new("policies", Kind::CommaList, "Use \"token_policies\" instead. If this and \"token_policies\" are both specified, only \"token_policies\" will be used.");
    pub const PERIOD: Field = Field::new("period", Kind::Duration, "Use \"token_period\" instead. If this and \"token_period\" are both specified, only \"token_period\" will be used.");
    pub const BOUND_CIDRS: Field = Field::new("bound_cidrs", Kind::CommaList, "Use \"token_bound_cidrs\" instead. If this and \"token_bound_cidrs\" are both specified, only \"token_bound_cidrs\" will be used.");
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenParams {
    pub token_ttl: u64,
    pub token_max_ttl: u64,
    pub token_policies: Vec<String>,
    pub token_bound_cidrs: Vec<String>,
    pub token_explicit_max_ttl: u64,
    pub token_no_default_policy: bool,
    pub token_num_uses: i64,
    pub token_period: u64,
    /// `default`, `service` (or `batch`, which Tresor refuses).
    pub token_type: String,
}

/// Does the CIDR block (or bare address) `cidr` contain `addr`?
pub fn cidr_contains(cidr: &str, addr: std::net::IpAddr) -> bool {
    let (net, bits) = match cidr.split_once('/') {
        Some((n, b)) => (n, b.parse::<u8>().ok()),
        None => (cidr, None),
    };
    let Ok(net) = net.trim().parse::<std::net::IpAddr>() else {
        return false;
    };
    match (net, addr) {
        (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        (std::net::IpAddr::V6(n), std::net::IpAddr::V4(a)) => {
            n.to_ipv4_mapped() == Some(a) && bits.is_none_or(|b| b == 128)
        }
        (std::net::IpAddr::V4(_), std::net::IpAddr::V6(a)) => a
            .to_ipv4_mapped()
            .is_some_and(|a4| cidr_contains(cidr, std::net::IpAddr::V4(a4))),
    }
}

/// Checks that every entry is a CIDR block or address; returns them trimmed.
/// Checks CIDR blocks (or bare addresses) as given by a user.
pub fn check_cidrs(field: &str, cidrs: &[String]) -> Result<()> {
    for c in cidrs {
        let (net, bits) = match c.split_once('/') {
            Some((n, b)) => (n, Some(b)),
            None => (c.as_str(), None),
        };
        let ip: std::net::IpAddr = net
            .parse()
            .map_err(|_| Error::invalid(format!("invalid {field}: \"{c}\" is not a CIDR block")))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if let Some(b) = bits {
            match b.parse::<u8>() {
                Ok(n) if n <= max => {}
                _ => {
                    return Err(Error::invalid(format!(
                        "invalid {field}: \"{c}\" is not a CIDR block"
                    )))
                }
            }
        }
    }
    Ok(())
}

impl TokenParams {
    /// Reads the parameters present in `req`, and those of their older names the path declares
    /// (`legacy`, from [`legacy`]), leaving the others as they are.
    pub fn update(&mut self, req: &Request, legacy: &[Field]) -> Result<()> {
        // The new name wins; the old one is read only where the path takes it.
        let either = |new: &'static str, old: &'static str| -> &'static str {
            let has_old = legacy.iter().any(|f| f.name == old);
            if req.get(new).is_none() && has_old {
                old
            } else {
                new
            }
        };
        if let Some(v) = req.duration_field(either("token_ttl", "ttl"))? {
            self.token_ttl = v;
        }
        if let Some(v) = req.duration_field(either("token_max_ttl", "max_ttl"))? {
            self.token_max_ttl = v;
        }
        if let Some(v) = req.duration_field(either("token_period", "period"))? {
            self.token_period = v;
        }
        if let Some(v) = req.duration_field("token_explicit_max_ttl")? {
            self.token_explicit_max_ttl = v;
        }
        if let Some(mut p) = req.list_field(either("token_policies", "policies"))? {
            p.iter_mut().for_each(|s| *s = s.to_lowercase());
            p.sort();
            p.dedup();
            self.token_policies = p;
        }
        if let Some(c) = req.list_field(either("token_bound_cidrs", "bound_cidrs"))? {
            check_cidrs("token_bound_cidrs", &c)?;
            self.token_bound_cidrs = c;
        }
        if let Some(v) = req.bool_field("token_no_default_policy")? {
            self.token_no_default_policy = v;
        }
        if let Some(n) = req.int_field("token_num_uses")? {
            if n < 0 {
                return Err(Error::invalid("token_num_uses cannot be negative"));
            }
            self.token_num_uses = n;
        }
        if let Some(t) = req.str_field("token_type")? {
            match t.as_str() {
                "" | "default" | "service" | "default-service" => {
                    self.token_type = if t.is_empty() { "default".into() } else { t };
                }
                "batch" | "default-batch" => {
                    return Err(Error::invalid(
                        "batch tokens are not supported by Tresor yet; use token_type=service",
                    ))
                }
                other => {
                    return Err(Error::invalid(format!(
                        "invalid 'token_type' value \"{other}\""
                    )))
                }
            }
        }
        if self.token_type.is_empty() {
            self.token_type = "default".into();
        }
        if self.token_max_ttl > 0 && self.token_ttl > self.token_max_ttl {
            return Err(Error::invalid(
                "\"token_ttl\" value must be less than \"token_max_ttl\" value",
            ));
        }
        Ok(())
    }

    /// Writes the parameters into a read answer, as Vault shows them.
    pub fn write_to(&self, m: &mut Map) {
        m.insert("token_ttl".into(), self.token_ttl.into());
        m.insert("token_max_ttl".into(), self.token_max_ttl.into());
        m.insert("token_policies".into(), json!(self.token_policies));
        m.insert("token_bound_cidrs".into(), json!(self.token_bound_cidrs));
        m.insert(
            "token_explicit_max_ttl".into(),
            self.token_explicit_max_ttl.into(),
        );
        m.insert(
            "token_no_default_policy".into(),
            self.token_no_default_policy.into(),
        );
        m.insert("token_num_uses".into(), self.token_num_uses.into());
        m.insert("token_period".into(), self.token_period.into());
        m.insert(
            "token_type".into(),
            if self.token_type.is_empty() {
                "default".into()
            } else {
                self.token_type.clone().into()
            },
        );
    }

    /// The token a login with these parameters gets.
    pub fn login(&self, display_name: &str, metadata: BTreeMap<String, String>) -> LoginAuth {
        LoginAuth {
            policies: self.token_policies.clone(),
            no_default_policy: self.token_no_default_policy,
            ttl: self.token_ttl,
            max_ttl: self.token_max_ttl,
            period: self.token_period,
            explicit_max_ttl: self.token_explicit_max_ttl,
            num_uses: self.token_num_uses,
            bound_cidrs: self.token_bound_cidrs.clone(),
            display_name: display_name.to_owned(),
            metadata,
        }
    }
}

/// What an auth backend answers to a successful login: the token the core is to create.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginAuth {
    pub policies: Vec<String>,
    pub no_default_policy: bool,
    /// Seconds; 0: the mount's (or the system's) default.
    pub ttl: u64,
    /// Seconds the token may be renewed up to; 0: the mount's (or the system's) maximum.
    pub max_ttl: u64,
    pub period: u64,
    pub explicit_max_ttl: u64,
    pub num_uses: i64,
    pub bound_cidrs: Vec<String>,
    /// Appended to the mount's name (`userpass-bob`); empty for just the mount.
    pub display_name: String,
    pub metadata: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Operation;

    use serde_json::Value;
    fn req(data: Value) -> Request {
        Request::new(Operation::Update, "role/x").with_data(data.as_object().unwrap().clone())
    }

    #[test]
    fn parameters_and_the_old_names_a_path_declares() {
        let mut p = TokenParams::default();
        p.update(&req(json!({"token_policies": "b,A, a", "token_ttl": "1h", "token_max_ttl": 14400, "token_bound_cidrs": ["10.0.0.0/8"]})), &[])
            .unwrap();
        assert_eq!(p.token_policies, ["a", "b"]);
        assert_eq!((p.token_ttl, p.token_max_ttl), (3600, 14400));
        assert_eq!(p.token_type, "default");
        let old_names = json!({"policies": ["x"], "period": "24h", "ttl": 60, "num_uses": 3});
        let mut old = TokenParams::default();
        old.update(&req(old_names.clone()), &[legacy::POLICIES, legacy::PERIOD])
            .unwrap();
        assert_eq!(old.token_policies, ["x"]);
        assert_eq!(old.token_period, 86400);
        assert_eq!(
            (old.token_ttl, old.token_num_uses),
            (0, 0),
            "undeclared old names are ignored"
        );
        let mut both = TokenParams::default();
        both.update(
            &req(json!({"policies": "x", "token_policies": "y"})),
            &[legacy::POLICIES],
        )
        .unwrap();
        assert_eq!(both.token_policies, ["y"], "the new name wins");
        assert!(TokenParams::default()
            .update(&req(json!({"token_ttl": "2h", "token_max_ttl": "1h"})), &[])
            .is_err());
        assert!(TokenParams::default()
            .update(&req(json!({"token_bound_cidrs": "10.0.0.0/33"})), &[])
            .is_err());
        assert!(TokenParams::default()
            .update(&req(json!({"token_type": "batch"})), &[])
            .is_err());
    }
}
