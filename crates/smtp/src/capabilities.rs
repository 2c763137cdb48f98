//! The service extensions a server advertises in its EHLO reply.
//!
//! The parser is deliberately forgiving: this is an exploration tool, so a
//! malformed or unknown line is kept and shown rather than dropped. Accessors
//! such as [`Capabilities::starttls`] answer the questions a client must ask
//! before using an extension (RFC 5321 §2.2.2: only advertised extensions may
//! be used).

use std::borrow::Cow;

use serde::Serialize;

/// The parsed EHLO reply: the greeting line and every capability line.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Capabilities {
    /// Line 0 of the reply: the server's domain and optional greeting text.
    pub greeting: String,
    /// Every later line, in the order sent, duplicates and unknowns included.
    pub entries: Vec<Capability>,
}

/// One EHLO line after the greeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// First whitespace-separated token, spelled as the server sent it;
    /// empty when the line is blank.
    pub keyword: String,
    /// The remaining whitespace-separated tokens.
    pub params: Vec<String>,
    /// The whole line, decoded lossily.
    pub raw: String,
}

impl Capabilities {
    /// Build from the text of each reply line (after `250-` / `250 `), the
    /// greeting first. Invalid UTF-8 is replaced rather than rejected because
    /// a server that sends it is exactly what a user wants to see.
    pub fn from_ehlo_lines<'a, I: IntoIterator<Item = &'a [u8]>>(lines: I) -> Capabilities {
        let mut lines = lines.into_iter();
        let greeting = lines
            .next()
            .map(|line| decode(line).trim().to_owned())
            .unwrap_or_default();
        let entries = lines.map(Capability::parse).collect();
        Capabilities { greeting, entries }
    }

    /// Whether any line carries this keyword. Keywords are case-insensitive
    /// (RFC 5321 §2.4). The legacy `AUTH=` form does not count as `AUTH`;
    /// use [`Capabilities::auth_mechanisms`] for that.
    pub fn has(&self, keyword: &str) -> bool {
        self.get(keyword).is_some()
    }

    /// The first line carrying this keyword (case-insensitive).
    pub fn get(&self, keyword: &str) -> Option<&Capability> {
        self.entries
            .iter()
            .find(|c| c.keyword.eq_ignore_ascii_case(keyword))
    }

    /// RFC 3207.
    pub fn starttls(&self) -> bool {
        self.has("STARTTLS")
    }

    /// SASL mechanisms from every `AUTH` line and every legacy `AUTH=` line,
    /// uppercased (RFC 4422 §3.1 names are case-insensitive), first
    /// occurrence wins. Servers often send both forms so that clients built
    /// against the pre-RFC 2554 drafts can authenticate.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        let mut mechanisms: Vec<String> = Vec::new();
        for entry in &self.entries {
            let legacy_first = match legacy_auth_mechanism(&entry.keyword) {
                Some(first) => Some(first),
                None if entry.keyword.eq_ignore_ascii_case("AUTH") => None,
                None => continue,
            };
            let names = legacy_first
                .into_iter()
                .chain(entry.params.iter().map(String::as_str));
            for name in names.filter(|n| !n.is_empty()) {
                let name = name.to_ascii_uppercase();
                if !mechanisms.contains(&name) {
                    mechanisms.push(name);
                }
            }
        }
        mechanisms
    }

    /// The advertised maximum message size in octets (RFC 1870 §4). `SIZE 0`
    /// and a bare `SIZE` both mean no fixed limit, so both give `None`, as
    /// does a parameter that is not a plain decimal number.
    pub fn size_limit(&self) -> Option<u64> {
        self.get("SIZE")?
            .params
            .first()
            .and_then(|p| parse_decimal(p))
            .filter(|&n| n != 0)
    }

    /// A named limit from the `LIMITS` line (RFC 9422), e.g. `RCPTMAX`,
    /// `MAILMAX` or `RCPTDOMAINMAX`, matched case-insensitively. `None` if
    /// the limit is absent or its value is not a decimal number.
    pub fn limit(&self, name: &str) -> Option<u64> {
        self.get("LIMITS")?.params.iter().find_map(|param| {
            let (key, value) = param.split_once('=')?;
            if key.eq_ignore_ascii_case(name) {
                parse_decimal(value)
            } else {
                None
            }
        })
    }

    /// RFC 2920.
    pub fn pipelining(&self) -> bool {
        self.has("PIPELINING")
    }

    /// RFC 3030 (BDAT).
    pub fn chunking(&self) -> bool {
        self.has("CHUNKING")
    }

    /// RFC 6531. The experimental `UTF8SMTP` keyword (RFC 5336) is a
    /// different, obsolete protocol and does not count.
    pub fn smtputf8(&self) -> bool {
        self.has("SMTPUTF8")
    }

    /// RFC 6152.
    pub fn eight_bit_mime(&self) -> bool {
        self.has("8BITMIME")
    }

    /// RFC 3461.
    pub fn dsn(&self) -> bool {
        self.has("DSN")
    }

    /// RFC 8689.
    pub fn requiretls(&self) -> bool {
        self.has("REQUIRETLS")
    }

    /// RFC 2034.
    pub fn enhanced_status_codes(&self) -> bool {
        self.has("ENHANCEDSTATUSCODES")
    }
}

