//! The scenario file format (TOML). Built-in scenarios in `assets/scenarios/` and user
//! scenarios in `<config>/scenarios/` use the same one.

use serde::{Deserialize, Serialize};

/// What a step's reply must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// 2xx, or 3xx where the command continues (354 to DATA).
    Accept,
    /// A permanent 5xx.
    Reject,
    /// A 5xx for policy reasons: a 5.1.x (bad or unknown address) is no relay evidence, so it
    /// makes the step inconclusive.
    RejectPolicy,
    /// Any refusal, 4xx or 5xx (e.g. AUTH before TLS: 503, 530 and 538 all count).
    Refuse,
    /// Informational: any reply is fine.
    Anything,
}

/// What kind of evidence a step is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The evidence the verdict rests on: a mismatch fails (or warns) the scenario.
    #[default]
    Probe,
    /// Getting into position (MAIL FROM before the RCPT probe): a mismatch makes the scenario
    /// inconclusive, not failed.
    Setup,
}

/// Built-in actions a step can take instead of sending a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// STARTTLS and the handshake, then EHLO inside TLS.
    Starttls,
    /// AUTH with the profile's credentials (only ever after TLS unless explicitly allowed).
    Auth,
    /// AUTH PLAIN with a made-up credential, allowed in cleartext because it is worthless: it
    /// shows whether the server would take AUTH before TLS.
    AuthDummy,
    Rset,
    /// Send a message: DATA, a short test body, the end of data.
    Data,
    /// DATA, a body ending in a non-standard end-of-data `sequence`, then wait: a reply means
    /// the server took it as the end of data.
    Smuggle,
    /// Evaluate a named assertion about the session so far (see [`Assertion`]).
    Check,
    /// Probe, each on a fresh connection, which TLS versions the server accepts (1.0 and 1.1
    /// by a hand-built ClientHello read but never completed; 1.2 and 1.3 by a handshake).
    TlsVersions,
}

/// Named facts about the session a `check` step can assert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Assertion {
    StarttlsAdvertised,
    TlsVerified,
    Tls12OrNewer,
    /// The chain as sent is in order and leads to a trusted CA with nothing missing.
    ChainComplete,
    /// No certificate of the chain expires within 14 days (WARN) or has expired (FAIL).
    CertNotExpiring,
    /// AUTH is not in the EHLO answer before TLS.
    AuthNotAdvertisedBeforeTls,
    /// The last two replies have the same code (e.g. VRFY of a real and of an unknown user).
    SameAnswerTwice,
}

/// Which TLS the scenario's session uses before its steps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TlsUse {
    /// As the profile says (STARTTLS when offered, unless the profile says none).
    #[default]
    Profile,
    /// TLS must be up first (the scenario authenticates).
    Required,
    /// No TLS before the steps: the scenario handles STARTTLS itself.
    Plaintext,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A label for reports.
    #[serde(default)]
    pub name: Option<String>,
    /// A command line with `{variables}`, sent with CRLF appended.
    #[serde(default)]
    pub send: Option<String>,
    #[serde(default)]
    pub action: Option<Action>,
    #[serde(default)]
    pub assert: Option<Assertion>,
    /// For `smuggle`: the end-of-data sequence, with escapes (`\n.\n`).
    #[serde(default)]
    pub sequence: Option<String>,
    pub expect: Expect,
    #[serde(default)]
    pub role: Role,
    /// Reply codes that count as a mismatch even though `expect` would allow them.
    #[serde(default)]
    pub fail_on: Vec<u16>,
    /// A rejection here is the outcome the scenario wants: the step passes and the rest of its
    /// group is skipped.
    #[serde(default)]
    pub reject_passes: bool,
    /// Steps sharing a group form one transaction; RSET follows each group.
    #[serde(default)]
    pub group: Option<String>,
    /// Teaching note shown with this step's result.
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fix {
    pub summary: String,
    #[serde(default)]
    pub postfix: Option<String>,
    #[serde(default)]
    pub exim: Option<String>,
    #[serde(default)]
    pub opensmtpd: Option<String>,
}

