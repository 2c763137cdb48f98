//! The command line's share of target resolution: flags become [`Overrides`]; everything else
//! (defaults, limits, precedence) is decided once, in [`crate::target`].

use crate::cli::{AuthArg, AuthArgs, ProxyArg, RelayArgs, TargetArgs, TlsArg, TrustArg};
use crate::net::TlsMode;
use crate::net::connect::{Family, Origin};
use crate::net::tls::Trust;
use crate::profile::{Profile, RelayAddresses};
use crate::smtp::auth::Mechanism;
use crate::smtp::proxy::ProxyVersion;
use crate::target::{self, AuthOverrides, Overrides, PasswordSource, ResolvedTarget, TargetError};

pub fn mechanism(arg: AuthArg) -> Mechanism {
    match arg {
        AuthArg::Plain => Mechanism::Plain,
        AuthArg::Login => Mechanism::Login,
        AuthArg::CramMd5 => Mechanism::CramMd5,
        AuthArg::Xoauth2 => Mechanism::Xoauth2,
    }
}

/// Flags as overrides. `may_prompt`: a no-echo prompt is allowed when no password source is
/// given (`session` on a terminal; never `check`).
/// `--local-address IP[:PORT]`.
fn local_address(text: &str) -> Result<std::net::SocketAddr, TargetError> {
    let bad = || TargetError::LocalAddress {
        value: text.to_string(),
    };
    if let Ok(ip) = text.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 0));
    }
    text.parse().map_err(|_| bad())
}

pub fn overrides(
    t: &TargetArgs,
    a: &AuthArgs,
    r: &RelayArgs,
    may_prompt: bool,
) -> Result<Overrides, TargetError> {
    let password = match (&a.password_env, &a.password_file) {
        (Some(var), _) => Some(PasswordSource::Env(var.clone())),
        (None, Some(path)) => Some(PasswordSource::File(path.clone())),
        (None, None) => None,
    };
    let origin = Origin {
        family: match (t.ipv4, t.ipv6) {
            (true, _) => Family::V4,
            (_, true) => Family::V6,
            _ => Family::Any,
        },
        local: t.local_address.as_deref().map(local_address).transpose()?,
    };
    Ok(Overrides {
        server: t.server.clone(),
        domain: t.domain.clone(),
        dns_server: t.dns_server,
        mx_port: t.mx_port,
        tls: t.tls.map(|m| match m {
            TlsArg::None => TlsMode::None,
            TlsArg::Starttls => TlsMode::Starttls,
            TlsArg::Implicit => TlsMode::Implicit,
        }),
        // A switch: given means on; absent leaves the profile's choice.
        require_tls: match (t.require_tls, t.no_require_tls) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        },
        trust: t.trust.map(|t| match t {
            TrustArg::Platform => Trust::Platform,
            TrustArg::Mozilla => Trust::Mozilla,
        }),
        insecure: t.insecure.then_some(true),
        ca_file: t.ca_file.clone(),
        tls_name: t.tls_name.clone(),
        no_sni: t.no_sni.then_some(true),
        tls_min: t.tls_min,
        tls_max: t.tls_max,
        tls_cert: t.tls_cert.clone(),
        tls_key: t.tls_key.clone(),
        helo: t.helo.clone(),
        timeout: t.timeout,
        session_timeout: t.session_timeout,
        proxy: t.proxy.map(|v| match v {
            ProxyArg::V1 => ProxyVersion::V1,
            ProxyArg::V2 => ProxyVersion::V2,
        }),
        proxy_source: t.proxy_source,
        socks5: t.socks5.clone(),
        socks5_user: t.socks5_user.clone(),
        socks5_password: t.socks5_password_env.clone().map(PasswordSource::Env),
        socket: t.socket.clone(),
        pipe: t.pipe.clone(),
        xclient: t.xclient.clone(),
        origin,
        allow_cleartext_auth: a.allow_cleartext_auth,
        auth: AuthOverrides {
            enabled: None,
            mechanism: a.auth.map(mechanism),
            user: a.user.clone(),
            password,
            may_prompt,
        },
        relay: RelayAddresses {
            local_recipient: r.local_recipient.clone(),
            external_sender: r.external_sender.clone(),
            external_recipient: r.external_recipient.clone(),
            approved_recipient: r.approved_recipient.clone(),
            disallowed_recipient: r.disallowed_recipient.clone(),
            other_local_sender: r.other_local_sender.clone(),
            auth_sender: r.auth_sender.clone(),
        },
    })
}

