//! Verdicts: how one reply measures up to a step's expectation, and how step results add up
//! to a scenario's verdict.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::model::Expect;
use crate::smtp::command::Verb;
use crate::smtp::reply::Reply;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Pass,
    Fail,
    Warn,
    Inconclusive,
    Skipped,
}

impl Verdict {
    /// How bad a verdict is, for "did it get worse": PASS 0, WARN 1, SKIPPED and INCONCLUSIVE
    /// 2 (nothing proved: a scenario that stopped running lost its evidence), FAIL 3.
    pub fn badness(self) -> u8 {
        match self {
            Verdict::Pass => 0,
            Verdict::Warn => 1,
            Verdict::Skipped | Verdict::Inconclusive => 2,
            Verdict::Fail => 3,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Warn => "WARN",
            Verdict::Inconclusive => "INCONCLUSIVE",
            Verdict::Skipped => "SKIPPED",
        })
    }
}

/// How a reply compares with what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    Match,
    Mismatch,
    /// A 4xx where a decision was expected: greylisting or a tarpit proves nothing.
    Temporary,
    /// Rejected, but for a reason that says nothing about relay (5.1.x: bad address).
    Unrelated,
    /// The reply has no valid code.
    Malformed,
    /// 503 to MAIL, RCPT or DATA: the server says the dialogue is out of order (a step was
    /// skipped or sent twice), which is no evidence about policy.
    OutOfOrder,
}

/// Is this 530 about TLS rather than authentication? Servers use 530 5.7.0 for both; only the
/// text tells ("Must issue a STARTTLS command first"). nmap's smtp-open-relay misreads it.
pub fn is_tls_required(reply: &Reply) -> bool {
    reply.code() == Some(530) && reply.text().to_ascii_uppercase().contains("STARTTLS")
}

/// A reply in one line for reasons, with a gloss where codes are easily misread.
pub fn describe(reply: &Reply) -> String {
    let text = reply.summary();
    if is_tls_required(reply) {
        format!("{text} (TLS is required first; this is not an authentication demand)")
    } else if reply.code() == Some(530) {
        format!("{text} (authentication required)")
    } else {
        text
    }
}

/// Judges a reply against a step's expectation. `verb` is the command the reply answers: a 503
/// means "bad sequence" to a transaction command, but a refusal to AUTH (Postfix answers AUTH
/// before STARTTLS with `503 5.5.1 Error: authentication not enabled`).
pub fn judge(expect: Expect, fail_on: &[u16], verb: Verb, reply: &Reply) -> Judgement {
    // 999, "abc" or "2500" are not answers a verdict can rest on, whatever they start with.
    let Some(code) = reply.code().filter(|_| reply.has_valid_code()) else {
        return Judgement::Malformed;
    };
    if fail_on.contains(&code) {
        return Judgement::Mismatch;
    }
    if code == 503
        && matches!(verb, Verb::Mail | Verb::Rcpt | Verb::Data)
        && expect != Expect::Anything
    {
        return Judgement::OutOfOrder;
    }
    let class = code / 100;
    match expect {
        Expect::Anything => Judgement::Match,
        Expect::Accept => match class {
            2 | 3 => Judgement::Match,
            4 => Judgement::Temporary,
            _ => Judgement::Mismatch,
        },
        Expect::Refuse => match class {
            4 | 5 => Judgement::Match,
            _ => Judgement::Mismatch,
        },
        Expect::Reject => match class {
            5 => Judgement::Match,
            4 => Judgement::Temporary,
            _ => Judgement::Mismatch,
        },
        Expect::RejectPolicy => match class {
            5 if reply.enhanced().is_some_and(|e| e.subject == 1) => Judgement::Unrelated,
            5 => Judgement::Match,
            4 => Judgement::Temporary,
            _ => Judgement::Mismatch,
        },
    }
}