impl Capability {
    fn parse(line: &[u8]) -> Capability {
        let raw = decode(line).into_owned();
        // RFC 5321 §4.1.1.1 separates with SP; splitting on any ASCII
        // whitespace also copes with the tabs some broken servers send.
        let mut tokens = raw.split_ascii_whitespace();
        let keyword = tokens.next().unwrap_or_default().to_owned();
        let params = tokens.map(str::to_owned).collect();
        Capability {
            keyword,
            params,
            raw,
        }
    }

    /// One-line meaning of the keyword, if it is a known extension.
    pub fn meaning(&self) -> Option<&'static str> {
        keyword_meaning(&self.keyword)
    }

    pub fn is_known(&self) -> bool {
        self.meaning().is_some()
    }

    /// Whether the line follows the RFC 5321 §4.1.1.1 grammar:
    /// `ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")` and every
    /// `ehlo-param = 1*(%d33-126)`. The legacy `AUTH=` form fails this on
    /// purpose: it never was standard syntax.
    pub fn is_well_formed(&self) -> bool {
        let mut keyword = self.keyword.bytes();
        let keyword_ok = keyword.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && keyword.all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let params_ok = self
            .params
            .iter()
            .all(|p| p.bytes().all(|b| (33..=126).contains(&b)));
        // Tokens lose the spacing, so also insist on exactly one SP between them: other
        // whitespace (TAB, form feed, a stray LF) is not a separator in RFC 5321 §4.1.1.1.
        let mut rebuilt = self.keyword.clone();
        for p in &self.params {
            rebuilt.push(' ');
            rebuilt.push_str(p);
        }
        keyword_ok && params_ok && self.raw == rebuilt
    }
}

