//! The one Tresor binary: `server` runs the server, every other command is the Vault-compatible
//! client CLI (`cli/`). Called as `tresor` or through a link named `vault`, it behaves the same.

use std::path::PathBuf;
use std::process::ExitCode;

use tresor::cli;
use tresor::flags::{self, Kind};
use tresor_server::config::{self, Config};
use tresor_server::{DevOptions, RunOptions};

/// A request allocates and frees many small objects across worker threads; measured with
/// `bench/profile.py`, glibc's malloc took 10–15 % of a request's CPU, mimalloc much less.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SERVER_FLAGS: &[(&str, Kind)] = &[
    ("config", Kind::Value),
    ("dev", Kind::Bool),
    ("dev-root-token-id", Kind::Value),
    ("dev-listen-address", Kind::Value),
    ("dev-no-store-token", Kind::Bool),
    ("dev-tls", Kind::Bool),
    ("log-level", Kind::Value),
    ("log-format", Kind::Value),
    ("exit-on-core-shutdown", Kind::Bool),
    ("recovery", Kind::Bool),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => server(&args[1..]),
        Some("-v" | "-version" | "--version") if args.len() == 1 => {
            cli::run(&["version".to_owned()])
        }
        _ => cli::run(&args),
    }
}

fn usage_error(msg: &str) -> ExitCode {
    eprintln!("{msg}");
    ExitCode::from(1)
}

fn server(args: &[String]) -> ExitCode {
    let parsed = match flags::parse(SERVER_FLAGS, args) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    if !parsed.args.is_empty() {
        return usage_error(&format!(
            "Too many arguments (expected 0, got {})",
            parsed.args.len()
        ));
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let dev = parsed.bool("dev") || env("VAULT_DEV").is_some();
    let config_paths: Vec<PathBuf> = parsed.values("config").iter().map(PathBuf::from).collect();
    if !dev && config_paths.is_empty() {
        return usage_error("Must specify at least one config path using -config");
    }
    let mut config = if config_paths.is_empty() {
        Config::default()
    } else {
        match config::load(&config_paths) {
            Ok(c) => c,
            Err(e) => return usage_error(&e.to_string()),
        }
    };
    if let Some(level) = parsed
        .value("log-level")
        .map(str::to_owned)
        .or_else(|| env("VAULT_LOG_LEVEL"))
    {
        config.log_level = Some(level.to_ascii_lowercase());
    }
    init_logging(config.log_level.as_deref().unwrap_or("info"));
    let dev = dev.then(|| DevOptions {
        root_token_id: parsed
            .value("dev-root-token-id")
            .map(str::to_owned)
            .or_else(|| env("VAULT_DEV_ROOT_TOKEN_ID")),
        listen_address: parsed
            .value("dev-listen-address")
            .map(str::to_owned)
            .or_else(|| env("VAULT_DEV_LISTEN_ADDRESS")),
        store_token: !parsed.bool("dev-no-store-token"),
    });
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(&format!("error starting runtime: {e}")),
    };
    match runtime.block_on(tresor_server::run(RunOptions { config, dev })) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => usage_error(&format!("Error initializing core: {e}")),
    }
}

fn init_logging(level: &str) {
    let level = match level {
        "warning" => "warn",
        "err" => "error",
        other => other,
    };
    // openraft narrates every step (its whole state at start-up) at info; Tresor logs what an
    // operator needs of it (leader changes) itself.
    let raft = if matches!(level, "debug" | "trace") {
        level
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(format!(
        "{level},h2=warn,hyper=warn,rustls=warn,openraft={raft}"
    ))
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
