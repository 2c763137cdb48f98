//! Process exit codes, decided here and nowhere else, from the kind of outcome or error, so
//! scripts can tell failures apart and a runtime failure is never mistaken for a usage error.

use crate::report::Summary;
use crate::target::TargetError;

pub use crate::oneshot::Failure;

impl Failure {
    pub fn code(self) -> u8 {
        match self {
            Failure::Usage => 2,
            Failure::Connect => 3,
            Failure::Tls => 4,
            Failure::Auth => 5,
            Failure::SenderRejected => 6,
            Failure::NoRecipient => 7,
            Failure::DataRejected => 8,
            Failure::ProtocolViolation => 9,
            Failure::Session => 10,
            Failure::AuthNotOffered => 11,
            Failure::NotOffered => 12,
        }
    }

    /// A target that could not be resolved: DNS not answering is a failure to connect; a bad
    /// setting is a usage error.
    pub fn of_target(e: &TargetError) -> Failure {
        if e.is_lookup() {
            Failure::Connect
        } else {
            Failure::Usage
        }
    }
}

pub const EXIT_CODES_HELP: &str = "\
Exit codes:
   0  the session reached its end (or the --quit-after step) as expected
   2  usage error (bad flags, unreadable file, no password source)
   3  could not connect (name not resolved, refused, timed out)
   4  TLS failed (not offered or refused when required, handshake or certificate failure)
   5  AUTH failed (rejected, or refused by smtpscope without TLS)
   6  sender rejected (MAIL FROM)
   7  no recipient accepted (RCPT TO)
   8  DATA or the message rejected
   9  protocol violation by the server, or a possible STARTTLS response injection
  10  other session failure (banner or EHLO rejected, timeout, closed by the server)
  11  the server does not offer the AUTH mechanism asked for: no credentials sent
  12  refused from the server's EHLO answer before MAIL: an extension the session needs
      is not offered (CHUNKING for --bdat, DSN, SMTPUTF8, 8BITMIME for an 8-bit body,
      REQUIRETLS, BINARYMIME) or the message is over its SIZE (--force sends anyway)
 130  interrupted (Ctrl-C)";

/// How a `check` run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckExit {
    /// No FAIL, no INCONCLUSIVE, and something was tested.
    Clean,
    Fail,
    Usage,
    /// INCONCLUSIVE without FAIL, or nothing could be tested at all.
    Inconclusive,
    /// smtpscope itself could not work: no async runtime, the report not written.
    Internal,
    /// With `--baseline`: a verdict got worse than in the baseline (PASS → WARN, WARN → FAIL,
    /// PASS → SKIPPED, …), whatever else the run found.
    Regressed,
}

impl CheckExit {
    pub fn code(self) -> u8 {
        match self {
            CheckExit::Clean => 0,
            CheckExit::Fail => 1,
            CheckExit::Usage => 2,
            CheckExit::Inconclusive => 3,
            CheckExit::Internal => 4,
            CheckExit::Regressed => 5,
        }
    }

    /// From the verdicts. A run that tested nothing (no result but SKIPPED) never passes.
    pub fn of_summary(s: &Summary) -> CheckExit {
        if s.fail > 0 {
            CheckExit::Fail
        } else if s.inconclusive > 0 || s.pass + s.warn == 0 {
            CheckExit::Inconclusive
        } else {
            CheckExit::Clean
        }
    }

    /// A target that could not be resolved before anything ran.
    pub fn of_target(e: &TargetError) -> CheckExit {
        if e.is_lookup() {
            CheckExit::Inconclusive
        } else {
            CheckExit::Usage
        }
    }
}

pub const CHECK_EXIT_CODES_HELP: &str = "\
Exit codes:
   0  no FAIL and no INCONCLUSIVE verdict, and at least one check ran
   1  at least one FAIL
   2  usage or configuration error (bad flag, broken profile, missing secret)
   3  at least one INCONCLUSIVE verdict and no FAIL, or nothing could be tested (e.g. no MX host)
   4  smtpscope could not run or could not write the report
   5  with --baseline: a verdict got worse than in the baseline (PASS -> WARN/FAIL, ...)
 130  interrupted (Ctrl-C)";

/// The other commands (`tui`, `lab`, `profiles`, `scenarios`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok,
    /// The command ran and failed (the lab or the terminal could not start).
    Error,
    Usage,
    /// Ctrl-C (SIGINT), in any command: 128 + 2, what a shell reports for an interrupted
    /// program.
    Interrupted,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Error => 1,
            Exit::Usage => 2,
            Exit::Interrupted => 130,
        }
    }
}

