//! The path framework: a backend declares its paths, and this module does the rest.
//!
//! Each [`Path`] is a pattern with named segments, its fields (type, default, description), the
//! handler of each operation, an optional existence check, flags (a login path answered without a
//! token, a root-protected path that needs `sudo`) and help text. From that one table,
//! [`Routed`] routes requests (a path without the operation is Vault's 405, a path nobody serves
//! its 404), checks every declared field with the one decoder of Vault's loose input before the
//! handler runs (a 400 naming the field), warns about parameters the path ignores, answers
//! existence checks (so that the ACL tells `create` from `update`), makes paths canonical,
//! writes `path-help` and the backend's part of the OpenAPI document. A backend is then a
//! table, its handlers, and its own types.

mod fields;
mod help;
mod openapi;
mod pattern;

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;

pub use fields::{decode, Decoded, DefaultValue, Field, Kind};
pub use pattern::Pattern;

use crate::{Backend, Error, Operation, Request, Resolved, Response, Result, StorageView};

/// A boxed future, as handlers return them (a table holds plain function pointers).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The handler of one operation on one path.
pub type Handler<B> = for<'a> fn(&'a B, &'a Call<'a>) -> BoxFuture<'a, Result<Option<Response>>>;

/// Whether something exists at a path (so that a write there is a `create` for the ACL).
pub type Existence<B> = for<'a> fn(&'a B, &'a Call<'a>) -> BoxFuture<'a, Result<bool>>;

/// The renewal or revocation of a secret a backend handed out with a lease.
pub type LeaseHandler<B> =
    for<'a> fn(&'a B, &'a Request, &'a dyn StorageView) -> BoxFuture<'a, Result<()>>;

/// Turns `Self::method` (an `async fn(&self, &Call) -> Result<…>`) into a table entry.
#[macro_export]
macro_rules! handler {
    ($f:path) => {
        |b, c| ::std::boxed::Box::pin($f(b, c))
    };
}

/// Turns `Self::method` (an `async fn(&self, &Request, &dyn StorageView) -> Result<()>`) into a
/// lease handler.
#[macro_export]
macro_rules! lease_handler {
    ($f:path) => {
        |b, r, v| ::std::boxed::Box::pin($f(b, r, v))
    };
}

/// One request on one matched path: the request, the mount's storage, and the path's captured
/// segments (already in canonical form).
pub struct Call<'a> {
    pub req: &'a Request,
    pub view: &'a dyn StorageView,
    params: Vec<(&'static str, Cow<'a, str>)>,
}

impl<'a> Call<'a> {
    /// A captured segment of the path (`username` in `users/{username}`); empty if the pattern
    /// has none of that name.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_ref())
    }

    pub fn operation(&self) -> Operation {
        self.req.operation
    }
}

/// How a captured segment is read: its canonical form (a policy name trimmed and lowercased).
pub type Normaliser = fn(&str) -> String;

/// How a path is protected and reached.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// A login: answered without a client token (Vault's `PathsSpecial.Unauthenticated`).
    pub login: bool,
    /// Root-protected: the caller's policy must also grant `sudo` (`PathsSpecial.Root`).
    pub sudo: bool,
    /// Answered to any valid token without asking the ACL: the handler shows only what the
    /// caller may see (`sys/internal/ui/mounts`, the OpenAPI document).
    pub any_token: bool,
    /// The path answers only wrapped (`sys/wrapping/wrap`, whose answer is the wrapping): a
    /// request without `X-Vault-Wrap-TTL` is refused.
    pub requires_wrapping: bool,
    /// The path takes fields beyond those declared (a KV secret's data, a database plugin's
    /// connection settings): the declared ones are checked, the others passed on unwarned.
    pub arbitrary_input: bool,
    /// Left out of `path-help` and the OpenAPI document (a catch-all that only explains an
    /// error).
    pub hidden: bool,
    /// The request names a response-wrapping token (the body's `token`, else the client token)
    /// that must be live before anything else is checked: otherwise Vault's 400 "wrapping token
    /// is not valid or does not exist", which clients test for (`sys/wrapping/unwrap`, …).
    pub wrapping_token: bool,
    /// Must run on the active node of a cluster (standbys will forward it). Every write does
    /// anyway; this marks reads that change state.
    pub forward: bool,
}

