//! TLSA certificate association (RFC 6698 §2.1): the bytes a record's selector and matching
//! type pick out of a certificate, and DANE-EE records a connection may verify by. Here, below
//! the DNS layer, because the certificate verifier of a connection uses them.

/// Why a certificate's association data cannot be computed for a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssociationError {
    #[error("certificate does not parse: {0}")]
    Unparsable(String),
    #[error("selector {0} is not defined (0 or 1)")]
    Selector(u8),
    #[error("matching type {0} is not defined (0, 1 or 2)")]
    Matching(u8),
}

/// The certificate association data of `cert` (DER) under `selector` (0: the whole
/// certificate, 1: its SubjectPublicKeyInfo) and `matching` (0: as is, 1: SHA-256, 2: SHA-512).
pub fn association(cert: &[u8], selector: u8, matching: u8) -> Result<Vec<u8>, AssociationError> {
    let selected: Vec<u8> = match selector {
        0 => cert.to_vec(),
        1 => match x509_parser::parse_x509_certificate(cert) {
            Ok((_, c)) => c.public_key().raw.to_vec(),
            Err(e) => return Err(AssociationError::Unparsable(e.to_string())),
        },
        other => return Err(AssociationError::Selector(other)),
    };
    match matching {
        0 => Ok(selected),
        1 => Ok(ring::digest::digest(&ring::digest::SHA256, &selected)
            .as_ref()
            .to_vec()),
        2 => Ok(ring::digest::digest(&ring::digest::SHA512, &selected)
            .as_ref()
            .to_vec()),
        other => Err(AssociationError::Matching(other)),
    }
}

/// A DNSSEC-validated DANE-EE record (usage 3) for the host a connection goes to. A server
/// certificate that matches one is what a DANE sender accepts, whatever its names, dates and
/// issuer (RFC 7672 §3.1.1), so the connection goes on as such a sender's would.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneEe {
    pub selector: u8,
    pub matching: u8,
    pub data: Vec<u8>,
}

impl DaneEe {
    /// Whether the server certificate `leaf` (DER) matches this record.
    pub fn matches(&self, leaf: &[u8]) -> bool {
        association(leaf, self.selector, self.matching).is_ok_and(|a| a == self.data)
    }

    /// The record as its usage, selector and matching type: "3 1 1".
    pub fn label(&self) -> String {
        format!("3 {} {}", self.selector, self.matching)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // test code
mod tests {
    use super::*;

    fn leaf() -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        rcgen::CertificateParams::new(vec!["mx.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap()
            .der()
            .to_vec()
    }

    #[test]
    fn a_record_matches_its_certificate_only() {
        let cert = leaf();
        let other = leaf();
        for (selector, matching) in [(0, 0), (0, 1), (1, 1), (1, 2)] {
            let ee = DaneEe {
                selector,
                matching,
                data: association(&cert, selector, matching).unwrap(),
            };
            assert!(ee.matches(&cert), "{}", ee.label());
            assert!(!ee.matches(&other), "{}", ee.label());
        }
    }

    #[test]
    fn undefined_selectors_and_matching_types_are_named() {
        let cert = leaf();
        assert_eq!(association(&cert, 2, 1), Err(AssociationError::Selector(2)));
        assert_eq!(association(&cert, 1, 3), Err(AssociationError::Matching(3)));
        let ee = DaneEe {
            selector: 7,
            matching: 1,
            data: vec![0; 32],
        };
        assert!(!ee.matches(&cert));
    }
}
