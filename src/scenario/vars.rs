//! `{variables}` in scenario steps: from the profile's [relay] addresses, the credentials, and
//! what the server says about itself.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::advice::{Control, FrontEnd};
use crate::profile::RelayAddresses;

/// Variables the server supplies at run time; always available.
pub const RUNTIME: &[&str] = &["server_name", "server_ip", "server_literal"];

/// Which setting provides a variable, for "set X" messages; the front end names it.
pub fn setting_of(var: &str) -> Control {
    let (key, flag) = match var {
        "local_recipient" | "local_domain" | "unknown_local_user" => {
            ("[relay] local_recipient", "--local-recipient")
        }
        "external_sender" | "sender_local" => ("[relay] external_sender", "--external-sender"),
        "external_recipient" | "external_local" | "external_domain" => {
            ("[relay] external_recipient", "--external-recipient")
        }
        "approved_recipient" => ("[relay] approved_recipient", "--approved-recipient"),
        "disallowed_recipient" => ("[relay] disallowed_recipient", "--disallowed-recipient"),
        "other_local_sender" => ("[relay] other_local_sender", "--other-local-sender"),
        "auth_sender" => (
            "[relay] auth_sender, or an [auth] username that is an address",
            "--auth-sender",
        ),
        "username" => ("[auth] username", "--user"),
        "helo" => ("helo", "--helo"),
        _ => ("a variable smtpscope does not know", "no flag"),
    };
    Control::Setting(key, flag)
}

/// [`setting_of`] as the command line names it.
pub fn source_of(var: &str) -> String {
    FrontEnd::Cli.name(setting_of(var))
}

/// Why a variable has no value, and where to give it one.
fn unset_text(name: &str) -> String {
    match name {
        "server_ip" | "server_literal" => format!(
            "the variable {name} is not known: the server's address is learned from the connection, and over a pipe, a UNIX socket or SOCKS5 there is none"
        ),
        _ => format!("the variable {name} is not set: set {}", source_of(name)),
    }
}

/// How a variable not known yet reads in a command shown to a person.
fn in_words(name: &str) -> String {
    match name {
        "server_name" => "(the server's name)".into(),
        "server_ip" => "(the server's address)".into(),
        "server_literal" => "(the server's address literal)".into(),
        other => format!("({} not set)", other.replace('_', " ")),
    }
}

/// A template that cannot be filled in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VarError {
    #[error("unclosed '{{' in {template:?}")]
    Unclosed { template: String },
    #[error("{}", unset_text(name))]
    Unset { name: String },
}

/// The variables known before connecting.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    values: BTreeMap<String, String>,
}

fn split(addr: &str) -> Option<(&str, &str)> {
    addr.rsplit_once('@')
        .filter(|(l, d)| !l.is_empty() && !d.is_empty())
}

impl Vars {
    pub fn new(helo: &str, relay: &RelayAddresses, username: Option<&str>) -> Vars {
        let mut v = BTreeMap::new();
        let mut put = |k: &str, val: &str| {
            v.insert(k.to_string(), val.to_string());
        };
        put("helo", helo);
        if let Some(a) = &relay.local_recipient {
            put("local_recipient", a);
            if let Some((_, d)) = split(a) {
                put("local_domain", d);
                put(
                    "unknown_local_user",
                    &format!("smtpscope-no-such-user-7f3a@{d}"),
                );
            }
        }
        if let Some(a) = &relay.external_sender {
            put("external_sender", a);
            put("sender_local", split(a).map_or(a.as_str(), |(l, _)| l));
        }
        if let Some(a) = &relay.external_recipient {
            put("external_recipient", a);
            if let Some((l, d)) = split(a) {
                put("external_local", l);
                put("external_domain", d);
            }
        }
        for (k, val) in [
            ("approved_recipient", &relay.approved_recipient),
            ("disallowed_recipient", &relay.disallowed_recipient),
            ("other_local_sender", &relay.other_local_sender),
        ] {
            if let Some(a) = val {
                put(k, a);
            }
        }
        if let Some(u) = username {
            put("username", u);
        }
        let sender = relay
            .auth_sender
            .as_deref()
            .or(username.filter(|u| u.contains('@')));
        if let Some(s) = sender {
            put("auth_sender", s);
        }
        Vars { values: v }
    }

