//! The profiles the operator can switch between, and which one is in use.

use crate::profile::Profile;

/// A profile as the TUI knows it: saved on disk, or kept in memory (the lab's).
#[derive(Debug, Clone)]
pub struct ProfileEntry {
    pub name: String,
    pub profile: Profile,
    pub saved: bool,
}

#[derive(Debug, Default)]
pub struct Profiles {
    pub entries: Vec<ProfileEntry>,
    current: usize,
}

impl Profiles {
    pub fn new(entries: Vec<ProfileEntry>) -> Profiles {
        Profiles {
            entries,
            current: 0,
        }
    }

    pub fn current(&self) -> Option<&ProfileEntry> {
        self.entries.get(self.current)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|p| p.name == name)
    }

    pub fn select(&mut self, i: usize) {
        self.current = i;
    }

    pub fn current_index(&self) -> usize {
        self.current
    }

    /// Records a profile as saved on disk, replacing one of the same name. Selecting it is a
    /// switch of profile, which is the caller's (the connection and the toggles change too).
    pub fn saved(&mut self, name: &str, profile: Profile) {
        match self.position(name) {
            Some(i) => {
                self.entries[i].profile = profile;
                self.entries[i].saved = true;
            }
            None => {
                self.entries.push(ProfileEntry {
                    name: name.to_string(),
                    profile,
                    saved: true,
                });
            }
        }
    }

    /// Forgets the profile. The current one stays current; if it was this one, the first.
    pub fn remove(&mut self, name: &str) {
        let current = self.current().map(|p| p.name.clone());
        self.entries.retain(|p| p.name != name);
        self.current = current.and_then(|c| self.position(&c)).unwrap_or(0);
    }

    /// Gives a profile another name; false if there is none of that name.
    pub fn rename(&mut self, from: &str, to: &str) -> bool {
        match self.position(from) {
            Some(i) => {
                self.entries[i].name = to.to_string();
                true
            }
            None => false,
        }
    }

    /// The profiles as the config directory now has them, read again: new files appear,
    /// changed ones are updated, deleted ones go (unless current: it stays, in memory), and
    /// the profiles kept in memory only (the labs) stay. The current profile stays current.
    /// Returns the names whose settings changed, whose verdicts are about another server.
    pub fn refresh(&mut self, on_disk: Vec<(String, Profile)>) -> Vec<String> {
        let current = self.current().map(|p| p.name.clone());
        let mut changed = Vec::new();
        self.entries.retain_mut(|e| {
            if !e.saved {
                return true;
            }
            if on_disk.iter().any(|(n, _)| *n == e.name) {
                return true;
            }
            if current.as_deref() == Some(e.name.as_str()) {
                e.saved = false;
                return true;
            }
            changed.push(e.name.clone());
            false
        });
        for (name, profile) in on_disk {
            match self.position(&name) {
                Some(i) => {
                    let e = &mut self.entries[i];
                    if e.saved && e.profile != profile {
                        changed.push(name.clone());
                        e.profile = profile;
                    }
                }
                None => self.entries.push(ProfileEntry {
                    name,
                    profile,
                    saved: true,
                }),
            }
        }
        self.current = current.and_then(|c| self.position(&c)).unwrap_or(0);
        changed
    }

    /// True when the current profile says nowhere where its password comes from (or has no
    /// [auth] at all), so the operator has to type it.
    pub fn current_lacks_password_source(&self) -> bool {
        self.current().is_some_and(|p| {
            p.profile.auth.as_ref().is_none_or(|a| {
                a.password_env.is_none() && a.password_command.is_none() && a.password.is_none()
            })
        })
    }
}

/// The profile list over the screen, and the name being typed for a new, renamed or
/// duplicated profile.
#[derive(Debug, Default)]
pub struct ProfilePicker {
    pub selected: usize,
    pub naming: Option<Naming>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameFor {
    New,
    Rename { from: String },
    Duplicate { from: String },
}

#[derive(Debug)]
pub struct Naming {
    pub purpose: NameFor,
    pub input: String,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, server: &str, saved: bool) -> ProfileEntry {
        ProfileEntry {
            name: name.into(),
            profile: Profile {
                server: server.into(),
                ..Profile::default()
            },
            saved,
        }
    }

    fn on_disk(list: &[(&str, &str)]) -> Vec<(String, Profile)> {
        list.iter()
            .map(|(n, s)| {
                (
                    n.to_string(),
                    Profile {
                        server: s.to_string(),
                        ..Profile::default()
                    },
                )
            })
            .collect()
    }

    #[test]
    fn refresh_adds_updates_and_drops_saved_profiles_and_keeps_the_rest() {
        let mut p = Profiles::new(vec![
            entry("lab-open", "127.0.0.1:1", false),
            entry("mx", "mx:25", true),
            entry("gone", "gone:25", true),
            entry("cur", "cur:25", true),
        ]);
        p.select(3);
        let changed = p.refresh(on_disk(&[("mx", "mx2:25"), ("hand", "hand:25")]));
        let names: Vec<&str> = p.entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["lab-open", "mx", "cur", "hand"]);
        assert_eq!(p.current().map(|e| e.name.as_str()), Some("cur"));
        assert!(
            !p.entries[2].saved,
            "the current one, gone from disk, stays in memory"
        );
        assert_eq!(p.entries[1].profile.server, "mx2:25");
        assert!(changed.contains(&"mx".to_string()) && changed.contains(&"gone".to_string()));
        assert!(!changed.contains(&"lab-open".to_string()));
    }

    #[test]
    fn removing_another_profile_keeps_the_current_one() {
        let mut p = Profiles::new(vec![entry("a", "a", true), entry("b", "b", true)]);
        p.select(1);
        p.remove("a");
        assert_eq!(p.current().map(|e| e.name.as_str()), Some("b"));
        assert!(p.rename("b", "c"));
        assert!(!p.rename("b", "d"));
        assert_eq!(p.current().map(|e| e.name.as_str()), Some("c"));
    }
}
