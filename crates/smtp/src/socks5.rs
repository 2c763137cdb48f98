//! The client side of SOCKS version 5 (RFC 1928) with username/password authentication
//! (RFC 1929): the bytes to send and the parsing of the proxy's answers. The I/O shell sends
//! [`greeting`], reads [`method_choice`], optionally sends [`login`] and reads
//! [`login_result`], then sends [`connect_request`] and reads [`connect_reply`]. Each parser
//! takes the bytes read so far and says how many more it needs, so a reply split anywhere
//! on the wire parses the same.
//!
//! Host names go to the proxy as names (address type 3), so the proxy resolves them: the
//! client learns nothing of the target's address and leaks no DNS query, as `curl
//! --socks5-hostname` and swaks' `--socks` do.

use core::net::IpAddr;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xFF;
const LOGIN_VERSION: u8 = 1;
const CONNECT: u8 = 1;
const ATYP_V4: u8 = 1;
const ATYP_NAME: u8 = 3;
const ATYP_V6: u8 = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Socks5Error {
    #[error("the proxy does not speak SOCKS5 (its reply began with byte {0:#04x})")]
    NotSocks5(u8),
    #[error("the proxy accepts none of the offered methods ({offered})")]
    NoAcceptableMethod { offered: &'static str },
    #[error("the proxy chose method {0:#04x}, which was not offered")]
    UnofferedMethod(u8),
    #[error("the proxy requires a username and password, and none was given")]
    CredentialsRequired,
    #[error("the proxy refused the username and password (status {0:#04x})")]
    LoginRefused(u8),
    #[error("the proxy could not connect: {0}")]
    ConnectFailed(ConnectFailure),
    #[error("the proxy's reply has an unknown address type {0:#04x}")]
    BadAddressType(u8),
    #[error("{what} is {len} bytes; SOCKS5 allows 1 to 255")]
    TooLong { what: &'static str, len: usize },
}

/// A SOCKS5 reply code other than success (RFC 1928 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectFailure(pub u8);

impl core::fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let why = match self.0 {
            1 => "general SOCKS server failure",
            2 => "connection not allowed by ruleset",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unassigned reply code",
        };
        write!(f, "{why} (reply {:#04x})", self.0)
    }
}

/// Where the proxy should connect: a name it resolves, or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination<'a> {
    Name(&'a str),
    Ip(IpAddr),
}

impl<'a> Destination<'a> {
    /// An IP literal is sent as an address, anything else as a name.
    pub fn of(host: &'a str) -> Destination<'a> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        match bare.parse::<IpAddr>() {
            Ok(ip) => Destination::Ip(ip),
            Err(_) => Destination::Name(host),
        }
    }
}

/// What [`method_choice`], [`login_result`] and [`connect_reply`] found in the bytes so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed<T> {
    /// At least this many bytes in all are needed before anything can be said.
    NeedBytes(usize),
    /// The answer, and how many bytes it took.
    Done(T, usize),
}

/// The opening message: the methods offered. With credentials, username/password is offered
/// alone, so a proxy that would let anyone in cannot skip the login the operator asked for.
pub fn greeting(with_credentials: bool) -> Vec<u8> {
    if with_credentials {
        vec![VERSION, 1, USER_PASS]
    } else {
        vec![VERSION, 1, NO_AUTH]
    }
}

/// Whether the proxy wants the username/password exchange next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    NoAuth,
    UserPass,
}

pub fn method_choice(bytes: &[u8], with_credentials: bool) -> Result<Parsed<Method>, Socks5Error> {
    let [version, method, ..] = bytes else {
        return Ok(Parsed::NeedBytes(2));
    };
    if *version != VERSION {
        return Err(Socks5Error::NotSocks5(*version));
    }
    match (*method, with_credentials) {
        (NO_AUTH, false) => Ok(Parsed::Done(Method::NoAuth, 2)),
        (USER_PASS, true) => Ok(Parsed::Done(Method::UserPass, 2)),
        (NO_ACCEPTABLE, false) => Err(Socks5Error::CredentialsRequired),
        (NO_ACCEPTABLE, true) => Err(Socks5Error::NoAcceptableMethod {
            offered: "username/password",
        }),
        (other, _) => Err(Socks5Error::UnofferedMethod(other)),
    }
}

/// The username/password message (RFC 1929 §2).
pub fn login(user: &str, password: &[u8]) -> Result<Vec<u8>, Socks5Error> {
    let ulen = length("the SOCKS5 username", user.len())?;
    let plen = length("the SOCKS5 password", password.len())?;
    let mut out = Vec::with_capacity(3 + user.len() + password.len());
    out.push(LOGIN_VERSION);
    out.push(ulen);
    out.extend_from_slice(user.as_bytes());
    out.push(plen);
    out.extend_from_slice(password);
    Ok(out)
}

pub fn login_result(bytes: &[u8]) -> Result<Parsed<()>, Socks5Error> {
    let [_version, status, ..] = bytes else {
        return Ok(Parsed::NeedBytes(2));
    };
    match status {
        0 => Ok(Parsed::Done((), 2)),
        other => Err(Socks5Error::LoginRefused(*other)),
    }
}

/// The CONNECT request for `destination` and `port`.
pub fn connect_request(destination: &Destination<'_>, port: u16) -> Result<Vec<u8>, Socks5Error> {
    let mut out = vec![VERSION, CONNECT, 0];
    match destination {
        Destination::Ip(IpAddr::V4(ip)) => {
            out.push(ATYP_V4);
            out.extend_from_slice(&ip.octets());
        }
        Destination::Ip(IpAddr::V6(ip)) => {
            out.push(ATYP_V6);
            out.extend_from_slice(&ip.octets());
        }
        Destination::Name(name) => {
            out.push(ATYP_NAME);
            out.push(length("the host name", name.len())?);
            out.extend_from_slice(name.as_bytes());
        }
    }
    out.extend_from_slice(&port.to_be_bytes());
    Ok(out)
}

