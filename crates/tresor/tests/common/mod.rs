//! Black-box harness: starts the real `tresor` binary on a free loopback port and talks HTTP to
//! it, as any Vault client would.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

pub const ROOT: &str = "root";

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tresor"))
}

/// A running server; killed when dropped.
pub struct Server {
    child: Child,
    pub addr: String,
    /// Everything the server printed on stdout, line by line, as it arrives.
    pub stdout: mpsc::Receiver<String>,
    pub banner: Vec<String>,
    remote: Remote,
    /// Where its log (stderr) goes, when started in a directory.
    log: Option<PathBuf>,
}

/// A server is spoken to as its [`Remote`] (`s.call(…)`, `s.url(…)`).
impl std::ops::Deref for Server {
    type Target = Remote;

    fn deref(&self) -> &Remote {
        &self.remote
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `program args…` and waits for the line that tells the listening address.
pub fn start(program: &Path, args: &[&str], envs: &[(&str, &str)], dir: Option<&Path>) -> Server {
    let mut cmd = Command::new(program);
    // The server's log goes beside its configuration, for a failing test to show.
    let log = dir.map(|d| d.join("tresor-stderr.log"));
    let stderr = log
        .as_ref()
        .and_then(|p| std::fs::File::create(p).ok())
        .map(Stdio::from)
        .unwrap_or_else(Stdio::null);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .env_remove("VAULT_DEV_ROOT_TOKEN_ID")
        .env_remove("VAULT_DEV_LISTEN_ADDRESS");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let mut child = cmd.spawn().expect("start tresor");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = Vec::new();
    let mut addr = None;
    let dev = args.iter().any(|a| *a == "-dev" || *a == "--dev");
    while Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) else {
            if let Ok(Some(status)) = child.try_wait() {
                let _ = child.wait();
                panic!("tresor exited early with {status}: {banner:?}");
            }
            continue;
        };
        banner.push(line.clone());
        if addr.is_none() {
            if let Some(rest) = line.split("Listener 1: tcp (addr: \"").nth(1) {
                let a = rest.split('"').next().unwrap_or_default();
                let scheme = if line.contains("tls: \"enabled\"") {
                    "https"
                } else {
                    "http"
                };
                addr = Some(format!("{scheme}://{a}"));
            }
        }
        let ready = if dev {
            line.starts_with("Development mode should NOT")
        } else {
            line.contains("server started!")
        };
        if let (true, Some(addr)) = (ready, &addr) {
            let client = reqwest::Client::builder()
                .danger_accept_invalid_certs(true)
                .build()
                .unwrap();
            return Server {
                child,
                addr: addr.clone(),
                stdout: rx,
                banner,
                remote: Remote {
                    client,
                    addr: addr.clone(),
                },
                log,
            };
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("tresor did not start: {banner:?}");
}

pub fn dev() -> Server {
    start(
        &binary(),
        &[
            "server",
            "-dev",
            "-dev-root-token-id=root",
            "-dev-listen-address=127.0.0.1:0",
            "-dev-no-store-token",
        ],
        &[],
        None,
    )
}

/// A server from a configuration text written to `dir/tresor.hcl` (or `.json`).
pub fn with_config(dir: &Path, name: &str, text: &str) -> Server {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    start(
        &binary(),
        &["server", &format!("-config={}", path.display())],
        &[],
        Some(dir),
    )
}

/// A durable server (file storage under `dir/data`), initialised with one key share and
/// unsealed. Returns it with its unseal key and root token.
pub async fn durable(dir: &Path) -> (Server, String, String) {
    let s = with_config(dir, "durable.hcl", &file_config(&dir.join("data")));
    let init = s
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 1, "secret_threshold": 1})),
        )
        .await;
    let key = init.body["keys"][0].as_str().unwrap().to_owned();
    let root = init.body["root_token"].as_str().unwrap().to_owned();
    let r = s
        .call("PUT", "sys/unseal", None, Some(json!({ "key": key })))
        .await;
    assert_eq!(r.body["sealed"], false);
    (s, key, root)
}

/// The durable server of `dir` started again and unsealed with `key`.
pub async fn reopen(dir: &Path, key: &str) -> Server {
    let s = with_config(dir, "durable.hcl", &file_config(&dir.join("data")));
    let r = s
        .call("PUT", "sys/unseal", None, Some(json!({ "key": key })))
        .await;
    assert_eq!(r.body["sealed"], false);
    s
}

pub fn file_config(data_dir: &Path) -> String {
    format!(
        "storage \"file\" {{\n  path = \"{}\"\n}}\nlistener \"tcp\" {{\n  address = \"127.0.0.1:0\"\n  tls_disable = true\n}}\n",
        data_dir.display()
    )
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    /// The token an answer handed out (`auth.client_token`).
    pub fn client_token(&self) -> String {
        self.body["auth"]["client_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {:?}", self.body))
            .to_owned()
    }

    /// The wrapping token of a wrapped answer (`wrap_info.token`).
    pub fn wrap_token(&self) -> String {
        self.body["wrap_info"]["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no wrap_info in {:?}", self.body))
            .to_owned()
    }

    pub fn errors(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e.as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Server {
    /// A handle for sending requests from other tasks (the server itself is not `Sync`).
    pub fn remote(&self) -> Remote {
        self.remote.clone()
    }

    /// Writes an ACL policy as root.
    pub async fn policy(&self, name: &str, text: &str) {
        let r = self
            .put(
                &format!("sys/policies/acl/{name}"),
                json!({ "policy": text }),
            )
            .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
    }

    /// Enables a secrets engine (`mounts/<path>`) or an auth method (`auth/<path>`) as root.
    pub async fn enable(&self, path: &str, kind: &str) {
        let r = self
            .post(&format!("sys/{path}"), json!({ "type": kind }))
            .await;
        assert_eq!(r.status, 204, "{path}: {:?}", r.body);
    }

    /// A token created by root with these parameters.
    pub async fn token(&self, body: Value) -> String {
        let r = self.post("auth/token/create", body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
        r.client_token()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, Some(ROOT), None).await
    }
    pub async fn list(&self, path: &str) -> Reply {
        self.call("LIST", path, Some(ROOT), None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(ROOT), Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(ROOT), Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.call("PATCH", path, Some(ROOT), Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, Some(ROOT), None).await
    }

    /// Waits for the server to exit by itself (after a bad start, say).
    /// Sends a Unix signal (e.g. `"HUP"`) to the server.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// What the server logged so far (when it was started in a directory).
    pub fn log(&self) -> String {
        self.log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    }

    /// The server's process id, to look at it in `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends requests to a server; cheap to clone and to move into spawned tasks.
#[derive(Clone)]
pub struct Remote {
    client: reqwest::Client,
    addr: String,
}

impl Remote {
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}", self.addr, path.trim_start_matches('/'))
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.call_with(method, path, token, body, &[]).await
    }

    /// `call` with extra headers (`X-Vault-Wrap-TTL`, …).
    pub async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.client.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.header("X-Vault-Token", t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            let ctype = if method == Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            req = req
                .header("Content-Type", ctype)
                .body(serde_json::to_vec(&b).unwrap());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }))
        };
        Reply { status, body }
    }
}
