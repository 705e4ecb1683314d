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
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tresor_sdk::token_params::string_list;
use tresor_sdk::{
    Backend, Error, Map, Operation, Request, Response, Result, StorageView, TokenParams,
};

use crate::auth_util::now_ms;

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
}

impl Default for UserPass {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        UserPass {
            failures: Mutex::default(),
            decoy: OnceLock::new(),
            hashing: tokio::sync::Semaphore::new(cores.max(2)),
            turns: Mutex::default(),
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

    async fn write_user(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
        let existing = self.user(view, name).await?;
        let password = Self::password(req)?;
        if existing.is_none() && password.is_none() {
            return Err(Error::invalid(
                "must provide either password or password_hash",
            ));
        }
        let mut user = existing.unwrap_or_default();
        user.token.update(req)?;
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
        let now = now_ms();
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
        let now = now_ms();
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
    async fn login(
        &self,
        req: &Request,
        view: &dyn StorageView,
        name: &str,
    ) -> Result<Option<Response>> {
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

#[async_trait]
impl Backend for UserPass {
    fn is_login_path(&self, path: &str) -> bool {
        path.starts_with("login/")
    }

    /// User names are case-insensitive (`users/CAROL/` is `users/carol`), as in Vault.
    fn canonical_path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        let trimmed = path.trim_end_matches('/');
        match trimmed.strip_prefix("users/") {
            Some(rest) => {
                let (name, sub) = rest.split_once('/').unwrap_or((rest, ""));
                let name = name.to_lowercase();
                std::borrow::Cow::Owned(if sub.is_empty() {
                    format!("users/{name}")
                } else {
                    format!("users/{name}/{sub}")
                })
            }
            None => std::borrow::Cow::Borrowed(trimmed),
        }
    }

    fn help(&self) -> String {
        tresor_sdk::help_text(
            "The \"userpass\" credential provider allows authentication using a combination of\na username and password. No additional factors are supported.",
            &[
                ("^login/(?P<username>.+)$", "Log in with a username and password."),
                ("^users/?$", "List the users registered."),
                ("^users/(?P<username>.+)$", "Manage users allowed to authenticate."),
                ("^users/(?P<username>.+)/password$", "Reset user's password."),
                ("^users/(?P<username>.+)/policies$", "Update the policies associated with the username."),
            ],
        )
    }

    async fn handle(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>> {
        use Operation::*;
        let op = req.operation;
        let path = req.path.trim_end_matches('/');
        if let Some(name) = path.strip_prefix("login/") {
            return match op {
                Create | Update => self.login(req, view, &name.to_lowercase()).await,
                _ => Err(Error::UnsupportedOperation),
            };
        }
        if path == "users" {
            return match op {
                List => {
                    let keys = view.list("user/").await?;
                    Ok((!keys.is_empty()).then(|| Response::list(keys)))
                }
                _ => Err(Error::UnsupportedOperation),
            };
        }
        let Some(rest) = path.strip_prefix("users/") else {
            return Err(Error::UnsupportedPath);
        };
        let (name, sub) = match rest.split_once('/') {
            Some((n, s)) => (n.to_lowercase(), s),
            None => (rest.to_lowercase(), ""),
        };
        if name.is_empty() {
            return Err(Error::invalid("missing username"));
        }
        match (sub, op) {
            ("", Read) => Ok(self.user(view, &name).await?.map(|u| {
                let mut d = Map::new();
                u.token.write_to(&mut d);
                Response::data(d)
            })),
            ("", Create | Update) => self.write_user(req, view, &name).await,
            ("", Delete) => {
                view.delete(&user_key(&name)).await?;
                self.clear(&name);
                self.turns
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&name);
                Ok(None)
            }
            ("password", Create | Update) => {
                let mut user = self
                    .user(view, &name)
                    .await?
                    .ok_or_else(|| Error::invalid("username does not exist"))?;
                let p = Self::password(req)?.ok_or_else(|| {
                    Error::invalid("must provide either password or password_hash")
                })?;
                user.password_hash = self.hash(p).await?;
                self.save(view, &name, &user).await?;
                Ok(None)
            }
            ("policies", Create | Update) => {
                let mut user = self
                    .user(view, &name)
                    .await?
                    .ok_or_else(|| Error::invalid("username does not exist"))?;
                let policies = string_list(req, "token_policies")?
                    .or(string_list(req, "policies")?)
                    .unwrap_or_default();
                user.token.token_policies = policies;
                self.save(view, &name, &user).await?;
                Ok(None)
            }
            ("" | "password" | "policies", _) => Err(Error::UnsupportedOperation),
            _ => Err(Error::UnsupportedPath),
        }
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
        let u = UserPass::default();
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