/// One path of a backend's table.
pub struct Path<B> {
    pattern: Pattern,
    fields: Vec<Field>,
    handlers: [Option<Handler<B>>; 6],
    exists: Option<Existence<B>>,
    flags: Flags,
    normalisers: Vec<(&'static str, Normaliser)>,
    synopsis: &'static str,
    description: &'static str,
}

fn op_index(op: Operation) -> usize {
    match op {
        Operation::Read => 0,
        Operation::Create => 1,
        Operation::Update => 2,
        Operation::Patch => 3,
        Operation::Delete => 4,
        Operation::List => 5,
    }
}

const OPERATIONS: [Operation; 6] = [
    Operation::Read,
    Operation::Create,
    Operation::Update,
    Operation::Patch,
    Operation::Delete,
    Operation::List,
];

impl<B> Path<B> {
    pub fn new(pattern: &'static str) -> Self {
        Path {
            pattern: Pattern::new(pattern),
            fields: Vec::new(),
            handlers: [None; 6],
            exists: None,
            flags: Flags::default(),
            normalisers: Vec::new(),
            synopsis: "",
            description: "",
        }
    }

    /// One line: what the path is for (help and OpenAPI summaries).
    pub fn synopsis(mut self, s: &'static str) -> Self {
        self.synopsis = s;
        self
    }

    /// A longer description for `path-help`.
    pub fn description(mut self, s: &'static str) -> Self {
        self.description = s;
        self
    }

    pub fn field(mut self, f: Field) -> Self {
        self.fields.push(f);
        self
    }

    pub fn fields(mut self, fs: &[Field]) -> Self {
        self.fields.extend_from_slice(fs);
        self
    }

    fn on(mut self, op: Operation, h: Handler<B>) -> Self {
        self.handlers[op_index(op)] = Some(h);
        self
    }

    pub fn read(self, h: Handler<B>) -> Self {
        self.on(Operation::Read, h)
    }

    pub fn list(self, h: Handler<B>) -> Self {
        self.on(Operation::List, h)
    }

    /// `create` only: a write to a path that does not exist yet (needs an existence check).
    pub fn create(self, h: Handler<B>) -> Self {
        self.on(Operation::Create, h)
    }

    /// `update` only.
    pub fn update(self, h: Handler<B>) -> Self {
        self.on(Operation::Update, h)
    }

    /// `create` and `update` by one handler (it can tell them apart by the operation).
    pub fn write(self, h: Handler<B>) -> Self {
        self.on(Operation::Create, h).on(Operation::Update, h)
    }

    pub fn patch(self, h: Handler<B>) -> Self {
        self.on(Operation::Patch, h)
    }

    pub fn delete(self, h: Handler<B>) -> Self {
        self.on(Operation::Delete, h)
    }

    /// The existence check: a write to a path where it answers `false` is a `create`.
    pub fn exists(mut self, e: Existence<B>) -> Self {
        self.exists = Some(e);
        self
    }

    pub fn login(mut self) -> Self {
        self.flags.login = true;
        self
    }

    pub fn sudo(mut self) -> Self {
        self.flags.sudo = true;
        self
    }

    pub fn any_token(mut self) -> Self {
        self.flags.any_token = true;
        self
    }

    pub fn requires_wrapping(mut self) -> Self {
        self.flags.requires_wrapping = true;
        self
    }

    pub fn arbitrary_input(mut self) -> Self {
        self.flags.arbitrary_input = true;
        self
    }

    pub fn wrapping_token(mut self) -> Self {
        self.flags.wrapping_token = true;
        self
    }

    pub fn hidden(mut self) -> Self {
        self.flags.hidden = true;
        self
    }

    pub fn forward(mut self) -> Self {
        self.flags.forward = true;
        self
    }

    /// The captured segment `name` is case-insensitive: the canonical path, the ACL and the
    /// handler see it lowercased.
    pub fn lowercase(self, name: &'static str) -> Self {
        self.canonical(name, str::to_lowercase)
    }

