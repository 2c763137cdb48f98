//! The HAProxy PROXY protocol header a load balancer puts before the SMTP banner, so the
//! server sees the original client (Postfix: `smtpd_upstream_proxy_protocol = haproxy`).
//! Version 1 is one text line, version 2 a binary block; both from the HAProxy spec
//! (proxy-protocol.txt), TCP over IPv4 or IPv6 only.

// core::net: addresses as plain data; the core never opens a socket.
use core::net::SocketAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProxyVersion {
    V1,
    V2,
}

/// The 12-byte signature that starts every version 2 header.
const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the PROXY source {client} and the server's address {server} must be the same family (both IPv4 or both IPv6)"
)]
pub struct FamilyMismatch {
    pub client: SocketAddr,
    pub server: SocketAddr,
}

/// The header saying the connection came from `source` to `destination`.
pub fn header(
    version: ProxyVersion,
    source: SocketAddr,
    destination: SocketAddr,
) -> Result<Vec<u8>, FamilyMismatch> {
    let mismatch = || FamilyMismatch {
        client: source,
        server: destination,
    };
    match version {
        ProxyVersion::V1 => {
            let family = match (source, destination) {
                (SocketAddr::V4(_), SocketAddr::V4(_)) => "TCP4",
                (SocketAddr::V6(_), SocketAddr::V6(_)) => "TCP6",
                _ => return Err(mismatch()),
            };
            Ok(format!(
                "PROXY {family} {} {} {} {}\r\n",
                source.ip(),
                destination.ip(),
                source.port(),
                destination.port()
            )
            .into_bytes())
        }
        ProxyVersion::V2 => {
            let mut out = V2_SIGNATURE.to_vec();
            // Version 2, command PROXY.
            out.push(0x21);
            match (source, destination) {
                (SocketAddr::V4(s), SocketAddr::V4(d)) => {
                    out.push(0x11);
                    out.extend_from_slice(&12u16.to_be_bytes());
                    out.extend_from_slice(&s.ip().octets());
                    out.extend_from_slice(&d.ip().octets());
                }
                (SocketAddr::V6(s), SocketAddr::V6(d)) => {
                    out.push(0x21);
                    out.extend_from_slice(&36u16.to_be_bytes());
                    out.extend_from_slice(&s.ip().octets());
                    out.extend_from_slice(&d.ip().octets());
                }
                _ => return Err(mismatch()),
            }
            out.extend_from_slice(&source.port().to_be_bytes());
            out.extend_from_slice(&destination.port().to_be_bytes());
            Ok(out)
        }
    }
}

/// One line describing a PROXY v2 header for a transcript (its bytes are binary, and shown
/// as text they would read as lines, one of them `QUIT`): version, command, family, source →
/// destination, and its length. `None` when `bytes` is not exactly one v2 header.
pub fn describe_v2(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(&V2_SIGNATURE[..])?;
    let &[ver_cmd, family, hi, lo] = rest.get(..4)? else {
        return None;
    };
    let body = rest.get(4..)?;
    if ver_cmd >> 4 != 2 || body.len() != usize::from(u16::from_be_bytes([hi, lo])) {
        return None;
    }
    let total = bytes.len();
    let port = |at: usize| {
        body.get(at..at + 2)
            .map(|p| u16::from_be_bytes([p[0], p[1]]))
    };
    let what = match (ver_cmd & 0x0F, family) {
        (0x0, _) => "LOCAL (a health check; the connection's own addresses stand)".to_string(),
        (0x1, 0x11) if body.len() >= 12 => {
            let src = core::net::Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let dst = core::net::Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            format!("PROXY TCP4 {src}:{} → {dst}:{}", port(8)?, port(10)?)
        }
        (0x1, 0x21) if body.len() >= 36 => {
            let mut s = [0u8; 16];
            s.copy_from_slice(&body[..16]);
            let mut d = [0u8; 16];
            d.copy_from_slice(&body[16..32]);
            let (src, dst) = (core::net::Ipv6Addr::from(s), core::net::Ipv6Addr::from(d));
            format!("PROXY TCP6 [{src}]:{} → [{dst}]:{}", port(32)?, port(34)?)
        }
        (cmd, fam) => format!("command {cmd:#x}, family {fam:#04x}"),
    };
    Some(format!("[PROXY v2 header, {total} bytes: {what}]"))
}

/// What a server made of the start of a connection that must begin with a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// At least this many bytes in all are needed to decide.
    NeedBytes(usize),
    /// The header named this client (`None`: v1 `UNKNOWN` or v2 `LOCAL`, a health check), and
    /// took this many bytes.
    Header {
        client: Option<SocketAddr>,
        version: ProxyVersion,
        used: usize,
    },
}

/// Why the start of a connection is not a PROXY header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("the connection did not start with a PROXY header")]
    Missing,
    #[error("malformed PROXY v1 line: {0}")]
    BadV1(String),
    #[error("malformed PROXY v2 header: {0}")]
    BadV2(&'static str),
}

/// The v1 line's longest form, CRLF included (proxy-protocol.txt §2.1).
const V1_MAX: usize = 107;

