//! `redis-database-plugin`: users are Redis ACL users. The config gives `host`, `port`,
//! `username` and `password` (no `connection_url`); a role's creation statement is a JSON list
//! of ACL rules (`["~*", "+@read"]`, the default). Redis has no user expiry, so renewal is a
//! no-op; `ACL DELUSER` also disconnects the user's clients.
//!
//! The client is a minimal RESP2 one (AUTH, ACL, PING are all this plugin sends), over a small
//! pool of authenticated connections: at most `max_open_connections` at once, each wait bounded.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Mutex, Semaphore};
use zeroize::Zeroizing;

use super::{redact, Connection, DbError, Settings, Statements, TIMEOUT};

pub struct Redis {
    addr: String,
    username: String,
    password: Zeroizing<String>,
    idle: Mutex<Vec<BufReader<TcpStream>>>,
    slots: Arc<Semaphore>,
}

#[derive(Debug, PartialEq)]
enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

fn encode(args: &[&str]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(format!("*{}\r\n", args.len()).into_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out
}

async fn read_reply(r: &mut BufReader<TcpStream>) -> std::io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line).await? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed reply");
    let (kind, rest) = line.split_at_checked(1).ok_or_else(bad)?;
    Ok(match kind {
        "+" => Reply::Simple(rest.to_owned()),
        "-" => Reply::Error(rest.to_owned()),
        ":" => Reply::Int(rest.parse().map_err(|_| bad())?),
        "$" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf).await?;
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
        }
        "*" => {
            let n: i64 = rest.parse().map_err(|_| bad())?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut items = Vec::with_capacity(n.min(1024) as usize);
                for _ in 0..n {
                    items.push(Box::pin(read_reply(r)).await?);
                }
                Reply::Array(Some(items))
            }
        }
        _ => return Err(bad()),
    })
}

async fn exchange(conn: &mut BufReader<TcpStream>, args: &[&str]) -> std::io::Result<Reply> {
    conn.get_mut().write_all(&encode(args)).await?;
    read_reply(conn).await
}

fn text_field(s: &Settings, k: &str) -> Result<String, DbError> {
    match s.details.get(k) {
        Some(serde_json::Value::String(v)) if !v.is_empty() => Ok(v.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(DbError::Config(format!("{k} cannot be empty"))),
    }
}

impl Redis {
    pub fn new(s: Settings) -> Result<Redis, DbError> {
        let host = text_field(&s, "host")?;
        let port = text_field(&s, "port")?;
        port.parse::<u16>()
            .map_err(|_| DbError::Config("port must be a number between 1 and 65535".into()))?;
        if s.username.is_empty() {
            return Err(DbError::Config("username cannot be empty".into()));
        }
        if s.password.is_empty() {
            return Err(DbError::Config("password cannot be empty".into()));
        }
        if s.details.get("tls").and_then(|v| v.as_bool()) == Some(true) {
            return Err(DbError::Config(
                "tls connections to Redis are not supported yet".into(),
            ));
        }
        Ok(Redis {
            addr: format!("{host}:{port}"),
            username: s.username.clone(),
            password: s.password.clone(),
            idle: Mutex::new(Vec::new()),
            slots: Arc::new(Semaphore::new(s.max_open_connections as usize)),
        })
    }

    async fn open(&self) -> Result<BufReader<TcpStream>, DbError> {
        let stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| DbError::Unreachable(format!("{}: {e}", self.addr)))?;
        let _ = stream.set_nodelay(true);
        let mut conn = BufReader::new(stream);
        match exchange(&mut conn, &["AUTH", &self.username, &self.password])
            .await
            .map_err(|e| DbError::Unreachable(e.to_string()))?
        {
            Reply::Simple(_) => Ok(conn),
            Reply::Error(e) => Err(DbError::Unreachable(format!(
                "authentication failed: {}",
                redact(e, &[&self.password])
            ))),
            other => Err(DbError::Unreachable(format!(
                "unexpected reply to AUTH: {other:?}"
            ))),
        }
    }

    /// Sends one command on a pooled connection. A connection that failed is dropped, not
    /// returned to the pool.
    async fn command(&self, args: &[&str], secrets: &[&str]) -> Result<Reply, DbError> {
        let work = async {
            let _slot = self
                .slots
                .acquire()
                .await
                .map_err(|_| DbError::Unreachable("the connection pool is closed".into()))?;
            let pooled = self.idle.lock().await.pop();
            let mut conn = match pooled {
                Some(c) => c,
                None => self.open().await?,
            };
            let reply = exchange(&mut conn, args)
                .await
                .map_err(|e| DbError::Unreachable(e.to_string()))?;
            self.idle.lock().await.push(conn);
            match reply {
                Reply::Error(e) => Err(DbError::Statement(redact(e, secrets))),
                r => Ok(r),
            }
        };
        tokio::time::timeout(TIMEOUT, work)
            .await
            .unwrap_or_else(|_| {
                Err(DbError::Unreachable(format!(
                    "{}: no answer within {} s",
                    self.addr,
                    TIMEOUT.as_secs()
                )))
            })
    }

    async fn user_exists(&self, username: &str) -> Result<bool, DbError> {
        Ok(!matches!(
            self.command(&["ACL", "GETUSER", username], &[]).await?,
            Reply::Bulk(None) | Reply::Array(None)
        ))
    }
}

