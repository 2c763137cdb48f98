//! The settings for the next connection (F2 to F7), and the one table that says how each
//! cycles and reads: the key handler, its notice and the toggles bar all go through it.

use secrecy::SecretString;

use crate::net::TlsMode;
use crate::net::tls::Trust;
use crate::profile::{Profile, Verify};
use crate::smtp::auth::Mechanism;
use crate::target::{AuthOverrides, Overrides, PasswordSource};

/// Settings for the next connection, always visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Toggles {
    pub tls: TlsMode,
    pub require_tls: bool,
    pub verify: Verify,
    pub auth: bool,
    pub mechanism: Mechanism,
    pub send_data: bool,
}

impl Toggles {
    /// The toggles as overrides of `profile`, for [`crate::target::resolve`]: the TUI's share of
    /// target resolution, as flags are the command line's.
    pub fn overrides(&self, profile: &Profile, typed_password: Option<SecretString>) -> Overrides {
        let (trust, insecure) = match self.verify {
            Verify::Platform => (Trust::Platform, false),
            Verify::Mozilla => (Trust::Mozilla, false),
            Verify::Insecure => (
                if profile.verify == Verify::Mozilla {
                    Trust::Mozilla
                } else {
                    Trust::Platform
                },
                true,
            ),
        };
        Overrides {
            tls: Some(self.tls),
            require_tls: Some(self.require_tls),
            trust: Some(trust),
            insecure: Some(insecure),
            auth: AuthOverrides {
                enabled: Some(self.auth),
                // The mechanism toggle only chooses among the profile's credentials.
                mechanism: profile.auth.is_some().then_some(self.mechanism),
                user: None,
                password: typed_password.map(PasswordSource::Given),
                may_prompt: false,
            },
            ..Overrides::default()
        }
    }

    /// Moves `toggle` to its next value; returns the change as the notice words it.
    pub fn cycle(&mut self, toggle: Toggle) -> Option<String> {
        let spec = toggle.spec()?;
        (spec.cycle)(self);
        Some(format!("{}: {}", spec.name, (spec.value)(self)))
    }

    pub fn from_profile(p: &Profile) -> Toggles {
        Toggles {
            tls: p.tls,
            require_tls: p.require_tls,
            verify: p.verify,
            auth: p.auth.is_some(),
            mechanism: p.auth.as_ref().map_or(Mechanism::Plain, |a| a.mechanism),
            send_data: false,
        }
    }
}

/// One of the settings on the toggles bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Toggle {
    Tls,
    RequireTls,
    Verify,
    Auth,
    Mechanism,
    SendData,
}

/// How a toggle changes and reads.
pub struct ToggleSpec {
    pub toggle: Toggle,
    /// In the notice after a change, before the value.
    pub name: &'static str,
    /// On the toggles bar, between the key and the value.
    pub tag: &'static str,
    /// Moves the setting to its next value.
    pub cycle: fn(&mut Toggles),
    pub value: fn(&Toggles) -> &'static str,
    /// True when the value weakens the connection, to show it as a warning.
    pub alarming: fn(&Toggles) -> bool,
}

/// In the order the toggles bar shows them.
pub const TOGGLES: &[ToggleSpec] = &[
    ToggleSpec {
        toggle: Toggle::Tls,
        name: "TLS mode",
        tag: "tls:",
        cycle: |t| {
            t.tls = match t.tls {
                TlsMode::None => TlsMode::Starttls,
                TlsMode::Starttls => TlsMode::Implicit,
                TlsMode::Implicit => TlsMode::None,
            }
        },
        value: |t| tls_name(t.tls),
        alarming: |_| false,
    },
    ToggleSpec {
        toggle: Toggle::RequireTls,
        name: "require TLS",
        tag: "req:",
        cycle: |t| t.require_tls = !t.require_tls,
        value: |t| on_off(t.require_tls),
        alarming: |_| false,
    },
    ToggleSpec {
        toggle: Toggle::Verify,
        name: "certificate verification",
        tag: "cert:",
        cycle: |t| {
            t.verify = match t.verify {
                Verify::Platform => Verify::Mozilla,
                Verify::Mozilla => Verify::Insecure,
                Verify::Insecure => Verify::Platform,
            }
        },
        value: |t| verify_name(t.verify),
        alarming: |t| t.verify == Verify::Insecure,
    },
    ToggleSpec {
        toggle: Toggle::Auth,
        name: "AUTH",
        tag: "auth:",
        cycle: |t| t.auth = !t.auth,
        value: |t| on_off(t.auth),
        alarming: |_| false,
    },
    ToggleSpec {
        toggle: Toggle::Mechanism,
        name: "AUTH mechanism",
        // The mechanism's name says what it is.
        tag: "",
        cycle: |t| {
            let all = Mechanism::ALL;
            let i = all.iter().position(|m| *m == t.mechanism).unwrap_or(0);
            t.mechanism = all[(i + 1) % all.len()];
        },
        value: |t| t.mechanism.name(),
        alarming: |_| false,
    },
    ToggleSpec {
        toggle: Toggle::SendData,
        name: "send data after an accepted RCPT",
        tag: "data:",
        cycle: |t| t.send_data = !t.send_data,
        value: |t| on_off(t.send_data),
        alarming: |_| false,
    },
];

impl Toggle {
    pub fn spec(self) -> Option<&'static ToggleSpec> {
        TOGGLES.iter().find(|s| s.toggle == self)
    }
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

fn tls_name(t: TlsMode) -> &'static str {
    match t {
        TlsMode::None => "none",
        TlsMode::Starttls => "STARTTLS",
        TlsMode::Implicit => "implicit",
    }
}

fn verify_name(v: Verify) -> &'static str {
    match v {
        Verify::Platform => "platform",
        Verify::Mozilla => "mozilla",
        Verify::Insecure => "INSECURE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_toggle_cycles_and_words_its_notice() {
        let mut t = Toggles {
            tls: TlsMode::Starttls,
            require_tls: false,
            verify: Verify::Mozilla,
            auth: true,
            mechanism: Mechanism::Plain,
            send_data: false,
        };
        let said: Vec<_> = TOGGLES.iter().filter_map(|s| t.cycle(s.toggle)).collect();
        assert_eq!(
            said,
            [
                "TLS mode: implicit",
                "require TLS: on",
                "certificate verification: INSECURE",
                "AUTH: off",
                "AUTH mechanism: LOGIN",
                "send data after an accepted RCPT: on",
            ]
        );
        let alarming: Vec<_> = TOGGLES.iter().filter(|s| (s.alarming)(&t)).collect();
        assert!(matches!(alarming.as_slice(), [s] if s.toggle == Toggle::Verify));
    }
}
