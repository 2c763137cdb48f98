//! Command-line definitions for every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::{CHECK_EXIT_CODES_HELP, EXIT_CODES_HELP};

/// `--version` (long form): the version, and the Public Suffix List compiled in for DMARC.
#[cfg(feature = "dns")]
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    "\nPublic Suffix List (DMARC organisational domains): compiled in from the psl crate ",
    crate::dns::dmarc::psl_version!(),
    "; the crate does not publish the list's date"
);
#[cfg(not(feature = "dns"))]
const LONG_VERSION: &str = env!("CARGO_PKG_VERSION");

#[derive(Debug, Parser)]
#[command(
    name = "smtpscope",
    version,
    long_version = LONG_VERSION,
    about = "Explore SMTP sessions and test mail relay policy",
    long_about = "smtpscope shows what an SMTP server really does: every byte of the dialogue, \
                  what each reply means, and whether the server relays mail it should refuse."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run one scripted SMTP session and print its transcript (like swaks).
    #[command(after_help = EXIT_CODES_HELP)]
    Session(SessionArgs),
    /// Run relay-policy scenarios against a server, headless, for people and CI.
    #[command(after_help = CHECK_EXIT_CODES_HELP)]
    Check(CheckArgs),
    /// List and show saved server profiles.
    #[command(subcommand)]
    Profiles(ProfilesCmd),
    /// List and explain the scenarios.
    #[command(subcommand)]
    Scenarios(ScenariosCmd),
    /// Start practice SMTP servers on loopback (an open relay and a secure one by default).
    Lab(LabArgs),
    /// Count relay denials, AUTH failures and pipelining violations in a mail server's log
    /// (Postfix, Exim, OpenSMTPD), and alert on spikes.
    #[command(after_help = WATCH_HELP)]
    Watch(WatchArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard
    /// output.
    #[command(
        after_help = "Install, for example:\n  smtpscope completions bash > ~/.local/share/bash-completion/completions/smtpscope\n  smtpscope completions zsh > \"${fpath[1]}/_smtpscope\"\n  smtpscope completions fish > ~/.config/fish/completions/smtpscope.fish"
    )]
    Completions { shell: clap_complete::Shell },
    /// Print the manual page (roff) to standard output: `smtpscope man | man -l -`.
    Man,
    /// The interactive explorer (the default when smtpscope runs with no arguments).
    Tui(TuiArgs),
}

#[derive(Debug, Clone, Args)]
pub struct TuiArgs {
    /// Start on this saved profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Start this scenario right away (id or alias).
    #[arg(long, value_name = "ID")]
    pub scenario: Option<String>,
    /// Play the scenario through on its own, for demos and teaching.
    #[arg(long, requires = "scenario")]
    pub run: bool,
    /// Where F8/F9 write session records (default: `exports/` in the data directory, or the
    /// profile's `export_dir`).
    #[arg(long, value_name = "DIR")]
    pub export_dir: Option<PathBuf>,
    #[command(flatten)]
    pub quick: QuickTargetArgs,
    #[command(flatten)]
    pub relay: RelayArgs,
}

