//! `postgresql-database-plugin`. `connection_url` is a `postgres://` URL with `{{username}}` and
//! `{{password}}` filled from the config (percent-encoded). With
//! `password_authentication = "scram-sha-256"` the password is sent as a SCRAM verifier, so
//! the plaintext never reaches the server (or its statement log).

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::postgres::PgConnectOptions;
use sqlx::ConnectOptions;
use time::OffsetDateTime;

use super::sql::{literal, pg_ident, Pool};
use super::{expiration_text, fill, prepare, Connection, DbError, Settings, Statements};

pub struct Postgres {
    pool: Pool,
    scram: bool,
}

/// Characters that may stand unescaped in a URL's user information.
fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Postgres {
    pub fn new(s: Settings) -> Result<Postgres, DbError> {
        if s.connection_url.is_empty() {
            return Err(DbError::Config("connection_url cannot be empty".into()));
        }
        let scram = match s
            .details
            .get("password_authentication")
            .and_then(|v| v.as_str())
        {
            None | Some("") | Some("password") => false,
            Some("scram-sha-256") => true,
            Some(other) => {
                return Err(DbError::Config(format!(
                    "'{other}' is not a valid password authentication type"
                )))
            }
        };
        let url = fill(
            &s.connection_url,
            &[
                ("username", &percent_encode(&s.username)),
                ("password", &percent_encode(&s.password)),
            ],
        );
        // Statements carry passwords: sqlx must never log them (it logs slow ones at WARN).
        let opts = PgConnectOptions::from_str(&url)
            .map(|o| o.disable_statement_logging())
            .map_err(|e| {
                DbError::Config(format!(
                    "error verifying connection: invalid connection_url: {}",
                    super::redact(e.to_string(), &[&s.password])
                ))
            })?;
        Ok(Postgres {
            pool: Pool::postgres(opts, s.max_open_connections),
            scram,
        })
    }

    /// What goes into `{{password}}`: the password, or its SCRAM verifier.
    fn password_value(&self, password: &str) -> Result<String, DbError> {
        if self.scram {
            scram_verifier(password)
        } else {
            Ok(password.to_owned())
        }
    }

    async fn role_exists(&self, username: &str) -> Result<bool, DbError> {
        let q = format!(
            "SELECT rolname::text FROM pg_roles WHERE rolname = {}",
            literal(username, false)
        );
        Ok(!self.pool.strings(&q).await?.is_empty())
    }
}

#[async_trait]
impl Connection for Postgres {
    async fn verify(&self) -> Result<(), DbError> {
        self.pool.ping().await
    }

    async fn create_user(
        &self,
        creation: &Statements,
        rollback: &Statements,
        username: &str,
        password: &str,
        expiration: OffsetDateTime,
    ) -> Result<(), DbError> {
        let pw = self.password_value(password)?;
        self.pool
            .create_user(
                creation,
                rollback,
                username,
                &pw,
                expiration,
                &[password, &pw],
            )
            .await
    }

    async fn set_password(
        &self,
        statements: &Statements,
        username: &str,
        password: &str,
    ) -> Result<(), DbError> {
        let pw = self.password_value(password)?;
        if statements.is_empty() {
            // Built with quoting, not by filling a template: the user name comes from a static
            // role and must not be able to add statements.
            let q = format!(
                "ALTER ROLE {} WITH PASSWORD {}",
                pg_ident(username),
                literal(&pw, false)
            );
            return self.pool.run(&[q], &[password, &pw]).await;
        }
        let values = [
            ("name", username),
            ("username", username),
            ("password", pw.as_str()),
        ];
        let queries = prepare(statements, &values);
        self.pool.run(&queries, &[password, &pw]).await
    }

