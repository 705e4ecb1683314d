//! `mysql-database-plugin` (MySQL and MariaDB, and the `-legacy`, `-aurora`, `-rds` names).
//! `connection_url` is the Go driver's DSN that Vault takes,
//! `{{username}}:{{password}}@tcp(127.0.0.1:3306)/dbname?params`, or `unix(/path/to.sock)`.
//! MySQL has no user expiry, so a renewal runs only the role's own renew statements.

use async_trait::async_trait;
use sqlx::mysql::MySqlConnectOptions;
use sqlx::ConnectOptions;
use time::OffsetDateTime;

use super::sql::{literal, Pool};
use super::{fill, prepare, Connection, DbError, Settings, Statements};

pub struct MySql {
    pool: Pool,
}

/// Parses Go's MySQL DSN, `[user[:password]@][net[(addr)]]/dbname[?params]`, filling the
/// `{{username}}`/`{{password}}` placeholders with the config's credentials.
fn parse_dsn(dsn: &str, username: &str, password: &str) -> Result<MySqlConnectOptions, DbError> {
    let invalid = |why: &str| DbError::Config(format!("invalid connection_url: {why}"));
    let slash = dsn
        .rfind('/')
        .ok_or_else(|| invalid("missing the slash before the database name"))?;
    let (head, tail) = (&dsn[..slash], &dsn[slash + 1..]);
    let dbname = tail.split('?').next().unwrap_or_default();
    let (creds, net) = match head.rfind('@') {
        Some(at) => (Some(&head[..at]), &head[at + 1..]),
        None => (None, head),
    };
    let values = [("username", username), ("password", password)];
    // Statements carry passwords: sqlx must never log them. There is no TLS client for MySQL
    // yet, so TLS settings are refused rather than silently dropped.
    let mut opts = MySqlConnectOptions::new()
        .disable_statement_logging()
        .ssl_mode(sqlx::mysql::MySqlSslMode::Disabled);
    let params = tail.split_once('?').map(|(_, p)| p).unwrap_or_default();
    for param in params.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = param.split_once('=').unwrap_or((param, ""));
        if k == "tls" && v != "false" {
            return Err(invalid("TLS connections to MySQL are not supported yet"));
        }
    }
    if let Some(creds) = creds {
        let (u, p) = creds.split_once(':').unwrap_or((creds, ""));
        opts = opts.username(&fill(u, &values));
        let p = zeroize::Zeroizing::new(fill(p, &values));
        if !p.is_empty() {
            opts = opts.password(&p);
        }
    }
    let (proto, addr) = match net.split_once('(') {
        Some((proto, rest)) => (
            proto,
            rest.strip_suffix(')')
                .ok_or_else(|| invalid("unclosed address"))?,
        ),
        None => (net, ""),
    };
    opts = match proto {
        "" | "tcp" => {
            let addr = if addr.is_empty() {
                "127.0.0.1:3306"
            } else {
                addr
            };
            let (host, port) = match addr.rsplit_once(':') {
                Some((h, p)) => (
                    h.trim_start_matches('[').trim_end_matches(']'),
                    p.parse().map_err(|_| invalid("bad port"))?,
                ),
                None => (addr, 3306),
            };
            opts.host(host).port(port)
        }
        "unix" => opts.socket(addr),
        other => return Err(invalid(&format!("unknown network {other:?}"))),
    };
    if !dbname.is_empty() {
        opts = opts.database(dbname);
    }
    Ok(opts)
}

impl MySql {
    pub fn new(s: Settings) -> Result<MySql, DbError> {
        if s.connection_url.is_empty() {
            return Err(DbError::Config("connection_url cannot be empty".into()));
        }
        let opts = parse_dsn(&s.connection_url, &s.username, &s.password)?;
        Ok(MySql {
            pool: Pool::mysql(opts, s.max_open_connections),
        })
    }

    /// The hosts `username` exists for (`'name'@'%'`, `'name'@'localhost'`, …).
    async fn hosts(&self, username: &str) -> Result<Vec<String>, DbError> {
        let q = format!(
            "SELECT CAST(Host AS CHAR) FROM mysql.user WHERE User = {}",
            literal(username, true)
        );
        self.pool.strings(&q).await
    }

    fn account(username: &str, host: &str) -> String {
        format!("{}@{}", literal(username, true), literal(host, true))
    }
}

#[async_trait]
impl Connection for MySql {
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
        self.pool
            .create_user(
                creation,
                rollback,
                username,
                password,
                expiration,
                &[password],
            )
            .await
    }

    async fn set_password(
        &self,
        statements: &Statements,
        username: &str,
        password: &str,
    ) -> Result<(), DbError> {
        // Vault's default changes the `'%'` account only; other accounts of the same name
        // (`'root'@'localhost'` with socket login) are left alone.
        let queries: Vec<String> = if statements.is_empty() {
            vec![format!(
                "ALTER USER {} IDENTIFIED BY {}",
                Self::account(username, "%"),
                literal(password, true)
            )]
        } else {
            let values = [
                ("name", username),
                ("username", username),
                ("password", password),
            ];
            prepare(statements, &values)
        };
        self.pool.run(&queries, &[password]).await
    }

    async fn set_expiration(
        &self,
        statements: &Statements,
        username: &str,
        expiration: OffsetDateTime,
    ) -> Result<(), DbError> {
        if statements.is_empty() {
            return Ok(());
        }
        let exp = super::expiration_text(expiration);
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
        // The default revocation: end the user's sessions, then drop every account of that
        // name (DROP USER takes its privileges with it).
        let hosts = self.hosts(username).await?;
        if hosts.is_empty() {
            return Ok(());
        }
        let sessions = self
            .pool
            .strings(&format!(
                "SELECT CAST(ID AS CHAR) FROM information_schema.PROCESSLIST WHERE USER = {}",
                literal(username, true)
            ))
            .await?;
        for id in sessions
            .iter()
            .filter(|id| id.bytes().all(|b| b.is_ascii_digit()))
        {
            if let Err(e) = self.pool.run(&[format!("KILL {id}")], &[]).await {
                tracing::warn!(error = %e, "mysql: could not end a session of a revoked user");
            }
        }
        let drops: Vec<String> = hosts
            .iter()
            .map(|h| format!("DROP USER IF EXISTS {}", Self::account(username, h)))
            .collect();
        self.pool.run(&drops, &[]).await
    }

    async fn close(&self) {
        self.pool.close().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_dsns_parse() {
        for dsn in [
            "{{username}}:{{password}}@tcp(127.0.0.1:3306)/",
            "{{username}}:{{password}}@tcp(localhost:3306)/app?tls=false",
            "{{username}}:{{password}}@/",
            "root@unix(/run/mysqld/mysqld.sock)/",
        ] {
            assert!(parse_dsn(dsn, "u", "p").is_ok(), "{dsn}");
        }
        for dsn in [
            "no-slash",
            "u:p@tcp(127.0.0.1:3306/",
            "u@tcp(h:x)/",
            "u@udp(h:1)/",
        ] {
            assert!(parse_dsn(dsn, "u", "p").is_err(), "{dsn}");
        }
    }
}
