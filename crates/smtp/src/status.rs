//! Plain-language explanations of SMTP reply codes and enhanced status codes.
//!
//! Everything here is static protocol knowledge: the tables come from
//! RFC 5321 §4.2 (basic reply codes), RFC 3463 and the IANA "SMTP Enhanced
//! Status Codes" registry (enhanced codes), plus the extensions that added
//! codes of their own (RFC 3207, RFC 4954, RFC 7504, ...). The relay hints
//! encode what a reply usually means when you are probing relay policy, which
//! is where a bare code is most often misread.

use serde::Serialize;

use super::command::Verb;
use super::reply::EnhancedCode;

/// One-line meaning of a basic three-digit reply code, or `None` if no
/// standard defines it.
pub fn basic_meaning(code: u16) -> Option<&'static str> {
    // RFC 5321 §4.2.2 / §4.2.3 unless noted otherwise.
    let meaning = match code {
        211 => "system status, or system help reply",
        214 => "help message",
        220 => "service ready",
        221 => "service closing transmission channel",
        // RFC 4954 §6
        235 => "authentication succeeded",
        250 => "requested mail action okay, completed",
        251 => "user not local; will forward",
        252 => "cannot verify the user, but will accept the message and attempt delivery",
        // RFC 4954 §4: the text is a base64 SASL challenge
        334 => "server challenge: continue the authentication exchange",
        354 => "start mail input; end with <CRLF>.<CRLF>",
        421 => "service not available, closing transmission channel",
        // RFC 4954 §6
        432 => "a password transition is needed",
        450 => "requested mail action not taken: mailbox unavailable (busy or temporarily blocked)",
        451 => "requested action aborted: local error in processing",
        452 => "requested action not taken: insufficient system storage",
        // RFC 3207 §4 uses it for STARTTLS, RFC 4954 §6 for AUTH
        454 => "TLS not available or temporary authentication failure",
        455 => "server unable to accommodate parameters",
        500 => "syntax error, command unrecognized (or line too long)",
        501 => "syntax error in parameters or arguments",
        502 => "command not implemented",
        503 => "bad sequence of commands",
        504 => "command parameter not implemented",
        // RFC 7504 §3
        521 => "host does not accept mail",
        // RFC 3207 §4 and RFC 4954 §6 share 530 for "do this first"
        530 => "authentication or TLS required before this command",
        // RFC 4954 §6
        534 => "authentication mechanism is too weak",
        // RFC 4954 §6
        535 => "authentication credentials invalid",
        // RFC 4954 §6
        538 => "encryption required for requested authentication mechanism",
        550 => {
            "requested action not taken: mailbox unavailable (not found, no access, or refused by policy)"
        }
        551 => "user not local; please try another path",
        552 => "requested mail action aborted: exceeded storage allocation",
        553 => "requested action not taken: mailbox name not allowed",
        554 => "transaction failed",
        555 => "MAIL FROM/RCPT TO parameters not recognized or not implemented",
        // RFC 7504 §3
        556 => "domain does not accept mail",
        _ => return None,
    };
    Some(meaning)
}

/// Meaning of a reply code's first digit (RFC 5321 §4.2.1).
pub fn basic_class(code: u16) -> &'static str {
    match first_digit(code) {
        Some(2) => "positive completion",
        Some(3) => "positive intermediate — the server is waiting for more input",
        Some(4) => "transient negative completion — try again later",
        Some(5) => "permanent negative completion — do not repeat the same request",
        // 1yz exists in the RFC 5321 §4.2.1 theory but no SMTP command may
        // produce it, so it is as invalid on the wire as 0yz or 6yz.
        _ => "not a valid SMTP reply code",
    }
}

