//! The client CLI through the real binary: TLS settings, the token helper, input forms, and the
//! exit codes scripts depend on. (Output parity with OpenBao's CLI is in tests/compat.)

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `tresor ARGS` as a client with exactly these `VAULT_*` variables and `HOME`.
fn cli(home: &Path, envs: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(common::binary());
    cmd.args(args)
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars() {
        if k.starts_with("VAULT_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn tls_trust_comes_from_ca_cert_ca_path_or_skip_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    std::fs::create_dir(tmp.path().join("cas")).unwrap();
    std::fs::write(tmp.path().join("cert.pem"), cert.pem()).unwrap();
    std::fs::write(tmp.path().join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(tmp.path().join("cas/ca.pem"), ca_cert.pem()).unwrap();
    let cfg = "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_cert_file = \"cert.pem\"\n  tls_key_file = \"key.pem\"\n}\n";
    let s = common::with_config(tmp.path(), "tls.hcl", cfg);
    let addr = s.addr.replace("127.0.0.1", "localhost");
    let ca_file = tmp.path().join("cas/ca.pem");
    let ca_dir = tmp.path().join("cas");
    let home = tmp.path();

    // Not initialised means sealed: `status` answers, and exits 2.
    let trusted = [
        vec![
            ("VAULT_ADDR", addr.as_str()),
            ("VAULT_CACERT", ca_file.to_str().unwrap()),
        ],
        vec![
            ("VAULT_ADDR", addr.as_str()),
            ("VAULT_CAPATH", ca_dir.to_str().unwrap()),
        ],
        vec![("VAULT_ADDR", addr.as_str()), ("VAULT_SKIP_VERIFY", "true")],
    ];
    for envs in &trusted {
        let out = cli(home, envs, &["status"], None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{envs:?}: {}",
            text(&out.stderr)
        );
        let rows = text(&out.stdout);
        assert!(rows
            .lines()
            .any(|l| l.split_whitespace().eq(["Initialized", "false"])));
    }
    let flag = format!("-ca-cert={}", ca_file.display());
    let out = cli(home, &[("VAULT_ADDR", &addr)], &["status", &flag], None);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    // Without trust in the CA, the certificate is refused (status reports errors with 1).
    let out = cli(home, &[("VAULT_ADDR", &addr)], &["status"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("Error checking seal status: Get \"https://localhost:"));
    let out = cli(
        home,
        &[("VAULT_ADDR", &addr)],
        &["operator", "init", "-status"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "a refused server is a remote error"
    );
}

#[test]
fn login_stores_the_token_for_later_commands() {
    let s = common::dev();
    let home = tempfile::tempdir().unwrap();
    let addr = [("VAULT_ADDR", s.addr.as_str())];
    // No token anywhere: the server says so.
    let out = cli(home.path(), &addr, &["kv", "get", "secret/x"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("Code: 403"),
        "{}",
        text(&out.stderr)
    );

    let out = cli(home.path(), &addr, &["login", "root"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stored = std::fs::read_to_string(home.path().join(".vault-token")).unwrap();
    assert_eq!(stored, "root");
    let out = cli(home.path(), &addr, &["kv", "put", "secret/x", "a=1"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // VAULT_TOKEN wins over the helper.
    let env = [addr[0], ("VAULT_TOKEN", "hvs.nosuchtokennosuchtokenxx")];
    let out = cli(home.path(), &env, &["kv", "get", "secret/x"], None);
    assert_eq!(out.status.code(), Some(2));

    // A bad token is refused and nothing is stored.
    let out = cli(
        home.path(),
        &addr,
        &["login", "hvs.nosuchtokennosuchtokenxx"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("Error authenticating: error looking up token:"));
    assert_eq!(
        std::fs::read_to_string(home.path().join(".vault-token")).unwrap(),
        "root"
    );

    // -token-only prints just the token; -no-store leaves the helper alone.
    let child = cli(
        home.path(),
        &[addr[0], ("VAULT_TOKEN", "root")],
        &["token", "create", "-policy=default", "-field=token"],
        None,
    );
    let child = text(&child.stdout);
    let out = cli(home.path(), &addr, &["login", "-token-only", &child], None);
    assert_eq!(text(&out.stdout), child);
    assert_eq!(
        std::fs::read_to_string(home.path().join(".vault-token")).unwrap(),
        "root"
    );
}

#[test]
fn data_from_files_stdin_and_env_format() {
    let s = common::dev();
    let home = tempfile::tempdir().unwrap();
    let env = [("VAULT_ADDR", s.addr.as_str()), ("VAULT_TOKEN", "root")];
    let file = home.path().join("cert.pem");
    std::fs::write(&file, "-----BEGIN X-----\nabc\n").unwrap();
    let at_file = format!("cert=@{}", file.display());
    let out = cli(
        home.path(),
        &env,
        &["kv", "put", "secret/f", &at_file, "note=-"],
        Some("from stdin\n"),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = cli(
        home.path(),
        &env,
        &["kv", "get", "-field=cert", "secret/f"],
        None,
    );
    assert_eq!(text(&out.stdout), "-----BEGIN X-----\nabc\n");
    let out = cli(
        home.path(),
        &env,
        &["kv", "get", "-field=note", "secret/f"],
        None,
    );
    assert_eq!(text(&out.stdout), "from stdin\n");

    let out = cli(
        home.path(),
        &env,
        &["write", "sys/policies/acl/p", "-"],
        Some(r#"{"policy": "path \"a\" { capabilities = [\"read\"] }"}"#),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json_env = [env[0], env[1], ("VAULT_FORMAT", "json")];
    let out = cli(home.path(), &json_env, &["policy", "list"], None);
    let names: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(names, ["default", "p", "root"]);

    // Usage errors exit 1 and change nothing; server errors exit 2.
    let out = cli(
        home.path(),
        &env,
        &["kv", "put", "secret/f", "novalue"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let out = cli(
        home.path(),
        &env,
        &["kv", "get", "-field=note", "secret/f"],
        None,
    );
    assert_eq!(text(&out.stdout), "from stdin\n");
    let out = cli(
        home.path(),
        &env,
        &["write", "sys/mounts/x", "type=nosuchengine"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr)
        .starts_with("Error writing data to sys/mounts/x: Error making API request."));
    // A hidden prompt needs a terminal; piped input is refused (the key can be an argument).
    let out = cli(home.path(), &env, &["operator", "unseal"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not a terminal"));
}

#[test]
fn dev_mode_leaves_the_root_token_for_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let s = common::start(
        &common::binary(),
        &[
            "server",
            "-dev",
            "-dev-root-token-id=devroot",
            "-dev-listen-address=127.0.0.1:0",
        ],
        &[("HOME", home_str)],
        None,
    );
    let stored = std::fs::read_to_string(home.path().join(".vault-token")).unwrap();
    assert_eq!(stored, "devroot");
    let out = cli(
        home.path(),
        &[("VAULT_ADDR", &s.addr)],
        &["token", "lookup", "-field=policies"],
        None,
    );
    assert_eq!(text(&out.stdout), "[root]");
}
