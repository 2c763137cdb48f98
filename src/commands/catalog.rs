//! `smtpscope scenarios list|show`: the catalogue and its teaching text.

use super::catalogue;
use crate::cli::ScenariosCmd;
use crate::scenario::catalogue::Origin;
use crate::scenario::teaching::{RELAY_101, explain};

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
                crate::outln!(
                    "{:<3} {:<22} {:<8} {}",
                    if s.label() != s.id { s.label() } else { "" },
                    s.id,
                    tag,
                    s.title
                );
            }
            #[cfg(feature = "dns")]
            crate::outln!(
                "{:<3} {:<22} {:<8} MX, SPF, DMARC, MTA-STS, TLS-RPT, DKIM records (with --domain)",
                "",
                "posture",
                "domain"
            );
            0
        }
        ScenariosCmd::Explain { topic } => match topic.to_ascii_lowercase().as_str() {
            "relay" | "relay-101" | "relay101" => {
                crate::out!("{RELAY_101}");
                0
            }
            other => {
                crate::errln!(
                    "smtpscope scenarios: no topic {other:?}; known: relay (or a scenario id: `scenarios show ID`)"
                );
                2
            }
        },
        #[cfg(feature = "dns")]
        ScenariosCmd::Show { id } if id.eq_ignore_ascii_case("posture") => {
            crate::out!("{}", crate::dns::posture::explain());
            0
        }
        ScenariosCmd::Show { id } => match cat.find(&id) {
            Some(s) => {
                crate::out!("{}", explain(s));
                0
            }
            None => {
                crate::errln!(
                    "smtpscope scenarios: no scenario {id:?}; known: {}",
                    cat.ids().join(", ")
                );
                2
            }
        },
    }
}