    async fn set_expiration(
        &self,
        statements: &Statements,
        username: &str,
        expiration: OffsetDateTime,
    ) -> Result<(), DbError> {
        let exp = expiration_text(expiration);
        if statements.is_empty() {
            let q = format!(
                "ALTER ROLE {} VALID UNTIL {}",
                pg_ident(username),
                literal(&exp, false)
            );
            return self.pool.run(&[q], &[]).await;
        }
        let values = [
            ("name", username),
            ("username", username),
            ("expiration", exp.as_str()),
        ];
        let queries = prepare(statements, &values);
        self.pool.run(&queries, &[]).await
    }

    async fn delete_user(&self, statements: &Statements, username: &str) -> Result<(), DbError> {
        if !statements.is_empty() {
            let values = [("name", username), ("username", username)];
            let queries = prepare(statements, &values);
            return self.pool.run(&queries, &[]).await;
        }
        // The default revocation: no new logins, end the user's sessions, take back its
        // privileges (on every schema it has table grants in, on `public`, on this database),
        // then drop the role. A role that still owns objects is not dropped: the revocation
        // fails and is retried, rather than anything being lost.
        if !self.role_exists(username).await? {
            return Ok(());
        }
        let ident = pg_ident(username);
        let name = literal(username, false);
        self.pool
            .run(&[format!("ALTER ROLE {ident} NOLOGIN")], &[])
            .await?;
        let terminate = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {name} AND pid <> pg_backend_pid()"
        );
        if let Err(e) = self.pool.run(&[terminate], &[]).await {
            // Needs pg_signal_backend; the role still goes and its sessions end with it.
            tracing::warn!(error = %e, "postgres: could not end the sessions of a revoked user");
        }
        let mut schemas = self
            .pool
            .strings(&format!(
                "SELECT DISTINCT table_schema::text FROM information_schema.table_privileges WHERE grantee = {name}"
            ))
            .await?;
        if !schemas.iter().any(|s| s == "public") {
            schemas.push("public".into());
        }
        let mut queries = Vec::new();
        for schema in &schemas {
            let schema = pg_ident(schema);
            queries.push(format!(
                "REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA {schema} FROM {ident}"
            ));
            queries.push(format!(
                "REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA {schema} FROM {ident}"
            ));
            queries.push(format!("REVOKE USAGE ON SCHEMA {schema} FROM {ident}"));
        }
        let db = self.pool.strings("SELECT current_database()::text").await?;
        if let Some(db) = db.first() {
            queries.push(format!(
                "REVOKE ALL PRIVILEGES ON DATABASE {} FROM {ident}",
                pg_ident(db)
            ));
        }
        queries.push(format!("DROP ROLE IF EXISTS {ident}"));
        self.pool.run(&queries, &[]).await
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

/// A SCRAM-SHA-256 verifier in PostgreSQL's format:
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (RFC 5802, 7677).
pub fn scram_verifier(password: &str) -> Result<String, DbError> {
    use aws_lc_rs::{digest, hmac, pbkdf2};
    use base64::Engine;
    const ITERATIONS: std::num::NonZeroU32 = match std::num::NonZeroU32::new(4096) {
        Some(n) => n,
        None => std::num::NonZeroU32::MIN,
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| DbError::Config("no randomness".into()))?;
    let mut salted = zeroize::Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        ITERATIONS,
        &salt,
        password.as_bytes(),
        &mut salted[..],
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted[..]);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    Ok(format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        b64.encode(salt),
        b64.encode(stored_key.as_ref()),
        b64.encode(server_key.as_ref())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_information_is_percent_encoded() {
        assert_eq!(percent_encode("a-b_c.d~"), "a-b_c.d~");
        assert_eq!(percent_encode("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }

    #[test]
    fn scram_verifiers_have_postgres_shape_and_fresh_salt() {
        let a = scram_verifier("secret").unwrap();
        let b = scram_verifier("secret").unwrap();
        assert_ne!(a, b);
        let rest = a.strip_prefix("SCRAM-SHA-256$4096:").unwrap();
        let (salt, keys) = rest.split_once('$').unwrap();
        assert_eq!(salt.len(), 24);
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!((stored.len(), server.len()), (44, 44));
    }
}
