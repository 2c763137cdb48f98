//! `smtpscope profiles list|show|path`.

use crate::cli::ProfilesCmd;
use crate::profile::ProfileStore;

pub fn run(cmd: ProfilesCmd) -> u8 {
    let store = match ProfileStore::from_env() {
        Ok(s) => s,
        Err(e) => {
            crate::errln!("smtpscope profiles: {e}");
            return 2;
        }
    };
    match cmd {
        ProfilesCmd::Path => {
            crate::outln!("{}", store.dir().display());
            0
        }
        ProfilesCmd::List => match store.list() {
            Ok(list) if list.is_empty() => {
                crate::outln!("no profiles in {}", store.dir().display());
                0
            }
            Ok(list) => {
                let mut broken = false;
                for (name, p) in list {
                    match p {
                        Ok(p) => crate::outln!(
                            "{name:<20} {:<28} tls={:<9} auth={}",
                            p.server,
                            format!("{:?}", p.tls).to_lowercase(),
                            p.auth.as_ref().map_or("-".to_string(), |a| format!(
                                "{} ({})",
                                a.username,
                                a.mechanism.name()
                            ))
                        ),
                        Err(e) => {
                            broken = true;
                            crate::outln!("{name:<20} BROKEN: {e}");
                        }
                    }
                }
                if broken { 2 } else { 0 }
            }
            Err(e) => {
                crate::errln!("smtpscope profiles: {e}");
                2
            }
        },
        ProfilesCmd::Show { name } => match store.load(&name) {
            Ok(p) => {
                if p.auth.as_ref().is_some_and(|a| a.password.is_some()) {
                    crate::outln!("# this profile's file holds a plain password (not shown)");
                }
                for w in p.warnings() {
                    crate::outln!("# warning: {w}");
                }
                match p.to_toml() {
                    Ok(t) => {
                        crate::out!("{t}");
                        0
                    }
                    Err(e) => {
                        crate::errln!("smtpscope profiles: {e}");
                        2
                    }
                }
            }
            Err(e) => {
                crate::errln!("smtpscope profiles: {e}");
                2
            }
        },
    }
}
