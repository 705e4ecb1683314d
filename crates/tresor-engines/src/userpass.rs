//! The userpass auth method: people log in with a name and a password.
//!
//! Passwords are stored as argon2id hashes (`user/<name>`). A wrong password, an unknown user
//! and a locked-out user get the same answer in the same time (the password of an unknown or
//! locked-out user is checked against a decoy hash). A user's attempts take turns, each checking
//! the lockout and counting its outcome, so concurrent guesses cannot outrun the count; after
//! five failures a user is locked out for fifteen minutes, as Vault's default user lockout does,
//! and the count resets fifteen minutes after the last failure. At most one argon2 computation
//! per core runs at once; further logins wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use tresor_sdk::framework::{Call, Field, Kind, Path, Paths};
use tresor_sdk::{handler, token_params};
use tresor_sdk::{Error, Map, Request, Response, Result, StorageView, TokenParams};

/// The older token field names a user still takes (Vault's userpass kept these four).
const USER_LEGACY_FIELDS: &[Field] = &[
    token_params::legacy::POLICIES,
    token_params::legacy::TTL,
    token_params::legacy::MAX_TTL,
    token_params::legacy::BOUND_CIDRS,
];

const LOCKOUT_THRESHOLD: u32 = 5;
const LOCKOUT_MS: i64 = 15 * 60 * 1000;
const COUNTER_RESET_MS: i64 = 15 * 60 * 1000;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct User {
    password_hash: String,
    token: TokenParams,
}

#[derive(Default)]
struct Failures {
    count: u32,
    last_ms: i64,
    locked_until_ms: i64,
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id baseline: 19 MiB, two passes, one lane.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| Error::internal("no randomness"))?;
    let salt = SaltString::encode_b64(&salt).map_err(Error::internal)?;
    Ok(argon2()
        .hash_password(password.as_bytes(), &salt)
        .map_err(Error::internal)?
        .to_string())
}

fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| argon2().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false)
}

fn invalid_login() -> Error {
    Error::invalid("invalid username or password")
}

fn user_key(name: &str) -> String {
    format!("user/{name}")
}

pub struct UserPass {
    failures: Mutex<HashMap<String, Failures>>,
    /// Checked against when the user does not exist or is locked out, so that the answer takes
    /// as long as a real check.
    decoy: OnceLock<String>,
    /// Bounds the argon2 computations running at once (each takes 19 MiB and a core), so that
    /// a burst of logins queues instead of exhausting memory.
    hashing: tokio::sync::Semaphore,
    /// One turn at a time per existing user: an attempt checks the lockout, verifies the
    /// password and counts the outcome in its turn.
    turns: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    clock: tresor_sdk::Clock,
}

impl UserPass {
    pub fn new(clock: tresor_sdk::Clock) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        UserPass {
            failures: Mutex::default(),
            decoy: OnceLock::new(),
            hashing: tokio::sync::Semaphore::new(cores.max(2)),
            turns: Mutex::default(),
            clock,
        }
    }
}

impl UserPass {
    fn decoy(&self) -> &str {
        self.decoy
            .get_or_init(|| hash_password("decoy password nobody has").unwrap_or_default())
    }

    /// Runs an argon2 computation off the async threads, at most a few at a time.
    async fn argon<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let _permit = self.hashing.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(Error::internal)
    }

    async fn hash(&self, password: String) -> Result<String> {
        self.argon(move || hash_password(&password)).await?
    }

    async fn user(&self, view: &dyn StorageView, name: &str) -> Result<Option<User>> {
        crate::stored::get_json(view, &user_key(name)).await
    }

    async fn save(&self, view: &dyn StorageView, name: &str, user: &User) -> Result<()> {
        crate::stored::put_json(view, &user_key(name), user).await
    }

    fn password(req: &Request) -> Result<Option<String>> {
        Ok(req.str_field("password")?.filter(|p| !p.is_empty()))
    }

    async fn write_user(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view, name) = (c.req, c.view, c.param("username"));
        let existing = self.user(view, name).await?;
        let password = Self::password(req)?;
        if existing.is_none() && password.is_none() {
            return Err(Error::invalid(
                "must provide either password or password_hash",
            ));
        }
        let mut user = existing.unwrap_or_default();
        user.token.update(req, USER_LEGACY_FIELDS)?;
        if let Some(p) = password {
            user.password_hash = self.hash(p).await?;
        }
        self.save(view, name, &user).await?;
        Ok(None)
    }

    /// The lock `name`'s login attempts take turns on.
    fn turn(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut t = self.turns.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(t.entry(name.to_owned()).or_default())
    }

    /// Whether `name` is locked out now (a count older than the reset period is forgotten).
    fn locked(&self, name: &str) -> bool {
        let now = self.clock.now_ms();
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match f.get(name) {
            Some(r) if r.locked_until_ms > now => true,
            Some(r) if now - r.last_ms > COUNTER_RESET_MS => {
                f.remove(name);
                false
            }
            _ => false,
        }
    }

    /// A wrong password: one more failure, and a lockout at the threshold.
    fn failed(&self, name: &str) {
        let now = self.clock.now_ms();
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let r = f.entry(name.to_owned()).or_default();
        r.count += 1;
        r.last_ms = now;
        if r.count >= LOCKOUT_THRESHOLD {
            r.locked_until_ms = now + LOCKOUT_MS;
        }
    }

    /// A right password: the count starts over.
    fn clear(&self, name: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(name);
    }

    /// A wrong password, an unknown user and a locked-out user get the same answer after the
    /// same work (one argon2 verification), so that none can be told from the others. A user's
    /// attempts take turns: each checks the lockout, verifies and counts its outcome before the
    /// next starts, so concurrent guesses cannot outrun the count, and concurrent logins with
    /// the right password never lock anyone out.
    async fn login(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let (req, view, name) = (c.req, c.view, c.param("username"));
        let password = Self::password(req)?.ok_or_else(|| Error::invalid("missing password"))?;
        // Only existing users have turns and counts, so unknown names cannot grow the maps.
        let user = self.user(view, name).await?;
        let turn = match &user {
            Some(_) => Some(self.turn(name).lock_owned().await),
            None => None,
        };
        let checked = user.filter(|_| !self.locked(name));
        let turn = turn.filter(|_| checked.is_some());
        let phc = checked
            .as_ref()
            .map(|u| u.password_hash.clone())
            .unwrap_or_else(|| self.decoy().to_owned());
        let ok = self.argon(move || verify(&password, &phc)).await?;
        let Some(user) = checked else {
            return Err(invalid_login());
        };
        if !ok {
            self.failed(name);
            return Err(invalid_login());
        }
        self.clear(name);
        drop(turn);
        let mut metadata = std::collections::BTreeMap::new();
        metadata.insert("username".into(), name.to_owned());
        Ok(Some(Response {
            login: Some(user.token.login(name, metadata)),
            ..Response::default()
        }))
    }
}