/// Requirements that, when unmet by the configuration, make the scenario SKIPPED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Requirement {
    /// Credentials are configured.
    Auth,
    /// The connection starts in plaintext (not implicit TLS).
    Plaintext,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub id: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    pub title: String,
    /// What it tests, one or two sentences.
    pub tests: String,
    /// Why it matters: the teaching text.
    pub why: String,
    /// Part of `--all`.
    #[serde(default)]
    pub default: bool,
    /// Runs only when asked for by name (never in `--all`).
    #[serde(default)]
    pub opt_in: bool,
    /// What a mismatched probe makes the scenario: "fail" (default) or "warn".
    #[serde(default)]
    pub severity: Severity,
    /// Relay rejections prove nothing unless the local-delivery control passes.
    #[serde(default)]
    pub needs_control: bool,
    #[serde(default)]
    pub requires: Vec<Requirement>,
    #[serde(default)]
    pub tls: TlsUse,
    /// Authenticate with the profile's credentials before the steps.
    #[serde(default)]
    pub authenticate: bool,
    /// Groups per session: failing probes are spread over sessions so that no session trips a
    /// tarpit (Postfix slows down after 10 errors in one session).
    #[serde(default)]
    pub groups_per_session: Option<usize>,
    pub fix: Fix,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    #[default]
    Fail,
    Warn,
}

/// What serde cannot catch in a scenario file, naming the step (1-based) where it applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("id {0:?}: use letters, digits, '-' and '_'")]
    BadId(String),
    #[error("alias {0:?}: use letters, digits, '-' and '_'")]
    BadAlias(String),
    #[error("a scenario needs at least one step")]
    NoSteps,
    #[error("step {0}: give either `send` or `action`, not both")]
    SendAndAction(usize),
    #[error("step {0}: give `send` or `action`")]
    NothingToDo(usize),
    #[error("step {0}: `send` is one command line; CR and LF are added for you")]
    LineBreakInSend(usize),
    #[error("step {step}: `send` {source}")]
    BadSend {
        step: usize,
        source: crate::smtp::validate::Problem,
    },
    #[error("step {0}: action \"check\" needs `assert`")]
    CheckWithoutAssert(usize),
    #[error("step {0}: action \"smuggle\" needs `sequence`")]
    SmuggleWithoutSequence(usize),
    #[error("groups_per_session must be at least 1")]
    ZeroGroupsPerSession,
}

/// A bad escape in a smuggling sequence or a hand-typed line, with its position (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error("a lone backslash at the end (position {0})")]
    LoneBackslash(usize),
    #[error("\\x needs two hex digits (position {0})")]
    ShortHex(usize),
    #[error("\\x{hex}: not two hex digits (position {position})")]
    BadHex { hex: String, position: usize },
    #[error("unknown escape \\{escape} at position {position} (known: \\r \\n \\t \\0 \\\\ \\xHH)")]
    Unknown { escape: char, position: usize },
}

