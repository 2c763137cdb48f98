//! How the bytes reach the server (straight, through SOCKS5, over a UNIX socket, through a
//! program's standard input and output) and the PROXY
//! header sent first, each checked before anything connects: a SOCKS5 login that RFC 1929
//! cannot carry, or a PROXY source of the other address family than the server's, would
//! otherwise be found only once a proxy or the server had been reached.

use std::net::{IpAddr, SocketAddr};

use secrecy::ExposeSecret;

use super::{Endpoint, Origin, Overrides, PasswordSource, TargetError, pick};
use crate::net::{PipeCommand, Route, Socks5Route, Target};
use crate::profile::Profile;
use crate::smtp::proxy::ProxyVersion;
use crate::smtp::validate;

/// Straight to the server, through a SOCKS5 proxy, over a UNIX socket, or through a program.
pub(super) fn route(
    p: Option<&Profile>,
    o: &Overrides,
    endpoint: &Endpoint,
    origin: &Origin,
) -> Result<Route, TargetError> {
    if let Some(route) = pipe(p, o, endpoint, origin)? {
        return Ok(route);
    }
    let socket = pick(&o.socket, p.and_then(|p| p.socket.as_ref()));
    let socks5 = pick(&o.socks5, p.and_then(|p| p.socks5.as_ref()));
    let user = pick(&o.socks5_user, p.and_then(|p| p.socks5_user.as_ref()));
    let password = o.socks5_password.clone().or_else(|| {
        p.and_then(|p| p.socks5_password_env.clone())
            .map(PasswordSource::Env)
    });
    match (socket, socks5) {
        (Some(_), Some(_)) => Err(TargetError::SocketAndSocks5),
        (Some(path), None) => {
            if matches!(endpoint, Endpoint::Mx { .. }) {
                return Err(TargetError::SocketWithDomain);
            }
            Ok(Route::Unix(path))
        }
        (None, Some(proxy)) => {
            let proxy = Target::parse(&proxy, 1080).map_err(TargetError::Socks5Address)?;
            let login = match (user, password) {
                (Some(user), Some(source)) => {
                    validate::socks5_user(
                        &origin.name(o.socks5_user.is_some(), "--socks5-user", "socks5_user"),
                        &user,
                    )?;
                    let secret = source.read("SOCKS5 password: ")?;
                    validate::socks5_password(
                        &socks5_password_setting(&source, o, origin),
                        secret.expose_secret(),
                    )?;
                    Some((user, secret))
                }
                (Some(_), None) => return Err(TargetError::Socks5UserWithoutPassword),
                (None, Some(_)) => return Err(TargetError::Socks5PasswordWithoutUser),
                (None, None) => None,
            };
            Ok(Route::Socks5(Socks5Route { proxy, login }))
        }
        (None, None) => {
            if user.is_some() || password.is_some() {
                return Err(TargetError::Socks5LoginWithoutProxy);
            }
            Ok(Route::Direct)
        }
    }
}

/// A program to speak to (`--pipe`, or the profile's `pipe`). The flag wins over the profile's
/// way to the server, and another way given as a flag wins over the profile's `pipe`; a profile
/// that gives two is an error.
fn pipe(
    p: Option<&Profile>,
    o: &Overrides,
    endpoint: &Endpoint,
    origin: &Origin,
) -> Result<Option<Route>, TargetError> {
    let from_flag = o.pipe.is_some();
    let line = match (&o.pipe, p.and_then(|p| p.pipe.as_ref())) {
        (Some(line), _) => line.clone(),
        (None, Some(_)) if o.socket.is_some() || o.socks5.is_some() => return Ok(None),
        (None, Some(line)) => line.clone(),
        (None, None) => return Ok(None),
    };
    let setting = origin.name(from_flag, "--pipe", "pipe");
    let other = if from_flag {
        match (&o.socket, &o.socks5) {
            (Some(_), _) => Some("--socket".to_string()),
            (None, Some(_)) => Some("--socks5".to_string()),
            (None, None) => None,
        }
    } else {
        match p {
            Some(p) if p.socket.is_some() => Some(origin.name(false, "--socket", "socket")),
            Some(p) if p.socks5.is_some() => Some(origin.name(false, "--socks5", "socks5")),
            _ => None,
        }
    };
    if let Some(other) = other {
        return Err(TargetError::PipeAndRoute {
            pipe: setting,
            other,
        });
    }
    if matches!(endpoint, Endpoint::Mx { .. }) {
        return Err(TargetError::PipeWithDomain { pipe: setting });
    }
    let command =
        PipeCommand::parse(&line).map_err(|source| TargetError::Pipe { setting, source })?;
    Ok(Some(Route::Pipe(command)))
}

/// "--socks5-password-env VAR: the password", or the profile's key: never the secret.
fn socks5_password_setting(source: &PasswordSource, o: &Overrides, origin: &Origin) -> String {
    let name = origin.name(
        o.socks5_password.is_some(),
        "--socks5-password-env",
        "socks5_password_env",
    );
    match source {
        PasswordSource::Env(var) => format!("{name} {var}: the password"),
        _ => format!("{name}: the password"),
    }
}

/// The PROXY header to send, if any: its version and the client address it names, which must
/// be of the server's family (a header cannot say "from IPv6 to IPv4"). Checked here when the
/// server is an IP literal; a name is checked once it resolves, when connecting.
pub(super) fn proxy(
    p: Option<&Profile>,
    o: &Overrides,
    endpoint: &Endpoint,
    route: &Route,
    origin: &Origin,
) -> Result<Option<(ProxyVersion, SocketAddr)>, TargetError> {
    let Some(version) = o.proxy.or(p.and_then(|p| p.proxy)) else {
        return Ok(None);
    };
    let setting = origin.name(o.proxy_source.is_some(), "--proxy-source", "proxy_source");
    let source = match (o.proxy_source, p.and_then(|p| p.proxy_source.as_deref())) {
        (Some(s), _) => s,
        (None, Some(text)) => text.trim().parse().map_err(|_| TargetError::ProxySource {
            setting: setting.clone(),
            value: text.to_string(),
        })?,
        (None, None) => return Err(TargetError::ProxyWithoutSource),
    };
    // The header names the server's address as the connection's destination; through SOCKS5
    // or over a UNIX socket that address is not known here.
    let via = match route {
        Route::Direct => None,
        Route::Socks5(_) => Some(origin.name(o.socks5.is_some(), "--socks5", "socks5")),
        Route::Unix(_) => Some(origin.name(o.socket.is_some(), "--socket", "socket")),
        Route::Pipe(_) => Some(origin.name(o.pipe.is_some(), "--pipe", "pipe")),
    };
    if let Some(via) = via {
        return Err(TargetError::ProxyOverRoute {
            proxy: origin.name(o.proxy.is_some(), "--proxy", "proxy"),
            via,
        });
    }
    if let Endpoint::Server(t) = endpoint
        && let Ok(server) = t.host.parse::<IpAddr>()
        && server.is_ipv4() != source.is_ipv4()
    {
        return Err(TargetError::ProxyFamily {
            setting,
            client: source,
            server,
        });
    }
    Ok(Some((version, source)))
}
