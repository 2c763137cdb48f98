//! `smtpscope scenarios list|show`: the catalogue and its teaching text.

use std::fmt::Write;

use super::check::catalogue;
use crate::cli::ScenariosCmd;
use crate::scenario::Scenario;
use crate::scenario::catalogue::Origin;
use crate::scenario::verdict::expect_text;

/// The Relay 101 page, shown by `scenarios explain relay` and in the TUI's help.
pub const RELAY_101: &str = include_str!("../../assets/teaching/relay-101.txt");

pub fn run(cmd: ScenariosCmd) -> u8 {
    let cat = catalogue();
    match cmd {
        ScenariosCmd::List => {
            for e in &cat.entries {
                let s = &e.scenario;
                let tag = match (&e.origin, s.opt_in, s.default) {
                    (Origin::User(_), _, _) => "user",
                    (_, true, _) => "opt-in",
                    (_, _, true) => "default",
                    _ => "",
                };
                println!(
                    "{:<3} {:<22} {:<8} {}",
                    if s.label() != s.id { s.label() } else { "" },
                    s.id,
                    tag,
                    s.title
                );
            }
            #[cfg(feature = "dns")]
            println!(
                "{:<3} {:<22} {:<8} MX, SPF, DMARC, MTA-STS, TLS-RPT, DKIM records (with --domain)",
                "", "posture", "domain"
            );
            0
        }
        ScenariosCmd::Explain { topic } => match topic.to_ascii_lowercase().as_str() {
            "relay" | "relay-101" | "relay101" => {
                print!("{RELAY_101}");
                0
            }
            other => {
                eprintln!(
                    "smtpscope scenarios: no topic {other:?}; known: relay (or a scenario id: `scenarios show ID`)"
                );
                2
            }
        },
        #[cfg(feature = "dns")]
        ScenariosCmd::Show { id } if id.eq_ignore_ascii_case("posture") => {
            print!("{}", crate::dns::posture::explain());
            0
        }
        ScenariosCmd::Show { id } => match cat.find(&id) {
            Some(s) => {
                print!("{}", explain(s));
                0
            }
            None => {
                eprintln!(
                    "smtpscope scenarios: no scenario {id:?}; known: {}",
                    cat.ids().join(", ")
                );
                2
            }
        },
    }
}

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
