//! Skipped fixtures made visible. A test whose fixture (Postfix, dnsmasq, a tool) is missing
//! returns early and passes, which looks like any other pass; so each one also appends a line
//! to a ledger in `target/`, and `tests/zz_skipped.rs` (named to run after the other test
//! binaries) prints one summary line at the end of `cargo test`: "N tests skipped their
//! fixture: ...".
//!
//! A line is `<cargo's pid>\t<test binary>\t<test>\t<why>`: the test binaries of one
//! `cargo test` share their parent, so the summary reports this run only, and drops lines
//! left by runs that are over (a single `--test` run, or one that stopped at a failure).

use std::io::Write as _;
use std::path::PathBuf;

/// Where skips are recorded: `target/tmp/fixture-skips.log`.
pub fn ledger() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fixture-skips.log")
}

/// Records that `test` skipped because `why`, and says so on stderr as before.
pub fn skipped(test: &str, why: &str) {
    eprintln!("SKIPPED: {test}: {why}");
    let binary = std::env::args()
        .next()
        .and_then(|a| {
            std::path::Path::new(&a)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .map(|stem| match stem.rsplit_once('-') {
            // Cargo names test binaries `<target>-<16 hex digits>`.
            Some((name, hash)) if hash.len() == 16 => name.to_string(),
            _ => stem,
        })
        .unwrap_or_default();
    let line = format!(
        "{}\t{binary}\t{test}\t{}\n",
        std::os::unix::process::parent_id(),
        why.replace(['\t', '\n'], " ")
    );
    // One write of a short line to a file opened for appending: lines from test binaries
    // and threads running at once do not interleave.
    let appended = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(ledger())
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = appended {
        eprintln!("(could not record the skip in {}: {e})", ledger().display());
    }
}
