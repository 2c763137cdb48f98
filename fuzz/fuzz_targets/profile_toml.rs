//! Profile::parse on arbitrary UTF-8; when it succeeds, to_toml must succeed and parse back to
//! the same profile. Two differences are by design and normalised before comparing: a plain
//! `password` is read but never written back, and NaN timeouts compare unequal to themselves.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use smtpscope::profile::{Profile, ProfileError};

/// The profile as it should come back from a write: no password; NaN made comparable.
fn normalised(p: &Profile) -> (Profile, Option<bool>) {
    let mut p = p.clone();
    if let Some(a) = p.auth.as_mut() {
        a.password = None;
    }
    let nan = p.timeout_secs.map(f64::is_nan);
    if nan == Some(true) {
        p.timeout_secs = None;
    }
    (p, nan)
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("profiles/fuzz.toml");
    let first = match Profile::parse(text, path) {
        Ok(p) => p,
        Err(e) => {
            if let ProfileError::Parse { line, column, .. } = &e {
                assert!(*line >= 1 && *column >= 1);
            }
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let _ = first.warnings();
    let written = match first.to_toml() {
        Ok(t) => t,
        Err(e) => panic!("to_toml failed for a parsed profile: {e}\nprofile: {first:?}"),
    };
    assert!(
        !written.contains("password ="),
        "a password was written:\n{written}"
    );
    let second = match Profile::parse(&written, path) {
        Ok(p) => p,
        Err(e) => panic!("the written profile does not parse: {e}\nwritten:\n{written}"),
    };
    assert_eq!(
        normalised(&first),
        normalised(&second),
        "round trip changed the profile\nwritten:\n{written}"
    );
    // Writing again gives the same text.
    assert_eq!(second.to_toml().ok().as_deref(), Some(written.as_str()));
});
