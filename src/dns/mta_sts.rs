//! The MTA-STS policy file (RFC 8461 §3.2) and its MX patterns (§4.1): parsing and matching,
//! no I/O.

/// RFC 8461 §3.2: max_age is at most 31557600 seconds (a year).
pub const MAX_AGE_LIMIT: u64 = 31_557_600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Enforce,
    Testing,
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Policy {
    pub mode: Mode,
    pub mx: Vec<String>,
    pub max_age: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("line {line}: {text:?} is not \"key: value\"")]
    NotKeyValue { line: usize, text: String },
    #[error("no \"version: STSv1\" line")]
    NoVersion,
    #[error("line {line}: version {value:?}, wanted STSv1")]
    BadVersion { line: usize, value: String },
    #[error("no \"mode:\" line")]
    NoMode,
    #[error("line {line}: mode {value:?}, wanted enforce, testing or none")]
    BadMode { line: usize, value: String },
    #[error("no \"max_age:\" line")]
    NoMaxAge,
    #[error("line {line}: max_age {value:?} is not a number of seconds up to {MAX_AGE_LIMIT}")]
    BadMaxAge { line: usize, value: String },
    #[error("mode {mode} needs at least one \"mx:\" line")]
    NoMx { mode: &'static str },
    #[error("line {line}: {key} appears twice")]
    Repeated { line: usize, key: &'static str },
    #[error("the policy is not UTF-8 text")]
    NotText,
}

/// Parses a policy body. Lines end in CRLF or LF; unknown keys are ignored (§3.2).
pub fn parse(body: &[u8]) -> Result<Policy, PolicyError> {
    let text = std::str::from_utf8(body).map_err(|_| PolicyError::NotText)?;
    let mut version = None;
    let mut mode = None;
    let mut max_age = None;
    let mut mx = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = i + 1;
        let l = raw.strip_suffix('\r').unwrap_or(raw).trim();
        if l.is_empty() {
            continue;
        }
        let Some((key, value)) = l.split_once(':') else {
            return Err(PolicyError::NotKeyValue {
                line,
                text: l.to_string(),
            });
        };
        let value = value.trim();
        match key.trim() {
            "version" => {
                if version.is_some() {
                    return Err(PolicyError::Repeated {
                        line,
                        key: "version",
                    });
                }
                if value != "STSv1" {
                    return Err(PolicyError::BadVersion {
                        line,
                        value: value.into(),
                    });
                }
                version = Some(());
            }
            "mode" => {
                if mode.is_some() {
                    return Err(PolicyError::Repeated { line, key: "mode" });
                }
                mode = Some(match value {
                    "enforce" => Mode::Enforce,
                    "testing" => Mode::Testing,
                    "none" => Mode::None,
                    _ => {
                        return Err(PolicyError::BadMode {
                            line,
                            value: value.into(),
                        });
                    }
                });
            }
            "max_age" => {
                if max_age.is_some() {
                    return Err(PolicyError::Repeated {
                        line,
                        key: "max_age",
                    });
                }
                max_age = Some(
                    value
                        .parse::<u64>()
                        .ok()
                        .filter(|v| *v <= MAX_AGE_LIMIT && value.len() <= 10)
                        .ok_or_else(|| PolicyError::BadMaxAge {
                            line,
                            value: value.into(),
                        })?,
                );
            }
            "mx" => mx.push(value.to_ascii_lowercase()),
            _ => {}
        }
    }
    version.ok_or(PolicyError::NoVersion)?;
    let mode = mode.ok_or(PolicyError::NoMode)?;
    let max_age = max_age.ok_or(PolicyError::NoMaxAge)?;
    if mx.is_empty() && mode != Mode::None {
        return Err(PolicyError::NoMx {
            mode: mode.as_str(),
        });
    }
    Ok(Policy { mode, mx, max_age })
}

/// RFC 8461 §4.1: a pattern matches the host exactly, or "*.rest" matches one more label in
/// front of "rest" (never two). Case and a trailing dot do not matter.
pub fn mx_matches(pattern: &str, host: &str) -> bool {
    let p = pattern.trim_end_matches('.').to_ascii_lowercase();
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    match p.strip_prefix("*.") {
        Some(rest) => h
            .split_once('.')
            .is_some_and(|(first, tail)| !first.is_empty() && tail == rest),
        None => p == h,
    }
}

impl Policy {
    /// The pattern that covers `host`, if any.
    pub fn covering(&self, host: &str) -> Option<&str> {
        self.mx
            .iter()
            .find(|p| mx_matches(p, host))
            .map(String::as_str)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    #[test]
    fn a_typical_policy_parses() {
        let p = parse(
            b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n",
        )
        .unwrap();
        assert_eq!(p.mode, Mode::Enforce);
        assert_eq!(p.mx, ["mail.example.com", "*.example.net"]);
        assert_eq!(p.max_age, 604_800);
        assert_eq!(p.covering("MX1.example.net."), Some("*.example.net"));
        assert_eq!(p.covering("mail.example.com"), Some("mail.example.com"));
        assert_eq!(p.covering("other.example.com"), None);
    }

    #[test]
    fn wildcards_cover_exactly_one_label() {
        assert!(mx_matches("*.example.net", "a.example.net"));
        assert!(!mx_matches("*.example.net", "a.b.example.net"));
        assert!(!mx_matches("*.example.net", "example.net"));
        assert!(!mx_matches("*.example.net", ".example.net"));
        assert!(mx_matches("mail.example.net.", "MAIL.example.net"));
    }

    #[test]
    fn each_error_names_its_line() {
        let cases: [(&[u8], &str); 8] = [
            (
                b"mode: enforce\nmx: a\nmax_age: 1\n",
                "no \"version: STSv1\"",
            ),
            (b"version: STSv2\n", "line 1: version \"STSv2\""),
            (b"version: STSv1\nmode: strict\n", "line 2: mode \"strict\""),
            (b"version: STSv1\nmode: enforce\nmx: a\n", "no \"max_age:\""),
            (
                b"version: STSv1\nmode: enforce\nmx: a\nmax_age: 31557601\n",
                "line 4: max_age \"31557601\"",
            ),
            (
                b"version: STSv1\nmode: testing\nmax_age: 5\n",
                "mode testing needs",
            ),
            (b"version: STSv1\ngarbage\n", "line 2: \"garbage\""),
            (
                b"version: STSv1\nmode: none\nmode: enforce\n",
                "line 3: mode appears twice",
            ),
        ];
        for (body, want) in cases {
            let e = parse(body).unwrap_err().to_string();
            assert!(e.contains(want), "{want:?} in {e:?}");
        }
        // mode none may list no MX; unknown keys are ignored.
        let p = parse(b"version: STSv1\nmode: none\nmax_age: 86400\nextra: yes\n").unwrap();
        assert_eq!(p.mode, Mode::None);
        assert!(parse(&[0xff, 0xfe]).is_err());
    }
}