/// Meaning of the subject.detail part of an enhanced status code (RFC 3463
/// §3 and later IANA registrations). The class is not consulted: the
/// registry defines each entry as `X.subject.detail`.
pub fn enhanced_meaning(code: EnhancedCode) -> Option<&'static str> {
    let meaning = match (code.subject, code.detail) {
        (0, 0) => "other undefined status",

        (1, 0) => "other address status",
        (1, 1) => "bad destination mailbox address",
        (1, 2) => "bad destination system address",
        (1, 3) => "bad destination mailbox address syntax",
        (1, 4) => "destination mailbox address ambiguous",
        (1, 5) => "destination address valid",
        (1, 6) => "destination mailbox has moved, no forwarding address",
        (1, 7) => "bad sender's mailbox address syntax",
        (1, 8) => "bad sender's system address",
        // RFC 3886
        (1, 9) => "message relayed to non-compliant mailer",
        // RFC 7505 §4.2
        (1, 10) => "recipient address has null MX",

        (2, 0) => "other or undefined mailbox status",
        (2, 1) => "mailbox disabled, not accepting messages",
        (2, 2) => "mailbox full",
        (2, 3) => "message length exceeds administrative limit",
        (2, 4) => "mailing list expansion problem",

        (3, 0) => "other or undefined mail system status",
        (3, 1) => "mail system full",
        (3, 2) => "system not accepting network messages",
        (3, 3) => "system not capable of selected features",
        (3, 4) => "message too big for system",
        (3, 5) => "system incorrectly configured",
        // RFC 6710
        (3, 6) => "requested priority was changed",

        (4, 0) => "other or undefined network or routing status",
        (4, 1) => "no answer from host",
        (4, 2) => "bad connection",
        (4, 3) => "directory server failure",
        (4, 4) => "unable to route",
        (4, 5) => "mail system congestion",
        (4, 6) => "routing loop detected",
        (4, 7) => "delivery time expired",

        (5, 0) => "other or undefined protocol status",
        (5, 1) => "invalid command",
        (5, 2) => "syntax error",
        (5, 3) => "too many recipients",
        (5, 4) => "invalid command arguments",
        (5, 5) => "wrong protocol version",
        // RFC 4954 §6
        (5, 6) => "authentication exchange line is too long",

        (6, 0) => "other or undefined media error",
        (6, 1) => "media not supported",
        (6, 2) => "conversion required and prohibited",
        (6, 3) => "conversion required but not supported",
        (6, 4) => "conversion with loss performed",
        (6, 5) => "conversion failed",
        // RFC 4468 (BURL)
        (6, 6) => "message content not available",
        // RFC 6531
        (6, 7) => "non-ASCII addresses not permitted for that sender/recipient",
        // RFC 6531
        (6, 8) => "UTF-8 string reply is required, but not permitted by the SMTP client",
        // RFC 6531
        (6, 9) => "UTF-8 header message cannot be transferred to one or more recipients",
        // The registry keeps it only as a deprecated duplicate of X.6.8.
        (6, 10) => {
            "UTF-8 string reply is required, but not permitted by the SMTP client (deprecated duplicate of x.6.8)"
        }

        (7, 0) => "other or undefined security status",
        (7, 1) => "delivery not authorized, message refused",
        (7, 2) => "mailing list expansion prohibited",
        (7, 3) => "security conversion required but not possible",
        (7, 4) => "security features not supported",
        (7, 5) => "cryptographic failure",
        (7, 6) => "cryptographic algorithm not supported",
        (7, 7) => "message integrity failure",
        // RFC 4954 §6
        (7, 8) => "authentication credentials invalid",
        // RFC 4954 §6
        (7, 9) => "authentication mechanism is too weak",
        // RFC 5248
        (7, 10) => "encryption needed",
        // RFC 4954 §6
        (7, 11) => "encryption required for requested authentication mechanism",
        // RFC 4954 §6
        (7, 12) => "a password transition is needed",
        // RFC 5248
        (7, 13) => "user account disabled",
        // RFC 5248
        (7, 14) => "trust relationship required",
        // RFC 6710
        (7, 15) => "priority level is too low",
        // RFC 6710
        (7, 16) => "message is too big for the specified priority",
        // RFC 7293
        (7, 17) => "mailbox owner has changed",
        // RFC 7293
        (7, 18) => "domain owner has changed",
        // RFC 7293
        (7, 19) => "RRVS test cannot be completed",
        // RFC 7372
        (7, 20) => "no passing DKIM signature found",
        // RFC 7372
        (7, 21) => "no acceptable DKIM signature found",
        // RFC 7372
        (7, 22) => "no valid author-matched DKIM signature found",
        // RFC 7372
        (7, 23) => "SPF validation failed",
        // RFC 7372
        (7, 24) => "SPF validation error",
        // RFC 7372
        (7, 25) => "reverse DNS validation failed",
        // RFC 7372
        (7, 26) => "multiple authentication checks failed",
        // RFC 7505 §4.2
        (7, 27) => "sender address has null MX",
        (7, 28) => "mail flood detected",
        // RFC 8617
        (7, 29) => "ARC validation failure",
        // RFC 8689
        (7, 30) => "REQUIRETLS support required",
        _ => return None,
    };
    Some(meaning)
}

/// Meaning of an enhanced status code's subject alone (RFC 3463 §3), used
/// when a server sends a detail value the registry does not define.
pub fn enhanced_subject(subject: u16) -> Option<&'static str> {
    let meaning = match subject {
        0 => "other or undefined status",
        1 => "addressing status",
        2 => "mailbox status",
        3 => "mail system status",
        4 => "network and routing status",
        5 => "mail delivery protocol status",
        6 => "message content or media status",
        7 => "security or policy status",
        _ => return None,
    };
    Some(meaning)
}