pub fn expect_text(expect: Expect) -> &'static str {
    match expect {
        Expect::Accept => "accepted",
        Expect::Reject => "rejected (5xx)",
        Expect::RejectPolicy => "rejected by policy (5xx, not 5.1.x)",
        Expect::Refuse => "refused (4xx or 5xx)",
        Expect::Anything => "any reply (informational)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::reply::ReplyParser;

    fn reply(wire: &str) -> Reply {
        ReplyParser::default()
            .feed(wire.as_bytes())
            .reply
            .expect("reply")
    }

    #[test]
    fn rejections_by_class() {
        let denied = reply("554 5.7.1 <x@y>: Relay access denied\r\n");
        assert_eq!(
            judge(Expect::RejectPolicy, &[], Verb::Rcpt, &denied),
            Judgement::Match
        );
        assert_eq!(
            judge(Expect::Accept, &[], Verb::Rcpt, &denied),
            Judgement::Mismatch
        );
        let unknown = reply("550 5.1.1 <x@y>: Recipient address rejected: User unknown\r\n");
        assert_eq!(
            judge(Expect::RejectPolicy, &[], Verb::Rcpt, &unknown),
            Judgement::Unrelated
        );
        assert_eq!(
            judge(Expect::Reject, &[], Verb::Rcpt, &unknown),
            Judgement::Match
        );
        let grey = reply("450 4.7.1 try later\r\n");
        assert_eq!(
            judge(Expect::RejectPolicy, &[], Verb::Rcpt, &grey),
            Judgement::Temporary
        );
        assert_eq!(
            judge(Expect::Accept, &[], Verb::Rcpt, &grey),
            Judgement::Temporary
        );
        assert_eq!(
            judge(Expect::Refuse, &[], Verb::Rcpt, &grey),
            Judgement::Match
        );
        let ok = reply("250 2.1.5 Ok\r\n");
        assert_eq!(
            judge(Expect::RejectPolicy, &[], Verb::Rcpt, &ok),
            Judgement::Mismatch
        );
        assert_eq!(
            judge(Expect::Anything, &[], Verb::Rcpt, &ok),
            Judgement::Match
        );
        assert_eq!(
            judge(Expect::Accept, &[], Verb::Rcpt, &reply("354 go\r\n")),
            Judgement::Match
        );
        assert_eq!(
            judge(Expect::Accept, &[], Verb::Rcpt, &reply("xyz\r\n")),
            Judgement::Malformed
        );
    }

    #[test]
    fn a_503_to_a_transaction_command_is_no_policy_evidence() {
        let seq = reply("503 5.5.1 Error: need MAIL command\r\n");
        for verb in [Verb::Mail, Verb::Rcpt, Verb::Data] {
            for expect in [
                Expect::RejectPolicy,
                Expect::Reject,
                Expect::Refuse,
                Expect::Accept,
            ] {
                assert_eq!(
                    judge(expect, &[], verb, &seq),
                    Judgement::OutOfOrder,
                    "{verb:?}"
                );
            }
        }
        // To AUTH, 503 is a refusal in its own right.
        assert_eq!(
            judge(Expect::Refuse, &[], Verb::Auth, &seq),
            Judgement::Match
        );
        assert_eq!(
            judge(Expect::Anything, &[], Verb::Rcpt, &seq),
            Judgement::Match
        );
    }

    #[test]
    fn fail_on_overrides_the_expectation() {
        let failed = reply("535 5.7.8 Error: authentication failed\r\n");
        assert_eq!(
            judge(Expect::Refuse, &[], Verb::Rcpt, &failed),
            Judgement::Match
        );
        assert_eq!(
            judge(Expect::Refuse, &[235, 334, 535], Verb::Rcpt, &failed),
            Judgement::Mismatch
        );
    }

    /// Written for the mutants that survived: every expectation's 4xx is "temporary" where a
    /// decision was wanted, and each expectation reads as the words reports print.
    #[test]
    fn a_4xx_is_temporary_for_every_decision_and_expectations_have_words() {
        let grey = reply("451 4.3.0 try later\r\n");
        for expect in [Expect::Accept, Expect::Reject, Expect::RejectPolicy] {
            assert_eq!(
                judge(expect, &[], Verb::Rcpt, &grey),
                Judgement::Temporary,
                "{expect:?}"
            );
        }
        assert_eq!(
            judge(Expect::Refuse, &[], Verb::Rcpt, &grey),
            Judgement::Match
        );
        let texts = [
            (Expect::Accept, "accepted"),
            (Expect::Reject, "rejected (5xx)"),
            (Expect::RejectPolicy, "rejected by policy (5xx, not 5.1.x)"),
            (Expect::Refuse, "refused (4xx or 5xx)"),
            (Expect::Anything, "any reply (informational)"),
        ];
        for (expect, text) in texts {
            assert_eq!(expect_text(expect), text);
        }
    }

    /// A reply whose code the parser could read but which is no valid SMTP code (out of range,
    /// no separator after it) is Malformed for every expectation, even where any reply would
    /// do: a verdict never rests on it.
    #[test]
    fn a_code_that_is_read_but_not_valid_is_malformed() {
        for wire in [
            "999 out of range\r\n",
            "2500 no separator\r\n",
            "199 too low\r\n",
        ] {
            let r = reply(wire);
            assert!(r.code().is_some(), "the parser reads a code in {wire:?}");
            assert!(!r.has_valid_code(), "{wire:?}");
            for expect in [
                Expect::Accept,
                Expect::Reject,
                Expect::RejectPolicy,
                Expect::Refuse,
                Expect::Anything,
            ] {
                assert_eq!(
                    judge(expect, &[], Verb::Rcpt, &r),
                    Judgement::Malformed,
                    "{wire:?} {expect:?}"
                );
            }
        }
    }

    #[test]
    fn starttls_530_is_not_called_authentication() {
        let tls = reply("530 5.7.0 Must issue a STARTTLS command first\r\n");
        assert!(is_tls_required(&tls));
        assert!(describe(&tls).contains("TLS is required first"));
        let auth = reply("530 5.7.0 Authentication required\r\n");
        assert!(!is_tls_required(&auth));
        assert!(describe(&auth).contains("authentication required"));
    }
}
