//! Command-line definitions for every subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;

#[derive(Debug, Parser)]
#[command(
    name = "smtpscope",
    version,
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
    /// Right after the TCP (and implicit TLS) connection, without reading the banner.
    Connect,
    /// After the banner.
    Banner,
    /// After EHLO.
    Ehlo,
    /// After STARTTLS and the EHLO inside TLS.
    Tls,
    /// After AUTH.
    Auth,
    /// After MAIL FROM.
    Mail,
    /// After RCPT TO.
    Rcpt,
    /// After the message (the whole session; the default).
    Data,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Flags that say how to reach a server. Later subcommands reuse them.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Server to connect to: HOST, HOST:PORT, IP:PORT or [IPv6]:PORT.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub server: String,
    /// How to use TLS.
    #[arg(long, value_enum, default_value_t = TlsArg::Starttls)]
    pub tls: TlsArg,
    /// Stop, sending nothing more, unless TLS is established.
    #[arg(long)]
    pub require_tls: bool,
    /// Accept a certificate that fails verification; the exact failure is still recorded.
    #[arg(long)]
    pub insecure: bool,
    /// Trust the CA certificates in this PEM file instead of the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Where trusted roots come from when no --ca-file is given.
    #[arg(long, value_enum, default_value_t = TrustArg::Platform)]
    pub trust: TrustArg,
    /// Name to verify the certificate against and send as SNI (default: the server's host).
    #[arg(long, value_name = "NAME")]
    pub tls_name: Option<String>,
    /// Name to announce in EHLO (default: this machine's host name).
    #[arg(long, value_name = "NAME")]
    pub helo: Option<String>,
    /// Seconds to wait for a connection and for each reply.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub timeout: f64,
    /// Seconds the whole session may take.
    #[arg(long, value_name = "SECS", default_value_t = 600.0)]
    pub session_timeout: f64,
}

/// How to authenticate. A password is never taken on the command line.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// SASL mechanism to authenticate with.
    #[arg(long, value_enum, value_name = "MECHANISM")]
    pub auth: Option<AuthArg>,
    /// User name for AUTH.
    #[arg(long, value_name = "USER", requires = "auth")]
    pub user: Option<String>,
    /// Read the password (or XOAUTH2 token) from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_file")]
    pub password_env: Option<String>,
    /// Read the password (or XOAUTH2 token) from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Permit AUTH without TLS. Credentials then travel in cleartext.
    #[arg(long)]
    pub allow_cleartext_auth: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Envelope sender (MAIL FROM). Default: smtpscope@<helo name>.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<String>,
    /// Envelope recipient (RCPT TO); repeat for several. Without one the session ends after
    /// EHLO, STARTTLS and AUTH.
    #[arg(long, value_name = "ADDR")]
    pub to: Vec<String>,
    /// Send this file as the message (line endings made CRLF, dot-stuffed). Default: a short
    /// generated test message.
    #[arg(long, value_name = "FILE")]
    pub data_file: Option<PathBuf>,
    /// Stop after this step, then QUIT.
    #[arg(long, value_enum, value_name = "STEP", default_value_t = QuitAfter::Data)]
    pub quit_after: QuitAfter,
    /// Output format: a live transcript, or one JSON document at the end.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}