    /// The captured segment `name` is read loosely, as `normalise` puts it: the canonical path,
    /// the ACL and the handler see it that way (a policy name trimmed and lowercased).
    pub fn canonical(mut self, name: &'static str, normalise: Normaliser) -> Self {
        self.normalisers.push((name, normalise));
        self
    }

    pub fn pattern(&self) -> &Pattern {
        &self.pattern
    }

    pub fn flags(&self) -> Flags {
        self.flags
    }

    pub fn operations(&self) -> impl Iterator<Item = Operation> + '_ {
        OPERATIONS
            .into_iter()
            .filter(|op| self.handlers[op_index(*op)].is_some())
    }

    fn field_def(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    fn params<'p>(&self, captures: pattern::Captures<'p>) -> Vec<(&'static str, Cow<'p, str>)> {
        captures
            .as_slice()
            .iter()
            .map(|&(name, v)| {
                let normalised = self
                    .normalisers
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, f)| f(v))
                    .filter(|n| n != v);
                (name, normalised.map_or(Cow::Borrowed(v), Cow::Owned))
            })
            .collect()
    }

    /// Checks every field the request carries against the table: a declared one must decode
    /// (a 400 naming it), an undeclared one is returned to be warned about.
    fn check_fields(&self, req: &Request) -> Result<Vec<String>> {
        let mut ignored = Vec::new();
        for (name, value) in &req.data {
            match self.field_def(name) {
                _ if value.is_null() => {}
                Some(f) => {
                    decode(name, f.kind, value)?;
                }
                None if self.flags.arbitrary_input => {}
                None if self.pattern.captures().any(|c| c == name) => {}
                None => ignored.push(name.clone()),
            }
        }
        ignored.sort();
        Ok(ignored)
    }
}

/// A kind of secret a backend hands out with a lease, with its renewal and revocation.
pub struct Secret<B> {
    /// Kept in the lease's internal data as `secret_type`.
    pub kind: &'static str,
    pub renew: Option<LeaseHandler<B>>,
    pub revoke: LeaseHandler<B>,
}

/// A backend written on the framework: its table, and the hooks outside the request path.
#[async_trait]
pub trait Paths: Send + Sync + Sized + 'static {
    /// What the backend is: the first section of its `path-help`.
    const HELP: &'static str;

    /// The backend's paths, tried in order: the first whose pattern matches serves a request.
    fn paths() -> Vec<Path<Self>>;

    /// The secrets it hands out with leases.
    fn secrets() -> Vec<Secret<Self>> {
        Vec::new()
    }

    /// See [`Backend::initialize`].
    async fn initialize(&self, _view: &dyn StorageView) -> Result<()> {
        Ok(())
    }

    /// See [`Backend::periodic`].
    async fn periodic(&self, _view: &dyn StorageView) -> Result<()> {
        Ok(())
    }

    /// See [`Backend::invalidate`].
    async fn invalidate(&self, _key: &str) {}
}

/// A [`Paths`] backend with its table built, serving as a [`Backend`].
pub struct Routed<B: Paths> {
    backend: B,
    paths: Vec<Path<B>>,
    secrets: Vec<Secret<B>>,
}

impl<B: Paths> Routed<B> {
    pub fn new(backend: B) -> Self {
        Routed {
            backend,
            paths: B::paths(),
            secrets: B::secrets(),
        }
    }

    pub fn inner(&self) -> &B {
        &self.backend
    }

    pub fn paths(&self) -> &[Path<B>] {
        &self.paths
    }

    /// The first path of the table that serves `path`, with its captures. Patterns whose first
    /// literal is not the path's first segment are passed over with one compare each.
    fn route<'p>(&self, path: &'p str) -> Option<(&Path<B>, pattern::Captures<'p>)> {
        let first = path.split('/').next().unwrap_or_default();
        self.paths
            .iter()
            .filter(|p| p.pattern.first_literal().is_none_or(|l| l == first))
            .find_map(|p| p.pattern.matches(path).map(|c| (p, c)))
    }

    fn secret(&self, req: &Request) -> Result<&Secret<B>> {
        let kind = req.data.get("secret_type").and_then(|v| v.as_str());
        match kind {
            Some(k) => self.secrets.iter().find(|s| s.kind == k),
            // Leases from before secret types were recorded: the backend's only kind.
            None => self.secrets.first().filter(|_| self.secrets.len() == 1),
        }
        .ok_or_else(|| Error::invalid("lease is not renewable"))
    }
}

