//! Probing which old TLS versions a server accepts without speaking them: a hand-built
//! ClientHello for TLS 1.0 or 1.1 (RFC 2246, RFC 4346), and a reader for the first thing the
//! server sends back: a ServerHello naming the version and cipher suite it chose, or an alert.
//! The handshake is never completed; nothing here touches a socket, a clock or randomness
//! (the caller passes the 32 random bytes).

/// Protocol version numbers on the wire.
pub const TLS10: u16 = 0x0301;
pub const TLS11: u16 = 0x0302;
pub const TLS12: u16 = 0x0303;
pub const TLS13: u16 = 0x0304;

const RECORD_HANDSHAKE: u8 = 0x16;
const RECORD_ALERT: u8 = 0x15;
const HANDSHAKE_CLIENT_HELLO: u8 = 0x01;
const HANDSHAKE_SERVER_HELLO: u8 = 0x02;
const HANDSHAKE_SERVER_HELLO_DONE: u8 = 0x0E;
/// A record longer than this is not TLS (RFC 5246 §6.2.3: 2^14 + 2048).
const MAX_RECORD: usize = 16384 + 2048;

/// CBC suites every TLS 1.0 stack had, ECDHE first, and the renegotiation SCSV (RFC 5746).
const SUITES: [u16; 10] = [
    0xC013, 0xC014, 0xC009, 0xC00A, 0x002F, 0x0035, 0x0033, 0x0039, 0x000A, 0x00FF,
];

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends `body` preceded by its length in `width` bytes (2 or 3).
fn push_with_len(out: &mut Vec<u8>, width: usize, body: &[u8]) {
    let len = body.len().to_be_bytes();
    out.extend_from_slice(&len[len.len() - width..]);
    out.extend_from_slice(body);
}

/// A complete TLS record holding a ClientHello for `version` (TLS 1.0 or 1.1), with SNI for
/// `server_name` when it is a DNS name, and the elliptic-curve extensions ECDHE suites need.
pub fn client_hello(version: u16, random: [u8; 32], server_name: Option<&str>) -> Vec<u8> {
    let mut body = Vec::new();
    push_u16(&mut body, version);
    body.extend_from_slice(&random);
    body.push(0); // no session id
    let mut suites = Vec::new();
    for s in SUITES {
        push_u16(&mut suites, s);
    }
    push_with_len(&mut body, 2, &suites);
    body.extend_from_slice(&[1, 0]); // compression: null only

    let mut ext = Vec::new();
    if let Some(name) = server_name.filter(|n| is_dns_name(n)) {
        let mut entry = vec![0u8]; // host_name
        push_with_len(&mut entry, 2, name.as_bytes());
        let mut list = Vec::new();
        push_with_len(&mut list, 2, &entry);
        push_u16(&mut ext, 0x0000);
        push_with_len(&mut ext, 2, &list);
    }
    // supported_groups: x25519, P-256, P-384.
    push_u16(&mut ext, 0x000A);
    push_with_len(
        &mut ext,
        2,
        &[0x00, 0x06, 0x00, 0x1D, 0x00, 0x17, 0x00, 0x18],
    );
    // ec_point_formats: uncompressed.
    push_u16(&mut ext, 0x000B);
    push_with_len(&mut ext, 2, &[0x01, 0x00]);
    push_with_len(&mut body, 2, &ext);

    let mut handshake = vec![HANDSHAKE_CLIENT_HELLO];
    push_with_len(&mut handshake, 3, &body);
    // The record layer says 1.0 whatever the hello offers, as real clients do.
    let mut record = vec![RECORD_HANDSHAKE];
    push_u16(&mut record, TLS10);
    push_with_len(&mut record, 2, &handshake);
    record
}

/// SNI carries host names only, never addresses (RFC 6066 §3).
fn is_dns_name(name: &str) -> bool {
    // An IPv4 address has no letter; an IPv6 address has colons.
    !name.contains(':')
        && !name.starts_with('[')
        && name.contains(|c: char| c.is_ascii_alphabetic())
}

