//! The database plugins: what the engine asks of a database, whatever it is. The shape follows
//! Vault's database plugin interface (v5): create a user, change its password, change its
//! expiry, delete it. One [`Connection`] per `config/:name`, pooled and shared by every request
//! on that config; it connects lazily, so a database that is down at mount time or comes back
//! later is picked up without a restart.

mod mysql;
mod postgres;
mod redis;
mod sql;

use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;
use tresor_sdk::{Error, Map, Result};

/// How long a request waits for a connection (or for one statement) before it fails: a
/// database that is down must make `creds` fail, not hang.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// What went wrong talking to a database. The messages name the database's own error and
/// never a password.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{0}")]
    Config(String),
    #[error("failed to reach the database: {0}")]
    Unreachable(String),
    #[error("the database refused the statement: {0}")]
    Statement(String),
    /// A role that cannot make a user as written (Vault answers these with a 500 too).
    #[error("{0}")]
    Role(String),
}

impl From<DbError> for Error {
    fn from(e: DbError) -> Error {
        match e {
            DbError::Config(m) => Error::invalid(m),
            other => Error::External(other.to_string()),
        }
    }
}

/// The plugins Tresor has, by the names Vault gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
    Redis,
}

impl Kind {
    pub fn named(plugin_name: &str) -> Option<Kind> {
        Some(match plugin_name {
            "postgresql-database-plugin" => Kind::Postgres,
            "mysql-database-plugin"
            | "mysql-aurora-database-plugin"
            | "mysql-rds-database-plugin"
            | "mysql-legacy-database-plugin" => Kind::MySql,
            "redis-database-plugin" => Kind::Redis,
            _ => return None,
        })
    }

    /// Vault's default username template for the plugin (`legacy` MySQL names are limited to
    /// 16 characters, the others to 32).
    pub fn default_username_template(plugin_name: &str) -> &'static str {
        match plugin_name {
            "postgresql-database-plugin" => {
                r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#
            }
            "mysql-legacy-database-plugin"
            | "mysql-aurora-database-plugin"
            | "mysql-rds-database-plugin" => {
                r#"{{ printf "v-%s-%s-%s" (.RoleName | truncate 4) (random 20) | truncate 16 }}"#
            }
            "mysql-database-plugin" => {
                r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) (unix_time) | truncate 32 }}"#
            }
            // Redis: Vault's fixed `V_<DISPLAY>_<ROLE>_<RANDOM>_<TIME>`, upper case.
            _ => {
                r#"{{ printf "v_%s_%s_%s_%s" (.DisplayName | truncate 64) (.RoleName | truncate 64) (random 20) (unix_time) | truncate 100 | uppercase }}"#
            }
        }
    }
}

/// The statements a role gives for one step; empty means the plugin's default.
pub type Statements = [String];

/// One database, as a config describes it.
#[async_trait]
pub trait Connection: Send + Sync {
    /// Checks that the database answers with the configured credentials.
    async fn verify(&self) -> Result<(), DbError>;

    /// Creates a user from the role's creation statements; on failure runs the rollback
    /// statements (best effort) and reports the creation error.
    async fn create_user(
        &self,
        creation: &Statements,
        rollback: &Statements,
        username: &str,
        password: &str,
        expiration: OffsetDateTime,
    ) -> Result<(), DbError>;

    /// Changes a user's password (static roles, and the root user with `root: true`).
    async fn set_password(
        &self,
        statements: &Statements,
        username: &str,
        password: &str,
    ) -> Result<(), DbError>;

    /// Moves a user's expiry (a renewed lease); a no-op where the database has none.
    async fn set_expiration(
        &self,
        statements: &Statements,
        username: &str,
        expiration: OffsetDateTime,
    ) -> Result<(), DbError>;

    /// Drops a user: the role's revocation statements, or the plugin's default.
    async fn delete_user(&self, statements: &Statements, username: &str) -> Result<(), DbError>;

    /// Closes the pool (the config changed, was reset or deleted).
    async fn close(&self);
}

/// Settings every plugin shares, read from a config's `connection_details`.
pub struct Settings {
    pub username: String,
    pub password: zeroize::Zeroizing<String>,
    pub max_open_connections: u32,
    pub connection_url: String,
    pub details: Map,
}

impl Settings {
    pub fn from_details(details: &Map) -> Result<Settings, DbError> {
        let text = |k: &str| match details.get(k) {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(s)) => Ok(s.clone()),
            Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(DbError::Config(format!("{k} must be a string"))),
        };
        let max_open_connections = match details.get("max_open_connections") {
            // 0 is Vault's "unset".
            None | Some(serde_json::Value::Null) => 4,
            Some(v) if v.as_u64() == Some(0) || v.as_str() == Some("0") => 4,
            // The words of Vault's plugins, which decode their settings with mapstructure.
            Some(serde_json::Value::String(s)) if s.parse::<i64>().is_err() => {
                return Err(DbError::Config(
                    "decoding failed due to the following error(s):\n\n'max_open_connections' cannot parse value as 'int': strconv.ParseInt: invalid syntax".into(),
                ))
            }
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .filter(|n| *n > 0 && *n <= 1000)
                .ok_or_else(|| {
                    DbError::Config("max_open_connections must be between 1 and 1000".into())
                })? as u32,
        };
        Ok(Settings {
            username: text("username")?,
            password: zeroize::Zeroizing::new(text("password")?),
            max_open_connections,
            connection_url: text("connection_url")?,
            details: details.clone(),
        })
    }
}