/// Parses the PROXY header (v1 or v2) a load balancer sends first, as a server configured for
/// it (Postfix `smtpd_upstream_proxy_protocol = haproxy`) does; feed it the bytes read so far.
pub fn parse_header(bytes: &[u8]) -> Result<Received, HeaderError> {
    if bytes.len() < V2_SIGNATURE.len() {
        let v1_prefix = b"PROXY ";
        let could_be = V2_SIGNATURE.starts_with(bytes)
            || v1_prefix.starts_with(&bytes[..bytes.len().min(v1_prefix.len())]);
        if !could_be {
            return Err(HeaderError::Missing);
        }
        // A complete v1 line may be shorter than the v2 signature only if malformed; wait.
        if bytes.starts_with(v1_prefix) && bytes.contains(&b'\n') {
            return parse_v1(bytes);
        }
        return Ok(Received::NeedBytes(V2_SIGNATURE.len()));
    }
    if bytes.starts_with(&V2_SIGNATURE) {
        return parse_v2(bytes);
    }
    if bytes.starts_with(b"PROXY ") {
        return parse_v1(bytes);
    }
    Err(HeaderError::Missing)
}

fn parse_v1(bytes: &[u8]) -> Result<Received, HeaderError> {
    let Some(end) = bytes.iter().position(|&b| b == b'\n') else {
        if bytes.len() >= V1_MAX {
            return Err(HeaderError::BadV1("no end of line within 107 bytes".into()));
        }
        return Ok(Received::NeedBytes(bytes.len() + 1));
    };
    let used = end + 1;
    let line = bytes[..end]
        .strip_suffix(b"\r")
        .ok_or_else(|| HeaderError::BadV1("the line does not end in CRLF".into()))?;
    let text = core::str::from_utf8(line).map_err(|_| HeaderError::BadV1("not ASCII".into()))?;
    // "PROXY TCP4|TCP6 SRC DST SPORT DPORT", or "PROXY UNKNOWN" and anything after it.
    let words: Vec<&str> = text.split(' ').collect();
    let client = match words.get(1).copied() {
        Some("UNKNOWN") => None,
        Some("TCP4" | "TCP6") if words.len() == 6 => {
            let ip: core::net::IpAddr = words[2]
                .parse()
                .map_err(|_| HeaderError::BadV1(format!("source address {:?}", words[2])))?;
            let v4 = words[1] == "TCP4";
            if ip.is_ipv4() != v4 {
                return Err(HeaderError::BadV1(format!("{} with {ip}", words[1])));
            }
            let port: u16 = words[4]
                .parse()
                .map_err(|_| HeaderError::BadV1(format!("source port {:?}", words[4])))?;
            Some(SocketAddr::new(ip, port))
        }
        _ => return Err(HeaderError::BadV1(text.into())),
    };
    Ok(Received::Header {
        client,
        version: ProxyVersion::V1,
        used,
    })
}

