//! The SQL pool PostgreSQL and MySQL share: statements run as plain text (the simple query
//! protocol), so that DDL, multi-statement strings and `DO` blocks behave as they do in `psql`,
//! each step in one transaction. Every wait on the database is bounded by [`TIMEOUT`].

use sqlx::mysql::{MySqlConnectOptions, MySqlPool};
use sqlx::pool::PoolOptions;
use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::{ConnectOptions, Executor, Row};

use super::{prepare, redact, DbError, Statements, TIMEOUT};

#[derive(Clone)]
pub enum Pool {
    Postgres(PgPool),
    MySql(MySqlPool),
}

fn options<DB: sqlx::Database>(max: u32) -> PoolOptions<DB> {
    PoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(TIMEOUT)
        // Connections that sat idle are dropped, so a restarted database costs one failed
        // request at most; the pool checks a connection before handing it out.
        .idle_timeout(std::time::Duration::from_secs(60))
        .test_before_acquire(true)
}

fn unreachable(e: sqlx::Error) -> DbError {
    DbError::Unreachable(e.to_string())
}

impl Pool {
    pub fn postgres(opts: PgConnectOptions, max: u32) -> Pool {
        Pool::Postgres(options(max).connect_lazy_with(opts))
    }

    pub fn mysql(opts: MySqlConnectOptions, max: u32) -> Pool {
        Pool::MySql(options(max).connect_lazy_with(opts))
    }

    /// Runs `queries` in one transaction; a failure rolls the whole step back. `secrets` are
    /// removed from any error message (a statement may carry a password).
    pub async fn run(&self, queries: &[String], secrets: &[&str]) -> Result<(), DbError> {
        let pool = self.clone();
        let queries = zeroize::Zeroizing::new(queries.to_vec());
        let result = spawned(async move {
            let step = match &pool {
                Pool::Postgres(p) => transaction(p, &queries).await,
                Pool::MySql(p) => transaction(p, &queries).await,
            };
            match step {
                Ok(()) => Ok(()),
                Err(Step::Begin(e)) => Err(pool.cause(e).await),
                Err(Step::Statement(e)) => Err(DbError::Statement(e.to_string())),
                Err(Step::Commit(e)) => Err(unreachable(e)),
            }
        })
        .await;
        result.map_err(|e| match e {
            DbError::Statement(m) => DbError::Statement(redact(m, secrets)),
            DbError::Unreachable(m) => DbError::Unreachable(redact(m, secrets)),
            other => other,
        })
    }

    /// A user from creation statements, `{{password}}` filled with `password_value` (the
    /// password, or what the database takes in its place); if they fail, the rollback
    /// statements run (best effort) and the creation error is reported.
    pub async fn create_user(
        &self,
        creation: &Statements,
        rollback: &Statements,
        username: &str,
        password_value: &str,
        expiration: time::OffsetDateTime,
        secrets: &[&str],
    ) -> Result<(), DbError> {
        if creation.is_empty() {
            return Err(DbError::Role("empty creation statements".into()));
        }
        let exp = super::expiration_text(expiration);
        let values = [
            ("name", username),
            ("username", username),
            ("password", password_value),
            ("expiration", exp.as_str()),
        ];
        let values = &values[..];
        let result = self.run(&prepare(creation, values), secrets).await;
        if result.is_err() && !rollback.is_empty() {
            if let Err(e) = self.run(&prepare(rollback, values), secrets).await {
                tracing::warn!(error = %e, "database: rollback statements failed");
            }
        }
        result
    }

    /// The first column of every row of `query`, as text.
    pub async fn strings(&self, query: &str) -> Result<Vec<String>, DbError> {
        let pool = self.clone();
        let query = query.to_owned();
        spawned(async move {
            let rows = match &pool {
                Pool::Postgres(p) => sqlx::query(&query)
                    .fetch_all(p)
                    .await
                    .map_err(statement)?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<_, _>>(),
                Pool::MySql(p) => sqlx::query(&query)
                    .fetch_all(p)
                    .await
                    .map_err(statement)?
                    .iter()
                    .map(|r| r.try_get::<String, _>(0))
                    .collect::<Result<_, _>>(),
            };
            rows.map_err(statement)
        })
        .await
    }

    /// Connects afresh (not through the pool, which would wait out its timeout on a database
    /// that refuses) and asks for `SELECT 1`.
    pub async fn ping(&self) -> Result<(), DbError> {
        let pool = self.clone();
        spawned(async move {
            match &pool {
                Pool::Postgres(p) => {
                    let mut c = p.connect_options().connect().await.map_err(unreachable)?;
                    c.execute(sqlx::raw_sql("SELECT 1")).await.map(drop)
                }
                Pool::MySql(p) => {
                    let mut c = p.connect_options().connect().await.map_err(unreachable)?;
                    c.execute(sqlx::raw_sql("SELECT 1")).await.map(drop)
                }
            }
            .map_err(unreachable)
        })
        .await
    }

    /// Why the pool could not give a connection: a timed-out wait says nothing, so one direct
    /// connection attempt names the cause (refused, unknown host, bad password).
    async fn cause(&self, e: sqlx::Error) -> DbError {
        if !matches!(e, sqlx::Error::PoolTimedOut) {
            return unreachable(e);
        }
        let probe = async {
            match self {
                Pool::Postgres(p) => p.connect_options().connect().await.map(drop),
                Pool::MySql(p) => p.connect_options().connect().await.map(drop),
            }
        };
        match tokio::time::timeout(TIMEOUT, probe).await {
            Ok(Err(cause)) => unreachable(cause),
            _ => unreachable(e),
        }
    }

    pub async fn close(&self) {
        match self {
            Pool::Postgres(p) => p.close().await,
            Pool::MySql(p) => p.close().await,
        }
    }
}

/// Where a transaction failed.
enum Step {
    Begin(sqlx::Error),
    Statement(sqlx::Error),
    Commit(sqlx::Error),
}

async fn transaction<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    queries: &[String],
) -> Result<(), Step>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let mut tx = pool.begin().await.map_err(Step::Begin)?;
    for q in queries {
        (&mut *tx)
            .execute(sqlx::raw_sql(q))
            .await
            .map_err(Step::Statement)?;
    }
    tx.commit().await.map_err(Step::Commit)
}

/// Runs one step against the database as its own task, bounded in time. Its own task so that
/// a step, once started, finishes (or rolls back) even if the request that asked for it goes
/// away; and owned, which also keeps sqlx's executor lifetimes out of the engine's futures.
async fn spawned<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, DbError>> + Send + 'static,
) -> Result<T, DbError> {
    // The pool bounds the wait for a connection; this bounds a statement that never answers
    // (a lock held elsewhere), twice as long so the clearer pool error wins when both apply.
    let limit = TIMEOUT * 2;
    let bounded = async move {
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(DbError::Unreachable(format!(
                "no answer within {} s",
                limit.as_secs()
            )))
        })
    };
    tokio::spawn(bounded)
        .await
        .unwrap_or_else(|e| Err(DbError::Unreachable(format!("database task failed: {e}"))))
}

fn statement(e: sqlx::Error) -> DbError {
    match e {
        e @ (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed) => {
            unreachable(e)
        }
        e => DbError::Statement(e.to_string()),
    }
}

/// A quoted SQL identifier: `"name"` for PostgreSQL (`"` doubled inside).
pub fn pg_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A quoted SQL string literal (`'` doubled inside; backslashes doubled for MySQL).
pub fn literal(value: &str, mysql: bool) -> String {
    let v = value.replace('\'', "''");
    let v = if mysql { v.replace('\\', "\\\\") } else { v };
    format!("'{v}'")
}
