//! The practice lab as a target: the profile the explorer offers for each lab it starts, and
//! the one the run layer's own tests connect with.

use crate::lab::Lab;
use crate::lab::policy::{DOMAIN, PARTNER_DOMAIN, USERS};
use crate::net::TlsMode;
use crate::profile::{AuthConfig, Profile, RelayAddresses, Verify};
use crate::smtp::auth::Mechanism;

/// In-memory profiles for the practice lab servers (saved only if the user saves them).
pub fn lab_profile(lab: &Lab) -> Profile {
    let bob = USERS.iter().find(|u| u.scope.is_some());
    Profile {
        server: lab.addr.to_string(),
        domain: None,
        dns_server: None,
        mx_port: None,
        tls: TlsMode::Starttls,
        require_tls: false,
        verify: Verify::Platform,
        ca_file: Some(lab.ca_path.clone()),
        tls_name: Some("localhost".into()),
        no_sni: false,
        tls_min: None,
        tls_max: None,
        tls_cert: None,
        tls_key: None,
        helo: Some("probe.test".into()),
        timeout_secs: Some(10.0),
        session_timeout_secs: None,
        proxy: None,
        proxy_source: None,
        socks5: None,
        socks5_user: None,
        socks5_password_env: None,
        socket: None,
        pipe: None,
        xclient: Vec::new(),
        export_dir: None,
        log_file: None,
        auth: bob.map(|u| AuthConfig {
            mechanism: Mechanism::Plain,
            username: u.name.into(),
            password_env: None,
            password_command: None,
            password: Some(u.password.into()),
        }),
        relay: RelayAddresses {
            local_recipient: Some(format!("postmaster@{DOMAIN}")),
            external_sender: Some("relay-test@outside.example.net".into()),
            external_recipient: Some("relay-test@elsewhere.example.org".into()),
            approved_recipient: Some(format!("someone@{PARTNER_DOMAIN}")),
            disallowed_recipient: Some("someone@elsewhere.example.org".into()),
            other_local_sender: Some(format!("alice@{DOMAIN}")),
            auth_sender: bob.map(|u| format!("{}@{DOMAIN}", u.name)),
        },
    }
}