    /// Adds what the server told us: its name (from the banner) and address.
    pub fn with_server(&self, name: &str, ip: Option<IpAddr>) -> Vars {
        let mut v = self.clone();
        v.values.insert("server_name".into(), name.to_string());
        if let Some(ip) = ip {
            v.values.insert("server_ip".into(), ip.to_string());
            let literal = match ip {
                IpAddr::V4(a) => format!("[{a}]"),
                IpAddr::V6(a) => format!("[IPv6:{a}]"),
            };
            v.values.insert("server_literal".into(), literal);
        }
        v
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The variables a template uses that are neither known nor supplied at run time.
    pub fn missing(&self, template: &str) -> Vec<String> {
        names(template)
            .into_iter()
            .filter(|n| !RUNTIME.contains(&n.as_str()) && !self.values.contains_key(n))
            .collect()
    }

    /// Fills in `{name}`s. Unknown names are an error naming them.
    pub fn expand(&self, template: &str) -> Result<String, VarError> {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| VarError::Unclosed {
                template: template.to_string(),
            })?;
            let name = &after[..close];
            let value = self.get(name).ok_or_else(|| VarError::Unset {
                name: name.to_string(),
            })?;
            out.push_str(value);
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl Vars {
    /// A template for a person to read: what is known filled in, what is not (the server's
    /// name before it greeted, a setting left out) said in words. Never shows a `{name}`.
    pub fn display(&self, template: &str) -> String {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                // An unclosed brace is text, not a variable.
                out.push_str(&rest[open..]);
                return out;
            };
            let name = &after[..close];
            match self.get(name) {
                Some(v) => out.push_str(v),
                None => out.push_str(&in_words(name)),
            }
            rest = &after[close + 1..];
        }
        out.push_str(rest);
        out
    }
}

/// True if `text` holds something that looks like an unfilled `{variable}` (a name of
/// lowercase letters, digits and underscores in braces): such text must never reach a reader.
pub fn has_placeholder(text: &str) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let name = &after[..close];
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            {
                return true;
            }
        }
        rest = after;
    }
    false
}

/// Variable names in a template.
pub fn names(template: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) => {
                out.push(after[..close].to_string());
                rest = &after[close + 1..];
            }
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn relay() -> RelayAddresses {
        RelayAddresses {
            local_recipient: Some("postmaster@lab.example".into()),
            external_sender: Some("antispam@outside.example.net".into()),
            external_recipient: Some("relaytest@elsewhere.example.org".into()),
            ..Default::default()
        }
    }

    #[test]
    fn derived_parts_and_server_values_expand() {
        let mut r = relay();
        r.auth_sender = Some("bob@lab.example".into());
        let v = Vars::new("probe.test", &r, Some("bob"))
            .with_server("mail.lab.example", Some("127.0.0.1".parse().expect("ip")));
        assert_eq!(
            v.expand("<{external_local}%{external_domain}@{server_literal}>")
                .expect("ok"),
            "<relaytest%elsewhere.example.org@[127.0.0.1]>"
        );
        assert_eq!(
            v.expand("<{sender_local}@{server_name}>").expect("ok"),
            "<antispam@mail.lab.example>"
        );
        assert_eq!(v.expand("{auth_sender}").expect("ok"), "bob@lab.example");
        assert!(
            v.expand("{unknown_local_user}")
                .expect("ok")
                .ends_with("@lab.example")
        );
        let v6 = v.with_server("x", Some("::1".parse().expect("ip")));
        assert_eq!(v6.get("server_literal"), Some("[IPv6:::1]"));
    }

    #[test]
    fn display_fills_what_is_known_and_words_the_rest() {
        let v = Vars::new("probe.test", &relay(), None);
        assert_eq!(
            v.display("MAIL FROM:<{sender_local}@{server_literal}>"),
            "MAIL FROM:<antispam@(the server's address literal)>"
        );
        assert_eq!(
            v.display("RCPT TO:<{approved_recipient}>"),
            "RCPT TO:<(approved recipient not set)>"
        );
        let v = v.with_server("mx.test", Some("192.0.2.1".parse().expect("ip")));
        assert_eq!(
            v.display("MAIL FROM:<{sender_local}@{server_literal}>"),
            "MAIL FROM:<antispam@[192.0.2.1]>"
        );
        assert_eq!(v.display("odd {brace"), "odd {brace");
    }

    #[test]
    fn missing_variables_are_named_with_their_source() {
        let v = Vars::new("h", &RelayAddresses::default(), Some("bob"));
        assert_eq!(
            v.missing("RCPT TO:<{approved_recipient}> {server_name}"),
            vec!["approved_recipient"]
        );
        let e = v
            .expand("RCPT TO:<{approved_recipient}>")
            .expect_err("unset");
        assert_eq!(
            e,
            VarError::Unset {
                name: "approved_recipient".into()
            }
        );
        assert!(e.to_string().contains("--approved-recipient"), "{e}");
        assert!(v.expand("{oops").is_err());
        assert_eq!(
            v.get("auth_sender"),
            None,
            "a bare username is not an address"
        );
    }
}