impl Scenario {
    /// Checks what serde cannot: each step does exactly one thing, and ids are sane.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let ok_id = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        };
        if !ok_id(&self.id) {
            return Err(ScenarioError::BadId(self.id.clone()));
        }
        if let Some(a) = self.aliases.iter().find(|a| !ok_id(a)) {
            return Err(ScenarioError::BadAlias(a.clone()));
        }
        if self.steps.is_empty() {
            return Err(ScenarioError::NoSteps);
        }
        for (i, step) in self.steps.iter().enumerate() {
            let n = i + 1;
            match (&step.send, step.action) {
                (Some(_), Some(_)) => return Err(ScenarioError::SendAndAction(n)),
                (None, None) => return Err(ScenarioError::NothingToDo(n)),
                (Some(line), None) if line.contains('\r') || line.contains('\n') => {
                    return Err(ScenarioError::LineBreakInSend(n));
                }
                (Some(line), None) => {
                    crate::smtp::validate::line("send", line).map_err(|e| {
                        ScenarioError::BadSend {
                            step: n,
                            source: e.problem,
                        }
                    })?;
                }
                _ => {}
            }
            if step.action == Some(Action::Check) && step.assert.is_none() {
                return Err(ScenarioError::CheckWithoutAssert(n));
            }
            if step.action == Some(Action::Smuggle) && step.sequence.is_none() {
                return Err(ScenarioError::SmuggleWithoutSequence(n));
            }
        }
        if self.groups_per_session == Some(0) {
            return Err(ScenarioError::ZeroGroupsPerSession);
        }
        Ok(())
    }

    /// Whether running it needs the password: it logs in, requires credentials, or has an AUTH
    /// step. Other scenarios never read the secret.
    pub fn needs_auth(&self) -> bool {
        self.authenticate
            || self.requires.contains(&Requirement::Auth)
            || self.steps.iter().any(|s| s.action == Some(Action::Auth))
    }

    /// Matches the id or an alias, ignoring case.
    pub fn answers_to(&self, name: &str) -> bool {
        self.id.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }

    /// The short name reports lead with: the first alias if it is a letter (A, B, C), else
    /// the id.
    pub fn label(&self) -> &str {
        self.aliases
            .iter()
            .find(|a| a.len() == 1)
            .map_or(self.id.as_str(), String::as_str)
    }
}

