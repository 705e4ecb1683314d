//! Starting the server: dev mode, configuration files, TLS, and the `vault` name.

mod common;

#[tokio::test]
async fn dev_mode_prints_credentials_and_mounts_kv_v2() {
    let s = common::dev();
    let text = s.banner.join("\n");
    assert!(text.contains("Root Token: root"), "{text}");
    let key = s
        .banner
        .iter()
        .find_map(|l| l.strip_prefix("Unseal Key: "))
        .expect("unseal key");
    assert_eq!(key.len(), 44, "base64 of a 32-byte key");
    assert!(text.contains(&format!("export VAULT_ADDR='{}'", s.addr)));
    let ui = s.get("sys/internal/ui/mounts/secret").await;
    assert_eq!(ui.data()["type"], "kv");
    assert_eq!(ui.data()["options"]["version"], "2");
}

#[tokio::test]
async fn dev_mode_reads_environment_and_answers_as_vault() {
    let tmp = tempfile::tempdir().unwrap();
    let link = tmp.path().join("vault");
    std::os::unix::fs::symlink(common::binary(), &link).unwrap();
    let s = common::start(
        &link,
        &["server", "--dev"],
        &[
            ("VAULT_DEV_ROOT_TOKEN_ID", "from-env"),
            ("VAULT_DEV_LISTEN_ADDRESS", "127.0.0.1:0"),
        ],
        None,
    );
    assert!(s.banner.iter().any(|l| l == "Root Token: from-env"));
    let r = s.call("GET", "sys/mounts", Some("from-env"), None).await;
    assert_eq!(r.status, 200);
}

#[test]
fn bad_config_is_an_error_naming_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("bad.hcl");
    std::fs::write(&path, "storage \"inmem\" {}\nlistener \"tcp\" {\n  address = \"127.0.0.1:0\"\n  tls_disable = \"perhaps\"\n}\n").unwrap();
    let out = std::process::Command::new(common::binary())
        .args(["server", "-config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.hcl") && err.contains("line 4") && err.contains("tls_disable"),
        "{err}"
    );

    let out = std::process::Command::new(common::binary())
        .args(["server"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = std::process::Command::new(common::binary())
        .args(["server", "-bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("flag provided but not defined: -bogus"));
}

#[tokio::test]
async fn tls_listener_with_relative_paths_and_optional_client_certs() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    std::fs::create_dir(tmp.path().join("tls")).unwrap();
    std::fs::write(tmp.path().join("tls/cert.pem"), server_cert.pem()).unwrap();
    std::fs::write(tmp.path().join("tls/key.pem"), server_key.serialize_pem()).unwrap();
    std::fs::write(tmp.path().join("tls/ca.pem"), ca_cert.pem()).unwrap();

    let cfg = r#"
storage "inmem" {}
listener "tcp" {
  address            = "127.0.0.1:0"
  tls_cert_file      = "tls/cert.pem"
  tls_key_file       = "tls/key.pem"
  tls_client_ca_file = "tls/ca.pem"
  tls_min_version    = "tls12"
}
"#;
    let s = common::with_config(tmp.path(), "tls.hcl", cfg);
    assert!(s.addr.starts_with("https://"), "{}", s.addr);
    // A client that trusts the CA and presents no certificate is served.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let url = s.url("sys/seal-status").replace("127.0.0.1", "localhost");
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["initialized"], false);
    drop(s);

    // With tls_require_and_verify_client_cert, a client without a certificate is refused.
    let strict = cfg.replace(
        "tls_min_version    = \"tls12\"",
        "tls_require_and_verify_client_cert = true",
    );
    let s = common::with_config(tmp.path(), "strict.hcl", &strict);
    let url = s.url("sys/seal-status").replace("127.0.0.1", "localhost");
    assert!(client.get(&url).send().await.is_err());
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client_cert = rcgen::CertificateParams::new(vec!["client".into()])
        .unwrap()
        .signed_by(&client_key, &issuer)
        .unwrap();
    let identity = reqwest::Identity::from_pem(
        format!("{}{}", client_cert.pem(), client_key.serialize_pem()).as_bytes(),
    )
    .unwrap();
    let with_cert = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_cert.pem().as_bytes()).unwrap())
        .identity(identity)
        .build()
        .unwrap();
    assert_eq!(with_cert.get(&url).send().await.unwrap().status(), 200);
}