/// `tui --server HOST[:PORT]`: a target without a profile (the explorer offers to save it),
/// with the TLS and AUTH flags `check` has.
#[derive(Debug, Clone, Default, Args)]
pub struct QuickTargetArgs {
    /// Explore this server without a profile: HOST, HOST:PORT, IP:PORT or [IPv6]:PORT.
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "HOST[:PORT]",
        conflicts_with = "profile"
    )]
    pub server: Option<String>,
    /// How to use TLS (default: starttls).
    #[arg(help_heading = "Quick target", long, value_enum, requires = "server")]
    pub tls: Option<TlsArg>,
    /// Refuse to go on without TLS.
    #[arg(help_heading = "Quick target", long, requires = "server")]
    pub require_tls: bool,
    /// Accept a certificate that fails verification (the failure is still shown).
    #[arg(help_heading = "Quick target", long, requires = "server")]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file.
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "FILE",
        requires = "server"
    )]
    pub ca_file: Option<PathBuf>,
    /// Which roots to trust.
    #[arg(help_heading = "Quick target", long, value_enum, requires = "server")]
    pub trust: Option<TrustArg>,
    /// The name the certificate must carry (default: the server's host name).
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "NAME",
        requires = "server"
    )]
    pub tls_name: Option<String>,
    /// The name sent in EHLO.
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "NAME",
        requires = "server"
    )]
    pub helo: Option<String>,
    /// Seconds to wait for a connection and for each reply.
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "SECS",
        requires = "server"
    )]
    pub timeout: Option<f64>,
    /// SASL mechanism (with --user).
    #[arg(
        help_heading = "Quick target",
        long,
        value_enum,
        value_name = "MECHANISM",
        requires = "user"
    )]
    pub auth: Option<AuthArg>,
    /// User name for AUTH; the password is asked for, or read from --password-env.
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "USER",
        requires = "server"
    )]
    pub user: Option<String>,
    /// Environment variable holding the password.
    #[arg(
        help_heading = "Quick target",
        long,
        value_name = "VAR",
        requires = "user"
    )]
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LabPolicyArg {
    /// Relays for anyone: the classic misconfiguration.
    OpenRelay,
    /// STARTTLS, AUTH only after TLS, relay only when authenticated, bob limited to
    /// partner.example, senders must match their login.
    Secure,
    /// Like secure, but AUTH is offered (and works) before TLS.
    AuthCleartext,
    /// Like secure, but without STARTTLS.
    NoTls,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MisbehaveArg {
    /// After 10 errors every reply waits 1 s; after 20, 421 and close (like Postfix).
    Tarpit,
    /// The banner comes after 5 s.
    SlowBanner,
    /// The connection drops halfway through the EHLO reply.
    DropMidReply,
    /// The EHLO reply changes its code between lines.
    BadMultiline,
    /// Every reply line ends in a bare LF.
    BareLf,
    /// Forged plaintext replies ride along with STARTTLS's 220.
    StarttlsInjection,
    /// STARTTLS is neither advertised nor accepted.
    StripStarttls,
    /// An expired certificate.
    BadCertExpired,
    /// A certificate for another name.
    BadCertName,
}

#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// Address to listen on (loopback only); port 0 picks a free one per server.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Policy of a server to start; repeat for several [default: open-relay and secure].
    #[arg(long = "policy", value_enum, value_name = "POLICY")]
    pub policies: Vec<LabPolicyArg>,
    /// A fault for the servers to commit; repeatable.
    #[arg(long, value_enum, value_name = "FAULT")]
    pub misbehave: Vec<MisbehaveArg>,
    /// Also write each accepted message, byte for byte as it arrived, to DIR/N.eml.
    #[arg(long, value_name = "DIR")]
    pub store: Option<PathBuf>,
    /// Print each accepted message, byte for byte (escaped), as it arrives.
    #[arg(long)]
    pub show_messages: bool,
    /// Speak LMTP (RFC 2033) instead of SMTP: LHLO, and one reply per recipient.
    #[arg(long)]
    pub lmtp: bool,
    /// Expect a HAProxy PROXY header (v1 or v2) first on every connection, as a server behind
    /// a load balancer does (Postfix smtpd_upstream_proxy_protocol = haproxy).
    #[arg(long)]
    pub proxy_protocol: bool,
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    #[command(flatten)]
    pub limits: LabLimitArgs,
}

/// What one lab server lets its clients take; the defaults follow Postfix's.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits (per server)")]
pub struct LabLimitArgs {
    /// Sessions open at once; the next client gets 421 and is closed. Lowered to fit the
    /// open-file limit (ulimit -n) when that is smaller.
    #[arg(long, value_name = "N", default_value_t = crate::lab::limits::DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections: usize,
    /// Recipients per message; more get 452, each counted as an error (Postfix
    /// smtpd_recipient_limit).
    #[arg(long, value_name = "N", default_value_t = crate::lab::limits::DEFAULT_MAX_RECIPIENTS,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_recipients: usize,
    /// Seconds a client has to send a whole command line, or the next chunk of DATA, or to
    /// take a reply; then 421 and close (Postfix smtpd_timeout).
    #[arg(long, value_name = "SECS", default_value_t = crate::lab::limits::DEFAULT_COMMAND_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub command_timeout: u64,
    /// Seconds one session may last, however busy; then 421 and close.
    #[arg(long, value_name = "SECS", default_value_t = crate::lab::limits::DEFAULT_SESSION_TIMEOUT_SECS,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub session_timeout: u64,
    /// Error replies in one session (5xx, and 452 for a recipient over the limit) before 421
    /// and close (Postfix smtpd_hard_error_limit).
    #[arg(long, value_name = "N", default_value_t = crate::lab::limits::DEFAULT_ERROR_LIMIT,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub error_limit: u32,
    /// Seconds to wait before answering a failed AUTH.
    #[arg(long, value_name = "SECS", default_value_t = crate::lab::limits::DEFAULT_AUTH_FAILURE_DELAY_SECS)]
    pub auth_failure_delay: u64,
    /// Largest message in bytes, advertised as SIZE; a bigger one gets 552.
    #[arg(long, value_name = "BYTES", default_value_t = crate::lab::limits::DEFAULT_MAX_MESSAGE_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_message_size: usize,
    /// Memory for DATA being received, over all sessions, in MiB; beyond it, 452.
    #[arg(long, value_name = "MIB", default_value_t = crate::lab::limits::DEFAULT_DATA_BUDGET_MIB,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub data_budget_mib: usize,
    /// Accepted messages kept in memory; the oldest go first, and are counted.
    #[arg(long, value_name = "N", default_value_t = crate::lab::limits::DEFAULT_KEEP_MESSAGES)]
    pub keep_messages: usize,
    /// Memory for kept messages, in MiB; the oldest go first, and are counted.
    #[arg(long, value_name = "MIB", default_value_t = crate::lab::limits::DEFAULT_KEEP_MIB)]
    pub keep_mib: usize,
    /// Length of the queue of connections not yet accepted (the kernel caps it at
    /// net.core.somaxconn).
    #[arg(long, value_name = "N", default_value_t = crate::lab::limits::DEFAULT_LISTEN_BACKLOG,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub listen_backlog: u32,
}