/// Meaning of an enhanced status code's class (RFC 3463 §2).
pub fn enhanced_class(class: u8) -> &'static str {
    match class {
        2 => "success",
        4 => "persistent transient failure — may succeed if sent again later",
        5 => "permanent failure — sending the same message again will fail",
        _ => "not a valid enhanced status class (only 2, 4 and 5 exist)",
    }
}

const HINT_RELAY_DENIED: &str = "this is how servers say relay denied";
const HINT_AUTH_OR_TLS: &str = "authentication or TLS required — read the text: \
     'Must issue a STARTTLS command first' means TLS, 'Authentication required' means AUTH";
const HINT_BAD_CREDENTIALS: &str =
    "credentials rejected — wrong user name or password, or the account may not use this mechanism";
const HINT_WEAK_MECHANISM: &str =
    "authentication mechanism too weak — pick a stronger mechanism, or start TLS first";
const HINT_ENCRYPTION_FOR_MECHANISM: &str =
    "encryption required for this authentication mechanism — issue STARTTLS, then AUTH again";
const HINT_NO_MAILBOX: &str = "mailbox does not exist — a recipient check, not a relay decision";
const HINT_TEMPORARY: &str = "try again later (often greylisting or a tarpit) — \
     a relay test that gets 4xx proves nothing";
/// What 450/451 with a 4.7.x code says: a policy answer, for now.
const GREYLISTED: &str = "temporarily refused (greylisting?)";

/// A teaching hint for replies that matter when testing relay policy, or
/// `None` when the code carries no relay-specific lesson.
///
/// The enhanced code refines the hint only when its class agrees with the
/// basic code's first digit: RFC 2034 §4 requires that agreement, so a
/// mismatch means the server is confused and the basic code wins.
pub fn relay_hint(code: u16, enhanced: Option<EnhancedCode>) -> Option<&'static str> {
    let enhanced = enhanced.filter(|e| first_digit(code) == Some(u16::from(e.class)));
    match first_digit(code) {
        Some(4) => Some(transient_hint(code)),
        Some(5) => enhanced
            .and_then(permanent_enhanced_hint)
            .or_else(|| permanent_basic_hint(code)),
        _ => positive_hint(code),
    }
}

fn transient_hint(code: u16) -> &'static str {
    match code {
        421 => "the server is closing the session — reconnect before testing anything else",
        432 => {
            "a password transition is needed — the account must log in once with a \
             plaintext mechanism over TLS; temporary, so it proves nothing about relaying"
        }
        454 => {
            "TLS or authentication is temporarily unavailable — retry later; \
             a relay test that gets 4xx proves nothing"
        }
        // Greylisting (RFC 6647) deliberately answers first attempts with 4xx,
        // usually 450/451 4.7.1, so no 4xx verdict says anything about policy.
        _ => HINT_TEMPORARY,
    }
}

fn permanent_enhanced_hint(e: EnhancedCode) -> Option<&'static str> {
    let hint = match (e.subject, e.detail) {
        (1, 1) => HINT_NO_MAILBOX,
        (7, 0) => HINT_AUTH_OR_TLS,
        (7, 1) => HINT_RELAY_DENIED,
        (7, 4) => {
            "security features not supported — the server cannot do the TLS or \
             authentication feature that was asked for"
        }
        (7, 8) => HINT_BAD_CREDENTIALS,
        (7, 9) => HINT_WEAK_MECHANISM,
        (7, 10) => "encryption needed — issue STARTTLS and retry",
        (7, 11) => HINT_ENCRYPTION_FOR_MECHANISM,
        (7, 13) => "the account is disabled — authentication cannot succeed",
        (7, 20..=26) => {
            "sender authentication (DKIM/SPF/DNS) failed — a verdict on the sender \
             address, not on relaying"
        }
        _ => return None,
    };
    Some(hint)
}

fn permanent_basic_hint(code: u16) -> Option<&'static str> {
    let hint = match code {
        503 => {
            "commands out of order (e.g. RCPT before MAIL, or no EHLO yet) — \
             fix the session; this is not a relay decision"
        }
        521 | 556 => "this host or domain accepts no mail at all (RFC 7504) — not a relay decision",
        530 => HINT_AUTH_OR_TLS,
        534 => HINT_WEAK_MECHANISM,
        535 => HINT_BAD_CREDENTIALS,
        538 => HINT_ENCRYPTION_FOR_MECHANISM,
        550 => {
            "mailbox unavailable or refused by policy — many servers send a bare 550 \
             for relay denied, so read the text (e.g. 'Relay access denied')"
        }
        551 => "user not local and the server will not forward — in a relay test this is a refusal",
        552 => "storage allocation exceeded, usually message size — not a relay decision",
        553 => {
            "mailbox name not allowed — qmail also uses 553 for relay denied \
             ('not in my list of allowed rcpthosts'), so read the text"
        }
        554 => {
            "transaction failed — as the greeting it means 'no SMTP service here'; \
             after RCPT it is often a policy refusal such as relay denied"
        }
        _ => return None,
    };
    Some(hint)
}

