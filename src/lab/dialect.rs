//! What a practice server speaks beyond plain ESMTP: LMTP instead of SMTP, and whether it sits
//! behind a load balancer that sends a PROXY header first. The extensions every lab offers
//! (PIPELINING, CHUNKING, DSN, SMTPUTF8, 8BITMIME) need no switch: Postfix offers them too.

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dialect {
    /// LMTP (RFC 2033): LHLO instead of EHLO, and one reply per recipient after the message.
    pub lmtp: bool,
    /// Every connection must start with a HAProxy PROXY header (v1 or v2), whose client
    /// address the lab then reports, as Postfix's `smtpd_upstream_proxy_protocol = haproxy`.
    pub proxy_protocol: bool,
}