const PASSWORD: Field = Field::new("password", Kind::Str, "Password for this user.");

impl Paths for UserPass {
    const HELP: &'static str = "The \"userpass\" credential provider allows authentication using a combination of\na username and password. No additional factors are supported.";

    fn paths() -> Vec<Path<Self>> {
        let username = Field::new("username", Kind::Str, "Username of the user.");
        vec![
            Path::new("login/{username}")
                .synopsis("Log in with a username and password.")
                .login()
                .lowercase("username")
                .field(username)
                .field(PASSWORD)
                .update(handler!(Self::login)),
            Path::new("users")
                .synopsis("List the users registered.")
                .list(handler!(Self::list_users)),
            Path::new("users/{username}")
                .synopsis("Manage users allowed to authenticate.")
                .description("This endpoint allows you to create, read, update, and delete users\nthat are allowed to authenticate.\n\nDeleting a user will not revoke auth for prior authenticated users\nwith that name. To do this, do a revoke on \"login/<username>\" for\nthe username you want revoked. If you don't need to revoke login immediately,\nthen the next renew will cause the lease to expire.")
                .lowercase("username")
                .field(username)
                .field(PASSWORD)
                .fields(token_params::FIELDS)
                .fields(USER_LEGACY_FIELDS)
                .exists(handler!(Self::user_exists))
                .read(handler!(Self::read_user))
                .write(handler!(Self::write_user))
                .delete(handler!(Self::delete_user)),
            Path::new("users/{username}/password")
                .synopsis("Reset user's password.")
                .lowercase("username")
                .field(username)
                .field(PASSWORD)
                .update(handler!(Self::write_password)),
            Path::new("users/{username}/policies")
                .synopsis("Update the policies associated with the username.")
                .lowercase("username")
                .field(username)
                .field(Field::new("token_policies", Kind::CommaList, "Comma-separated list of policies"))
                .field(Field::new("policies", Kind::CommaList, "Use \"token_policies\" instead."))
                .update(handler!(Self::write_policies)),
        ]
    }
}

impl UserPass {
    async fn list_users(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let keys = c.view.list("user/").await?;
        Ok((!keys.is_empty()).then(|| Response::list(keys)))
    }

    async fn user_exists(&self, c: &Call<'_>) -> Result<bool> {
        Ok(self.user(c.view, c.param("username")).await?.is_some())
    }

    async fn read_user(&self, c: &Call<'_>) -> Result<Option<Response>> {
        Ok(self.user(c.view, c.param("username")).await?.map(|u| {
            let mut d = Map::new();
            u.token.write_to(&mut d);
            Response::data(d)
        }))
    }

    async fn delete_user(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = c.param("username");
        c.view.delete(&user_key(name)).await?;
        self.clear(name);
        self.turns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(name);
        Ok(None)
    }

    async fn write_password(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = c.param("username");
        let mut user = self
            .user(c.view, name)
            .await?
            .ok_or_else(|| Error::invalid("username does not exist"))?;
        let p = Self::password(c.req)?
            .ok_or_else(|| Error::invalid("must provide either password or password_hash"))?;
        user.password_hash = self.hash(p).await?;
        self.save(c.view, name, &user).await?;
        Ok(None)
    }

    async fn write_policies(&self, c: &Call<'_>) -> Result<Option<Response>> {
        let name = c.param("username");
        let mut user = self
            .user(c.view, name)
            .await?
            .ok_or_else(|| Error::invalid("username does not exist"))?;
        let policies = c
            .req
            .list_field("token_policies")?
            .or(c.req.list_field("policies")?)
            .unwrap_or_default();
        user.token.token_policies = policies;
        self.save(c.view, name, &user).await?;
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_argon2id_and_verify() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("s3cret", &h));
        assert!(!verify("S3cret", &h));
        assert_ne!(h, hash_password("s3cret").unwrap(), "salted");
    }

    #[test]
    fn five_failures_lock_a_user_out() {
        let u = UserPass::new(tresor_sdk::Clock::system());
        let _table = tresor_sdk::framework::Routed::new(UserPass::new(tresor_sdk::Clock::system()));
        for _ in 0..LOCKOUT_THRESHOLD - 1 {
            u.failed("bob");
        }
        assert!(!u.locked("bob"));
        u.failed("bob");
        assert!(u.locked("bob"));
        assert!(!u.locked("alice"));
        u.clear("alice");
        assert!(u.locked("bob"), "still locked");
    }
}
