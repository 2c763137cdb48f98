//! What each lab policy allows: pure decisions, separate from the server's I/O so that they
//! can be read (and taught) on their own.

use std::fmt;

pub const DOMAIN: &str = "lab.example";
pub const HOSTNAME: &str = "mail.lab.example";
pub const PARTNER_DOMAIN: &str = "partner.example";
pub const MAILBOXES: &[&str] = &["postmaster", "alice", "bob"];

/// A lab account. `scope`: the only outside domain the user may relay to, if restricted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    pub name: &'static str,
    pub password: &'static str,
    pub scope: Option<&'static str>,
}

/// Test credentials, printed at start: this is a practice server on loopback.
pub const USERS: &[User] = &[
    User {
        name: "alice",
        password: "alice-lab-password",
        scope: None,
    },
    User {
        name: "bob",
        password: "bob-lab-password",
        scope: Some(PARTNER_DOMAIN),
    },
];

pub fn find_user(login: &str) -> Option<&'static User> {
    let bare = login.strip_suffix(&format!("@{DOMAIN}")).unwrap_or(login);
    USERS.iter().find(|u| u.name == bare)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Relays for anyone: the classic misconfiguration.
    OpenRelay,
    /// STARTTLS, AUTH only inside TLS, relay only when authenticated, bob limited to the
    /// partner domain, senders must match their login.
    Secure,
    /// Like secure, but AUTH is offered and accepted before TLS.
    AuthCleartext,
    /// Like secure, but no STARTTLS at all (so AUTH is never possible).
    NoTls,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::OpenRelay => "open-relay",
            Policy::Secure => "secure",
            Policy::AuthCleartext => "auth-cleartext",
            Policy::NoTls => "no-tls",
        }
    }

    pub fn offers_tls(self) -> bool {
        self != Policy::NoTls
    }

    pub fn auth_before_tls(self) -> bool {
        self == Policy::AuthCleartext
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where an address would be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The domain after a source route and the last '@', lowercased.
    Domain(String),
    /// The null path `<>`.
    Null,
    /// An address a careful server does not try to route: %-hack, bang paths, quoted local
    /// parts with an '@', no domain at all.
    Unroutable,
}

pub fn route(addr: &str) -> Route {
    let a = addr.trim();
    let a = match a.rsplit_once(':') {
        Some((route, rest)) if route.starts_with('@') => rest,
        _ => a,
    };
    if a.is_empty() {
        return Route::Null;
    }
    if a.contains('%') || a.contains('!') || a.starts_with('"') || a.matches('@').count() != 1 {
        return Route::Unroutable;
    }
    match a.rsplit_once('@') {
        Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
            Route::Domain(domain.to_ascii_lowercase())
        }
        _ => Route::Unroutable,
    }
}

pub fn local_part(addr: &str) -> &str {
    addr.rsplit_once('@').map_or(addr, |(l, _)| l)
}

fn is_local_domain(domain: &str) -> bool {
    domain == DOMAIN
}

/// The decision on one RCPT TO, as reply text.
pub fn rcpt(policy: Policy, sender: &str, rcpt: &str, user: Option<&User>) -> (u16, String) {
    if policy == Policy::OpenRelay {
        return (250, "2.1.5 Ok".into());
    }
    // Sender checks come at RCPT, as with Postfix's smtpd_delay_reject.
    if let Route::Domain(d) = route(sender)
        && is_local_domain(&d)
    {
        match user {
            None => {
                return (
                    553,
                    format!("5.7.1 <{sender}>: Sender address rejected: not logged in"),
                );
            }
            Some(u) if local_part(sender) != u.name => {
                return (
                    553,
                    format!(
                        "5.7.1 <{sender}>: Sender address rejected: not owned by user {}",
                        u.name
                    ),
                );
            }
            Some(_) => {}
        }
    }
    let domain = match route(rcpt) {
        Route::Domain(d) => d,
        Route::Null => return (501, "5.1.3 Bad recipient address syntax".into()),
        Route::Unroutable => return (501, format!("5.1.3 <{rcpt}>: Bad recipient address syntax")),
    };
    if is_local_domain(&domain) {
        return if MAILBOXES.contains(&local_part(rcpt).to_ascii_lowercase().as_str()) {
            (250, "2.1.5 Ok".into())
        } else {
            (
                550,
                format!("5.1.1 <{rcpt}>: Recipient address rejected: User unknown"),
            )
        };
    }
    match user {
        None => (554, format!("5.7.1 <{rcpt}>: Relay access denied")),
        Some(u) => match u.scope {
            Some(scope) if domain != scope => (
                554,
                format!(
                    "5.7.1 <{rcpt}>: Recipient address rejected: {} may relay only to {scope}",
                    u.name
                ),
            ),
            _ => (250, "2.1.5 Ok".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> Option<&'static User> {
        find_user("bob")
    }

    #[test]
    fn secure_relays_only_for_authenticated_users_within_scope() {
        let out = "x@outside.example.net";
        assert_eq!(
            rcpt(Policy::Secure, out, "y@elsewhere.example.org", None).0,
            554
        );
        assert_eq!(
            rcpt(Policy::Secure, out, "postmaster@lab.example", None).0,
            250
        );
        assert_eq!(rcpt(Policy::Secure, out, "nobody@lab.example", None).0, 550);
        let alice = find_user("alice@lab.example");
        assert_eq!(
            rcpt(
                Policy::Secure,
                "alice@lab.example",
                "y@elsewhere.example.org",
                alice
            )
            .0,
            250
        );
        assert_eq!(
            rcpt(
                Policy::Secure,
                "bob@lab.example",
                "y@partner.example",
                bob()
            )
            .0,
            250
        );
        let (code, text) = rcpt(
            Policy::Secure,
            "bob@lab.example",
            "y@elsewhere.example.org",
            bob(),
        );
        assert_eq!(code, 554);
        assert!(text.contains("may relay only to partner.example"));
    }

    #[test]
    fn senders_must_match_their_login() {
        let (code, text) = rcpt(
            Policy::Secure,
            "alice@lab.example",
            "postmaster@lab.example",
            bob(),
        );
        assert_eq!(code, 553);
        assert!(text.contains("not owned by user bob"));
        assert_eq!(
            rcpt(
                Policy::Secure,
                "alice@lab.example",
                "postmaster@lab.example",
                None
            )
            .0,
            553
        );
    }

    #[test]
    fn relay_tricks_are_refused_and_open_relay_takes_everything() {
        for trick in [
            "y%elsewhere.example.org@[127.0.0.1]",
            "\"y@elsewhere.example.org\"",
            "y@elsewhere.example.org@mail.lab.example",
            "elsewhere.example.org!y",
            "@[127.0.0.1]:y@elsewhere.example.org",
        ] {
            let code = rcpt(Policy::Secure, "x@outside.example.net", trick, None).0;
            assert!(code >= 500, "{trick}: {code}");
            assert_eq!(
                rcpt(Policy::OpenRelay, "x@outside.example.net", trick, None).0,
                250
            );
        }
    }
}
