//! The client CLI: Vault's commands, flags, output and exit codes, so that scripts and runbooks
//! written for `vault` run unchanged against Tresor.
//!
//! Exit codes follow Vault's CLI (not its prose): 0 success, 1 a local error (bad flags, wrong
//! number of arguments, unreadable input), 2 an error from or reaching the server (and `status`
//! on a sealed server). Help for no command at all exits 127, as Vault does.

pub mod args;
mod client;
mod commands;
mod output;
mod yaml;

use std::io::Write;
use std::process::ExitCode;

use crate::flags::{self, Kind, Parsed};
pub use client::{ApiError, Client};
pub use output::Format;

/// What ended a command early, and whose fault it was.
#[derive(Debug)]
pub enum Failure {
    /// The user's: bad flags, arguments or input. Exit 1.
    Local(String),
    /// The server's, or the network's. Exit 2.
    Remote(String),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Remote(e.to_string())
    }
}

/// A command's outcome: the exit code it chose, or a failure to print.
pub type Outcome = Result<u8, Failure>;

/// Everything a command needs: its parsed flags, the client, and how to print.
pub struct Ctx {
    pub flags: Parsed,
    pub client: Client,
    pub format: Format,
    pub field: Option<String>,
}

impl Ctx {
    pub fn args(&self) -> &[String] {
        &self.flags.args
    }

    /// Vault's wording when the number of positional arguments is wrong.
    pub fn expect_args(&self, min: usize, max: Option<usize>) -> Result<(), Failure> {
        let n = self.args().len();
        let expected = match max {
            Some(m) if m == min => format!("{min}"),
            Some(m) => format!("{min}-{m}"),
            None => format!("{min}"),
        };
        if n < min {
            return Err(Failure::Local(format!(
                "Not enough arguments (expected {expected}, got {n})"
            )));
        }
        if max.is_some_and(|m| n > m) {
            return Err(Failure::Local(format!(
                "Too many arguments (expected {expected}, got {n})"
            )));
        }
        Ok(())
    }
}

/// A command: its name (`kv get`), one-line synopsis, usage text, and its own flags.
/// `commands::run` maps the name to the code.
pub struct Command {
    pub name: &'static str,
    pub synopsis: &'static str,
    pub usage: &'static str,
    pub flags: &'static [(&'static str, Kind)],
}

const OUTPUT_FLAGS: &[(&str, Kind)] = &[("format", Kind::Value), ("field", Kind::Value)];

const COMMON: &[(&str, &str)] = &[
    ("read", "Read data and retrieves secrets"),
    ("write", "Write data, configuration, and secrets"),
    ("delete", "Delete secrets and configuration"),
    ("list", "List data or secrets"),
    ("login", "Authenticate locally"),
    ("server", "Start a Tresor server"),
    ("status", "Print seal and HA status"),
    ("unwrap", "Unwrap a wrapped secret"),
];

const OTHER: &[(&str, &str)] = &[
    ("audit", "Interact with audit devices"),
    ("auth", "Interact with auth methods"),
    ("kv", "Interact with Tresor's Key-Value storage"),
    ("lease", "Interact with leases"),
    ("operator", "Perform operator-specific tasks"),
    ("patch", "Patch data, configuration, and secrets"),
    ("path-help", "Retrieve API help for paths"),
    ("policy", "Interact with policies"),
    ("secrets", "Interact with secrets engines"),
    ("token", "Interact with tokens"),
    ("transit", "Interact with Tresor's Transit Secrets Engine"),
    ("version", "Prints the Tresor CLI version"),
];

fn main_help() -> String {
    let mut s = String::from("Usage: vault <command> [args]\n\nCommon commands:\n");
    for (n, d) in COMMON {
        s.push_str(&format!("    {n:<11} {d}\n"));
    }
    s.push_str("\nOther commands:\n");
    for (n, d) in OTHER {
        s.push_str(&format!("    {n:<20} {d}\n"));
    }
    s
}

/// The help of a command group (`vault kv`): its subcommands and what they do.
fn group_help(group: &str) -> Option<String> {
    let subs: Vec<&Command> = commands::ALL
        .iter()
        .filter(|c| c.name.split_once(' ').is_some_and(|(g, _)| g == group))
        .collect();
    if subs.is_empty() {
        return None;
    }
    let mut s = format!("Usage: vault {group} <subcommand> [options] [args]\n\nSubcommands:\n");
    for c in subs {
        let sub = &c.name[group.len() + 1..];
        s.push_str(&format!("    {sub:<20} {}\n", c.synopsis));
    }
    Some(s)
}

fn command_help(c: &Command) -> String {
    let mut s = format!(
        "Usage: vault {} [options]{}\n\n  {}\n",
        c.name, "", c.synopsis
    );
    if !c.usage.is_empty() {
        s.push('\n');
        s.push_str(c.usage);
        if !c.usage.ends_with('\n') {
            s.push('\n');
        }
    }
    s.push_str("\nHTTP Options:\n\n  -address=<string>\n      Address of the Tresor server. The default is https://127.0.0.1:8200. This\n      can also be specified via the VAULT_ADDR environment variable.\n");
    s.push_str("\n  -ca-cert=<string>, -ca-path=<string>, -client-cert=<string>,\n  -client-key=<string>, -tls-skip-verify, -namespace=<string>, -header=<key=value>,\n  -wrap-ttl=<duration>, -non-interactive\n      As in Vault; also VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT,\n      VAULT_CLIENT_KEY, VAULT_SKIP_VERIFY, VAULT_NAMESPACE, VAULT_WRAP_TTL.\n");
    s.push_str("\nOutput Options:\n\n  -format=<string>\n      Print the output in the given format. Valid formats are \"table\",\n      \"json\", or \"yaml\". The default is table. This can also be specified via\n      the VAULT_FORMAT environment variable.\n\n  -field=<string>\n      Print only the field with the given name.\n");
    if !c.flags.is_empty() {
        s.push_str("\nCommand Options:\n\n");
        for (name, kind) in c.flags {
            match kind {
                Kind::Bool => s.push_str(&format!("  -{name}\n")),
                Kind::Value => s.push_str(&format!("  -{name}=<value>\n")),
            }
        }
    }
    s
}