/// The proxy's answer to CONNECT. Its bound address is of no use to an SMTP client, so only
/// success or the failure's reason is returned; the length tells where the SMTP bytes begin.
pub fn connect_reply(bytes: &[u8]) -> Result<Parsed<()>, Socks5Error> {
    let [version, reply, _reserved, atyp, rest @ ..] = bytes else {
        return Ok(Parsed::NeedBytes(4));
    };
    if *version != VERSION {
        return Err(Socks5Error::NotSocks5(*version));
    }
    if *reply != 0 {
        return Err(Socks5Error::ConnectFailed(ConnectFailure(*reply)));
    }
    let address = match *atyp {
        ATYP_V4 => 4,
        ATYP_V6 => 16,
        ATYP_NAME => match rest.first() {
            Some(len) => 1 + usize::from(*len),
            None => return Ok(Parsed::NeedBytes(5)),
        },
        other => return Err(Socks5Error::BadAddressType(other)),
    };
    let total = 4 + address + 2;
    if bytes.len() < total {
        return Ok(Parsed::NeedBytes(total));
    }
    Ok(Parsed::Done((), total))
}

fn length(what: &'static str, len: usize) -> Result<u8, Socks5Error> {
    match u8::try_from(len) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Socks5Error::TooLong { what, len }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_to_the_proxy_as_names_and_literals_as_addresses() {
        assert_eq!(
            connect_request(&Destination::of("mx.example.org"), 25).unwrap(),
            [&[5, 1, 0, 3, 14][..], b"mx.example.org", &[0, 25]].concat()
        );
        assert_eq!(
            connect_request(&Destination::of("127.0.0.1"), 587).unwrap(),
            [5, 1, 0, 1, 127, 0, 0, 1, 2, 75]
        );
        let v6 = connect_request(&Destination::of("[::1]"), 25).unwrap();
        assert_eq!(v6[..4], [5, 1, 0, 4]);
        assert_eq!(v6.len(), 4 + 16 + 2);
        assert_eq!(v6[19], 1, "::1 ends in 1");
        assert!(matches!(
            connect_request(&Destination::Name(&"a".repeat(256)), 25),
            Err(Socks5Error::TooLong { len: 256, .. })
        ));
    }

    #[test]
    fn the_login_message_and_its_limits() {
        assert_eq!(
            login("bob", b"pw").unwrap(),
            [1, 3, b'b', b'o', b'b', 2, b'p', b'w']
        );
        assert!(login("", b"pw").is_err(), "RFC 1929 lengths start at 1");
        assert!(login("bob", &[b'x'; 256]).is_err());
        assert_eq!(greeting(true), [5, 1, 2]);
        assert_eq!(greeting(false), [5, 1, 0]);
    }

    #[test]
    fn method_choices_and_their_errors() {
        assert_eq!(method_choice(&[5], false), Ok(Parsed::NeedBytes(2)));
        assert_eq!(
            method_choice(&[5, 0], false),
            Ok(Parsed::Done(Method::NoAuth, 2))
        );
        assert_eq!(
            method_choice(&[5, 2], true),
            Ok(Parsed::Done(Method::UserPass, 2))
        );
        assert_eq!(
            method_choice(&[5, 0xFF], false),
            Err(Socks5Error::CredentialsRequired)
        );
        assert!(matches!(
            method_choice(&[5, 0xFF], true),
            Err(Socks5Error::NoAcceptableMethod { .. })
        ));
        // A proxy skipping the login the operator asked for is not trusted.
        assert_eq!(
            method_choice(&[5, 0], true),
            Err(Socks5Error::UnofferedMethod(0))
        );
        assert_eq!(
            method_choice(b"HTTP/1.1 400", false),
            Err(Socks5Error::NotSocks5(b'H'))
        );
        assert_eq!(login_result(&[1, 0]), Ok(Parsed::Done((), 2)));
        assert_eq!(login_result(&[1, 1]), Err(Socks5Error::LoginRefused(1)));
    }

    /// Each reply, cut at every position, needs more bytes until whole, then parses to the
    /// same answer and length; bytes after it (the SMTP banner) are not consumed.
    #[test]
    fn connect_replies_parse_the_same_at_every_split() {
        let banner = b"220 mx ESMTP\r\n";
        let replies: [&[u8]; 3] = [
            &[5, 0, 0, 1, 10, 0, 0, 1, 0, 25],
            &[5, 0, 0, 3, 4, b'h', b'o', b's', b't', 0, 25],
            &[[5, 0, 0, 4].as_slice(), &[0; 16], &[0, 25]].concat(),
        ];
        for reply in replies {
            let wire = [reply, banner].concat();
            for cut in 0..reply.len() {
                assert!(
                    matches!(connect_reply(&wire[..cut]), Ok(Parsed::NeedBytes(n)) if n > cut),
                    "{reply:?} cut at {cut}"
                );
            }
            assert_eq!(connect_reply(&wire), Ok(Parsed::Done((), reply.len())));
        }
    }

    #[test]
    fn connect_failures_are_named() {
        let err = connect_reply(&[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the proxy could not connect: connection not allowed by ruleset (reply 0x02)"
        );
        let err = connect_reply(&[5, 5, 0, 1]).unwrap_err();
        assert!(err.to_string().contains("connection refused"), "{err}");
        assert_eq!(
            connect_reply(&[5, 0, 0, 9, 0]),
            Err(Socks5Error::BadAddressType(9))
        );
        assert_eq!(
            connect_reply(&[4, 90, 0, 0]),
            Err(Socks5Error::NotSocks5(4))
        );
    }
}
