//! The scenario catalogue: built-ins embedded at build time, plus the user's own from
//! `<config>/scenarios/*.toml`. A broken user file is reported and the rest still load.

use std::path::{Path, PathBuf};

use super::model::{Scenario, ScenarioError};
use crate::profile::{ProfileError, parse_toml};

/// Built-in scenarios, in catalogue order.
const BUILT_IN: &[(&str, &str)] = &[
    (
        "unauth-relay.toml",
        include_str!("../../assets/scenarios/unauth-relay.toml"),
    ),
    (
        "auth-relay-approved.toml",
        include_str!("../../assets/scenarios/auth-relay-approved.toml"),
    ),
    (
        "auth-relay-disallowed.toml",
        include_str!("../../assets/scenarios/auth-relay-disallowed.toml"),
    ),
    (
        "local-delivery.toml",
        include_str!("../../assets/scenarios/local-delivery.toml"),
    ),
    (
        "relay-tricks.toml",
        include_str!("../../assets/scenarios/relay-tricks.toml"),
    ),
    (
        "starttls.toml",
        include_str!("../../assets/scenarios/starttls.toml"),
    ),
    (
        "auth-needs-tls.toml",
        include_str!("../../assets/scenarios/auth-needs-tls.toml"),
    ),
    (
        "sender-spoofing.toml",
        include_str!("../../assets/scenarios/sender-spoofing.toml"),
    ),
    (
        "vrfy-expn.toml",
        include_str!("../../assets/scenarios/vrfy-expn.toml"),
    ),
    (
        "smuggling.toml",
        include_str!("../../assets/scenarios/smuggling.toml"),
    ),
];

/// Where a scenario came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    BuiltIn,
    User(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub scenario: Scenario,
    pub origin: Origin,
}

/// A scenario file that did not load, and where.
#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    /// Already says file:line:column.
    #[error(transparent)]
    Syntax(ProfileError),
    #[error("{}: {source}", path.display())]
    Invalid {
        path: PathBuf,
        source: ScenarioError,
    },
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {}", .0.path().display(), .0)]
    Unreadable(#[source] crate::bounded_read::ReadError),
    #[error("{}: id or alias of {id:?} is already used by scenario {other:?}", path.display())]
    Clash {
        path: PathBuf,
        id: String,
        other: String,
    },
}

#[derive(Debug, Default)]
pub struct Catalogue {
    pub entries: Vec<Entry>,
    /// Files that could not be loaded.
    pub errors: Vec<CatalogueError>,
}