impl Default for LabLimitArgs {
    fn default() -> Self {
        LabLimitArgs {
            max_connections: crate::lab::limits::DEFAULT_MAX_CONNECTIONS,
            max_recipients: crate::lab::limits::DEFAULT_MAX_RECIPIENTS,
            command_timeout: crate::lab::limits::DEFAULT_COMMAND_TIMEOUT_SECS,
            session_timeout: crate::lab::limits::DEFAULT_SESSION_TIMEOUT_SECS,
            error_limit: crate::lab::limits::DEFAULT_ERROR_LIMIT,
            auth_failure_delay: crate::lab::limits::DEFAULT_AUTH_FAILURE_DELAY_SECS,
            max_message_size: crate::lab::limits::DEFAULT_MAX_MESSAGE_SIZE,
            data_budget_mib: crate::lab::limits::DEFAULT_DATA_BUDGET_MIB,
            keep_messages: crate::lab::limits::DEFAULT_KEEP_MESSAGES,
            keep_mib: crate::lab::limits::DEFAULT_KEEP_MIB,
            listen_backlog: crate::lab::limits::DEFAULT_LISTEN_BACKLOG,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum ProfilesCmd {
    /// List the saved profiles (broken files are shown with their error).
    List,
    /// Show one profile (passwords are never shown).
    Show { name: String },
    /// Print the profiles directory.
    Path,
}

#[derive(Debug, Subcommand)]
pub enum ScenariosCmd {
    /// List the catalogue: built-in and your own scenarios.
    List,
    /// Show a scenario: what it tests, why it matters, its steps and how to fix a failure.
    Show { id: String },
    /// Explain a topic: `relay` (Relay 101).
    Explain { topic: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    Human,
    Json,
    Junit,
}

/// The [relay] addresses, overriding the profile's.
#[derive(Debug, Clone, Default, Args)]
pub struct RelayArgs {
    /// A mailbox this server accepts (the control).
    #[arg(long, value_name = "ADDR")]
    pub local_recipient: Option<String>,
    /// An outside sender address for relay probes.
    #[arg(long, value_name = "ADDR")]
    pub external_sender: Option<String>,
    /// An outside recipient (its domain should exist) for relay probes.
    #[arg(long, value_name = "ADDR")]
    pub external_recipient: Option<String>,
    /// A recipient the authenticated user may relay to (scenario B).
    #[arg(long, value_name = "ADDR")]
    pub approved_recipient: Option<String>,
    /// A recipient the authenticated user must not relay to (scenario C).
    #[arg(long, value_name = "ADDR")]
    pub disallowed_recipient: Option<String>,
    /// Another local address the authenticated user must not send as.
    #[arg(long, value_name = "ADDR")]
    pub other_local_sender: Option<String>,
    /// The address the authenticated user sends as (default: the user name if it is one).
    #[arg(long, value_name = "ADDR")]
    pub auth_sender: Option<String>,
}

impl RelayArgs {
    /// The flags given, as typed (`--local-recipient`), in the order `--help` lists them.
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("--local-recipient", &self.local_recipient),
            ("--external-sender", &self.external_sender),
            ("--external-recipient", &self.external_recipient),
            ("--approved-recipient", &self.approved_recipient),
            ("--disallowed-recipient", &self.disallowed_recipient),
            ("--other-local-sender", &self.other_local_sender),
            ("--auth-sender", &self.auth_sender),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(flag, _)| flag)
        .collect()
    }
}

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    #[command(flatten)]
    pub relay: RelayArgs,
    /// Scenario to run, by id or alias (A, B, C); repeat for several.
    #[arg(long = "scenario", value_name = "ID")]
    pub scenarios: Vec<String>,
    /// Run the default set (the default when no --scenario is given); with --domain it
    /// includes the posture checks.
    #[arg(long)]
    pub all: bool,
    /// With --domain: test every MX host, not only the most preferred.
    #[arg(long, requires = "domain")]
    pub all_mx: bool,
    /// With --domain: check the DKIM key at this selector.
    #[arg(long, value_name = "SELECTOR")]
    pub dkim_selector: Option<String>,
    /// After an accepted RCPT, send a short test message (off: stop before DATA, so testing an
    /// open relay never relays anything).
    #[arg(long)]
    pub send_data: bool,
    /// Include each session's transcript in the report.
    #[arg(long)]
    pub transcripts: bool,
    /// Wait for each reply before the next command even when the server offers PIPELINING
    /// (by default a session's MAIL, RCPT and RSET steps go out together, RFC 2920): for a
    /// server or a middlebox in front of it that mishandles what it offers.
    #[arg(long)]
    pub no_pipelining: bool,
    /// Show every step, not only those that did not pass.
    #[arg(long, short)]
    pub verbose: bool,
    #[arg(long, value_enum, default_value_t = CheckFormat::Human)]
    pub format: CheckFormat,
    /// Write the report to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Sessions run at once (besides the TLS version probe's two or three short connections).
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Compare with an earlier `check --format json` report: print what changed, and exit 5
    /// when any verdict got worse.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Also keep this run in the profile's run history (the data directory; the last 50 runs
    /// per profile).
    #[arg(long, requires = "profile")]
    pub history: bool,
}

/// rustls speaks TLS 1.2 and 1.3 only; 1.0 and 1.1 are probed by `check`, never negotiated.
fn parse_tls_version(s: &str) -> Result<crate::net::tls::TlsVersion, String> {
    crate::net::tls::TlsVersion::parse(s)
        .ok_or_else(|| format!("{s:?}: give 1.2 or 1.3 (TLS 1.0 and 1.1 are not offered)"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TlsArg {
    /// Plain SMTP, never STARTTLS.
    None,
    /// STARTTLS when the server offers it (required with --require-tls).
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrustArg {
    /// The operating system's trust store.
    Platform,
    /// The Mozilla root list built into smtpscope.
    Mozilla,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    Plain,
    Login,
    CramMd5,
    Xoauth2,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum QuitAfter {
    /// Right after the TCP (and implicit TLS) connection: the banner is read, whatever it
    /// says, and not judged (swaks's connect).
    Connect,
    /// After the banner.
    Banner,
    /// After the first EHLO, before STARTTLS (swaks's first-helo).
    #[value(alias = "first-helo")]
    FirstEhlo,
    /// Right after the STARTTLS handshake, without the EHLO inside TLS (swaks's tls).
    Tls,
    /// After the last EHLO: the one inside TLS when TLS is used (swaks's helo).
    #[value(alias = "helo")]
    Ehlo,
    /// After AUTH.
    Auth,
    /// After MAIL FROM.
    Mail,
    /// After RCPT TO.
    Rcpt,
    /// --drop-after: right after DATA's 354, before any of the message (nothing is
    /// delivered). --quit-after: the same as dot, since QUIT cannot follow a 354 without
    /// ending the message.
    Data,
    /// After the message's final reply (the whole session; the default).
    Dot,
}

/// The session's attachments with their types and names, from where each flag stood.
pub fn attachments_in_order(m: &clap::ArgMatches) -> Vec<AttachSpec> {
    fn placed<T: Clone + Send + Sync + 'static>(m: &clap::ArgMatches, id: &str) -> Vec<(usize, T)> {
        match (m.try_get_many::<T>(id), m.indices_of(id)) {
            (Ok(Some(values)), Some(indices)) => indices.zip(values.cloned()).collect(),
            _ => Vec::new(),
        }
    }
    let attach = placed::<PathBuf>(m, "attach");
    let types = placed::<String>(m, "attach_type");
    let names = placed::<String>(m, "attach_name");
    // One given after the last --attach applies to nothing: said, rather than dropped quietly.
    let last = attach.iter().map(|(i, _)| *i).max().unwrap_or(0);
    for (option, list) in [("--attach-type", &types), ("--attach-name", &names)] {
        for (_, value) in list.iter().filter(|(i, _)| *i > last) {
            crate::errln!(
                "smtpscope session: warning: {option} {value:?} comes after the last --attach and applies to no attachment"
            );
        }
    }
    attach_specs(&attach, &types, &names)
}

/// swaks flags that take a secret on the command line, which smtpscope never does: the hint
/// names where the password comes from instead (clap would suggest a similar flag name).
const SECRET_FLAGS: [&str; 3] = ["--auth-password", "--ap", "--socks-auth-password"];

/// Prints a command-line error and returns its exit code (clap's own, 2 for a usage error;
/// 0 for --help and --version). A swaks password flag gets the hint to use instead of
/// clap's suggestion.
pub fn parse_error(e: clap::Error) -> u8 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() == ErrorKind::UnknownArgument
        && let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg)
    {
        let flag = arg.split('=').next().unwrap_or(arg);
        if SECRET_FLAGS.contains(&flag) {
            crate::errln!(
                "error: unexpected argument '{flag}' found\n\n  smtpscope never takes a password on the command line (it would show in ps and the shell history): give --password-env VAR (the variable holding it) or --password-file FILE, or leave both out to be prompted on a terminal\n\nFor more information, try '--help'."
            );
            return 2;
        }
    }
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    let _ = e.print();
    code
}

pub use crate::compose::AttachSpec;

/// Pairs each `--attach` with the options before it, as swaks does: an `--attach-type` holds
/// for every later attachment (until the next one), an `--attach-name` for the next one only.
/// `positions` are the values' places on the command line (clap's indices).
pub fn attach_specs(
    attach: &[(usize, PathBuf)],
    types: &[(usize, String)],
    names: &[(usize, String)],
) -> Vec<AttachSpec> {
    let mut out = Vec::new();
    let mut previous = 0;
    for (at, path) in attach {
        let content_type = types
            .iter()
            .filter(|(i, _)| i < at)
            .max_by_key(|(i, _)| *i)
            .map(|(_, t)| t.clone());
        let name = names
            .iter()
            .filter(|(i, _)| *i < *at && *i >= previous)
            .max_by_key(|(i, _)| *i)
            .map(|(_, n)| n.clone());
        out.push(AttachSpec {
            path: path.clone(),
            content_type,
            name,
        });
        previous = *at;
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowData {
    Summary,
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Flags that say how to reach a server; each overrides the profile's value.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Saved profile to start from (see `smtpscope profiles list`).
    #[arg(help_heading = "Transport", long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Server to connect to: HOST, HOST:PORT, IP:PORT or [IPv6]:PORT.
    #[arg(help_heading = "Transport", long, value_name = "HOST[:PORT]")]
    pub server: Option<String>,
    /// Find the servers from this domain's MX records (in preference order); `--server` wins.
    #[arg(help_heading = "Transport", long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// DNS server for MX and posture lookups (default: the system's resolver).
    #[arg(help_heading = "Transport", long, value_name = "IP:PORT")]
    pub dns_server: Option<std::net::SocketAddr>,
    /// Port to use on MX hosts found with --domain [default: the profile's mx_port, else 25].
    #[arg(help_heading = "Transport", long, value_name = "PORT")]
    pub mx_port: Option<u16>,
    /// How to use TLS [default: starttls].
    #[arg(help_heading = "TLS", long, value_enum)]
    pub tls: Option<TlsArg>,
    /// Stop, sending nothing more, unless TLS is established.
    #[arg(help_heading = "TLS", long)]
    pub require_tls: bool,
    /// Go on without TLS even where the profile says `require_tls = true` (the explorer's F3).
    #[arg(help_heading = "TLS", long, conflicts_with = "require_tls")]
    pub no_require_tls: bool,
    /// Accept a certificate that fails verification; the exact failure is still recorded.
    #[arg(help_heading = "TLS", long)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the system's.
    #[arg(help_heading = "TLS", long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Where trusted roots come from when no --ca-file is given [default: platform].
    #[arg(help_heading = "TLS", long, value_enum)]
    pub trust: Option<TrustArg>,
    /// Name to verify the certificate against and send as SNI (default: the server's host).
    #[arg(help_heading = "TLS", long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// Send no SNI (the certificate is still checked against the name).
    #[arg(help_heading = "TLS", long)]
    pub no_sni: bool,
    /// Oldest TLS version to offer [default: 1.2].
    #[arg(help_heading = "TLS", long, value_name = "1.2|1.3", value_parser = parse_tls_version)]
    pub tls_min: Option<crate::net::tls::TlsVersion>,
    /// Newest TLS version to offer [default: 1.3].
    #[arg(help_heading = "TLS", long, value_name = "1.2|1.3", value_parser = parse_tls_version)]
    pub tls_max: Option<crate::net::tls::TlsVersion>,
    /// Client certificate (PEM, with its chain) for servers that ask for one; needs --tls-key.
    #[arg(help_heading = "TLS", long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the client certificate.
    #[arg(help_heading = "TLS", long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Name to announce in EHLO (default: this machine's host name).
    #[arg(help_heading = "Envelope", long, value_name = "NAME")]
    pub helo: Option<String>,
    /// Seconds to wait for a connection and for each reply [default: 30].
    #[arg(help_heading = "Transport", long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Seconds one session may take [default: 600].
    #[arg(help_heading = "Transport", long, value_name = "SECS")]
    pub session_timeout: Option<f64>,
    /// Connect over IPv4 only.
    #[arg(
        help_heading = "Transport",
        short = '4',
        long = "ipv4",
        conflicts_with = "ipv6"
    )]
    pub ipv4: bool,
    /// Connect over IPv6 only.
    #[arg(help_heading = "Transport", short = '6', long = "ipv6")]
    pub ipv6: bool,
    /// Connect from this local address: IP or IP:PORT (to test policy by source address on a
    /// machine with several).
    #[arg(help_heading = "Transport", long, value_name = "IP[:PORT]")]
    pub local_address: Option<String>,
    /// Send a HAProxy PROXY header before anything else (v1 text, v2 binary), as a load
    /// balancer does, so the server takes --proxy-source as the client.
    #[arg(
        help_heading = "Transport",
        long,
        value_enum,
        value_name = "VERSION",
        requires = "proxy_source"
    )]
    pub proxy: Option<ProxyArg>,
    /// The client address the PROXY header names (IP:PORT, the same family as the server's).
    #[arg(
        help_heading = "Transport",
        long,
        value_name = "IP:PORT",
        requires = "proxy"
    )]
    pub proxy_source: Option<std::net::SocketAddr>,
    /// Connect through a SOCKS5 proxy (HOST[:PORT], port 1080 by default). The proxy resolves
    /// the server's name, so no DNS query for it leaves this machine.
    #[arg(
        help_heading = "Transport",
        long,
        value_name = "HOST[:PORT]",
        conflicts_with = "socket"
    )]
    pub socks5: Option<String>,
    /// User name for the SOCKS5 proxy (RFC 1929), with --socks5-password-env.
    #[arg(
        help_heading = "Transport",
        long,
        value_name = "NAME",
        requires = "socks5"
    )]
    pub socks5_user: Option<String>,
    /// Environment variable holding the SOCKS5 password.
    #[arg(
        help_heading = "Transport",
        long,
        value_name = "VAR",
        requires = "socks5_user"
    )]
    pub socks5_password_env: Option<String>,
    /// Connect to a UNIX domain socket instead of a TCP address (--server, if given, only
    /// names the server for TLS).
    #[arg(
        help_heading = "Transport",
        long,
        value_name = "PATH",
        conflicts_with_all = ["domain", "proxy"]
    )]
    pub socket: Option<std::path::PathBuf>,
    /// Speak SMTP to a program's standard input and output instead of a socket, as swaks'
    /// --pipe: `exim -bh 192.0.2.9` tests Exim's policy as if from that address, with no
    /// network. Split as a shell would split it, run without a shell, started afresh for each
    /// session (--server, if given, only names the server for TLS).
    #[arg(
        help_heading = "Transport",
        long,
        value_name = "COMMAND",
        conflicts_with_all = ["domain", "proxy", "socket", "socks5", "local_address", "ipv4", "ipv6"]
    )]
    pub pipe: Option<String>,
    /// Postfix XCLIENT attribute (NAME, REVERSE_NAME, ADDR, PORT, PROTO, HELO, LOGIN,
    /// DESTADDR, DESTPORT), repeatable: after EHLO (and TLS) the session is treated as if from
    /// that client, to test policy by client address (e.g. relay as seen from outside when
    /// testing from a trusted host). The server must allow this host.
    #[arg(help_heading = "Envelope", long, value_name = "NAME=VALUE")]
    pub xclient: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DsnRetArg {
    Full,
    Hdrs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DsnNotifyArg {
    Never,
    Success,
    Failure,
    Delay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    Smtp,
    Lmtp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProxyArg {
    V1,
    V2,
}

/// How to authenticate. A password is never taken on the command line.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// SASL mechanism to authenticate with.
    #[arg(help_heading = "AUTH", long, value_enum, value_name = "MECHANISM")]
    pub auth: Option<AuthArg>,
    /// User name for AUTH.
    #[arg(help_heading = "AUTH", long, value_name = "USER")]
    pub user: Option<String>,
    /// Read the password (or XOAUTH2 token) from this environment variable.
    #[arg(
        help_heading = "AUTH",
        long,
        value_name = "VAR",
        conflicts_with = "password_file"
    )]
    pub password_env: Option<String>,
    /// Read the password (or XOAUTH2 token) from the first line of this file.
    #[arg(help_heading = "AUTH", long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Permit AUTH without TLS. Credentials then travel in cleartext.
    #[arg(help_heading = "AUTH", long)]
    pub allow_cleartext_auth: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Envelope sender (MAIL FROM). Default: smtpscope@<helo name>.
    #[arg(help_heading = "Envelope", long, value_name = "ADDR")]
    pub from: Option<String>,
    /// Envelope recipient (RCPT TO) and To header; repeat, or give a comma list (a,b), for
    /// several. Without any recipient the session ends after EHLO, STARTTLS and AUTH.
    #[arg(
        help_heading = "Envelope",
        long,
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub to: Vec<String>,
    /// Envelope recipient named in the generated message's Cc header; repeatable, comma
    /// lists too.
    #[arg(
        help_heading = "Envelope",
        long,
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub cc: Vec<String>,
    /// Envelope recipient named in no header; repeatable, comma lists too.
    #[arg(
        help_heading = "Envelope",
        long,
        value_name = "ADDR",
        value_delimiter = ','
    )]
    pub bcc: Vec<String>,
    /// Send this file as the message (line endings made CRLF, dot-stuffed); `-` reads it
    /// from standard input (at most 64 MiB). Default: a short generated test message.
    #[arg(help_heading = "Data", long, value_name = "FILE|-")]
    pub data_file: Option<PathBuf>,
    /// Print the message as it would go after DATA (headers, MIME, dot-stuffing, the final
    /// dot) and exit: no connection is opened, no password read.
    #[arg(help_heading = "Data", long)]
    pub dump_mail: bool,
    /// How much of a large message the transcript keeps: its first and last 4 KiB with its
    /// length and SHA-256 (summary), or every byte (full). The wire always gets every byte.
    #[arg(help_heading = "Data", long, value_enum, value_name = "HOW", default_value_t = ShowData::Summary)]
    pub show_data: ShowData,
    /// Break the rules on purpose: send the message over the server's advertised SIZE,
    /// extension parameters (DSN, REQUIRETLS, SMTPUTF8, 8BITMIME), BDAT, or an 8-bit body it
    /// does not advertise, and AUTH with a mechanism it does not offer.
    #[arg(help_heading = "Data", long)]
    pub force: bool,
    /// Close the connection without QUIT after this step (swaks's --drop-after), to see how the
    /// server copes with a client that vanishes: the --quit-after steps, plus data (right after
    /// DATA's 354: nothing is delivered) and dot (after the message's final reply).
    #[arg(
        help_heading = "Output",
        long,
        value_enum,
        value_name = "STEP",
        conflicts_with = "quit_after"
    )]
    pub drop_after: Option<QuitAfter>,
    /// A header for the generated test message, "Name: value"; repeatable. One named like a
    /// standard header (Subject, From, To, Date, Message-ID) replaces it, as in swaks.
    #[arg(help_heading = "Data", long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Attach this file to the generated message (MIME, content type from the extension);
    /// repeatable.
    #[arg(
        help_heading = "Data",
        long,
        value_name = "FILE",
        conflicts_with = "data_file"
    )]
    pub attach: Vec<PathBuf>,
    /// The content type of the --attach files given after it (until the next --attach-type),
    /// instead of the one guessed from the file name, as swaks's --attach-type.
    #[arg(help_heading = "Data", long, value_name = "TYPE")]
    pub attach_type: Vec<String>,
    /// The file name the next --attach is sent under, instead of its own, as swaks's
    /// --attach-name.
    #[arg(help_heading = "Data", long, value_name = "NAME")]
    pub attach_name: Vec<String>,
    /// Each --attach with the --attach-type and --attach-name that apply to it, in order;
    /// filled in from the command line's order after parsing.
    #[arg(skip)]
    pub attachments: Vec<AttachSpec>,
    /// The generated message's body: TEXT, or @FILE for a file's content.
    #[arg(
        help_heading = "Data",
        long,
        value_name = "TEXT|@FILE",
        conflicts_with = "data_file"
    )]
    pub body: Option<String>,
    /// DSN (RFC 3461): RET=FULL or HDRS on MAIL FROM.
    #[arg(help_heading = "Envelope", long, value_enum, value_name = "WHAT")]
    pub dsn_ret: Option<DsnRetArg>,
    /// DSN: NOTIFY= on each RCPT TO, e.g. success,failure or never.
    #[arg(
        help_heading = "Envelope",
        long,
        value_enum,
        value_name = "WHEN",
        value_delimiter = ','
    )]
    pub dsn_notify: Vec<DsnNotifyArg>,
    /// DSN: ENVID= on MAIL FROM (xtext-encoded).
    #[arg(help_heading = "Envelope", long, value_name = "ID")]
    pub dsn_envid: Option<String>,
    /// REQUIRETLS on MAIL FROM (RFC 8689); only inside TLS.
    #[arg(help_heading = "Envelope", long)]
    pub requiretls: bool,
    /// SMTPUTF8 on MAIL FROM (RFC 6531); added by itself when an address is not ASCII.
    #[arg(help_heading = "Envelope", long)]
    pub smtputf8: bool,
    /// BODY=8BITMIME on MAIL FROM (RFC 6152).
    #[arg(help_heading = "Envelope", long = "8bitmime")]
    pub eight_bit_mime: bool,
    /// BODY=BINARYMIME on MAIL FROM (RFC 3030): the message goes as is, bare CR, LF and NUL
    /// included; needs --bdat, since DATA cannot carry it.
    #[arg(
        help_heading = "Envelope",
        long,
        requires = "bdat",
        conflicts_with = "eight_bit_mime"
    )]
    pub binarymime: bool,
    /// A further MAIL FROM parameter, sent as given (KEY or KEY=VALUE); repeatable.
    #[arg(help_heading = "Envelope", long, value_name = "PARAM")]
    pub mail_param: Vec<String>,
    /// A further RCPT TO parameter, sent as given; repeatable.
    #[arg(help_heading = "Envelope", long, value_name = "PARAM")]
    pub rcpt_param: Vec<String>,
    /// Send the message with BDAT (RFC 3030 CHUNKING) instead of DATA, in chunks of SIZE
    /// octets [default: 65536 when given without a size].
    #[arg(help_heading = "Data", long, value_name = "SIZE", num_args = 0..=1, default_missing_value = "65536")]
    pub bdat: Option<usize>,
    /// Send MAIL, every RCPT and DATA as one batch when the server advertises PIPELINING
    /// (RFC 2920); with --force even when it does not.
    #[arg(help_heading = "Envelope", long)]
    pub pipeline: bool,
    /// SMTP, or LMTP (RFC 2033: LHLO, and one reply per recipient after the message), as
    /// swaks's --protocol LMTP.
    #[arg(help_heading = "Transport", long, value_enum, default_value_t = ProtocolArg::Smtp)]
    pub protocol: ProtocolArg,
    /// Stop after this step, then QUIT. In session order: connect, banner, first-ehlo (before
    /// STARTTLS), tls (right after the handshake), ehlo (the last EHLO, inside TLS when TLS is
    /// used), auth, mail, rcpt, dot (the whole message; data means the same here).
    #[arg(help_heading = "Output", long, value_enum, value_name = "STEP", default_value_t = QuitAfter::Dot)]
    pub quit_after: QuitAfter,
    /// Opportunistic TLS (swaks's -tlso): try STARTTLS, and when it is not offered, refused or
    /// its handshake fails, go on in cleartext (on a new connection after a failed handshake),
    /// recorded as such in the transcript. Never the default: without it a failed handshake
    /// ends the session (exit 4).
    #[arg(help_heading = "TLS", long, conflicts_with = "require_tls")]
    pub tls_optional: bool,
    /// Write the certificate chain the server sent (leaf first, as sent) to FILE as PEM
    /// (mode 0600, replaced whole), as swaks's --tls-get-peer-cert.
    #[arg(help_heading = "TLS", long, value_name = "FILE")]
    pub tls_get_peer_cert: Option<PathBuf>,
    /// Write the output (the text transcript, or the JSON document) to FILE instead of
    /// standard output (mode 0600, replaced whole at the end), as swaks's --output-file.
    #[arg(help_heading = "Output", long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// After the session, print the certificate chain as the server sent it, certificate by
    /// certificate (as `openssl s_client -showcerts`, without the PEM). Printed anyway when
    /// the certificate did not verify.
    #[arg(help_heading = "Output", long)]
    pub show_certs: bool,
    /// Output format: a live transcript, or one JSON document at the end.
    #[arg(help_heading = "Output", long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