#[async_trait]
impl<B: Paths> Backend for Routed<B> {
    async fn initialize(&self, view: &dyn StorageView) -> Result<()> {
        self.backend.initialize(view).await
    }

    async fn handle(&self, req: &Request, view: &dyn StorageView) -> Result<Option<Response>> {
        let (path, captures) = self.route(&req.path).ok_or(Error::UnsupportedPath)?;
        let handler = path.handlers[op_index(req.operation)].ok_or(Error::UnsupportedOperation)?;
        // Worded as Vault's framework refuses a field: a write to a path with an existence
        // check meets the refusal in the check (no prefix), any other in its validation.
        let existence_checked =
            path.exists.is_some() && matches!(req.operation, Operation::Create | Operation::Update);
        let ignored = path.check_fields(req).map_err(|e| match e {
            Error::InvalidRequest(m) if !existence_checked => {
                Error::InvalidRequest(format!("Field validation failed: {m}"))
            }
            other => other,
        })?;
        let call = Call {
            req,
            view,
            params: path.params(captures),
        };
        let mut resp = handler(&self.backend, &call).await?;
        // Vault's framework warns in an answer; a write that answers nothing stays a 204.
        if let (false, Some(r)) = (ignored.is_empty(), &mut resp) {
            r.warnings.push(format!(
                "Endpoint ignored these unrecognized parameters: [{}]",
                ignored.join(" ")
            ));
        }
        Ok(resp)
    }

    async fn exists(&self, req: &Request, view: &dyn StorageView) -> Result<Option<bool>> {
        let Some((path, captures)) = self.route(&req.path) else {
            return Ok(None);
        };
        let Some(exists) = path.exists else {
            return Ok(None);
        };
        let call = Call {
            req,
            view,
            params: path.params(captures),
        };
        Ok(Some(exists(&self.backend, &call).await?))
    }

    fn resolve<'a>(&self, path: &'a str) -> Resolved<'a> {
        let Some((p, captures)) = self.route(path) else {
            return Resolved {
                path: Cow::Borrowed(path),
                flags: Flags::default(),
            };
        };
        let canonical = if !p.normalisers.is_empty() {
            // The route says how to read its captures: the path is put back together.
            let canonical = p.pattern.render(&p.params(captures));
            if canonical == path {
                Cow::Borrowed(path)
            } else {
                Cow::Owned(canonical)
            }
        } else if !p.pattern.has_rest() {
            // Segments taken as sent: the canonical path is the matched one, which is the path
            // without its trailing slashes (no allocation on the request path).
            Cow::Borrowed(path.trim_end_matches('/'))
        } else {
            // A path with a rest segment (a KV secret's name) is taken as sent.
            Cow::Borrowed(path)
        };
        Resolved {
            path: canonical,
            flags: p.flags,
        }
    }

    fn flags(&self, path: &str) -> Flags {
        self.route(path).map(|(p, _)| p.flags).unwrap_or_default()
    }

    async fn revoke(&self, req: &Request, view: &dyn StorageView) -> Result<()> {
        match self.secret(req) {
            Ok(s) => (s.revoke)(&self.backend, req, view).await,
            // A backend without secrets has nothing to revoke.
            Err(_) if self.secrets.is_empty() => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn renew(&self, req: &Request, view: &dyn StorageView) -> Result<()> {
        match self.secret(req)?.renew {
            Some(renew) => renew(&self.backend, req, view).await,
            None => Err(Error::invalid("lease is not renewable")),
        }
    }

    async fn periodic(&self, view: &dyn StorageView) -> Result<()> {
        self.backend.periodic(view).await
    }

    async fn invalidate(&self, key: &str) {
        self.backend.invalidate(key).await
    }

    fn help(&self, path: &str) -> String {
        match self.route(path) {
            Some((p, _)) if !path.is_empty() => help::path(path, p),
            _ => help::backend(B::HELP, &self.paths),
        }
    }

    fn openapi(&self, mount: &str) -> crate::Map {
        openapi::paths(mount, &self.paths)
    }
}

#[cfg(test)]
mod tests;
