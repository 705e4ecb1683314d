//! The one Tresor binary. Called as `tresor` or through a link named `vault`, it behaves the same.

mod flags;

use std::path::PathBuf;
use std::process::ExitCode;

use flags::Kind;
use tresor_server::config::{self, Config};
use tresor_server::{DevOptions, RunOptions};

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

const HELP: &str = "Usage: vault <command> [args]

Common commands:
    read        Read data and retrieves secrets
    write       Write data, configuration, and secrets
    delete      Delete secrets and configuration
    list        List data or secrets
    login       Authenticate locally
    server      Start a Tresor server
    status      Print seal and HA status
    version     Print the version

Tresor speaks Vault's HTTP API. This build ships the server; the client commands
arrive with the CLI.
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("-h" | "-help" | "--help" | "help") => {
            print!("{HELP}");
            if args.is_empty() {
                ExitCode::from(127)
            } else {
                ExitCode::SUCCESS
            }
        }
        Some("version" | "-v" | "-version" | "--version") => {
            println!(
                "Tresor v{} (Vault API {})",
                env!("CARGO_PKG_VERSION"),
                tresor_core::VAULT_VERSION
            );
            ExitCode::SUCCESS
        }
        Some("server") => server(&args[1..]),
        Some(other) => {
            eprintln!("Unknown command: {other}\n\n{HELP}");
            ExitCode::from(127)
        }
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
    let filter =
        tracing_subscriber::EnvFilter::try_new(format!("{level},h2=warn,hyper=warn,rustls=warn"))
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