fn parse(text: &str, path: &Path) -> Result<Scenario, CatalogueError> {
    let scenario: Scenario = parse_toml(text, path).map_err(CatalogueError::Syntax)?;
    scenario
        .validate()
        .map_err(|source| CatalogueError::Invalid {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(scenario)
}

/// The largest built-in scenario is a few KB; a file near this size is the wrong file.
const SCENARIO_FILE_LIMIT: crate::bounded_read::Limit = crate::bounded_read::Limit {
    bytes: crate::bounded_read::MIB,
    what: "a scenario file",
};

impl Catalogue {
    /// The built-ins alone. They are tested to parse, so errors here mean a broken build.
    pub fn built_in() -> Catalogue {
        let mut cat = Catalogue::default();
        for (name, text) in BUILT_IN {
            let path = Path::new("assets/scenarios").join(name);
            match parse(text, &path) {
                Ok(scenario) => cat.entries.push(Entry {
                    scenario,
                    origin: Origin::BuiltIn,
                }),
                Err(e) => cat.errors.push(e),
            }
        }
        cat
    }

    /// The built-ins plus every `*.toml` in `dir` (missing directory: none).
    pub fn with_user_dir(dir: &Path) -> Catalogue {
        let mut cat = Self::built_in();
        let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                cat.errors.push(CatalogueError::Read {
                    path: dir.to_path_buf(),
                    source,
                });
                Vec::new()
            }
        };
        files.sort();
        for path in files {
            let loaded = crate::bounded_read::read_regular_to_string(&path, SCENARIO_FILE_LIMIT)
                .map_err(CatalogueError::Unreadable)
                .and_then(|text| parse(&text, &path));
            match loaded {
                Ok(s) => {
                    let clash = cat.entries.iter().find(|e| {
                        e.scenario.answers_to(&s.id)
                            || s.aliases.iter().any(|a| e.scenario.answers_to(a))
                    });
                    match clash {
                        Some(other) => cat.errors.push(CatalogueError::Clash {
                            id: s.id.clone(),
                            other: other.scenario.id.clone(),
                            path,
                        }),
                        None => cat.entries.push(Entry {
                            scenario: s,
                            origin: Origin::User(path),
                        }),
                    }
                }
                Err(e) => cat.errors.push(e),
            }
        }
        cat
    }

    /// The built-ins plus the user's own, from `<config>/scenarios` (or
    /// `$SMTPSCOPE_CONFIG_DIR/scenarios`). Files that do not load are in `errors`.
    pub fn for_user() -> Catalogue {
        match crate::profile::config_dir() {
            Ok(dir) => Self::with_user_dir(&dir.join("scenarios")),
            Err(_) => Self::built_in(),
        }
    }

    pub fn find(&self, name: &str) -> Option<&Scenario> {
        self.entries
            .iter()
            .map(|e| &e.scenario)
            .find(|s| s.answers_to(name))
    }

    /// The `--all` set.
    pub fn defaults(&self) -> Vec<&Scenario> {
        self.entries
            .iter()
            .map(|e| &e.scenario)
            .filter(|s| s.default && !s.opt_in)
            .collect()
    }

    pub fn ids(&self) -> Vec<&str> {
        self.entries
            .iter()
            .map(|e| e.scenario.id.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_parses_and_is_listed() {
        let cat = Catalogue::built_in();
        assert!(cat.errors.is_empty(), "{:?}", cat.errors);
        let on_disk: Vec<String> =
            std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/scenarios"))
                .expect("assets dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".toml"))
                .collect();
        assert_eq!(
            on_disk.len(),
            BUILT_IN.len(),
            "every asset is embedded: {on_disk:?}"
        );
        for (name, _) in BUILT_IN {
            assert!(on_disk.iter().any(|n| n == name), "{name} missing on disk");
        }
        for (alias, id) in [
            ("A", "unauth-relay"),
            ("b", "auth-relay-approved"),
            ("C", "auth-relay-disallowed"),
        ] {
            assert_eq!(cat.find(alias).map(|s| s.id.as_str()), Some(id));
        }
        let defaults: Vec<&str> = cat.defaults().iter().map(|s| s.id.as_str()).collect();
        assert_eq!(defaults.len(), 9, "{defaults:?}");
        assert!(!defaults.contains(&"smuggling"), "smuggling is opt-in");
        for s in cat.entries.iter().map(|e| &e.scenario) {
            assert!(
                !s.fix.summary.is_empty()
                    && s.fix.postfix.is_some()
                    && s.fix.exim.is_some()
                    && s.fix.opensmtpd.is_some(),
                "{} lacks fixes",
                s.id
            );
            assert!(s.why.len() > 100, "{} needs teaching text", s.id);
        }
    }

    #[test]
    fn broken_user_files_are_reported_and_the_rest_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("bad.toml"), "id = \"x\"\ntitle = 3\n").expect("write");
        std::fs::write(
            dir.path().join("good.toml"),
            "id = \"my-check\"\ntitle = \"Mine\"\ntests = \"t\"\nwhy = \"w\"\n[fix]\nsummary = \"s\"\n[[steps]]\nsend = \"NOOP\"\nexpect = \"accept\"\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("clash.toml"),
            "id = \"mine-too\"\naliases = [\"A\"]\ntitle = \"x\"\ntests = \"t\"\nwhy = \"w\"\n[fix]\nsummary = \"s\"\n[[steps]]\nsend = \"NOOP\"\nexpect = \"accept\"\n",
        )
        .expect("write");
        let cat = Catalogue::with_user_dir(dir.path());
        assert!(cat.find("my-check").is_some());
        assert_eq!(cat.errors.len(), 2, "{:?}", cat.errors);
        let errors: Vec<String> = cat.errors.iter().map(ToString::to_string).collect();
        let bad = errors
            .iter()
            .find(|e| e.contains("bad.toml"))
            .expect("bad reported");
        assert!(bad.contains("bad.toml:2:9"), "{bad}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("clash.toml") && e.contains("already used"))
        );
        assert!(
            cat.errors
                .iter()
                .any(|e| matches!(e, CatalogueError::Clash { id, other, .. }
                    if id == "mine-too" && other == "unauth-relay"))
        );
    }
}