/// Decodes `\r`, `\n`, `\0`, `\t`, `\\` and `\xHH` escapes (used for smuggling sequences and,
/// later, raw lines typed in the TUI).
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let Some(&e) = bytes.get(i + 1) else {
            return Err(EscapeError::LoneBackslash(i + 1));
        };
        i += 2;
        match e {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let hex = text.get(i..i + 2).ok_or(EscapeError::ShortHex(i - 1))?;
                // from_str_radix alone would take a sign ("\\x+f"), so check the digits first.
                let v = Some(hex)
                    .filter(|h| h.bytes().all(|d| d.is_ascii_hexdigit()))
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| EscapeError::BadHex {
                        hex: hex.to_string(),
                        position: i - 1,
                    })?;
                out.push(v);
                i += 2;
            }
            _ => {
                // Name the whole character, not its first UTF-8 byte.
                let other = text[i - 1..].chars().next().unwrap_or('?');
                return Err(EscapeError::Unknown {
                    escape: other,
                    position: i - 1,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scenario that validates; each test below breaks one thing.
    fn valid() -> Scenario {
        toml::from_str(
            r#"
id = "my-check_2"
aliases = ["M", "mine"]
title = "t"
tests = "t"
why = "w"
groups_per_session = 1
[fix]
summary = "s"
[[steps]]
send = "MAIL FROM:<{external_sender}>"
expect = "accept"
[[steps]]
action = "check"
assert = "starttls-advertised"
expect = "anything"
[[steps]]
action = "smuggle"
sequence = "\n.\n"
expect = "reject"
"#,
        )
        .expect("the base scenario parses")
    }

    type Change = Box<dyn FnOnce(&mut Scenario)>;

    fn error_of(change: impl FnOnce(&mut Scenario)) -> (ScenarioError, String) {
        let mut s = valid();
        change(&mut s);
        let e = s.validate().expect_err("refused");
        let text = e.to_string();
        (e, text)
    }

    #[test]
    fn a_sound_scenario_validates() {
        assert_eq!(valid().validate(), Ok(()));
    }

    /// Every ScenarioError, each with the message a scenario author reads (steps 1-based).
    #[test]
    fn each_mistake_is_named_with_its_step() {
        let cases: Vec<(Change, ScenarioError, &str)> = vec![
            (
                Box::new(|s| s.id = "my check".into()),
                ScenarioError::BadId("my check".into()),
                "id \"my check\": use letters, digits, '-' and '_'",
            ),
            (
                Box::new(|s| s.id = String::new()),
                ScenarioError::BadId(String::new()),
                "id \"\": use letters, digits, '-' and '_'",
            ),
            (
                Box::new(|s| s.aliases.push("é".into())),
                ScenarioError::BadAlias("é".into()),
                "alias \"é\": use letters, digits, '-' and '_'",
            ),
            (
                Box::new(|s| s.steps.clear()),
                ScenarioError::NoSteps,
                "a scenario needs at least one step",
            ),
            (
                Box::new(|s| s.steps[1].send = Some("NOOP".into())),
                ScenarioError::SendAndAction(2),
                "step 2: give either `send` or `action`, not both",
            ),
            (
                Box::new(|s| s.steps[2].action = None),
                ScenarioError::NothingToDo(3),
                "step 3: give `send` or `action`",
            ),
            (
                Box::new(|s| s.steps[0].send = Some("NOOP\r\nRSET".into())),
                ScenarioError::LineBreakInSend(1),
                "step 1: `send` is one command line; CR and LF are added for you",
            ),
            (
                Box::new(|s| s.steps[0].send = Some("NOOP\u{1b}[2J".into())),
                ScenarioError::BadSend {
                    step: 1,
                    source: crate::smtp::validate::Problem::Control {
                        name: "an ESC (\\x1b)".into(),
                        position: 5,
                    },
                },
                "step 1: `send` holds an ESC (\\x1b) at position 5; a control character cannot go into this value (it would break the command line apart)",
            ),
            (
                Box::new(|s| s.steps[0].send = Some(format!("NOOP {}", "x".repeat(506)))),
                ScenarioError::BadSend {
                    step: 1,
                    source: crate::smtp::validate::Problem::TooLong {
                        len: 511,
                        max: 510,
                        what: "a command line",
                    },
                },
                "step 1: `send` is 511 octets long; RFC 5321 allows at most 510 for a command line",
            ),
            (
                Box::new(|s| s.steps[1].assert = None),
                ScenarioError::CheckWithoutAssert(2),
                "step 2: action \"check\" needs `assert`",
            ),
            (
                Box::new(|s| s.steps[2].sequence = None),
                ScenarioError::SmuggleWithoutSequence(3),
                "step 3: action \"smuggle\" needs `sequence`",
            ),
            (
                Box::new(|s| s.groups_per_session = Some(0)),
                ScenarioError::ZeroGroupsPerSession,
                "groups_per_session must be at least 1",
            ),
        ];
        for (change, want, says) in cases {
            let (got, text) = error_of(change);
            assert_eq!(got, want);
            assert_eq!(text, says);
        }
    }

    /// The first mistake in step order is the one reported, so the step number is right.
    #[test]
    fn the_first_bad_step_is_the_one_named() {
        let (e, _) = error_of(|s| {
            s.steps[1].assert = None;
            s.steps[2].sequence = None;
        });
        assert_eq!(e, ScenarioError::CheckWithoutAssert(2));
        // A 510-octet line is the longest allowed.
        let mut s = valid();
        s.steps[0].send = Some(format!("NOOP {}", "x".repeat(505)));
        assert_eq!(s.validate(), Ok(()));
    }

    #[test]
    fn unescape_handles_every_escape_and_reports_bad_ones() {
        assert_eq!(unescape("\\r\\n.\\r\\n").expect("ok"), b"\r\n.\r\n");
        assert_eq!(unescape("a\\x00b\\\\\\t").expect("ok"), b"a\x00b\\\t");
        assert_eq!(unescape("\\0").expect("ok"), b"\0");
        assert!(
            unescape("\\q")
                .expect_err("bad")
                .to_string()
                .contains("\\q at position 1")
        );
        assert!(unescape("\\x4").is_err());
        assert!(unescape("\\xzz").is_err());
        assert!(unescape("\\x+f").is_err(), "a sign is not a hex digit");
        assert!(unescape("\\x-1").is_err());
        assert!(
            unescape("\\é")
                .expect_err("bad")
                .to_string()
                .contains("\\é at position 1")
        );
        assert!(unescape("x\\").is_err());
    }
}