/// From now on, Ctrl-C (SIGINT) ends the process with [`Exit::Interrupted`] (130) after
/// saying `smtpscope COMMAND: interrupted`, instead of dying by the signal with no word. For
/// the headless commands, which hold no terminal state to restore; the TUI quits through its
/// own loop. Returns once the handler is in place (or could not be installed).
pub fn exit_130_on_ctrl_c(command: &'static str) {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("ctrl-c".into())
        .spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                let _ = ready_tx.send(());
                return;
            };
            rt.block_on(async move {
                #[cfg(unix)]
                let sig = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
                let _ = ready_tx.send(());
                #[cfg(unix)]
                let got = match sig {
                    Ok(mut s) => s.recv().await.is_some(),
                    Err(_) => false,
                };
                #[cfg(not(unix))]
                let got = tokio::signal::ctrl_c().await.is_ok();
                if got {
                    crate::errln!("smtpscope {command}: interrupted");
                    std::process::exit(i32::from(Exit::Interrupted.code()));
                }
            });
        });
    if spawned.is_ok() {
        let _ = ready_rx.recv_timeout(std::time::Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_codes_are_distinct_and_documented() {
        let all = [
            Failure::Usage,
            Failure::Connect,
            Failure::Tls,
            Failure::Auth,
            Failure::SenderRejected,
            Failure::NoRecipient,
            Failure::DataRejected,
            Failure::ProtocolViolation,
            Failure::Session,
            Failure::AuthNotOffered,
            Failure::NotOffered,
        ];
        distinct_and_documented(all.map(Failure::code), EXIT_CODES_HELP);
    }

    #[test]
    fn check_codes_are_distinct_and_documented() {
        let all = [
            CheckExit::Clean,
            CheckExit::Fail,
            CheckExit::Usage,
            CheckExit::Inconclusive,
            CheckExit::Internal,
            CheckExit::Regressed,
        ];
        distinct_and_documented(all.map(CheckExit::code), CHECK_EXIT_CODES_HELP);
    }

    fn distinct_and_documented<const N: usize>(codes: [u8; N], help: &str) {
        let mut sorted = codes.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), N, "two kinds share a code: {codes:?}");
        for c in sorted {
            assert!(
                help.contains(&format!("\n{c:>4}  ")),
                "code {c} undocumented"
            );
        }
    }

    /// Error kind to exit code, as a table: a change to the mapping must change this test.
    #[test]
    fn error_kinds_map_to_their_codes() {
        use crate::net::NetError;
        use crate::net::connect::AddressError;
        use crate::secret::SecretError;
        let target_cases: Vec<(TargetError, u8, u8)> = vec![
            (TargetError::NoServer, 2, 2),
            (TargetError::RequireTlsWithoutTls, 2, 2),
            (
                TargetError::Timeout {
                    setting: "timeout",
                    value: 0.0,
                },
                2,
                2,
            ),
            (TargetError::Address(AddressError::Empty), 2, 2),
            (
                TargetError::Secret(SecretError::EnvUnset { var: "X".into() }),
                2,
                2,
            ),
            (
                TargetError::Lookup {
                    domain: "d".into(),
                    reason: "timed out".into(),
                },
                3,
                3,
            ),
            (TargetError::NullMx { domain: "d".into() }, 3, 3),
            (TargetError::NoMailHost { domain: "d".into() }, 3, 3),
            (TargetError::MxWithoutAddress { host: "h".into() }, 3, 3),
        ];
        for (e, session, check) in target_cases {
            assert_eq!(Failure::of_target(&e).code(), session, "session: {e}");
            assert_eq!(CheckExit::of_target(&e).code(), check, "check: {e}");
        }
        let net_cases: Vec<(NetError, u8)> = vec![
            (NetError::Injection { count: 3 }, 9),
            (NetError::Refused { target: "t".into() }, 3),
            (
                NetError::Socks5 {
                    proxy: "p".into(),
                    reason: crate::smtp::socks5::Socks5Error::LoginRefused(1),
                },
                3,
            ),
            (
                NetError::ProxyWithoutPeer {
                    via: "through SOCKS5",
                },
                2,
            ),
            (NetError::StartTlsNotOffered, 4),
            (NetError::Handshake { reason: "r".into() }, 4),
            (
                NetError::Closed {
                    waiting_for: "w".into(),
                },
                10,
            ),
        ];
        for (e, code) in net_cases {
            assert_eq!(Failure::of_net(&e).code(), code, "{e}");
        }
        let summary = |pass, fail, inconclusive, skipped| Summary {
            pass,
            fail,
            warn: 0,
            inconclusive,
            skipped,
        };
        assert_eq!(CheckExit::of_summary(&summary(3, 0, 0, 1)).code(), 0);
        assert_eq!(CheckExit::of_summary(&summary(3, 1, 1, 0)).code(), 1);
        assert_eq!(CheckExit::of_summary(&summary(3, 0, 1, 0)).code(), 3);
        // Nothing tested is never a pass.
        assert_eq!(CheckExit::of_summary(&summary(0, 0, 0, 0)).code(), 3);
        assert_eq!(CheckExit::of_summary(&summary(0, 0, 0, 4)).code(), 3);
    }
}