fn is_help(arg: &str) -> bool {
    matches!(arg, "-h" | "-help" | "--help" | "--h")
}

/// Runs the client CLI on `args` (the process arguments after the binary's name).
pub fn run(args: &[String]) -> ExitCode {
    // `vault list … | head` must end quietly when `head` does, as a Go program does, not panic
    // on the broken pipe.
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let asked_help = args.iter().take_while(|a| *a != "--").any(|a| is_help(a));
    let first_word = args.iter().position(|a| !a.starts_with('-'));
    let Some(first_word) = first_word else {
        // No command at all: help, to stdout when asked for.
        if asked_help {
            print!("{}", main_help());
            return ExitCode::SUCCESS;
        }
        eprint!("{}", main_help());
        return ExitCode::from(127);
    };
    if first_word > 0 && !asked_help {
        eprintln!("Invalid flags before the subcommand. If these flags are for\nthe subcommand, please put them after the subcommand.\n");
        eprint!("{}", main_help());
        return ExitCode::from(1);
    }
    let args = &args[first_word..];
    // The longest command name that the leading words spell (`kv metadata get` before `kv`,
    // `operator raft snapshot save` the longest of all).
    let found = (1..=args.len().min(4)).rev().find_map(|n| {
        if args[..n].iter().any(|a| a.starts_with('-')) {
            return None;
        }
        let name = args[..n].join(" ");
        commands::ALL
            .iter()
            .find(|c| c.name == name)
            .map(|c| (c, n))
    });
    let Some((command, words)) = found else {
        if let Some(help) = group_help(&args[0]) {
            if asked_help {
                print!("{help}");
                return ExitCode::SUCCESS;
            }
            eprint!("{help}");
            return ExitCode::from(1);
        }
        if args[0] == "help" {
            print!("{}", main_help());
            return ExitCode::SUCCESS;
        }
        eprint!("{}", main_help());
        return ExitCode::from(127);
    };
    if asked_help {
        print!("{}", command_help(command));
        return ExitCode::SUCCESS;
    }
    let rest = &args[words..];
    let spec: Vec<(&str, Kind)> = client::HTTP_FLAGS
        .iter()
        .chain(OUTPUT_FLAGS)
        .chain(command.flags)
        .copied()
        .collect();
    let code = match execute(command, &spec, rest) {
        Ok(code) => code,
        Err(Failure::Local(msg)) => {
            eprintln!("{msg}");
            1
        }
        Err(Failure::Remote(msg)) => {
            eprintln!("{msg}");
            2
        }
    };
    let _ = std::io::stdout().flush();
    ExitCode::from(code)
}

/// `-format=X` given anywhere, even after the positional arguments, as Vault's pre-scan reads it.
fn format_anywhere(args: &[String]) -> Option<String> {
    let mut it = args.iter().take_while(|a| *a != "--");
    while let Some(a) = it.next() {
        let bare = a.trim_start_matches('-');
        if a.starts_with('-') {
            if let Some(v) = bare.strip_prefix("format=") {
                return Some(v.to_owned());
            }
            if bare == "format" {
                return it.next().cloned();
            }
        }
    }
    None
}

fn execute(command: &Command, spec: &[(&str, Kind)], rest: &[String]) -> Outcome {
    let parsed = flags::parse(spec, rest);
    let late_args = match &parsed {
        Ok(p) => p.args.clone(),
        Err(_) => Vec::new(),
    };
    let format = match format_anywhere(rest) {
        Some(f) => Format::parse(&f)?,
        None => match &parsed {
            Ok(p) => Format::from_flags(p)?,
            Err(_) => Format::Table,
        },
    };
    if format == Format::Table {
        warn_flags_after_args(&late_args);
    }
    let parsed = parsed.map_err(Failure::Local)?;
    let field = parsed.value("field").map(str::to_owned);
    let client = Client::from_flags(&parsed)?;
    let mut ctx = Ctx {
        flags: parsed,
        client,
        format,
        field,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Local(format!("Error starting the client: {e}")))?;
    runtime.block_on(commands::run(command.name, &mut ctx))
}

/// Vault parses flags only before the first argument and says so when it sees one after.
fn warn_flags_after_args(args: &[String]) {
    const GLOBAL: &[&str] = &[
        "output-curl-string",
        "output-policy",
        "output-profile",
        "format",
        "detailed",
    ];
    let late: Vec<&str> = args
        .iter()
        .filter(|a| a.starts_with('-') && a.as_str() != "-")
        .filter(|a| {
            let name = a.trim_start_matches('-');
            let name = name.split('=').next().unwrap_or(name);
            !GLOBAL.contains(&name)
        })
        .map(String::as_str)
        .collect();
    if !late.is_empty() {
        eprintln!(
            "Command flags must be provided before positional arguments. The following arguments will not be parsed as flags: [{}]",
            late.join(",")
        );
    }
}