/// One-line meaning of an EHLO keyword (case-insensitive), with the RFC or
/// implementation that defines it.
pub fn keyword_meaning(keyword: &str) -> Option<&'static str> {
    if legacy_auth_mechanism(keyword).is_some() {
        return Some(
            "legacy AUTH= form of AUTH from pre-RFC 2554 drafts, kept for old clients \
             (non-standard)",
        );
    }
    let meaning = match keyword.to_ascii_uppercase().as_str() {
        "SIZE" => "maximum message size in octets; 0 or none means no fixed limit (RFC 1870)",
        "PIPELINING" => "commands may be sent in batches without waiting for each reply (RFC 2920)",
        "8BITMIME" => "8-bit MIME bodies accepted with BODY=8BITMIME (RFC 6152)",
        "STARTTLS" => "the session can be upgraded to TLS with STARTTLS (RFC 3207)",
        "AUTH" => "SMTP authentication; the parameters list the SASL mechanisms (RFC 4954)",
        "ENHANCEDSTATUSCODES" => {
            "replies carry enhanced status codes such as 5.7.1 (RFC 2034, RFC 3463)"
        }
        "CHUNKING" => "message data may be sent in BDAT chunks instead of DATA (RFC 3030)",
        "BINARYMIME" => "binary MIME bodies accepted with BODY=BINARYMIME over BDAT (RFC 3030)",
        "SMTPUTF8" => "UTF-8 addresses and headers accepted (RFC 6531)",
        "DSN" => {
            "delivery status notifications can be requested with NOTIFY/RET/ENVID/ORCPT (RFC 3461)"
        }
        "REQUIRETLS" => {
            "a sender may require TLS on every hop with MAIL FROM ... REQUIRETLS (RFC 8689)"
        }
        "ETRN" => {
            "a client may ask the server to start delivering queued mail for a domain (RFC 1985)"
        }
        "DELIVERBY" => "a delivery deadline may be set with BY= (RFC 2852)",
        "MT-PRIORITY" => {
            "message transfer priorities set with MT-PRIORITY= are honoured (RFC 6710)"
        }
        "LIMITS" => "server announces limits such as RCPTMAX, MAILMAX and RCPTDOMAINMAX (RFC 9422)",
        "XCLIENT" => {
            "Postfix extension letting a trusted proxy override the client's name, address and \
             HELO (non-standard; should be offered to trusted clients only)"
        }
        "XFORWARD" => {
            "Postfix extension letting a trusted content filter pass on the original client's \
             details (non-standard)"
        }
        "VRFY" => "VRFY verifies addresses, which can reveal valid mailboxes (RFC 5321 §3.5)",
        "EXPN" => "EXPN expands mailing lists, which can reveal their members (RFC 5321 §3.5)",
        "HELP" => "HELP command available (RFC 5321 §4.1.1.8)",
        "SEND" | "SOML" | "SAML" => {
            "obsolete RFC 821 command to deliver to a user's terminal (RFC 5321 Appendix F.6)"
        }
        "TURN" => {
            "obsolete RFC 821 role reversal without authentication, insecure \
             (RFC 5321 Appendix F.1)"
        }
        "ATRN" => "authenticated TURN for on-demand mail relay (RFC 2645)",
        "FUTURERELEASE" => {
            "messages may be held for later release with HOLDFOR/HOLDUNTIL (RFC 4865)"
        }
        "NO-SOLICITING" => "lists solicitation class keywords the server refuses (RFC 3865)",
        "MTRK" => "message tracking may be requested (RFC 3885)",
        "BURL" => {
            "message parts may be fetched from IMAP URLs with BURL, for submission (RFC 4468)"
        }
        "CONPERM" => "content conversion permission may be stated (RFC 4141)",
        "CONNEG" => "content negotiation for conversion is supported (RFC 4141)",
        "CHECKPOINT" => "interrupted transfers may be restarted from a checkpoint (RFC 1845)",
        "RRVS" => "recipient must have been valid since a given time, RRVS= (RFC 7293)",
        "SUBMITTER" => "the responsible submitter may be declared with SUBMITTER= (RFC 4405)",
        "UTF8SMTP" => "obsolete experimental predecessor of SMTPUTF8 (RFC 5336)",
        "PRDR" => "per-recipient replies after DATA (non-standard, expired draft)",
        "VERB" => "Sendmail verbose mode command (non-standard)",
        "ONEX" => "Sendmail one-transaction-only command (non-standard)",
        "X-EXPS" => "Microsoft Exchange authentication, e.g. X-EXPS GSSAPI NTLM (non-standard)",
        "XEXCH50" => "Microsoft Exchange 2000/2003 transfer of MAPI properties (non-standard)",
        _ => return None,
    };
    Some(meaning)
}

/// For a keyword of the legacy `AUTH=MECH` form, the mechanism glued to it
/// (possibly empty); `None` for anything else.
fn legacy_auth_mechanism(keyword: &str) -> Option<&str> {
    let (name, first) = keyword.split_once('=')?;
    name.eq_ignore_ascii_case("AUTH").then_some(first)
}

