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

#[cfg(test)]
mod tests {
    use super::*;

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
}
