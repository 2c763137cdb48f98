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

    /// The profile after the current one, wrapping around; none when there are none.
    pub fn next_index(&self) -> Option<usize> {
        (!self.entries.is_empty()).then(|| (self.current + 1) % self.entries.len())
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

    /// Forgets the profile, back to the first one.
    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|p| p.name != name);
        self.current = 0;
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
