//! The SMTP exchanges every front end uses, each written once: the checked banner, the
//! greeting (EHLO, HELO when needed), STARTTLS followed by the EHLO inside TLS, and DATA with
//! its message. The decisions are the core's ([`crate::smtp::flow`]); this drives them.

use crate::smtp::command::Command;
use crate::smtp::flow::{self, GreetStep, Greeting, TestMessage};
use crate::smtp::reply::Reply;

use super::driver::{ConnectOptions, Connection, TlsMode};
use super::error::NetError;
use crate::tls_info::TlsInfo;
use crate::transcript::Transcript;

/// What a connection taken only as far as TLS learned.
#[derive(Debug)]
pub struct TlsReached {
    pub result: Result<(), NetError>,
    /// The session, when the handshake completed.
    pub info: Option<TlsInfo>,
    /// The chain and the reason, when verification stopped the handshake.
    pub rejected: Option<TlsInfo>,
}

/// Connects with `opts` and goes as far as TLS and no further (STARTTLS when the mode says
/// none), with verification on or off as `insecure` says, for the checks that only need the
/// handshake: DANE reads the chain, MTA-STS whether it verifies. Ended with QUIT when TLS
/// came up, else closed.
pub async fn reach_tls(opts: &ConnectOptions, helo: &str, insecure: bool) -> TlsReached {
    let mut opts = opts.clone();
    opts.tls.insecure = insecure;
    if opts.tls_mode == TlsMode::None {
        opts.tls_mode = TlsMode::Starttls;
    }
    let implicit = opts.tls_mode == TlsMode::Implicit;
    let mut conn = Connection::new(opts, Transcript::new());
    let result = async {
        conn.open_checked().await?;
        if !implicit {
            conn.greet(helo).await?;
            conn.starttls().await?;
        }
        Ok::<(), NetError>(())
    }
    .await;
    let info = conn.tls_info().cloned();
    let rejected = conn.tls_rejected().cloned();
    if info.is_some() {
        let _ = conn.quit().await;
    } else {
        conn.close().await;
    }
    TlsReached {
        result,
        info,
        rejected,
    }
}

/// How DATA went: its own reply, and the reply to the message when DATA was accepted.
#[derive(Debug, Clone)]
pub struct DataOutcome {
    pub data: Reply,
    pub end: Option<Reply>,
}

impl DataOutcome {
    /// The reply that decides: the message's, else DATA's refusal.
    pub fn last(&self) -> &Reply {
        self.end.as_ref().unwrap_or(&self.data)
    }
}

impl Connection {
    /// Connects, reads the banner and checks it is a 2xx SMTP reply.
    pub async fn open_checked(&mut self) -> Result<Reply, NetError> {
        let banner = self.open().await?;
        flow::check_banner(&banner)?;
        Ok(banner)
    }

    /// EHLO, falling back to HELO as [`Greeting`] decides. Returns the accepting reply.
    pub async fn greet(&mut self, name: &str) -> Result<Reply, NetError> {
        let mut greeting = if self.options().lmtp {
            Greeting::lmtp(name)
        } else {
            Greeting::new(name)
        };
        let mut next = greeting.start();
        loop {
            let reply = self.command(&next).await?;
            match greeting.on_reply(&reply) {
                GreetStep::Done => return Ok(reply),
                GreetStep::Send(cmd) => next = cmd,
                GreetStep::Failed(problem) => return Err(problem.into()),
            }
        }
    }

    /// STARTTLS, the handshake, and the new EHLO RFC 3207 §4.2 requires: nothing the server
    /// said before TLS is trusted. Returns the 220 to STARTTLS.
    pub async fn starttls_and_greet(&mut self, name: &str) -> Result<Reply, NetError> {
        let ready = self.starttls().await?;
        self.greet(name).await?;
        Ok(ready)
    }

    /// Postfix XCLIENT with the configured attributes, then the EHLO its new greeting needs;
    /// nothing when none are configured. Sent once TLS is settled, so the attributes describe
    /// the session that carries the mail. Attributes that would make a line over 512 octets
    /// go in several XCLIENT commands (Postfix applies each; only the attributes a command
    /// names change), each answered 220 before the next; EHLO follows the last. Returns the
    /// last 220.
    pub async fn xclient(&mut self, helo: &str) -> Result<Option<Reply>, NetError> {
        if self.options().xclient.is_empty() {
            return Ok(None);
        }
        let offered = self
            .session()
            .capabilities()
            .is_some_and(|c| c.get("XCLIENT").is_some());
        if !offered {
            self.note(crate::transcript::Event::Info(
                "the server does not advertise XCLIENT; sending it anyway".into(),
            ));
        }
        let mut last = None;
        for command in crate::smtp::command::xclient_commands(&self.options().xclient) {
            let reply = self.command(&command).await?;
            if reply.code() != Some(220) {
                let denied = reply.code() == Some(550)
                    || reply
                        .enhanced()
                        .is_some_and(|e| e.class == 5 && e.subject == 7);
                let hint = match reply.code() {
                    _ if denied => {
                        " (is this host in the server's smtpd_authorized_xclient_hosts?)"
                    }
                    Some(501) => " (the server found an attribute or its value malformed)",
                    Some(502) | Some(500) => " (the server does not know XCLIENT)",
                    _ => "",
                };
                return Err(NetError::XclientRefused {
                    reply: reply.summary(),
                    hint,
                });
            }
            last = Some(reply);
        }
        self.greet(helo).await?;
        Ok(last)
    }

    /// DATA, and on 354 the message read from `body` (not yet encoded: the encoding is done
    /// as it streams, see [`Connection::send_message_from`]).
    pub async fn data<R: tokio::io::AsyncRead + Unpin>(
        &mut self,
        body: R,
        keep_all: bool,
    ) -> Result<DataOutcome, NetError> {
        let data = self.command(&Command::Data).await?;
        if data.code() != Some(354) {
            return Ok(DataOutcome { data, end: None });
        }
        let end = self.send_message_from(body, keep_all).await?;
        Ok(DataOutcome {
            data,
            end: Some(end),
        })
    }
}

/// The test message, stamped with the time now (see [`flow::test_message`]).
pub fn test_message(from: Option<&str>, to: &[String], id_domain: &str, purpose: &str) -> Vec<u8> {
    custom_test_message(from, to, &[], id_domain, purpose, &[], None)
}

/// The test message with more headers, or another body.
pub fn custom_test_message(
    from: Option<&str>,
    to: &[String],
    cc: &[String],
    id_domain: &str,
    purpose: &str,
    headers: &[String],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let now = jiff::Timestamp::now();
    let date = now
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .strftime("%a, %d %b %Y %H:%M:%S +0000")
        .to_string();
    let unique = format!("{}.{}", now.as_second(), now.subsec_nanosecond());
    flow::test_message(&TestMessage {
        from,
        to,
        cc,
        date: &date,
        unique: &unique,
        id_domain,
        purpose,
        headers,
        body,
    })
}
