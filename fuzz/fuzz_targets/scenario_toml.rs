//! Scenario files: arbitrary UTF-8 through the same TOML reader the catalogue uses
//! (`profile::parse_toml`, which turns errors into file:line:column), then `validate()` and
//! the accessors the catalogue and runner call. A smuggling sequence goes through `unescape`,
//! as the runner does.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use smtpscope::profile::{ProfileError, parse_toml};
use smtpscope::scenario::model::{Scenario, unescape};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_toml::<Scenario>(text, Path::new("fuzz.toml")) {
        Err(e) => {
            if let ProfileError::Parse { line, column, .. } = &e {
                assert!(*line >= 1 && *column >= 1);
                assert!(
                    *line <= text.matches('\n').count() + 1,
                    "line {line} past the end"
                );
            }
            assert!(!e.to_string().is_empty());
        }
        Ok(s) => {
            assert!(s.answers_to(&s.id));
            for alias in &s.aliases {
                assert!(s.answers_to(alias));
            }
            let label = s.label();
            assert!(label == s.id || s.aliases.iter().any(|a| a == label));
            match s.validate() {
                Ok(()) => {
                    assert!(!s.steps.is_empty());
                    assert!(!s.id.is_empty());
                    assert_ne!(s.groups_per_session, Some(0));
                    for step in &s.steps {
                        assert!(step.send.is_some() != step.action.is_some());
                        if let Some(line) = &step.send {
                            assert!(!line.contains(['\r', '\n']));
                        }
                    }
                }
                Err(reason) => assert!(!reason.is_empty()),
            }
            for step in &s.steps {
                if let Some(seq) = &step.sequence {
                    let _ = unescape(seq);
                }
            }
        }
    }
});
