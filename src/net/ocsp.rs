//! What a stapled OCSP response (RFC 6960 §4.2.1) says, read from its DER without checking
//! its signature: the response status, and for the first certificate good / revoked / unknown
//! with the update times. Shown to the operator, never used to accept a certificate.

/// The OCSP answer in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspSummary {
    /// "successful", "tryLater", ...
    pub response_status: String,
    /// "good", "revoked", "unknown" when the response is successful and parses that far.
    pub cert_status: Option<String>,
    pub this_update: Option<String>,
    pub next_update: Option<String>,
}

impl std::fmt::Display for OcspSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.response_status)?;
        if let Some(s) = &self.cert_status {
            write!(f, ", certificate {s}")?;
        }
        if let Some(t) = &self.this_update {
            write!(f, ", this update {t}")?;
        }
        if let Some(t) = &self.next_update {
            write!(f, ", next update {t}")?;
        }
        Ok(())
    }
}

/// One DER element: its tag and contents, and what follows it.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn expect(input: &[u8], want: u8) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(input)?;
    (tag == want).then_some((body, rest))
}

/// GeneralizedTime "20261201120000Z" as "2026-12-01 12:00:00Z".
fn time(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    if s.len() >= 15 && s.is_char_boundary(14) {
        format!(
            "{}-{}-{} {}:{}:{}{}",
            &s[0..4],
            &s[4..6],
            &s[6..8],
            &s[8..10],
            &s[10..12],
            &s[12..14],
            &s[14..]
        )
    } else {
        s.into_owned()
    }
}

const ID_PKIX_OCSP_BASIC: &[u8] = &[0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01];

/// Reads `der`; `None` when it is not an OCSPResponse at all.
pub fn summarize(der: &[u8]) -> Option<OcspSummary> {
    let (response, _) = expect(der, 0x30)?;
    let (status, rest) = expect(response, 0x0A)?;
    let response_status = match status {
        [0] => "successful",
        [1] => "malformedRequest",
        [2] => "internalError",
        [3] => "tryLater",
        [5] => "sigRequired",
        [6] => "unauthorized",
        _ => "unknown response status",
    }
    .to_string();
    let mut out = OcspSummary {
        response_status,
        cert_status: None,
        this_update: None,
        next_update: None,
    };
    // The rest is best effort: what parses is shown.
    let single = (|| {
        let (bytes, _) = expect(rest, 0xA0)?;
        let (rb, _) = expect(bytes, 0x30)?;
        let (oid, rb) = expect(rb, 0x06)?;
        if oid != ID_PKIX_OCSP_BASIC {
            return None;
        }
        let (basic_der, _) = expect(rb, 0x04)?;
        let (basic, _) = expect(basic_der, 0x30)?;
        let (tbs, _) = expect(basic, 0x30)?;
        let mut rest = tbs;
        // [0] version, if present, then responderID ([1] or [2]), then producedAt.
        if let Some((0xA0, _, r)) = tlv(rest) {
            rest = r;
        }
        let (_, _, r) = tlv(rest)?;
        let (_, r) = expect(r, 0x18)?;
        let (responses, _) = expect(r, 0x30)?;
        let (single, _) = expect(responses, 0x30)?;
        let (_, r) = expect(single, 0x30)?; // certID
        let (tag, _, r) = tlv(r)?;
        let status = match tag {
            0x80 => "good",
            0xA1 => "revoked",
            0x82 => "unknown",
            _ => return None,
        };
        let (this_update, r) = expect(r, 0x18)?;
        let next = expect(r, 0xA0)
            .and_then(|(inner, _)| expect(inner, 0x18))
            .map(|(t, _)| time(t));
        Some((status.to_string(), time(this_update), next))
    })();
    if let Some((status, this_update, next_update)) = single {
        out.cert_status = Some(status);
        out.this_update = Some(this_update);
        out.next_update = next_update;
    }
    Some(out)
}

/// DER building for tests (here and in tests/), so that responses are made, not copied.
#[doc(hidden)]
pub mod build {
    pub fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = body.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
        out.extend_from_slice(body);
        out
    }

    /// A successful basic OCSP response for one certificate; `status` is the certStatus
    /// element (`[0x80, 0]` good, `[0x82, 0]` unknown). The signature is zeros.
    pub fn response(status: &[u8], this_update: &str, next_update: Option<&str>) -> Vec<u8> {
        let cert_id = tlv(
            0x30,
            &[
                tlv(0x30, &tlv(0x06, &[0x2B, 0x0E, 0x03, 0x02, 0x1A])),
                tlv(0x04, &[1; 20]),
                tlv(0x04, &[2; 20]),
                tlv(0x02, &[1]),
            ]
            .concat(),
        );
        let mut single = [cert_id, status.to_vec(), tlv(0x18, this_update.as_bytes())].concat();
        if let Some(n) = next_update {
            single.extend(tlv(0xA0, &tlv(0x18, n.as_bytes())));
        }
        let tbs = tlv(
            0x30,
            &[
                tlv(0xA2, &tlv(0x04, &[3; 20])),
                tlv(0x18, this_update.as_bytes()),
                tlv(0x30, &tlv(0x30, &single)),
            ]
            .concat(),
        );
        let basic = tlv(
            0x30,
            &[
                tbs,
                tlv(
                    0x30,
                    &tlv(0x06, &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]),
                ),
                tlv(0x03, &[0, 0, 0]),
            ]
            .concat(),
        );
        let bytes = tlv(
            0x30,
            &[tlv(0x06, super::ID_PKIX_OCSP_BASIC), tlv(0x04, &basic)].concat(),
        );
        tlv(0x30, &[tlv(0x0A, &[0]), tlv(0xA0, &bytes)].concat())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    #[test]
    fn a_good_response_is_read() {
        let der = build::response(&[0x80, 0], "20261201120000Z", Some("20261208120000Z"));
        let s = summarize(&der).unwrap();
        assert_eq!(s.response_status, "successful");
        assert_eq!(s.cert_status.as_deref(), Some("good"));
        assert_eq!(s.this_update.as_deref(), Some("2026-12-01 12:00:00Z"));
        assert_eq!(s.next_update.as_deref(), Some("2026-12-08 12:00:00Z"));
        assert_eq!(
            s.to_string(),
            "successful, certificate good, this update 2026-12-01 12:00:00Z, next update 2026-12-08 12:00:00Z"
        );
    }

    #[test]
    fn revoked_and_unknown_and_failures() {
        let revoked = build::tlv(0xA1, &build::tlv(0x18, b"20260101000000Z"));
        let s = summarize(&build::response(&revoked, "20261201120000Z", None)).unwrap();
        assert_eq!(s.cert_status.as_deref(), Some("revoked"));
        assert_eq!(s.next_update, None);
        let s = summarize(&build::response(&[0x82, 0], "20261201120000Z", None)).unwrap();
        assert_eq!(s.cert_status.as_deref(), Some("unknown"));
        let try_later = build::tlv(0x30, &build::tlv(0x0A, &[3]));
        let s = summarize(&try_later).unwrap();
        assert_eq!(s.to_string(), "tryLater");
    }

    #[test]
    fn garbage_and_every_truncation_never_panic() {
        assert_eq!(summarize(b"not der"), None);
        let der = build::response(&[0x80, 0], "20261201120000Z", None);
        for cut in 0..der.len() {
            let _ = summarize(&der[..cut]);
        }
        // Long-form lengths.
        let long = build::tlv(0x04, &[7; 300]);
        assert_eq!(tlv(&long).map(|(t, b, _)| (t, b.len())), Some((0x04, 300)));
    }
}
