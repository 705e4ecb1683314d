//! The database secrets engine through the real binary, against the machine's real
//! PostgreSQL, MariaDB and Redis on loopback (`scripts/services.sh` makes sure they are up and
//! that PostgreSQL checks the passwords of members of `tresor_password_login`). Every test makes
//! its own users and databases with unique names and drops them at the end.
//!
//! What is checked is what the database says: the issued user logs in and queries; after
//! revocation or expiry the same login fails and the user is gone from the catalog.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sqlx::Connection;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{prefix}_{}_{nanos}", std::process::id())
}

async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn mount(s: &common::Server) {
    let r = s
        .post("sys/mounts/database", json!({"type": "database"}))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
}

// --- PostgreSQL -------------------------------------------------------------------------

const PG: &str = "postgres://postgres@127.0.0.1:5432";

async fn pg_exec(db: &str, sql: &str) {
    let mut c = sqlx::PgConnection::connect(&format!("{PG}/{db}"))
        .await
        .unwrap();
    sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
}

async fn pg_count(db: &str, sql: &str) -> i64 {
    let mut c = sqlx::PgConnection::connect(&format!("{PG}/{db}"))
        .await
        .unwrap();
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(&mut c)
        .await
        .unwrap()
}

/// Logs in as `user` and counts the rows of `items`: the issued credentials at work.
async fn pg_login(db: &str, user: &str, password: &str) -> Result<i64, sqlx::Error> {
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(5432)
        .database(db)
        .username(user)
        .password(password);
    let mut c = sqlx::PgConnection::connect_with(&opts).await?;
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM items")
        .fetch_one(&mut c)
        .await
}

async fn pg_role_exists(name: &str) -> bool {
    pg_count(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{name}'"),
    )
    .await
        == 1
}

/// A database with a table `items` (one row) and a superuser that must give its password.
struct PgFixture {
    db: String,
    admin: String,
}

impl PgFixture {
    async fn new() -> PgFixture {
        let db = unique("tresor_db");
        let admin = unique("tresor_admin");
        pg_exec("postgres", &format!("CREATE DATABASE {db}")).await;
        pg_exec(
            &db,
            "CREATE TABLE items (id int); INSERT INTO items VALUES (1)",
        )
        .await;
        pg_exec(
            "postgres",
            &format!(
                "CREATE ROLE {admin} LOGIN SUPERUSER PASSWORD 'admin-pw' IN ROLE tresor_password_login"
            ),
        )
        .await;
        PgFixture { db, admin }
    }

    fn config(&self, allowed: &str) -> Value {
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:5432/{}", self.db),
            "username": self.admin,
            "password": "admin-pw",
            "allowed_roles": allowed,
            "password_authentication": "scram-sha-256",
        })
    }

    async fn drop(self) {
        pg_exec(
            "postgres",
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.db),
        )
        .await;
        pg_exec("postgres", &format!("DROP ROLE IF EXISTS {}", self.admin)).await;
    }
}

const PG_CREATION: &str = r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE tresor_password_login; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";"#;

fn creds_of(r: &common::Reply) -> (String, String, String) {
    (
        r.data()["username"].as_str().unwrap().to_owned(),
        r.data()["password"].as_str().unwrap().to_owned(),
        r.body["lease_id"].as_str().unwrap().to_owned(),
    )
}

async fn valid_until(user: &str) -> i64 {
    pg_count(
        "postgres",
        &format!(
            "SELECT extract(epoch FROM rolvaliduntil)::bigint FROM pg_roles WHERE rolname = '{user}'"
        ),
    )
    .await
}