/// The ACL rules of a creation statement: a JSON list of strings.
fn rules(creation: &Statements) -> Result<Vec<String>, DbError> {
    match creation.iter().find(|s| !s.trim().is_empty()) {
        None => Ok(vec!["~*".into(), "+@read".into()]),
        Some(s) => serde_json::from_str(s).map_err(|e| {
            DbError::Config(format!(
                "error unmarshalling REDIS rules in the creation statement JSON: {e}"
            ))
        }),
    }
}

#[async_trait]
impl Connection for Redis {
    async fn verify(&self) -> Result<(), DbError> {
        match self.command(&["PING"], &[]).await? {
            Reply::Simple(_) => Ok(()),
            other => Err(DbError::Unreachable(format!(
                "unexpected reply to PING: {other:?}"
            ))),
        }
    }

    async fn create_user(
        &self,
        creation: &Statements,
        _rollback: &Statements,
        username: &str,
        password: &str,
        _expiration: OffsetDateTime,
    ) -> Result<(), DbError> {
        let rules = rules(creation)?;
        let pass = Zeroizing::new(format!(">{password}"));
        let mut args = vec!["ACL", "SETUSER", username, "on", pass.as_str()];
        args.extend(rules.iter().map(String::as_str));
        self.command(&args, &[password]).await.map(drop)
    }

    async fn set_password(
        &self,
        _statements: &Statements,
        username: &str,
        password: &str,
    ) -> Result<(), DbError> {
        if !self.user_exists(username).await? {
            return Err(DbError::Statement(format!(
                "changeUserPassword for user {username} failed, user not found!"
            )));
        }
        let pass = Zeroizing::new(format!(">{password}"));
        self.command(
            &["ACL", "SETUSER", username, "RESETPASS", pass.as_str()],
            &[password],
        )
        .await
        .map(drop)
    }

    async fn set_expiration(
        &self,
        _statements: &Statements,
        _username: &str,
        _expiration: OffsetDateTime,
    ) -> Result<(), DbError> {
        Ok(())
    }

    async fn delete_user(&self, _statements: &Statements, username: &str) -> Result<(), DbError> {
        self.command(&["ACL", "DELUSER", username], &[])
            .await
            .map(drop)
    }

    async fn close(&self) {
        self.slots.close();
        self.idle.lock().await.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_resp_arrays_and_rules_are_json() {
        assert_eq!(
            &encode(&["ACL", "DELUSER", "x"])[..],
            b"*3\r\n$3\r\nACL\r\n$7\r\nDELUSER\r\n$1\r\nx\r\n"
        );
        assert_eq!(rules(&[]).unwrap(), ["~*", "+@read"]);
        assert_eq!(rules(&[r#"["+@admin"]"#.into()]).unwrap(), ["+@admin"]);
        assert!(rules(&["+@admin".into()]).is_err());
    }
}