/// What the first bytes from the server say about the hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelloAnswer {
    /// Not enough bytes yet to tell; `hello` is the ServerHello's (version, suite) once seen.
    Incomplete { hello: Option<(u16, u16)> },
    /// The server accepted: its ServerHello and everything up to ServerHelloDone arrived, so
    /// it could also sign its key exchange with this version.
    ServerHello { version: u16, cipher_suite: u16 },
    /// A ServerHello, then an alert before ServerHelloDone: the server chose the version but
    /// could not go on with it (e.g. OpenSSL 3 refusing SHA-1 signatures below TLS 1.2).
    HelloThenAlert {
        version: u16,
        cipher_suite: u16,
        description: u8,
    },
    /// The server refused (or failed) with this alert.
    Alert { level: u8, description: u8 },
    /// The bytes are not a TLS record at all (e.g. an SMTP reply), starting with `first`.
    NotTls { first: Vec<u8> },
}

/// Reads the server's first records. Call again with more bytes while it says `Incomplete`.
pub fn parse_answer(bytes: &[u8]) -> HelloAnswer {
    let not_tls = || HelloAnswer::NotTls {
        first: bytes.iter().take(16).copied().collect(),
    };
    // Handshake messages may be split over records, or share one: collect the payloads.
    let mut handshake = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 5 {
        let kind = rest[0];
        let len = usize::from(u16::from_be_bytes([rest[3], rest[4]]));
        if rest[1] != 3 || len > MAX_RECORD || !matches!(kind, RECORD_HANDSHAKE | RECORD_ALERT) {
            return not_tls();
        }
        let Some(payload) = rest.get(5..5 + len) else {
            break;
        };
        if kind == RECORD_ALERT {
            let [level, description, ..] = payload else {
                return not_tls();
            };
            return match server_hello(&handshake) {
                Ok(Some((version, cipher_suite))) => HelloAnswer::HelloThenAlert {
                    version,
                    cipher_suite,
                    description: *description,
                },
                _ => HelloAnswer::Alert {
                    level: *level,
                    description: *description,
                },
            };
        }
        handshake.extend_from_slice(payload);
        match messages(&handshake) {
            Err(()) => return not_tls(),
            Ok(done) if done => {
                if let Ok(Some((version, cipher_suite))) = server_hello(&handshake) {
                    return HelloAnswer::ServerHello {
                        version,
                        cipher_suite,
                    };
                }
                return not_tls();
            }
            Ok(_) => {}
        }
        rest = &rest[5 + len..];
    }
    match server_hello(&handshake) {
        Err(()) => not_tls(),
        Ok(hello) => HelloAnswer::Incomplete { hello },
    }
}

/// Walks the handshake messages: `Ok(true)` once ServerHelloDone is among them; `Err` when
/// the first is not a ServerHello.
fn messages(hs: &[u8]) -> Result<bool, ()> {
    let mut at = 0;
    let mut first = true;
    while let Some(header) = hs.get(at..at + 4) {
        if first && header[0] != HANDSHAKE_SERVER_HELLO {
            return Err(());
        }
        first = false;
        if header[0] == HANDSHAKE_SERVER_HELLO_DONE {
            return Ok(true);
        }
        let len =
            usize::from(header[1]) << 16 | usize::from(header[2]) << 8 | usize::from(header[3]);
        at += 4 + len;
    }
    Ok(false)
}

/// The ServerHello's (version, suite) at the start of `hs`, once enough of it is there; `Err`
/// when `hs` starts with another message.
fn server_hello(hs: &[u8]) -> Result<Option<(u16, u16)>, ()> {
    let Some((&kind, rest)) = hs.split_first() else {
        return Ok(None);
    };
    if kind != HANDSHAKE_SERVER_HELLO {
        return Err(());
    }
    // length(3) version(2) random(32) session_id_len(1) session_id cipher(2)
    let read = || {
        let body = rest.get(3..)?;
        let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
        let sid_len = usize::from(*body.get(34)?);
        let at = 35 + sid_len;
        let cipher_suite = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
        Some((version, cipher_suite))
    };
    Ok(read())
}