fn decode(line: &[u8]) -> Cow<'_, str> {
    // Callers should already have removed CRLF; tolerate it anyway so a raw
    // line does not leave a stray CR inside the last parameter.
    let mut line = line;
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    String::from_utf8_lossy(line)
}

fn parse_decimal(text: &str) -> Option<u64> {
    // u64::from_str would also take a leading '+', which no SMTP grammar
    // allows (RFC 1870 §4: size-param = [1*DIGIT]).
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn caps(lines: &[&[u8]]) -> Capabilities {
        Capabilities::from_ehlo_lines(lines.iter().copied())
    }

    fn postfix() -> Capabilities {
        caps(&[
            b"mail.lab.example",
            b"PIPELINING",
            b"SIZE 10240000",
            b"VRFY",
            b"ETRN",
            b"STARTTLS",
            b"AUTH PLAIN LOGIN",
            b"AUTH=PLAIN LOGIN",
            b"ENHANCEDSTATUSCODES",
            b"8BITMIME",
            b"DSN",
            b"SMTPUTF8",
            b"CHUNKING",
        ])
    }

    fn keywords(c: &Capabilities) -> Vec<&str> {
        c.entries.iter().map(|e| e.keyword.as_str()).collect()
    }

    #[test]
    fn postfix_ehlo() {
        let c = postfix();
        assert_eq!(c.greeting, "mail.lab.example");
        assert_eq!(
            keywords(&c),
            [
                "PIPELINING",
                "SIZE",
                "VRFY",
                "ETRN",
                "STARTTLS",
                "AUTH",
                "AUTH=PLAIN",
                "ENHANCEDSTATUSCODES",
                "8BITMIME",
                "DSN",
                "SMTPUTF8",
                "CHUNKING",
            ]
        );
        assert!(c.starttls());
        assert!(c.pipelining());
        assert!(c.chunking());
        assert!(c.smtputf8());
        assert!(c.eight_bit_mime());
        assert!(c.dsn());
        assert!(c.enhanced_status_codes());
        assert!(!c.requiretls());
        assert!(c.has("VRFY"));
        assert!(c.has("ETRN"));
        assert!(!c.has("EXPN"));
        assert_eq!(c.size_limit(), Some(10_240_000));
        assert_eq!(c.auth_mechanisms(), ["PLAIN", "LOGIN"]);
        assert!(c.entries.iter().all(Capability::is_known));
    }

    #[test]
    fn entry_fields() {
        let c = postfix();
        let auth = c.get("auth");
        assert_eq!(
            auth,
            Some(&Capability {
                keyword: "AUTH".to_owned(),
                params: vec!["PLAIN".to_owned(), "LOGIN".to_owned()],
                raw: "AUTH PLAIN LOGIN".to_owned(),
            })
        );
        let legacy = &c.entries[6];
        assert_eq!(legacy.keyword, "AUTH=PLAIN");
        assert_eq!(legacy.params, ["LOGIN"]);
        assert_eq!(legacy.raw, "AUTH=PLAIN LOGIN");
        assert!(legacy.meaning().is_some_and(|m| m.contains("legacy")));
        assert!(!legacy.is_well_formed());
        assert!(auth.is_some_and(Capability::is_well_formed));
    }

    #[test]
    fn nothing_advertised() {
        let c = caps(&[b"mx.example.org Hello [192.0.2.7]"]);
        assert_eq!(c.greeting, "mx.example.org Hello [192.0.2.7]");
        assert!(c.entries.is_empty());
        assert!(!c.starttls());
        assert!(!c.pipelining());
        assert!(!c.chunking());
        assert!(!c.smtputf8());
        assert!(!c.eight_bit_mime());
        assert!(!c.dsn());
        assert!(!c.requiretls());
        assert!(!c.enhanced_status_codes());
        assert_eq!(c.size_limit(), None);
        assert!(c.auth_mechanisms().is_empty());
        assert_eq!(c.get("SIZE"), None);
    }

    #[test]
    fn no_lines_at_all() {
        let c = Capabilities::from_ehlo_lines(std::iter::empty());
        assert_eq!(c, Capabilities::default());
    }

    #[test]
    fn lowercase_keywords_match_and_keep_spelling() {
        let c = caps(&[
            b"mx",
            b"starttls",
            b"Pipelining",
            b"size 1000",
            b"auth login cram-md5",
            b"requiretls",
        ]);
        assert_eq!(
            keywords(&c),
            ["starttls", "Pipelining", "size", "auth", "requiretls"]
        );
        assert!(c.starttls());
        assert!(c.pipelining());
        assert!(c.requiretls());
        assert!(c.has("STARTTLS"));
        assert!(c.has("sTaRtTlS"));
        assert_eq!(c.size_limit(), Some(1000));
        assert_eq!(c.auth_mechanisms(), ["LOGIN", "CRAM-MD5"]);
        assert!(c.get("PIPELINING").is_some_and(Capability::is_known));
    }

    #[test]
    fn unknown_keywords_are_kept_in_order() {
        let c = caps(&[
            b"mx",
            b"X-FANCY-THING 1 2",
            b"PIPELINING",
            b"XYZZY",
            b"X-LINK2STATE",
        ]);
        assert_eq!(
            keywords(&c),
            ["X-FANCY-THING", "PIPELINING", "XYZZY", "X-LINK2STATE"]
        );
        assert_eq!(c.entries[0].params, ["1", "2"]);
        assert!(!c.entries[0].is_known());
        assert_eq!(c.entries[0].meaning(), None);
        assert!(c.entries[1].is_known());
        assert!(c.has("xyzzy"));
        assert!(c.entries[0].is_well_formed());
    }

    #[test]
    fn duplicates_are_kept_and_first_wins() {
        let c = caps(&[b"mx", b"SIZE 100", b"PIPELINING", b"SIZE 200"]);
        assert_eq!(keywords(&c), ["SIZE", "PIPELINING", "SIZE"]);
        assert_eq!(c.size_limit(), Some(100));
        assert_eq!(c.get("size").map(|e| e.raw.as_str()), Some("SIZE 100"));
    }

    #[test]
    fn invalid_utf8_is_decoded_lossily() {
        let c = caps(&[
            b"mx.example \xff\xfe Hello",
            b"X-CAF\xc3\xa9 ok",
            b"STARTTLS\x80",
            b"AUTH PLAIN \xc3",
        ]);
        assert_eq!(c.greeting, "mx.example \u{fffd}\u{fffd} Hello");
        assert_eq!(c.entries[0].keyword, "X-CAFé");
        assert!(!c.entries[0].is_well_formed());
        assert_eq!(c.entries[1].keyword, "STARTTLS\u{fffd}");
        // A corrupted keyword is a different keyword, not STARTTLS.
        assert!(!c.starttls());
        assert_eq!(c.auth_mechanisms(), ["PLAIN", "\u{fffd}"]);
    }

    #[test]
    fn empty_and_blank_lines_are_kept() {
        let c = caps(&[b"mx", b"", b"   ", b"DSN"]);
        assert_eq!(c.entries.len(), 3);
        assert_eq!(keywords(&c), ["", "", "DSN"]);
        assert!(c.entries[0].params.is_empty());
        assert_eq!(c.entries[1].raw, "   ");
        assert!(!c.entries[0].is_known());
        assert!(!c.entries[0].is_well_formed());
        assert!(!c.entries[1].is_well_formed());
        assert!(c.dsn());
    }

    #[test]
    fn blank_keyword_is_not_matched_by_empty_query_unless_present() {
        let c = caps(&[b"mx", b"DSN"]);
        assert!(!c.has(""));
        let c = caps(&[b"mx", b""]);
        assert!(c.has(""));
    }

    #[test]
    fn whitespace_handling() {
        let c = caps(&[b"  mx.example  ", b"AUTH  PLAIN\tLOGIN ", b"SIZE 5\r\n"]);
        assert_eq!(c.greeting, "mx.example");
        assert_eq!(c.entries[0].params, ["PLAIN", "LOGIN"]);
        assert_eq!(c.entries[0].raw, "AUTH  PLAIN\tLOGIN ");
        assert!(!c.entries[0].is_well_formed());
        assert_eq!(c.entries[1].raw, "SIZE 5");
        assert_eq!(c.size_limit(), Some(5));
        assert!(c.entries[1].is_well_formed());
    }

    #[test]
    fn size_edge_cases() {
        let size = |line: &[u8]| caps(&[b"mx", line]).size_limit();
        assert_eq!(size(b"SIZE"), None);
        assert_eq!(size(b"SIZE 0"), None);
        assert_eq!(size(b"SIZE 000"), None);
        assert_eq!(size(b"SIZE 1"), Some(1));
        assert_eq!(size(b"SIZE 0042"), Some(42));
        assert_eq!(size(b"SIZE 52428800"), Some(52_428_800));
        assert_eq!(size(b"SIZE 18446744073709551615"), Some(u64::MAX));
        assert_eq!(size(b"SIZE 18446744073709551616"), None);
        assert_eq!(size(b"SIZE +100"), None);
        assert_eq!(size(b"SIZE -1"), None);
        assert_eq!(size(b"SIZE 10M"), None);
        assert_eq!(size(b"SIZE 1e6"), None);
        assert_eq!(size(b"size 2048 extra"), Some(2048));
        assert_eq!(size(b"SIZE=1000"), None);
        assert_eq!(size(b"SIZES 1000"), None);
    }

    #[test]
    fn limits_params() {
        let c = caps(&[
            b"mx",
            b"LIMITS RCPTMAX=100 MAILMAX=1000 rcptdomainmax=5 BOGUS=x NOEQ",
        ]);
        let entry = c.get("LIMITS");
        assert!(entry.is_some_and(|e| e.params
            == [
                "RCPTMAX=100",
                "MAILMAX=1000",
                "rcptdomainmax=5",
                "BOGUS=x",
                "NOEQ"
            ]));
        assert!(entry.is_some_and(Capability::is_known));
        assert_eq!(c.limit("RCPTMAX"), Some(100));
        assert_eq!(c.limit("mailmax"), Some(1000));
        assert_eq!(c.limit("RCPTDOMAINMAX"), Some(5));
        assert_eq!(c.limit("BOGUS"), None);
        assert_eq!(c.limit("NOEQ"), None);
        assert_eq!(c.limit("UNSENT"), None);
        assert_eq!(caps(&[b"mx", b"LIMITS"]).limit("RCPTMAX"), None);
        assert_eq!(caps(&[b"mx", b"SIZE 1"]).limit("RCPTMAX"), None);
    }

    #[test]
    fn auth_mechanisms_merge_and_dedupe() {
        let c = caps(&[
            b"mx",
            b"AUTH=LOGIN PLAIN",
            b"AUTH plain CRAM-MD5 XOAUTH2",
            b"auth=xoauth2",
            b"AUTH= SCRAM-SHA-256",
            b"AUTHX BOGUS",
        ]);
        assert_eq!(
            c.auth_mechanisms(),
            ["LOGIN", "PLAIN", "CRAM-MD5", "XOAUTH2", "SCRAM-SHA-256"]
        );
        // Only the real AUTH line is the standard keyword.
        assert_eq!(
            c.get("AUTH").map(|e| e.raw.as_str()),
            Some("AUTH plain CRAM-MD5 XOAUTH2")
        );
        assert!(caps(&[b"mx", b"AUTH=LOGIN"]).has("AUTH=LOGIN"));
        assert!(!caps(&[b"mx", b"AUTH=LOGIN"]).has("AUTH"));
    }

    #[test]
    fn auth_without_mechanisms() {
        assert!(caps(&[b"mx", b"AUTH"]).auth_mechanisms().is_empty());
        assert!(caps(&[b"mx", b"AUTH="]).auth_mechanisms().is_empty());
    }

    #[test]
    fn keyword_meanings() {
        for keyword in [
            "SIZE",
            "PIPELINING",
            "8BITMIME",
            "STARTTLS",
            "AUTH",
            "AUTH=LOGIN",
            "AUTH=",
            "ENHANCEDSTATUSCODES",
            "CHUNKING",
            "BINARYMIME",
            "SMTPUTF8",
            "DSN",
            "REQUIRETLS",
            "ETRN",
            "DELIVERBY",
            "MT-PRIORITY",
            "LIMITS",
            "XCLIENT",
            "XFORWARD",
            "VRFY",
            "EXPN",
            "HELP",
            "SEND",
            "SOML",
            "SAML",
            "TURN",
            "ATRN",
            "FUTURERELEASE",
            "NO-SOLICITING",
            "MTRK",
            "BURL",
            "CONPERM",
            "CONNEG",
            "CHECKPOINT",
            "RRVS",
            "UTF8SMTP",
            "X-EXPS",
            "XEXCH50",
        ] {
            let meaning = keyword_meaning(keyword);
            assert!(
                meaning.is_some_and(|m| !m.is_empty() && !m.contains('\n')),
                "{keyword}"
            );
            let lower = keyword.to_ascii_lowercase();
            assert_eq!(keyword_meaning(&lower), meaning, "{lower}");
        }
        assert!(keyword_meaning("SIZE").is_some_and(|m| m.contains("RFC 1870")));
        assert!(keyword_meaning("LIMITS").is_some_and(|m| m.contains("RFC 9422")));
        assert!(keyword_meaning("UTF8SMTP").is_some_and(|m| m.contains("obsolete")));
        assert_ne!(keyword_meaning("AUTH"), keyword_meaning("AUTH=PLAIN"));
        for unknown in ["", "X", "AUTHX", "SIZE=", "STARTTLS2", "XYZZY", "=AUTH"] {
            assert_eq!(keyword_meaning(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn well_formed_grammar() {
        let wf = |line: &[u8]| caps(&[b"mx", line]).entries[0].is_well_formed();
        assert!(wf(b"SIZE 100"));
        assert!(wf(b"MT-PRIORITY MIXER"));
        assert!(wf(b"8BITMIME"));
        assert!(wf(b"LIMITS RCPTMAX=10"));
        assert!(!wf(b"-DASHFIRST"));
        assert!(!wf(b"UNDER_SCORE"));
        assert!(!wf(b"SIZE  100"));
        assert!(!wf(b" SIZE"));
        assert!(!wf(b"SIZE "));
        assert!(!wf(b""));
    }

    #[test]
    fn serializes_all_fields() {
        let value = serde_json::to_value(postfix()).unwrap_or_default();
        assert_eq!(value["greeting"], "mail.lab.example");
        assert_eq!(value["entries"][1]["keyword"], "SIZE");
        assert_eq!(value["entries"][1]["params"][0], "10240000");
        assert_eq!(value["entries"][1]["raw"], "SIZE 10240000");
    }

    proptest! {
        #[test]
        fn parse_keeps_every_line(lines in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..40), 0..12)
        ) {
            let c = Capabilities::from_ehlo_lines(lines.iter().map(Vec::as_slice));
            prop_assert_eq!(c.entries.len(), lines.len().saturating_sub(1));
            for entry in &c.entries {
                let tokens: Vec<&str> = entry.raw.split_ascii_whitespace().collect();
                prop_assert_eq!(tokens.first().copied().unwrap_or(""), entry.keyword.as_str());
                prop_assert_eq!(tokens.get(1..).unwrap_or(&[]), entry.params.as_slice());
                prop_assert!(!entry.raw.ends_with('\n'));
            }
            let mechanisms = c.auth_mechanisms();
            for (i, m) in mechanisms.iter().enumerate() {
                prop_assert!(!m.is_empty());
                prop_assert_eq!(m.to_ascii_uppercase(), m.clone());
                prop_assert!(!mechanisms[i + 1..].contains(m));
            }
            prop_assert_ne!(c.size_limit(), Some(0));
        }

        #[test]
        fn size_roundtrip(n in 1u64..) {
            let line = format!("SIZE {n}");
            let c = caps(&[b"mx", line.as_bytes()]);
            prop_assert_eq!(c.size_limit(), Some(n));
        }
    }
}