fn positive_hint(code: u16) -> Option<&'static str> {
    match code {
        235 => Some(
            "authenticated — relay tests from now on show what this account may do, \
             not what an anonymous client may do",
        ),
        251 => Some(
            "the server accepted a non-local recipient and will forward it — \
             in a relay test, acceptance is what counts",
        ),
        _ => None,
    }
}

fn first_digit(code: u16) -> Option<u16> {
    (100..=999).contains(&code).then_some(code / 100)
}

/// Everything known about one reply, ready to print or serialize.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Explanation {
    pub code: u16,
    pub enhanced: Option<EnhancedCode>,
    /// Meaning of the basic code; says so when the code is unknown.
    pub basic: String,
    /// Meaning of the enhanced code plus any inconsistency found in it.
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Explanation {
    /// `"<code>[ <enhanced>]: <basic>[; <detail>][ — <hint>]"`.
    pub fn one_line(&self) -> String {
        let mut line = self.code.to_string();
        if let Some(e) = self.enhanced {
            line.push(' ');
            line.push_str(&e.to_string());
        }
        line.push_str(": ");
        line.push_str(&self.basic);
        if let Some(detail) = &self.detail {
            line.push_str("; ");
            line.push_str(detail);
        }
        if let Some(hint) = &self.hint {
            line.push_str(" — ");
            line.push_str(hint);
        }
        line
    }
}

/// Explain a reply from its basic code and optional enhanced code.
pub fn explain(code: u16, enhanced: Option<EnhancedCode>) -> Explanation {
    explain_answer(code, enhanced, None)
}

/// Explain a reply as the answer to `answering`, the command it follows: a 503 to AUTH is not
/// the 503 of RCPT before MAIL.
pub fn explain_answer(
    code: u16,
    enhanced: Option<EnhancedCode>,
    answering: Option<Verb>,
) -> Explanation {
    let policy_for_now =
        matches!(code, 450 | 451) && enhanced.is_some_and(|e| e.class == 4 && e.subject == 7);
    if policy_for_now {
        return Explanation {
            code,
            enhanced,
            basic: GREYLISTED.to_owned(),
            detail: None,
            hint: Some(HINT_TEMPORARY.to_owned()),
        };
    }
    let mut e = explain_code(code, enhanced);
    if code == 503
        && let Some(hint) = answering.and_then(bad_sequence_hint)
    {
        e.hint = Some(hint.to_owned());
    }
    e
}

/// What a 503 means as the answer to one command.
fn bad_sequence_hint(verb: Verb) -> Option<&'static str> {
    let hint = match verb {
        Verb::Auth => {
            "authentication not enabled: AUTH is offered only after STARTTLS (or not at all \
             on this port) — read EHLO's AUTH line; not a relay decision"
        }
        Verb::StartTls => "TLS is already active (or not offered here) — not a relay decision",
        Verb::Mail => {
            "MAIL out of order: no EHLO yet, or a transaction is already open (RSET first) — \
             not a relay decision"
        }
        Verb::Rcpt => "RCPT before an accepted MAIL FROM — fix the session; not a relay decision",
        Verb::Data | Verb::Bdat => {
            "no accepted recipient (or no MAIL FROM) yet, so there is nothing to send — \
             not a relay decision"
        }
        _ => return None,
    };
    Some(hint)
}

fn explain_code(code: u16, enhanced: Option<EnhancedCode>) -> Explanation {
    let basic = match basic_meaning(code) {
        Some(meaning) => meaning.to_owned(),
        None => match first_digit(code) {
            Some(2..=5) => format!(
                "unknown reply code ({}xx: {})",
                code / 100,
                basic_class(code)
            ),
            _ => basic_class(code).to_owned(),
        },
    };
    Explanation {
        code,
        enhanced,
        basic,
        detail: enhanced.and_then(|e| enhanced_detail(code, e)),
        hint: relay_hint(code, enhanced).map(str::to_owned),
    }
}

