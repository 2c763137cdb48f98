//! Process exit codes, one per way a session can fail, so scripts can tell them apart.

/// Why a session did not reach its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Failure {
    Usage,
    Connect,
    Tls,
    Auth,
    SenderRejected,
    NoRecipient,
    DataRejected,
    ProtocolViolation,
    Session,
}

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
  10  other session failure (banner or EHLO rejected, timeout, closed by the server)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
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
        ];
        let mut codes: Vec<u8> = all.iter().map(|f| f.code()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for c in codes {
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n{c:>4}  ")),
                "code {c} undocumented"
            );
        }
    }
}