fn parse_v2(bytes: &[u8]) -> Result<Received, HeaderError> {
    let Some(&[ver_cmd, family, hi, lo]) = bytes.get(12..16) else {
        return Ok(Received::NeedBytes(16));
    };
    if ver_cmd >> 4 != 2 {
        return Err(HeaderError::BadV2("version is not 2"));
    }
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    let used = 16 + len;
    let Some(body) = bytes.get(16..used) else {
        return Ok(Received::NeedBytes(used));
    };
    let client = match (ver_cmd & 0x0F, family) {
        // LOCAL: the proxy's own health check; the connection's own address stands.
        (0x0, _) => None,
        (0x1, 0x11) if body.len() >= 12 => {
            let ip = core::net::Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([body[8], body[9]]),
            ))
        }
        (0x1, 0x21) if body.len() >= 36 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&body[..16]);
            let ip = core::net::Ipv6Addr::from(octets);
            Some(SocketAddr::new(
                ip.into(),
                u16::from_be_bytes([body[32], body[33]]),
            ))
        }
        (0x1, 0x11 | 0x21) => return Err(HeaderError::BadV2("address block too short")),
        // UNSPEC, UNIX or UDP: nothing an SMTP server can use as a client address.
        (0x1, _) => None,
        _ => return Err(HeaderError::BadV2("unknown command")),
    };
    Ok(Received::Header {
        client,
        version: ProxyVersion::V2,
        used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v2_header_is_described_on_one_line() {
        let h = header(
            ProxyVersion::V2,
            addr("192.0.2.7:4000"),
            addr("127.0.0.1:25"),
        )
        .unwrap_or_default();
        assert_eq!(
            describe_v2(&h).as_deref(),
            Some("[PROXY v2 header, 28 bytes: PROXY TCP4 192.0.2.7:4000 → 127.0.0.1:25]")
        );
        let h = header(
            ProxyVersion::V2,
            addr("[2001:db8::7]:4000"),
            addr("[::1]:25"),
        )
        .unwrap_or_default();
        assert_eq!(
            describe_v2(&h).as_deref(),
            Some("[PROXY v2 header, 52 bytes: PROXY TCP6 [2001:db8::7]:4000 → [::1]:25]")
        );
        // Anything else is not one header: v1, a truncated one, one with bytes after it.
        let v1 = header(
            ProxyVersion::V1,
            addr("192.0.2.7:4000"),
            addr("127.0.0.1:25"),
        )
        .unwrap_or_default();
        assert_eq!(describe_v2(&v1), None);
        let mut v2 = header(
            ProxyVersion::V2,
            addr("192.0.2.7:4000"),
            addr("127.0.0.1:25"),
        )
        .unwrap_or_default();
        assert_eq!(describe_v2(&v2[..20]), None);
        v2.extend_from_slice(b"EHLO x\r\n");
        assert_eq!(describe_v2(&v2), None);
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn version_1_is_one_line() {
        assert_eq!(
            header(
                ProxyVersion::V1,
                addr("192.0.2.7:4711"),
                addr("127.0.0.1:25")
            )
            .ok(),
            Some(b"PROXY TCP4 192.0.2.7 127.0.0.1 4711 25\r\n".to_vec())
        );
        let v6 = header(
            ProxyVersion::V1,
            addr("[2001:db8::7]:4711"),
            addr("[::1]:25"),
        )
        .unwrap_or_default();
        assert_eq!(v6, b"PROXY TCP6 2001:db8::7 ::1 4711 25\r\n");
        // The spec's limit for a v1 line.
        assert!(v6.len() <= 107);
    }

    #[test]
    fn version_2_is_the_binary_block() {
        let h = header(
            ProxyVersion::V2,
            addr("192.0.2.7:4711"),
            addr("127.0.0.1:25"),
        )
        .unwrap_or_default();
        assert_eq!(&h[..12], &V2_SIGNATURE);
        assert_eq!(h[12], 0x21, "version 2, PROXY");
        assert_eq!(h[13], 0x11, "TCP over IPv4");
        assert_eq!(u16::from_be_bytes([h[14], h[15]]), 12);
        assert_eq!(&h[16..20], &[192, 0, 2, 7]);
        assert_eq!(&h[20..24], &[127, 0, 0, 1]);
        assert_eq!(&h[24..26], &4711u16.to_be_bytes());
        assert_eq!(&h[26..28], &25u16.to_be_bytes());
        assert_eq!(h.len(), 28);
        let h6 =
            header(ProxyVersion::V2, addr("[2001:db8::7]:1"), addr("[::1]:25")).unwrap_or_default();
        assert_eq!(h6[13], 0x21, "TCP over IPv6");
        assert_eq!(u16::from_be_bytes([h6[14], h6[15]]), 36);
        assert_eq!(h6.len(), 16 + 36);
    }

    #[test]
    fn mixed_families_are_refused() {
        for v in [ProxyVersion::V1, ProxyVersion::V2] {
            assert!(header(v, addr("192.0.2.7:1"), addr("[::1]:25")).is_err());
        }
    }

    /// Each header this module writes is read back by the parser, at every split, and the
    /// banner after it is left alone.
    #[test]
    fn written_headers_parse_back_at_every_split() {
        for (version, src, dst) in [
            (ProxyVersion::V1, "192.0.2.7:4711", "127.0.0.1:25"),
            (ProxyVersion::V2, "192.0.2.7:4711", "127.0.0.1:25"),
            (ProxyVersion::V1, "[2001:db8::7]:1", "[::1]:25"),
            (ProxyVersion::V2, "[2001:db8::7]:1", "[::1]:25"),
        ] {
            let h = header(version, addr(src), addr(dst)).unwrap_or_default();
            let wire = [h.as_slice(), b"EHLO x\r\n"].concat();
            for cut in 0..h.len() {
                assert!(
                    matches!(parse_header(&wire[..cut]), Ok(Received::NeedBytes(n)) if n > cut),
                    "{version:?} {src} cut at {cut}: {:?}",
                    parse_header(&wire[..cut])
                );
            }
            assert_eq!(
                parse_header(&wire),
                Ok(Received::Header {
                    client: Some(addr(src)),
                    version,
                    used: h.len()
                })
            );
        }
    }

    #[test]
    fn what_is_not_a_header_is_said() {
        assert_eq!(parse_header(b"EHLO x\r\n"), Err(HeaderError::Missing));
        assert_eq!(parse_header(b"E"), Err(HeaderError::Missing));
        assert!(matches!(
            parse_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
            Err(HeaderError::BadV1(_))
        ));
        assert!(matches!(
            parse_header(b"PROXY TCP4 ::1 ::1 1 2\r\n"),
            Err(HeaderError::BadV1(_))
        ));
        assert!(matches!(
            parse_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
            Err(HeaderError::BadV1(_))
        ));
        assert!(matches!(
            parse_header(&[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(20)),
            Err(HeaderError::BadV1(_))
        ));
        assert_eq!(
            parse_header(b"PROXY UNKNOWN\r\n"),
            Ok(Received::Header {
                client: None,
                version: ProxyVersion::V1,
                used: 15
            })
        );
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(
            parse_header(&local),
            Ok(Received::Header {
                client: None,
                version: ProxyVersion::V2,
                used: 16
            })
        );
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert_eq!(
            parse_header(&short),
            Err(HeaderError::BadV2("address block too short"))
        );
    }
}