/// `--profile` loaded (its warnings printed on stderr) and resolved with the flags.
pub fn resolve(
    t: &TargetArgs,
    a: &AuthArgs,
    r: &RelayArgs,
    may_prompt: bool,
) -> Result<ResolvedTarget, TargetError> {
    let profile: Option<(String, Profile)> = match &t.profile {
        Some(name) => {
            let p = target::load_profile(name)?;
            for w in p.warnings() {
                crate::errln!("smtpscope: warning: profile {name}: {w}");
            }
            Some((name.clone(), p))
        }
        None => None,
    };
    if let Some(w) = a
        .password_file
        .as_deref()
        .and_then(crate::secret::file_permissions_warning)
    {
        crate::errln!("smtpscope: warning: {w}");
    }
    target::resolve(
        profile.as_ref().map(|(n, p)| (n.as_str(), p)),
        &overrides(t, a, r, may_prompt)?,
    )
}

/// `tui --server HOST[:PORT]` and its flags as an in-memory profile, named after the server,
/// checked by the same rules a saved profile meets before anything connects; `None` without
/// `--server`.
pub fn quick_profile(
    q: &crate::cli::QuickTargetArgs,
    r: &RelayArgs,
) -> Result<Option<(String, Profile)>, TargetError> {
    use crate::profile::{AuthConfig, Verify};
    let Some(server) = &q.server else {
        return Ok(None);
    };
    let name: String = server
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect::<String>()
        .trim_matches(['-', '.'])
        .to_string();
    let name = if crate::profile::valid_name(&name) {
        name
    } else {
        "quick".into()
    };
    let profile = Profile {
        server: server.clone(),
        tls: q.tls.map_or(TlsMode::Starttls, |m| match m {
            TlsArg::None => TlsMode::None,
            TlsArg::Starttls => TlsMode::Starttls,
            TlsArg::Implicit => TlsMode::Implicit,
        }),
        require_tls: q.require_tls,
        verify: match (q.insecure, q.trust) {
            (true, _) => Verify::Insecure,
            (false, Some(TrustArg::Mozilla)) => Verify::Mozilla,
            _ => Verify::Platform,
        },
        ca_file: q.ca_file.clone(),
        tls_name: q.tls_name.clone(),
        helo: q.helo.clone(),
        timeout_secs: q.timeout,
        auth: q.user.as_ref().map(|user| AuthConfig {
            mechanism: q.auth.map_or(Mechanism::Plain, mechanism),
            username: user.clone(),
            password_env: q.password_env.clone(),
            password_command: None,
            password: None,
        }),
        relay: RelayAddresses {
            local_recipient: r.local_recipient.clone(),
            external_sender: r.external_sender.clone(),
            external_recipient: r.external_recipient.clone(),
            approved_recipient: r.approved_recipient.clone(),
            disallowed_recipient: r.disallowed_recipient.clone(),
            other_local_sender: r.other_local_sender.clone(),
            auth_sender: r.auth_sender.clone(),
        },
        ..Profile::default()
    };
    // The rules every target meets (CR/LF and other injections, a port, TLS and require-TLS
    // together) are checked now, as `check` checks its flags, not at the first connection.
    target::resolve(Some((&name, &profile)), &Overrides::default())?;
    Ok(Some((name, profile)))
}