#[tokio::test]
async fn postgres_credentials_live_renew_and_die_with_their_lease() {
    let fx = PgFixture::new().await;
    let s = common::dev();
    mount(&s).await;

    let r = s.post("database/config/pg", fx.config("app,short")).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = s.get("database/config/pg").await;
    assert_eq!(r.status, 200);
    let details = &r.data()["connection_details"];
    assert_eq!(details["username"], fx.admin.as_str());
    assert!(details.get("password").is_none(), "root password read back");
    assert_eq!(r.data()["allowed_roles"], json!(["app", "short"]));
    assert_eq!(r.data()["plugin_name"], "postgresql-database-plugin");
    // Password policies do not exist yet: refused, not silently ignored.
    let r = s
        .post("database/config/pg", json!({"password_policy": "strong"}))
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);

    let r = s
        .post(
            "database/roles/app",
            json!({"db_name": "pg", "creation_statements": PG_CREATION, "default_ttl": "1h", "max_ttl": "24h"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = s.get("database/roles/app").await;
    assert_eq!(r.data()["default_ttl"], 3600);
    assert_eq!(r.data()["creation_statements"], json!([PG_CREATION]));

    // Issued: a real user that logs in (its password checked by scram) and reads.
    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["lease_duration"], 3600);
    assert_eq!(r.body["renewable"], true);
    let (user, password, lease) = creds_of(&r);
    // The dev root token's display name is `token`, as in Vault's and OpenBao's dev mode.
    assert!(user.starts_with("v-token-app-"), "{user}");
    assert!(lease.starts_with("database/creds/app/"), "{lease}");
    assert_eq!(pg_login(&fx.db, &user, &password).await.unwrap(), 1);
    assert!(pg_login(&fx.db, &user, "wrong-password").await.is_err());

    // Renewed: VALID UNTIL moves with the lease.
    let before = valid_until(&user).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((before - (now + 3600)).abs() < 30, "{before} vs {now}");
    let r = s
        .post(
            "sys/leases/renew",
            json!({"lease_id": lease, "increment": "5h"}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["lease_duration"], 5 * 3600);
    let after = valid_until(&user).await;
    assert!((after - (now + 5 * 3600)).abs() < 30, "{after} vs {now}");

    // Revoked: the login fails and the role is gone.
    let r = s
        .post("sys/leases/revoke", json!({"lease_id": lease}))
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(pg_login(&fx.db, &user, &password).await.is_err());
    assert!(!pg_role_exists(&user).await);

    // Expired: a two-second lease drops its user by itself.
    let r = s
        .post(
            "database/roles/short",
            json!({"db_name": "pg", "creation_statements": PG_CREATION, "default_ttl": 2,
                   "username_template": r#"{{ printf "tresor_short_%s" (random 12 | lowercase) }}"#}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = s.get("database/creds/short").await;
    assert_eq!(r.body["lease_duration"], 2);
    let (short_user, short_pw, _) = creds_of(&r);
    assert!(
        short_user.starts_with("tresor_short_") && short_user.len() == 25,
        "{short_user}"
    );
    assert_eq!(pg_login(&fx.db, &short_user, &short_pw).await.unwrap(), 1);
    eventually("the expired user is dropped", || {
        let u = short_user.clone();
        async move { !pg_role_exists(&u).await }
    })
    .await;
    assert!(pg_login(&fx.db, &short_user, &short_pw).await.is_err());

    // LIST, with Vault's paging.
    let r = s.list("database/roles").await;
    assert_eq!(r.data()["keys"], json!(["app", "short"]));
    let r = s.list("database/roles?after=app&limit=1").await;
    assert_eq!(r.data()["keys"], json!(["short"]));

    // A role the config does not allow, and one that does not exist.
    s.post(
        "database/roles/other",
        json!({"db_name": "pg", "creation_statements": PG_CREATION}),
    )
    .await;
    let r = s.get("database/creds/other").await;
    assert_eq!(r.status, 500);
    assert!(
        r.errors()[0].contains("\"other\" is not an allowed role"),
        "{:?}",
        r.body
    );
    let r = s.get("database/creds/nope").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.errors(), ["unknown role: nope"]);

    // Reset reconnects from the stored config.
    assert_eq!(s.post("database/reset/pg", json!({})).await.status, 204);
    // A connection nobody configured is the caller's mistake: 400 (Vault answers 500).
    let r = s.post("database/reset/nope", json!({})).await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.errors(),
        ["failed to find entry for connection with name: \"nope\""]
    );

    // Root rotation: the old root password no longer logs in; the engine still works.
    let r = s.post("database/rotate-root/pg", json!({})).await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let opts = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .database(&fx.db)
        .username(&fx.admin)
        .password("admin-pw");
    assert!(sqlx::PgConnection::connect_with(&opts).await.is_err());
    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user2, pw2, lease2) = creds_of(&r);
    assert_eq!(pg_login(&fx.db, &user2, &pw2).await.unwrap(), 1);
    assert_eq!(
        s.post("sys/leases/revoke", json!({"lease_id": lease2}))
            .await
            .status,
        204
    );
    assert!(!pg_role_exists(&user2).await);

    // Disabling the engine revokes what it handed out.
    let r = s.get("database/creds/app").await;
    let (user3, _, _) = creds_of(&r);
    assert!(pg_role_exists(&user3).await);
    assert_eq!(s.delete("sys/mounts/database").await.status, 204);
    assert!(!pg_role_exists(&user3).await);

    drop(s);
    fx.drop().await;
}

#[tokio::test]
async fn postgres_static_roles_rotate_on_demand_and_on_schedule() {
    let fx = PgFixture::new().await;
    let user = unique("tresor_static");
    pg_exec(
        "postgres",
        &format!("CREATE ROLE {user} LOGIN PASSWORD 'initial' IN ROLE tresor_password_login"),
    )
    .await;
    pg_exec(&fx.db, &format!("GRANT SELECT ON items TO {user}")).await;
    let s = common::dev();
    mount(&s).await;
    assert_eq!(
        s.post("database/config/pg", fx.config("*")).await.status,
        204
    );

    let r = s
        .post(
            "database/static-roles/svc",
            json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    // Created means rotated: the password is Tresor's now.
    assert!(pg_login(&fx.db, &user, "initial").await.is_err());
    let r = s.get("database/static-creds/svc").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.data()["username"], user.as_str());
    assert_eq!(r.data()["rotation_period"], 3600);
    assert!(r.data()["ttl"].as_i64().unwrap() > 3590);
    let first = r.data()["password"].as_str().unwrap().to_owned();
    assert_eq!(pg_login(&fx.db, &user, &first).await.unwrap(), 1);
    let r = s.get("database/static-roles/svc").await;
    assert!(r.data().get("password").is_none());
    assert!(r.data()["last_vault_rotation"].is_string());

    // rotate-role changes it in the database.
    assert_eq!(
        s.post("database/rotate-role/svc", json!({})).await.status,
        204
    );
    let second = s.get("database/static-creds/svc").await.data()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, second);
    assert!(pg_login(&fx.db, &user, &first).await.is_err());
    assert_eq!(pg_login(&fx.db, &user, &second).await.unwrap(), 1);

    // On schedule: with a five-second period the password changes by itself.
    let r = s
        .post(
            "database/static-roles/svc",
            json!({"db_name": "pg", "username": user, "rotation_period": 5}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    eventually("the scheduled rotation", || {
        let s = &s;
        let second = second.clone();
        async move {
            s.get("database/static-creds/svc").await.data()["password"] != second.as_str()
        }
    })
    .await;
    let third = s.get("database/static-creds/svc").await.data()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(pg_login(&fx.db, &user, &third).await.unwrap(), 1);

    // Bad input is refused without touching anything.
    for (body, msg) in [
        (
            json!({"db_name": "pg", "username": user, "rotation_period": 2}),
            "rotation_period must be 5 seconds or more",
        ),
        (
            json!({"db_name": "pg", "username": "someone-else", "rotation_period": 60}),
            "cannot update static account username",
        ),
    ] {
        let r = s.post("database/static-roles/svc", body).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.errors(), [msg]);
    }
    let r = s
        .post(
            "database/static-roles/svc",
            json!({"db_name": "pg", "username": user, "rotation_period": u64::MAX / 2}),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
    let r = s.post("database/roles/svc", json!({"db_name": "pg"})).await;
    assert_eq!(r.errors(), ["Role and Static Role names must be unique"]);

    // A user name is quoted, never spliced into the statement: this one tries to add a
    // statement that would make the static user a superuser.
    let evil = format!("{user}\" SUPERUSER; ALTER ROLE \"{user}");
    let r = s
        .post(
            "database/static-roles/evil",
            json!({"db_name": "pg", "username": evil, "rotation_period": 60}),
        )
        .await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    let superuser = pg_count(
        "postgres",
        &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{user}' AND rolsuper"),
    )
    .await;
    assert_eq!(superuser, 0);
    assert_eq!(s.get("database/static-roles/evil").await.status, 404);
    let r = s.post("database/rotate-role/nope", json!({})).await;
    assert_eq!(
        (r.status.as_u16(), r.errors()),
        (400, vec!["no static role found for role name".to_owned()])
    );

    // Deleting the role leaves the user as it is.
    assert_eq!(s.delete("database/static-roles/svc").await.status, 204);
    assert!(pg_role_exists(&user).await);

    drop(s);
    pg_exec(&fx.db, &format!("REVOKE ALL ON items FROM {user}")).await;
    pg_exec("postgres", &format!("DROP ROLE {user}")).await;
    fx.drop().await;
}

// --- MariaDB ----------------------------------------------------------------------------

const MY: &str = "mysql://root@127.0.0.1:3306";

async fn my_exec(sql: &str) {
    let mut c = sqlx::MySqlConnection::connect(MY).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut c).await.unwrap();
}

async fn my_login(db: &str, user: &str, password: &str) -> Result<i64, sqlx::Error> {
    let opts = sqlx::mysql::MySqlConnectOptions::new()
        .host("127.0.0.1")
        .port(3306)
        .database(db)
        .username(user)
        .password(password);
    let mut c = sqlx::MySqlConnection::connect_with(&opts).await?;
    sqlx::query_scalar::<_, i64>("SELECT count(*) FROM items")
        .fetch_one(&mut c)
        .await
}

async fn my_user_exists(user: &str) -> bool {
    let mut c = sqlx::MySqlConnection::connect(MY).await.unwrap();
    sqlx::query_scalar::<_, i64>(&format!(
        "SELECT count(*) FROM mysql.user WHERE User = '{user}'"
    ))
    .fetch_one(&mut c)
    .await
    .unwrap()
        > 0
}

#[tokio::test]
async fn mariadb_dynamic_static_and_root_credentials() {
    let db = unique("tresor_db");
    let admin = unique("tresor_admin");
    let static_user = unique("tresor_st");
    my_exec(&format!(
        "CREATE DATABASE {db}; CREATE TABLE {db}.items (id int); INSERT INTO {db}.items VALUES (1);
         CREATE USER '{admin}'@'%' IDENTIFIED BY 'admin-pw';
         GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION;
         CREATE USER '{static_user}'@'%' IDENTIFIED BY 'initial';
         GRANT SELECT ON {db}.* TO '{static_user}'@'%';"
    ))
    .await;
    let s = common::dev();
    mount(&s).await;
    let r = s
        .post(
            "database/config/maria",
            json!({
                "plugin_name": "mysql-database-plugin",
                "connection_url": "{{username}}:{{password}}@tcp(127.0.0.1:3306)/",
                "username": admin,
                "password": "admin-pw",
                "allowed_roles": ["app", "svc"],
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let creation = format!(
        "CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}'; GRANT SELECT ON {db}.* TO '{{{{name}}}}'@'%';"
    );
    let r = s
        .post(
            "database/roles/app",
            json!({"db_name": "maria", "creation_statements": [creation], "default_ttl": 600}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);

    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user, password, lease) = creds_of(&r);
    assert!(
        user.starts_with("v-token-app-") && user.len() <= 32,
        "{user}"
    );
    assert_eq!(my_login(&db, &user, &password).await.unwrap(), 1);
    assert!(my_login(&db, &user, "wrong").await.is_err());
    assert_eq!(
        s.post("sys/leases/revoke", json!({"lease_id": lease}))
            .await
            .status,
        204
    );
    assert!(my_login(&db, &user, &password).await.is_err());
    assert!(!my_user_exists(&user).await);

    // A creation that fails half-way runs the rollback statements: no user is left behind
    // (MariaDB's CREATE USER is not undone by the transaction).
    let r = s
        .post(
            "database/roles/broken",
            json!({"db_name": "maria",
                   "creation_statements": [format!("CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}'; GRANT SELECT ON {db}.missing TO '{{{{name}}}}'@'%';")],
                   "rollback_statements": ["DROP USER IF EXISTS '{{name}}'@'%'"],
                   "username_template": r#"{{ printf "tresor_rb_%s" (random 8) }}"#}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    s.post(
        "database/config/maria",
        json!({"allowed_roles": ["app", "svc", "broken"]}),
    )
    .await;
    let r = s.get("database/creds/broken").await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.errors()[0].contains("refused the statement"),
        "{:?}",
        r.body
    );
    let mut c = sqlx::MySqlConnection::connect(MY).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM mysql.user WHERE User LIKE 'tresor\\_rb\\_%'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(left, 0);

    // A static role takes over an existing user's password.
    let r = s
        .post(
            "database/static-roles/svc",
            json!({"db_name": "maria", "username": static_user, "rotation_period": 3600}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert!(my_login(&db, &static_user, "initial").await.is_err());
    let pw = s.get("database/static-creds/svc").await.data()["password"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(my_login(&db, &static_user, &pw).await.unwrap(), 1);

    // Root rotation.
    assert_eq!(
        s.post("database/rotate-root/maria", json!({})).await.status,
        204
    );
    let opts = sqlx::mysql::MySqlConnectOptions::new()
        .host("127.0.0.1")
        .username(&admin)
        .password("admin-pw");
    assert!(sqlx::MySqlConnection::connect_with(&opts).await.is_err());
    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user2, pw2, _) = creds_of(&r);
    assert_eq!(my_login(&db, &user2, &pw2).await.unwrap(), 1);

    drop(s);
    my_exec(&format!(
        "DROP DATABASE {db}; DROP USER IF EXISTS '{admin}'@'%'; DROP USER IF EXISTS '{static_user}'@'%'; DROP USER IF EXISTS '{user2}'@'%';"
    ))
    .await;
}

// --- Redis ------------------------------------------------------------------------------

/// One RESP command on a fresh connection; the first line of the answer.
async fn redis(args: &[&str]) -> String {
    let mut conn = BufReader::new(TcpStream::connect("127.0.0.1:6379").await.unwrap());
    let mut cmd = format!("*{}\r\n", args.len());
    for a in args {
        cmd.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    conn.get_mut().write_all(cmd.as_bytes()).await.unwrap();
    let mut line = String::new();
    conn.read_line(&mut line).await.unwrap();
    line.trim_end().to_owned()
}

#[tokio::test]
async fn redis_acl_users_come_and_go_with_their_lease() {
    let admin = unique("tresor_admin");
    assert_eq!(
        redis(&[
            "ACL",
            "SETUSER",
            &admin,
            "on",
            ">admin-pw",
            "~*",
            "&*",
            "+@all"
        ])
        .await,
        "+OK"
    );
    let s = common::dev();
    mount(&s).await;
    let r = s
        .post(
            "database/config/cache",
            json!({
                "plugin_name": "redis-database-plugin",
                "host": "127.0.0.1", "port": 6379,
                "username": admin, "password": "admin-pw",
                "allowed_roles": "reader",
            }),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    let r = s
        .post(
            "database/roles/reader",
            json!({"db_name": "cache", "creation_statements": r#"["~*", "+@read"]"#, "default_ttl": 300}),
        )
        .await;
    assert_eq!(r.status, 204);
    let r = s.get("database/creds/reader").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user, password, lease) = creds_of(&r);
    assert!(user.starts_with("V_TOKEN_READER_"), "{user}");
    assert_eq!(redis(&["AUTH", &user, &password]).await, "+OK");
    assert!(redis(&["AUTH", &user, "wrong"])
        .await
        .starts_with("-WRONGPASS"));
    assert_eq!(
        s.post("sys/leases/revoke", json!({"lease_id": lease}))
            .await
            .status,
        204
    );
    assert!(redis(&["AUTH", &user, &password])
        .await
        .starts_with("-WRONGPASS"));

    assert_eq!(
        s.post("database/rotate-root/cache", json!({})).await.status,
        204
    );
    assert!(redis(&["AUTH", &admin, "admin-pw"])
        .await
        .starts_with("-WRONGPASS"));
    let r = s.get("database/creds/reader").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user2, password2, lease2) = creds_of(&r);
    assert_eq!(redis(&["AUTH", &user2, &password2]).await, "+OK");
    assert_eq!(
        s.post("sys/leases/revoke", json!({"lease_id": lease2}))
            .await
            .status,
        204
    );

    drop(s);
    redis(&["ACL", "DELUSER", &admin]).await;
}

// --- A database that goes away ----------------------------------------------------------

/// A TCP relay to PostgreSQL that the test can cut and restore, on a fixed port.
struct Relay {
    port: u16,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Relay {
    async fn start(port: u16) -> Relay {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let inner = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                inner.lock().unwrap().push(pipe);
            }
        });
        tasks.lock().unwrap().push(accept);
        Relay { port, tasks }
    }

    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

#[tokio::test]
async fn a_database_that_is_down_fails_fast_and_is_picked_up_again() {
    let fx = PgFixture::new().await;
    let relay = Relay::start(0).await;
    let s = common::dev();
    mount(&s).await;
    let mut config = fx.config("app");
    config["connection_url"] = json!(format!(
        "postgresql://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{}/{}",
        relay.port, fx.db
    ));
    assert_eq!(s.post("database/config/pg", config).await.status, 204);
    s.post(
        "database/roles/app",
        json!({"db_name": "pg", "creation_statements": PG_CREATION, "default_ttl": 600}),
    )
    .await;
    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user, _, _) = creds_of(&r);

    relay.cut();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(
        r.errors()[0].contains("failed to reach the database"),
        "{:?}",
        r.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );

    // Its users cannot be dropped now, so the engine cannot be disabled; it stays in service.
    let r = s.delete("sys/mounts/database").await;
    assert_eq!(r.status, 500, "{:?}", r.body);
    assert!(r.errors()[0].contains("failed to revoke"), "{:?}", r.body);

    let relay = Relay::start(relay.port).await;
    let r = s.get("database/creds/app").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (user2, pw2, _) = creds_of(&r);
    assert_eq!(pg_login(&fx.db, &user2, &pw2).await.unwrap(), 1);

    drop(s);
    relay.cut();
    fx.drop().await;
    for u in [user, user2] {
        pg_exec("postgres", &format!("DROP ROLE IF EXISTS \"{u}\"")).await;
    }
}
