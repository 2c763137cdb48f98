//! The teaching texts: Relay 101 and each scenario's full explanation, shown by
//! `scenarios explain|show` and in the TUI.

use std::fmt::Write;

use super::Scenario;
use super::verdict::expect_text;

/// The Relay 101 page, shown by `scenarios explain relay` and in the TUI's help.
pub const RELAY_101: &str = include_str!("../../assets/teaching/relay-101.txt");

/// The full teaching text of a scenario.
pub fn explain(s: &Scenario) -> String {
    let mut out = String::new();
    let aliases = if s.aliases.is_empty() {
        String::new()
    } else {
        format!(" ({})", s.aliases.join(", "))
    };
    let _ = writeln!(out, "{}{aliases}: {}\n", s.id, s.title);
    let _ = writeln!(out, "What it tests\n  {}\n", s.tests.trim());
    let _ = writeln!(out, "Why it matters");
    for line in s.why.trim().lines() {
        let _ = writeln!(out, "  {line}");
    }
    let _ = writeln!(out, "\nSteps");
    for (i, st) in s.steps.iter().enumerate() {
        let what = st
            .send
            .clone()
            .or_else(|| st.action.map(|a| format!("({a:?})").to_lowercase()))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:>2}. {:<48} expect {}",
            i + 1,
            what,
            expect_text(st.expect)
        );
    }
    let _ = writeln!(out, "\nHow to fix a failure\n  {}", s.fix.summary.trim());
    for (name, text) in [
        ("Postfix", &s.fix.postfix),
        ("Exim", &s.fix.exim),
        ("OpenSMTPD", &s.fix.opensmtpd),
    ] {
        if let Some(t) = text {
            let _ = writeln!(out, "\n  {name}:");
            for line in t.trim().lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    out
}
