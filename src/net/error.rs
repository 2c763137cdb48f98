//! Everything that can end a session early, each saying what happened and where.

use crate::smtp::auth::SaslError;
use crate::smtp::flow::{BannerProblem, GreetProblem};
use crate::smtp::session::Refusal;

use super::tls::TlsSetupError;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// `hint` says what the reply suggests: a refusal by authorisation (550, 5.7.x) points at
    /// `smtpd_authorized_xclient_hosts`; a syntax error (501) at the attributes.
    #[error("XCLIENT refused: {reply}{hint}")]
    XclientRefused { reply: String, hint: &'static str },
    #[error("SOCKS5 proxy {proxy}: {reason}")]
    Socks5 {
        proxy: String,
        reason: crate::smtp::socks5::Socks5Error,
    },
    #[error("a PROXY header names the server's address, which is unknown {via}")]
    ProxyWithoutPeer { via: &'static str },
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("connection to {target} refused")]
    Refused { target: String },
    #[error("no connection to {target} within {secs:.1} s")]
    ConnectTimeout { target: String, secs: f64 },
    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },
    #[error("no reply within {secs:.1} s while waiting for {waiting_for}{hint}")]
    Timeout {
        waiting_for: String,
        secs: f64,
        /// What the bytes that did arrive suggest (e.g. bare CR line ends); empty if nothing.
        hint: String,
    },
    #[error(
        "the session ran past its overall limit of {secs:.1} s while waiting for {waiting_for}"
    )]
    SessionTimeout { waiting_for: String, secs: f64 },
    #[error("connection closed by the server while waiting for {waiting_for}")]
    Closed { waiting_for: String },
    #[error(
        "the server sent {count} replies that cannot be {waiting_for} (more replies than commands); gave up"
    )]
    Surplus { count: usize, waiting_for: String },
    #[error("network error while {doing}: {reason}")]
    Io { doing: String, reason: String },
    #[error("TLS setup: {0}")]
    TlsSetup(#[from] TlsSetupError),
    #[error("TLS handshake failed: {reason}")]
    Handshake { reason: String },
    #[error("TLS is required but the server does not advertise STARTTLS")]
    StartTlsNotOffered,
    #[error("the server refused STARTTLS: {reply}")]
    StartTlsRefused { reply: String },
    #[error(
        "possible STARTTLS response injection (CVE-2011-0411 class): {count} bytes arrived in plaintext after the 220 to STARTTLS and before the TLS handshake; they were discarded and the session stopped"
    )]
    Injection { count: usize },
    #[error("{0}")]
    Refusal(#[from] Refusal),
    #[error("AUTH: {0}")]
    Sasl(#[from] SaslError),
    #[error("the connection is not open")]
    NotConnected,
    #[error(transparent)]
    Banner(#[from] BannerProblem),
    /// Found once a server's name resolved (an IP literal is refused before connecting);
    /// `setting` names where the source was given, in the front end's words.
    #[error("{setting}: {mismatch}")]
    Proxy {
        setting: String,
        #[source]
        mismatch: crate::smtp::proxy::FamilyMismatch,
    },
    #[error(transparent)]
    Greeting(#[from] GreetProblem),
}

/// An I/O error as a person reads it: the common kinds in plain words, anything else in the
/// library's words without the links some libraries append (rustls points at its manual).
pub fn plain_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::ConnectionReset => "the server reset the connection".into(),
        ErrorKind::ConnectionAborted => "the connection was aborted".into(),
        ErrorKind::BrokenPipe => "the server had already closed the connection".into(),
        ErrorKind::UnexpectedEof => "the server closed the connection".into(),
        _ => {
            let text = e.to_string();
            match text.find(": http") {
                Some(at) => text[..at].to_string(),
                None => text,
            }
        }
    }
}

impl NetError {
    /// True for failures of TLS itself (setup, handshake, unavailable when required).
    pub fn is_tls(&self) -> bool {
        matches!(
            self,
            NetError::TlsSetup(_)
                | NetError::Handshake { .. }
                | NetError::StartTlsNotOffered
                | NetError::StartTlsRefused { .. }
        )
    }

    /// True when the server stopped answering (a reply or the handshake ran past its
    /// deadline): another connection to it would wait as long again.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            NetError::Timeout { .. }
                | NetError::SessionTimeout { .. }
                | NetError::ConnectTimeout { .. }
        )
    }

    /// True when the server turned the connection away with 421 in its banner: "not now"
    /// (RFC 5321 §3.8; what a per-client connection limit answers), unlike a 554 there.
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            NetError::Banner(crate::smtp::flow::BannerProblem::Refused(reply)) if reply.starts_with("421")
        )
    }

    /// True for failures to reach the server at all.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            NetError::Resolve { .. }
                | NetError::Refused { .. }
                | NetError::ConnectTimeout { .. }
                | NetError::Connect { .. }
                | NetError::Socks5 { .. }
        )
    }
}