/// Opens (lazily) the pool of a config.
pub fn connect(kind: Kind, settings: Settings) -> Result<Box<dyn Connection>, DbError> {
    Ok(match kind {
        Kind::Postgres => Box::new(postgres::Postgres::new(settings)?),
        Kind::MySql => Box::new(mysql::MySql::new(settings)?),
        Kind::Redis => Box::new(redis::Redis::new(settings)?),
    })
}

/// `{{name}}`-style substitution in statements, as Vault's query helper does it.
pub fn fill(statement: &str, values: &[(&str, &str)]) -> String {
    let mut out = statement.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{{{k}}}}}"), v);
    }
    out
}

/// One list entry as Vault reads it: base64 of the statements, a JSON list of them, or the
/// statements themselves.
fn decode_entry(entry: &str) -> Vec<String> {
    use base64::Engine;
    let mut text = entry.trim().to_owned();
    if !text.is_empty() {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&text) {
            if let Ok(decoded) = String::from_utf8(bytes) {
                text = decoded.trim().to_owned();
            }
        }
    }
    let trimmed = text.as_str();
    if trimmed.starts_with('[') {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(trimmed) {
            return list;
        }
    }
    vec![text]
}

/// Statements split on `;` (Vault lets one list entry hold several), blanks dropped. An entry
/// with a body (`DO $$ … END $$`, a function) is kept whole, as Vault does for any entry with
/// the word `END` in it.
pub fn split(statements: &Statements) -> Vec<String> {
    let has_body = |s: &str| {
        s.contains("$$")
            || s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .any(|w| w == "END")
    };
    let mut out = Vec::new();
    for s in statements.iter().flat_map(|e| decode_entry(e)) {
        let s = s.as_str();
        if has_body(s) {
            out.push(s.trim().to_owned());
            continue;
        }
        out.extend(
            s.split(';')
                .map(str::trim)
                .filter(|q| !q.is_empty())
                .map(str::to_owned),
        );
    }
    out
}

/// A role's statements, split, with `{{…}}` filled in.
pub fn prepare(statements: &Statements, values: &[(&str, &str)]) -> Vec<String> {
    split(statements).iter().map(|q| fill(q, values)).collect()
}

/// Vault's expiration format in statements (`VALID UNTIL '{{expiration}}'`).
pub fn expiration_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Removes a password from a message a driver produced, in case it quotes its input.
pub fn redact(message: String, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(message, |m, s| m.replace(s, "[redacted]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pool_size_is_read_as_vault_plugins_read_it() {
        let settings = |v: serde_json::Value| {
            let details = serde_json::json!({ "max_open_connections": v });
            Settings::from_details(details.as_object().unwrap())
        };
        assert_eq!(settings(json!(7)).unwrap().max_open_connections, 7);
        assert_eq!(settings(json!("7")).unwrap().max_open_connections, 7);
        assert_eq!(
            settings(json!(0)).unwrap().max_open_connections,
            4,
            "0 is unset"
        );
        let err = |v| match settings(v) {
            Err(DbError::Config(e)) => e,
            other => panic!("{:?}", other.map(|s| s.max_open_connections)),
        };
        assert!(err(json!("many")).ends_with(
            "'max_open_connections' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
        ));
        assert_eq!(
            err(json!(5000)),
            "max_open_connections must be between 1 and 1000"
        );
    }

    #[test]
    fn statements_are_filled_and_split() {
        let q = fill(
            r#"CREATE ROLE "{{name}}" PASSWORD '{{password}}'; GRANT x TO "{{name}}";"#,
            &[("name", "v-a"), ("password", "pw")],
        );
        assert_eq!(q, r#"CREATE ROLE "v-a" PASSWORD 'pw'; GRANT x TO "v-a";"#);
        assert_eq!(
            split(&[q, "  ".into(), "DO $$ BEGIN; END $$;".into()]),
            [
                r#"CREATE ROLE "v-a" PASSWORD 'pw'"#,
                r#"GRANT x TO "v-a""#,
                "DO $$ BEGIN; END $$;"
            ]
        );
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode("SELECT 1; SELECT 2");
        assert_eq!(split(&[encoded]), ["SELECT 1", "SELECT 2"]);
        assert_eq!(
            split(&[r#"["SELECT 3", "SELECT 4"]"#.into()]),
            ["SELECT 3", "SELECT 4"]
        );
        let t = OffsetDateTime::from_unix_timestamp(0).unwrap();
        assert_eq!(expiration_text(t), "1970-01-01 00:00:00+0000");
        assert_eq!(
            redact("bad password hunter2 x".into(), &["hunter2"]),
            "bad password [redacted] x"
        );
    }
}