/// "TLSv1.0" for 0x0301, and so on.
pub fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSLv3".into(),
        TLS10 => "TLSv1.0".into(),
        TLS11 => "TLSv1.1".into(),
        TLS12 => "TLSv1.2".into(),
        TLS13 => "TLSv1.3".into(),
        other => format!("version 0x{other:04X}"),
    }
}

/// The alert descriptions a refusal comes with (RFC 5246 §7.2, RFC 8446 §6).
pub fn alert_name(description: u8) -> String {
    match description {
        0 => "close_notify".into(),
        10 => "unexpected_message".into(),
        40 => "handshake_failure".into(),
        47 => "illegal_parameter".into(),
        50 => "decode_error".into(),
        70 => "protocol_version".into(),
        71 => "insufficient_security".into(),
        80 => "internal_error".into(),
        86 => "inappropriate_fallback".into(),
        109 => "missing_extension".into(),
        112 => "unrecognized_name".into(),
        other => format!("alert {other}"),
    }
}

/// IANA names of the suites the probe offers.
pub fn suite_name(suite: u16) -> String {
    match suite {
        0xC013 => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA".into(),
        0xC014 => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA".into(),
        0xC009 => "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA".into(),
        0xC00A => "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA".into(),
        0x002F => "TLS_RSA_WITH_AES_128_CBC_SHA".into(),
        0x0035 => "TLS_RSA_WITH_AES_256_CBC_SHA".into(),
        0x0033 => "TLS_DHE_RSA_WITH_AES_128_CBC_SHA".into(),
        0x0039 => "TLS_DHE_RSA_WITH_AES_256_CBC_SHA".into(),
        0x000A => "TLS_RSA_WITH_3DES_EDE_CBC_SHA".into(),
        other => format!("suite 0x{other:04X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello_message(version: u16, sid: &[u8], suite: u16) -> Vec<u8> {
        let mut body = version.to_be_bytes().to_vec();
        body.extend_from_slice(&[7u8; 32]);
        body.push(sid.len() as u8);
        body.extend_from_slice(sid);
        body.extend_from_slice(&suite.to_be_bytes());
        body.push(0);
        let mut hs = vec![2u8];
        push_with_len(&mut hs, 3, &body);
        hs
    }

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut rec = vec![kind, 3, 1];
        push_with_len(&mut rec, 2, payload);
        rec
    }

    /// ServerHello, a Certificate message, ServerHelloDone, in one record.
    fn server_hello_record(version: u16, sid: &[u8], suite: u16) -> Vec<u8> {
        let mut hs = hello_message(version, sid, suite);
        hs.push(11); // Certificate
        push_with_len(&mut hs, 3, &[0, 0, 0]);
        hs.extend_from_slice(&[14, 0, 0, 0]); // ServerHelloDone
        record(0x16, &hs)
    }

    #[test]
    fn client_hello_is_a_well_formed_record() {
        let hello = client_hello(TLS10, [0xAB; 32], Some("mx.example.org"));
        assert_eq!(&hello[..3], &[0x16, 0x03, 0x01]);
        let record_len = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(hello.len(), 5 + record_len);
        assert_eq!(hello[5], 0x01, "handshake type ClientHello");
        let hs_len =
            usize::from(hello[6]) << 16 | usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(hs_len + 4, record_len);
        assert_eq!(&hello[9..11], &[0x03, 0x01], "client_version");
        assert_eq!(&hello[11..43], &[0xAB; 32]);
        assert_eq!(hello[43], 0, "empty session id");
        let suites_len = usize::from(u16::from_be_bytes([hello[44], hello[45]]));
        assert_eq!(suites_len, SUITES.len() * 2);
        assert_eq!(&hello[46..48], &[0xC0, 0x13]);
        let after = 46 + suites_len;
        assert_eq!(&hello[after..after + 2], &[1, 0], "null compression");
        let ext_len = usize::from(u16::from_be_bytes([hello[after + 2], hello[after + 3]]));
        assert_eq!(after + 4 + ext_len, hello.len(), "extensions fill the rest");
        let ext = &hello[after + 4..];
        // SNI first: type 0, then the name.
        assert_eq!(&ext[..2], &[0, 0]);
        assert!(
            hello
                .windows(b"mx.example.org".len())
                .any(|w| w == b"mx.example.org")
        );
    }

    #[test]
    fn tls11_hello_says_so_and_addresses_get_no_sni() {
        let hello = client_hello(TLS11, [0; 32], Some("127.0.0.1"));
        assert_eq!(&hello[9..11], &[0x03, 0x02]);
        assert!(!hello.windows(9).any(|w| w == b"127.0.0.1"));
        let no_name = client_hello(TLS11, [0; 32], None);
        assert_eq!(hello, no_name);
    }

    #[test]
    fn server_hello_gives_version_and_suite() {
        let rec = server_hello_record(TLS10, &[1, 2, 3, 4], 0xC014);
        assert_eq!(
            parse_answer(&rec),
            HelloAnswer::ServerHello {
                version: TLS10,
                cipher_suite: 0xC014
            }
        );
    }

    #[test]
    fn server_hello_split_at_every_byte_is_incomplete_until_whole() {
        let rec = server_hello_record(TLS11, &[9; 32], 0x002F);
        for cut in 0..rec.len() {
            assert!(
                matches!(parse_answer(&rec[..cut]), HelloAnswer::Incomplete { .. }),
                "cut at {cut}"
            );
        }
        assert!(matches!(
            parse_answer(&rec),
            HelloAnswer::ServerHello {
                version: TLS11,
                cipher_suite: 0x002F
            }
        ));
    }

    #[test]
    fn a_hello_then_a_close_is_incomplete_with_the_hello() {
        let rec = record(0x16, &hello_message(TLS10, &[], 0xC013));
        assert_eq!(
            parse_answer(&rec),
            HelloAnswer::Incomplete {
                hello: Some((TLS10, 0xC013))
            }
        );
    }

    #[test]
    fn a_hello_then_an_alert_is_not_acceptance() {
        let mut bytes = record(0x16, &hello_message(TLS10, &[1], 0xC013));
        bytes.extend_from_slice(&record(0x15, &[2, 80]));
        assert_eq!(
            parse_answer(&bytes),
            HelloAnswer::HelloThenAlert {
                version: TLS10,
                cipher_suite: 0xC013,
                description: 80
            }
        );
    }

    #[test]
    fn server_hello_over_two_records_is_reassembled() {
        let rec = server_hello_record(TLS10, &[], 0x0035);
        let payload = &rec[5..];
        let (a, b) = payload.split_at(10);
        let mut two = record(0x16, a);
        two.extend_from_slice(&record(0x16, b));
        assert_eq!(
            parse_answer(&two),
            HelloAnswer::ServerHello {
                version: TLS10,
                cipher_suite: 0x0035
            }
        );
    }

    #[test]
    fn alerts_are_read() {
        assert_eq!(
            parse_answer(&[0x15, 3, 1, 0, 2, 2, 70]),
            HelloAnswer::Alert {
                level: 2,
                description: 70
            }
        );
        assert_eq!(alert_name(70), "protocol_version");
        assert_eq!(alert_name(40), "handshake_failure");
        assert_eq!(
            parse_answer(&[0x15, 3, 3, 0]),
            HelloAnswer::Incomplete { hello: None }
        );
    }

    #[test]
    fn smtp_text_is_not_tls() {
        let got = parse_answer(b"454 4.7.0 TLS not available\r\n");
        assert!(matches!(got, HelloAnswer::NotTls { first } if first.starts_with(b"454")));
        assert!(matches!(
            parse_answer(&[0x16, 3, 1, 0xFF, 0xFF]),
            HelloAnswer::NotTls { .. }
        ));
    }

    #[test]
    fn names() {
        assert_eq!(version_name(TLS10), "TLSv1.0");
        assert_eq!(version_name(0x7F1C), "version 0x7F1C");
        assert_eq!(suite_name(0xC013), "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA");
    }
}
