//! How the bytes reach the server (straight, through SOCKS5, over a UNIX socket) and the PROXY
//! header sent first, each checked before anything connects: a SOCKS5 login that RFC 1929
//! cannot carry, or a PROXY source of the other address family than the server's, would
//! otherwise be found only once a proxy or the server had been reached.

use std::net::{IpAddr, SocketAddr};

use secrecy::ExposeSecret;

use super::{Endpoint, Origin, Overrides, PasswordSource, TargetError, pick};
use crate::net::{Route, Socks5Route, Target};
use crate::profile::Profile;
use crate::smtp::proxy::ProxyVersion;
use crate::smtp::validate;

/// Straight to the server, through a SOCKS5 proxy, or over a UNIX socket.
pub(super) fn route(
    p: Option<&Profile>,
    o: &Overrides,
    endpoint: &Endpoint,
    origin: &Origin,
) -> Result<Route, TargetError> {
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