fn parse_baseline_window(text: &str) -> Result<i64, String> {
    crate::watch::threshold::parse_duration(text)
        .ok_or_else(|| format!("{text:?}: a duration with s, m or h, from 1s to 24h (e.g. 1h)"))
}

/// What `watch --help` ends with: the exit codes and the environment of `--exec`.
pub const WATCH_HELP: &str = "\
Exit codes:
   0  no threshold crossed
   1  a threshold was crossed (in the log read, or while following)
   2  usage error (a flag or threshold in a form it does not take)
   4  a log could not be read (missing, not a regular file, read error)

--exec runs its command with sh -c on each alert; the alert is in the environment only
(SMTPSCOPE_ALERT_STATE crossed|cleared, SMTPSCOPE_ALERT_KIND, SMTPSCOPE_ALERT_COUNT,
SMTPSCOPE_ALERT_THRESHOLD, SMTPSCOPE_ALERT_AT, SMTPSCOPE_ALERT_CLIENT), never in its words.";

#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Mail logs to read, in order: Postfix, Exim or OpenSMTPD lines in syslog (RFC 3164 or
    /// 5424), journald short-iso or Exim mainlog form. None, or `-`: standard input.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Alert when a kind of event reaches COUNT within DURATION (s, m or h): `20/1m` for each
    /// kind, or one kind: relay, auth, pipelining, lost (`relay:20/1m`); or a factor over the
    /// usual rate (`relay:5x/1m`, see --baseline-window). Repeatable.
    #[arg(long, value_name = "[KIND:]COUNT/DURATION")]
    pub threshold: Vec<crate::watch::threshold::Threshold>,
    /// For a threshold written as a factor (`relay:5x/1m`: five times the usual rate): how far
    /// back the usual rate is taken, before the threshold's window (s, m or h, up to 24h).
    #[arg(long, value_name = "DURATION", default_value = "1h",
          value_parser = parse_baseline_window)]
    pub baseline_window: i64,
    /// Keep reading FILE as it grows, across rotation and truncation (as `tail -F`), and
    /// print each alert as it happens; a summary at the end (Ctrl-C or --duration).
    #[arg(long)]
    pub follow: bool,
    /// With --follow: read the lines already in the file first (default: only new ones).
    #[arg(long, requires = "follow")]
    pub from_start: bool,
    /// With --follow: stop after this many seconds.
    #[arg(long, value_name = "SECS", requires = "follow")]
    pub duration: Option<u64>,
    /// With --follow: run CMD (by `sh -c`) on each alert, the alert in SMTPSCOPE_ALERT_*
    /// environment variables.
    #[arg(long, value_name = "CMD", requires = "follow")]
    pub exec: Option<String>,
    /// How many of the heaviest clients, senders and recipient domains to show.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// human: a summary with per-minute sparklines; json: one document (with --follow, one
    /// JSON line per alert).
    #[arg(long, value_enum, default_value_t = WatchFormat::Human)]
    pub format: WatchFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WatchFormat {
    Human,
    Json,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// swaks's rule: a type holds until the next one, a name for the next attachment only.
    #[test]
    fn attach_type_is_sticky_and_attach_name_is_for_the_next_one() {
        let p = |s: &str| PathBuf::from(s);
        let specs = attach_specs(
            &[(1, p("a")), (6, p("b")), (7, p("c")), (10, p("d"))],
            &[(3, "text/csv".into()), (8, "image/png".into())],
            &[(4, "one".into()), (9, "two".into())],
        );
        let got: Vec<(Option<&str>, Option<&str>)> = specs
            .iter()
            .map(|s| (s.content_type.as_deref(), s.name.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                (None, None),
                (Some("text/csv"), Some("one")),
                (Some("text/csv"), None),
                (Some("image/png"), Some("two")),
            ]
        );
    }
}