/// What the enhanced code adds, or `None` when it adds nothing (`2.0.0`, `5.0.0`: "other
/// undefined status" is noise next to the basic code's meaning).
fn enhanced_detail(code: u16, e: EnhancedCode) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    match (enhanced_meaning(e), enhanced_subject(e.subject)) {
        (Some(_), _)
            if (e.subject, e.detail) == (0, 0)
                && matches!(e.class, 2 | 4 | 5)
                && first_digit(code) == Some(u16::from(e.class)) => {}
        (Some(meaning), _) => parts.push(meaning.to_owned()),
        (None, Some(subject)) => parts.push(format!(
            "unregistered enhanced code (subject {}: {subject})",
            e.subject
        )),
        (None, None) => parts.push("unknown enhanced status code".to_owned()),
    }
    if !matches!(e.class, 2 | 4 | 5) {
        parts.push(format!(
            "enhanced class {} is {}",
            e.class,
            enhanced_class(e.class)
        ));
    }
    // RFC 2034 §4: a 2xx reply must carry 2.X.X, 4xx 4.X.X and 5xx 5.X.X.
    if first_digit(code) != Some(u16::from(e.class)) {
        parts.push(format!(
            "enhanced class {} disagrees with basic code {code}",
            e.class
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ec(class: u8, subject: u16, detail: u16) -> EnhancedCode {
        EnhancedCode {
            class,
            subject,
            detail,
        }
    }

    const ALL_BASIC: [u16; 34] = [
        211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421, 432, 450, 451, 452, 454, 455, 500,
        501, 502, 503, 504, 521, 530, 534, 535, 538, 550, 551, 552, 553, 554, 555, 556,
    ];

    #[test]
    fn every_listed_basic_code_has_a_meaning() {
        for code in ALL_BASIC {
            let meaning = basic_meaning(code);
            assert!(
                meaning.is_some_and(|m| !m.is_empty()),
                "{code} has no meaning"
            );
        }
    }

    #[test]
    fn basic_meanings_are_single_lines() {
        for code in 0..=999 {
            if let Some(m) = basic_meaning(code) {
                assert!(!m.contains('\n'), "{code}");
                assert_eq!(m.trim(), m, "{code}");
            }
        }
    }

    #[test]
    fn specific_basic_meanings() {
        assert_eq!(basic_meaning(554), Some("transaction failed"));
        assert_eq!(
            basic_meaning(221),
            Some("service closing transmission channel")
        );
        assert_eq!(basic_meaning(521), Some("host does not accept mail"));
        assert_eq!(basic_meaning(556), Some("domain does not accept mail"));
        assert!(basic_meaning(535).is_some_and(|m| m.contains("credentials")));
        assert!(basic_meaning(354).is_some_and(|m| m.contains("<CRLF>.<CRLF>")));
    }

    #[test]
    fn unknown_basic_codes_have_no_meaning() {
        for code in [0, 99, 200, 299, 333, 499, 557, 599, 600, 1000, u16::MAX] {
            assert_eq!(basic_meaning(code), None, "{code}");
        }
    }

    #[test]
    fn basic_class_by_first_digit() {
        assert_eq!(basic_class(250), "positive completion");
        assert_eq!(basic_class(299), "positive completion");
        assert!(basic_class(354).starts_with("positive intermediate"));
        assert!(basic_class(450).contains("try again later"));
        assert!(basic_class(550).starts_with("permanent negative"));
        for code in [0, 42, 99, 100, 199, 600, 999, 1000, 2500, u16::MAX] {
            assert_eq!(basic_class(code), "not a valid SMTP reply code", "{code}");
        }
    }

    #[test]
    fn required_enhanced_codes_are_known() {
        let required = [
            (1, 1),
            (1, 2),
            (1, 10),
            (2, 2),
            (3, 4),
            (7, 0),
            (7, 1),
            (7, 8),
            (7, 9),
        ];
        for (s, d) in required {
            assert!(enhanced_meaning(ec(5, s, d)).is_some(), "x.{s}.{d}");
        }
        for d in 0..=7 {
            assert!(enhanced_meaning(ec(4, 4, d)).is_some(), "x.4.{d}");
        }
        for d in 0..=6 {
            assert!(enhanced_meaning(ec(5, 5, d)).is_some(), "x.5.{d}");
        }
        for d in 0..=30 {
            assert!(enhanced_meaning(ec(5, 7, d)).is_some(), "x.7.{d}");
        }
    }

    #[test]
    fn specific_enhanced_meanings() {
        assert_eq!(
            enhanced_meaning(ec(5, 7, 1)),
            Some("delivery not authorized, message refused")
        );
        assert_eq!(
            enhanced_meaning(ec(5, 1, 1)),
            Some("bad destination mailbox address")
        );
        assert_eq!(enhanced_meaning(ec(4, 2, 2)), Some("mailbox full"));
        assert_eq!(
            enhanced_meaning(ec(5, 3, 4)),
            Some("message too big for system")
        );
        assert_eq!(
            enhanced_meaning(ec(5, 1, 10)),
            Some("recipient address has null MX")
        );
        assert_eq!(
            enhanced_meaning(ec(5, 7, 8)),
            Some("authentication credentials invalid")
        );
        assert_eq!(
            enhanced_meaning(ec(5, 7, 30)),
            Some("REQUIRETLS support required")
        );
    }

    #[test]
    fn enhanced_meaning_ignores_class() {
        assert_eq!(enhanced_meaning(ec(2, 0, 0)), enhanced_meaning(ec(5, 0, 0)));
        assert_eq!(enhanced_meaning(ec(4, 7, 1)), enhanced_meaning(ec(5, 7, 1)));
    }

    #[test]
    fn unregistered_enhanced_codes_are_none() {
        for (s, d) in [
            (0, 1),
            (1, 11),
            (2, 5),
            (3, 7),
            (4, 8),
            (5, 7),
            (6, 11),
            (7, 31),
            (8, 0),
            (999, 999),
        ] {
            assert_eq!(enhanced_meaning(ec(5, s, d)), None, "x.{s}.{d}");
        }
    }

    #[test]
    fn enhanced_subjects() {
        assert_eq!(enhanced_subject(7), Some("security or policy status"));
        assert_eq!(enhanced_subject(1), Some("addressing status"));
        assert_eq!(enhanced_subject(8), None);
    }

    #[test]
    fn enhanced_classes() {
        assert_eq!(enhanced_class(2), "success");
        assert!(enhanced_class(4).starts_with("persistent transient failure"));
        assert!(enhanced_class(5).starts_with("permanent failure"));
        for class in [0, 1, 3, 6, 9, 255] {
            assert!(enhanced_class(class).starts_with("not a valid"), "{class}");
        }
    }

    #[test]
    fn hint_relay_denied() {
        assert_eq!(relay_hint(554, Some(ec(5, 7, 1))), Some(HINT_RELAY_DENIED));
        assert_eq!(relay_hint(550, Some(ec(5, 7, 1))), Some(HINT_RELAY_DENIED));
    }

    #[test]
    fn hint_auth_or_tls() {
        assert_eq!(relay_hint(530, None), Some(HINT_AUTH_OR_TLS));
        assert_eq!(relay_hint(530, Some(ec(5, 7, 0))), Some(HINT_AUTH_OR_TLS));
        assert_eq!(relay_hint(550, Some(ec(5, 7, 0))), Some(HINT_AUTH_OR_TLS));
        assert!(HINT_AUTH_OR_TLS.contains("Must issue a STARTTLS command first"));
    }

    #[test]
    fn hint_authentication_failures() {
        assert_eq!(
            relay_hint(535, Some(ec(5, 7, 8))),
            Some(HINT_BAD_CREDENTIALS)
        );
        assert_eq!(relay_hint(535, None), Some(HINT_BAD_CREDENTIALS));
        assert_eq!(
            relay_hint(534, Some(ec(5, 7, 9))),
            Some(HINT_WEAK_MECHANISM)
        );
        assert_eq!(relay_hint(534, None), Some(HINT_WEAK_MECHANISM));
        assert_eq!(
            relay_hint(538, Some(ec(5, 7, 11))),
            Some(HINT_ENCRYPTION_FOR_MECHANISM)
        );
        assert_eq!(relay_hint(538, None), Some(HINT_ENCRYPTION_FOR_MECHANISM));
        assert!(relay_hint(554, Some(ec(5, 7, 4))).is_some_and(|h| h.contains("not supported")));
        assert!(relay_hint(530, Some(ec(5, 7, 10))).is_some_and(|h| h.contains("STARTTLS")));
    }

    #[test]
    fn hint_mailbox_missing_is_not_relay() {
        let hint = relay_hint(550, Some(ec(5, 1, 1)));
        assert_eq!(hint, Some(HINT_NO_MAILBOX));
        assert!(HINT_NO_MAILBOX.contains("not a relay decision"));
    }

    #[test]
    fn hint_transient_proves_nothing() {
        for (code, enhanced) in [
            (450, None),
            (451, Some(ec(4, 7, 1))),
            (452, Some(ec(4, 3, 1))),
            (450, Some(ec(4, 2, 0))),
        ] {
            assert_eq!(relay_hint(code, enhanced), Some(HINT_TEMPORARY), "{code}");
        }
        assert!(HINT_TEMPORARY.contains("proves nothing"));
        assert!(HINT_TEMPORARY.contains("greylisting"));
        assert!(relay_hint(454, Some(ec(4, 7, 0))).is_some_and(|h| h.contains("proves nothing")));
    }

    #[test]
    fn hint_4xx_with_relay_enhanced_is_still_temporary() {
        // Greylisting commonly answers 451 4.7.1; calling that "relay denied"
        // would be exactly the misreading the hints exist to prevent.
        let hint = relay_hint(451, Some(ec(4, 7, 1)));
        assert_ne!(hint, Some(HINT_RELAY_DENIED));
    }

    #[test]
    fn hint_421_closing() {
        let hint = relay_hint(421, None);
        assert!(hint.is_some_and(|h| h.contains("closing the session")));
        assert_eq!(relay_hint(421, Some(ec(4, 7, 0))), hint);
    }

    #[test]
    fn hint_mismatched_enhanced_is_ignored() {
        assert_eq!(relay_hint(250, Some(ec(5, 7, 1))), None);
        // The basic code still decides the hint.
        assert_eq!(relay_hint(530, Some(ec(2, 7, 8))), Some(HINT_AUTH_OR_TLS));
        assert_eq!(relay_hint(451, Some(ec(5, 7, 1))), Some(HINT_TEMPORARY));
    }

    #[test]
    fn hint_bare_policy_codes() {
        assert!(relay_hint(550, None).is_some_and(|h| h.contains("relay")));
        assert!(relay_hint(553, None).is_some_and(|h| h.contains("rcpthosts")));
        assert!(relay_hint(554, None).is_some_and(|h| h.contains("no SMTP service here")));
        assert!(relay_hint(521, None).is_some_and(|h| h.contains("RFC 7504")));
    }

    #[test]
    fn no_hint_for_plain_success_or_unknown() {
        assert_eq!(relay_hint(250, None), None);
        assert_eq!(relay_hint(250, Some(ec(2, 1, 5))), None);
        assert_eq!(relay_hint(220, None), None);
        assert_eq!(relay_hint(354, None), None);
        assert_eq!(relay_hint(999, None), None);
        assert_eq!(relay_hint(0, None), None);
    }

    #[test]
    fn one_line_relay_denied_example() {
        assert_eq!(
            explain(554, Some(ec(5, 7, 1))).one_line(),
            "554 5.7.1: transaction failed; delivery not authorized, message refused — \
             this is how servers say relay denied"
        );
    }

    #[test]
    fn one_line_without_enhanced_or_hint() {
        let e = explain(250, None);
        assert_eq!(e.detail, None);
        assert_eq!(e.hint, None);
        assert_eq!(e.one_line(), "250: requested mail action okay, completed");
    }

    #[test]
    fn one_line_with_enhanced_without_hint() {
        assert_eq!(
            explain(250, Some(ec(2, 1, 5))).one_line(),
            "250 2.1.5: requested mail action okay, completed; destination address valid"
        );
    }

    #[test]
    fn explain_fields() {
        let e = explain(550, Some(ec(5, 1, 1)));
        assert_eq!(e.code, 550);
        assert_eq!(e.enhanced, Some(ec(5, 1, 1)));
        assert_eq!(e.basic, basic_meaning(550).unwrap_or_default());
        assert_eq!(e.detail.as_deref(), Some("bad destination mailbox address"));
        assert_eq!(e.hint.as_deref(), Some(HINT_NO_MAILBOX));
    }

    #[test]
    fn explain_unknown_basic_code() {
        let e = explain(299, None);
        assert_eq!(e.basic, "unknown reply code (2xx: positive completion)");
        assert_eq!(
            e.one_line(),
            "299: unknown reply code (2xx: positive completion)"
        );
        let e = explain(599, None);
        assert!(e.basic.starts_with("unknown reply code (5xx: permanent"));
    }

    #[test]
    fn explain_invalid_basic_code() {
        for code in [0, 42, 199, 600, 999, 1234] {
            let e = explain(code, None);
            assert_eq!(e.basic, "not a valid SMTP reply code", "{code}");
            assert_eq!(e.one_line(), format!("{code}: not a valid SMTP reply code"));
        }
    }

    #[test]
    fn explain_class_mismatch_is_flagged() {
        let e = explain(250, Some(ec(5, 7, 1)));
        assert_eq!(
            e.detail.as_deref(),
            Some(
                "delivery not authorized, message refused; \
                 enhanced class 5 disagrees with basic code 250"
            )
        );
        assert_eq!(e.hint, None);
        assert!(
            e.one_line()
                .contains("enhanced class 5 disagrees with basic code 250")
        );
    }

    #[test]
    fn explain_agreeing_classes_are_not_flagged() {
        for (code, class) in [(250, 2), (451, 4), (550, 5)] {
            let e = explain(code, Some(ec(class, 0, 0)));
            assert!(
                e.detail.as_deref().is_none_or(|d| !d.contains("disagrees")),
                "{code}"
            );
        }
    }

    #[test]
    fn x_0_0_adds_no_undefined_status_noise() {
        let e = explain(250, Some(ec(2, 0, 0)));
        assert_eq!(e.detail, None);
        assert_eq!(
            e.one_line(),
            "250 2.0.0: requested mail action okay, completed"
        );
    }

    #[test]
    fn a_503_is_read_as_the_answer_to_its_command() {
        let auth = explain_answer(503, Some(ec(5, 5, 1)), Some(Verb::Auth)).one_line();
        assert!(
            auth.contains("authentication not enabled: AUTH is offered only after STARTTLS"),
            "{auth}"
        );
        assert!(!auth.contains("RCPT before MAIL"), "{auth}");
        let rcpt = explain_answer(503, Some(ec(5, 5, 1)), Some(Verb::Rcpt)).one_line();
        assert!(rcpt.contains("RCPT before an accepted MAIL FROM"), "{rcpt}");
        // With no command known, the general reading stays.
        let none = explain_answer(503, None, None).one_line();
        assert!(none.contains("commands out of order"), "{none}");
    }

    #[test]
    fn greylisting_reads_temporarily_refused_without_contradiction() {
        let line = explain_answer(451, Some(ec(4, 7, 1)), Some(Verb::Rcpt)).one_line();
        assert!(
            line.contains("temporarily refused (greylisting?)"),
            "{line}"
        );
        assert!(!line.contains("message refused"), "{line}");
        assert!(!line.contains("local error"), "{line}");
        assert!(line.contains("try again later"), "{line}");
    }

    #[test]
    fn explain_invalid_enhanced_class() {
        let e = explain(354, Some(ec(3, 0, 0)));
        let detail = e.detail.unwrap_or_default();
        assert!(detail.starts_with("other undefined status"));
        assert!(detail.contains("enhanced class 3 is not a valid enhanced status class"));
        // The digits agree, so only the class itself is flagged.
        assert!(!detail.contains("disagrees"));
        let e = explain(354, Some(ec(2, 0, 0)));
        assert!(
            e.detail
                .is_some_and(|d| d.ends_with("enhanced class 2 disagrees with basic code 354"))
        );
    }

    #[test]
    fn explain_unregistered_enhanced() {
        let e = explain(550, Some(ec(5, 7, 99)));
        assert_eq!(
            e.detail.as_deref(),
            Some("unregistered enhanced code (subject 7: security or policy status)")
        );
        let e = explain(550, Some(ec(5, 42, 1)));
        assert_eq!(e.detail.as_deref(), Some("unknown enhanced status code"));
        // The basic hint still applies when the enhanced code teaches nothing.
        assert_eq!(e.hint.as_deref(), relay_hint(550, None));
    }

    #[test]
    fn explanation_serializes_with_all_fields() {
        let value = serde_json::to_value(explain(554, Some(ec(5, 7, 1))));
        let value = value.unwrap_or_default();
        assert_eq!(value["code"], 554);
        assert_eq!(value["enhanced"]["class"], 5);
        assert_eq!(value["enhanced"]["subject"], 7);
        assert_eq!(value["enhanced"]["detail"], 1);
        assert_eq!(value["basic"], "transaction failed");
        assert_eq!(value["detail"], "delivery not authorized, message refused");
        assert_eq!(value["hint"], HINT_RELAY_DENIED);
        let value = serde_json::to_value(explain(250, None)).unwrap_or_default();
        assert!(value["enhanced"].is_null());
        assert!(value["detail"].is_null());
        assert!(value["hint"].is_null());
    }

    proptest! {
        #[test]
        fn explain_is_total_and_consistent(
            code in any::<u16>(),
            class in any::<u8>(),
            subject in any::<u16>(),
            detail in any::<u16>(),
            with_enhanced in any::<bool>(),
        ) {
            let enhanced = with_enhanced.then_some(ec(class, subject, detail));
            let e = explain(code, enhanced);
            let line = e.one_line();
            let prefix = format!("{code}");
            prop_assert!(line.starts_with(&prefix));
            prop_assert!(!line.contains('\n'));
            prop_assert!(!e.basic.is_empty());
            prop_assert_eq!(e.detail.is_some(), with_enhanced);
            let flagged = e.detail.as_deref().is_some_and(|d| d.contains("disagrees"));
            let agrees = (100..=999).contains(&code) && u16::from(class) == code / 100;
            prop_assert_eq!(flagged, with_enhanced && !agrees);
            if (400..500).contains(&code) {
                prop_assert!(e.hint.is_some());
            }
        }
    }
}
