//! SMTP commands and their exact wire form.

use std::fmt;

/// BODY= values of MAIL FROM (RFC 6152, RFC 3030).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
    BinaryMime,
}

impl Body {
    fn keyword(self) -> &'static str {
        match self {
            Body::SevenBit => "7BIT",
            Body::EightBitMime => "8BITMIME",
            Body::BinaryMime => "BINARYMIME",
        }
    }
}

/// RET= of MAIL FROM (RFC 3461 §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    Full,
    Hdrs,
}

/// NOTIFY= of RCPT TO (RFC 3461 §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    Never,
    Success,
    Failure,
    Delay,
}

impl Notify {
    fn keyword(self) -> &'static str {
        match self {
            Notify::Never => "NEVER",
            Notify::Success => "SUCCESS",
            Notify::Failure => "FAILURE",
            Notify::Delay => "DELAY",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailParams {
    pub size: Option<u64>,
    pub body: Option<Body>,
    pub smtputf8: bool,
    /// RFC 8689.
    pub requiretls: bool,
    pub ret: Option<Ret>,
    /// RFC 3461 envelope id, given unencoded; xtext-encoded on the wire.
    pub envid: Option<String>,
    /// Further parameters, sent as given.
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RcptParams {
    pub notify: Vec<Notify>,
    /// Original recipient (RFC 3461 §4.2), given unencoded; sent as `ORCPT=rfc822;<xtext>`.
    pub orcpt: Option<String>,
    pub extra: Vec<String>,
}

/// A command the client can send. AUTH lines carrying credentials are not here: they come from
/// [`super::auth::SaslClient`] so that secrets stay in one guarded type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    /// RFC 2033, for LMTP servers.
    Lhlo(String),
    StartTls,
    /// `AUTH <mechanism>` with no initial response.
    AuthStart(String),
    /// Reverse-path without angle brackets; empty for the null sender `<>`.
    MailFrom(String, MailParams),
    RcptTo(String, RcptParams),
    Data,
    /// RFC 3030: the chunk itself follows the command line, sent separately.
    Bdat {
        size: u64,
        last: bool,
    },
    Rset,
    Noop(Option<String>),
    Vrfy(String),
    Expn(String),
    Help(Option<String>),
    Quit,
    /// Postfix's XCLIENT: attributes (NAME, ADDR, …) with values sent xtext-encoded, so the
    /// session is treated as if from that client.
    Xclient(Vec<(String, String)>),
    /// Bytes sent exactly as given — bare CR, bare LF and NUL included — for experiments.
    Raw(Vec<u8>),
}

/// The verb of a command, for session bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verb {
    Ehlo,
    Helo,
    Lhlo,
    StartTls,
    Auth,
    Mail,
    Rcpt,
    Data,
    Bdat,
    Rset,
    Noop,
    Vrfy,
    Expn,
    Help,
    Quit,
    Xclient,
    Raw,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Verb::Ehlo => "EHLO",
            Verb::Helo => "HELO",
            Verb::Lhlo => "LHLO",
            Verb::StartTls => "STARTTLS",
            Verb::Auth => "AUTH",
            Verb::Mail => "MAIL FROM",
            Verb::Rcpt => "RCPT TO",
            Verb::Data => "DATA",
            Verb::Bdat => "BDAT",
            Verb::Rset => "RSET",
            Verb::Noop => "NOOP",
            Verb::Vrfy => "VRFY",
            Verb::Expn => "EXPN",
            Verb::Help => "HELP",
            Verb::Quit => "QUIT",
            Verb::Xclient => "XCLIENT",
            Verb::Raw => "raw bytes",
        };
        f.write_str(s)
    }
}

impl Command {
    pub fn verb(&self) -> Verb {
        match self {
            Command::Ehlo(_) => Verb::Ehlo,
            Command::Helo(_) => Verb::Helo,
            Command::Lhlo(_) => Verb::Lhlo,
            Command::StartTls => Verb::StartTls,
            Command::AuthStart(_) => Verb::Auth,
            Command::MailFrom(..) => Verb::Mail,
            Command::RcptTo(..) => Verb::Rcpt,
            Command::Data => Verb::Data,
            Command::Bdat { .. } => Verb::Bdat,
            Command::Rset => Verb::Rset,
            Command::Xclient(_) => Verb::Xclient,
            Command::Noop(_) => Verb::Noop,
            Command::Vrfy(_) => Verb::Vrfy,
            Command::Expn(_) => Verb::Expn,
            Command::Help(_) => Verb::Help,
            Command::Quit => Verb::Quit,
            Command::Raw(_) => Verb::Raw,
        }
    }

    /// The verb the security gate judges this command by. Raw bytes count as the command they
    /// start with, so `AUTH PLAIN ...` typed as raw bytes is still held back on a cleartext
    /// connection.
    pub fn gate_verb(&self) -> Verb {
        match self {
            Command::Raw(bytes) => classify_raw(bytes),
            other => other.verb(),
        }
    }

    /// The exact bytes to send, CRLF included (raw commands are sent as given, nothing added).
    pub fn to_wire(&self) -> Vec<u8> {
        if let Command::Raw(bytes) = self {
            return bytes.clone();
        }
        let mut line = self.line();
        line.push_str("\r\n");
        line.into_bytes()
    }

    /// The command line without CRLF (raw commands rendered with escapes).
    pub fn line(&self) -> String {
        match self {
            Command::Ehlo(d) => format!("EHLO {d}"),
            Command::Helo(d) => format!("HELO {d}"),
            Command::Lhlo(d) => format!("LHLO {d}"),
            Command::StartTls => "STARTTLS".into(),
            Command::AuthStart(m) => format!("AUTH {m}"),
            Command::MailFrom(addr, p) => {
                let mut s = format!("MAIL FROM:<{addr}>");
                if let Some(size) = p.size {
                    s.push_str(&format!(" SIZE={size}"));
                }
                if let Some(body) = p.body {
                    s.push_str(&format!(" BODY={}", body.keyword()));
                }
                if p.smtputf8 {
                    s.push_str(" SMTPUTF8");
                }
                if p.requiretls {
                    s.push_str(" REQUIRETLS");
                }
                match p.ret {
                    Some(Ret::Full) => s.push_str(" RET=FULL"),
                    Some(Ret::Hdrs) => s.push_str(" RET=HDRS"),
                    None => {}
                }
                if let Some(id) = &p.envid {
                    s.push_str(&format!(" ENVID={}", xtext(id)));
                }
                push_extra(&mut s, &p.extra);
                s
            }
            Command::RcptTo(addr, p) => {
                let mut s = format!("RCPT TO:<{addr}>");
                if !p.notify.is_empty() {
                    let list: Vec<&str> = p.notify.iter().map(|n| n.keyword()).collect();
                    s.push_str(&format!(" NOTIFY={}", list.join(",")));
                }
                if let Some(orcpt) = &p.orcpt {
                    s.push_str(&format!(" ORCPT=rfc822;{}", xtext(orcpt)));
                }
                push_extra(&mut s, &p.extra);
                s
            }
            Command::Data => "DATA".into(),
            Command::Bdat { size, last } => {
                if *last {
                    format!("BDAT {size} LAST")
                } else {
                    format!("BDAT {size}")
                }
            }
            Command::Rset => "RSET".into(),
            Command::Noop(arg) => with_optional("NOOP", arg),
            Command::Vrfy(a) => format!("VRFY {a}"),
            Command::Expn(a) => format!("EXPN {a}"),
            Command::Help(arg) => with_optional("HELP", arg),
            Command::Quit => "QUIT".into(),
            Command::Xclient(attrs) => {
                let mut s = "XCLIENT".to_string();
                for (name, value) in attrs {
                    s.push(' ');
                    s.push_str(&xclient_attribute_text(name, value));
                }
                s
            }
            Command::Raw(bytes) => escape_bytes(bytes),
        }
    }
}

/// The verb a raw line starts with (case-insensitive), or [`Verb::Raw`] when it is none.
pub fn classify_raw(bytes: &[u8]) -> Verb {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let word: Vec<u8> = bytes[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic())
        .map(u8::to_ascii_uppercase)
        .collect();
    match word.as_slice() {
        b"EHLO" => Verb::Ehlo,
        b"HELO" => Verb::Helo,
        b"LHLO" => Verb::Lhlo,
        b"STARTTLS" => Verb::StartTls,
        b"AUTH" => Verb::Auth,
        b"MAIL" => Verb::Mail,
        b"RCPT" => Verb::Rcpt,
        b"DATA" => Verb::Data,
        b"BDAT" => Verb::Bdat,
        b"RSET" => Verb::Rset,
        b"NOOP" => Verb::Noop,
        b"VRFY" => Verb::Vrfy,
        b"EXPN" => Verb::Expn,
        b"HELP" => Verb::Help,
        b"QUIT" => Verb::Quit,
        b"XCLIENT" => Verb::Xclient,
        _ => Verb::Raw,
    }
}

/// The verbs of the commands in a raw line that may hold several (`NOOP\r\nAUTH ...\r\n`), in
/// order, so each is gated and answered. A command counts once its line ends (LF); text after
/// a DATA is the message, not commands, and its closing `.` is answered like a command.
pub fn raw_commands(bytes: &[u8]) -> Vec<Verb> {
    scan_raw(bytes).0
}

/// The verb the security gate must see for the part of a raw line that has no line end yet:
/// it goes out now, and the server acts on it once the line is finished.
pub fn raw_unterminated(bytes: &[u8]) -> Option<Verb> {
    let (_, in_message) = scan_raw(bytes);
    let tail = bytes.rsplit(|&b| b == b'\n').next().unwrap_or(bytes);
    (!tail.is_empty() && !in_message).then(|| classify_raw(tail))
}

/// The verbs of the complete lines, and whether the line ends inside a message body.
fn scan_raw(bytes: &[u8]) -> (Vec<Verb>, bool) {
    let mut verbs = Vec::new();
    let mut in_message = false;
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let Some(content) = line.strip_suffix(b"\n") else {
            break;
        };
        if in_message {
            if content.strip_suffix(b"\r").unwrap_or(content) == b"." {
                in_message = false;
                verbs.push(Verb::Raw);
            }
            continue;
        }
        let verb = classify_raw(line);
        in_message = verb == Verb::Data;
        verbs.push(verb);
    }
    (verbs, in_message)
}

fn with_optional(verb: &str, arg: &Option<String>) -> String {
    match arg {
        Some(a) => format!("{verb} {a}"),
        None => verb.to_string(),
    }
}

fn push_extra(s: &mut String, extra: &[String]) {
    for e in extra {
        s.push(' ');
        s.push_str(e);
    }
}

/// The attributes Postfix's XCLIENT takes (Postfix XCLIENT_README).
pub const XCLIENT_ATTRIBUTES: &[&str] = &[
    "NAME",
    "REVERSE_NAME",
    "ADDR",
    "PORT",
    "PROTO",
    "HELO",
    "LOGIN",
    "DESTADDR",
    "DESTPORT",
];

/// One XCLIENT attribute as it goes on the wire: `NAME=` and the value xtext-encoded, except
/// "[UNAVAILABLE]" and "[TEMPUNAVAIL]", which are keywords, not values to encode.
pub fn xclient_attribute_text(name: &str, value: &str) -> String {
    if value.starts_with('[') && value.ends_with(']') {
        format!("{name}={value}")
    } else {
        format!("{name}={}", xtext(value))
    }
}

/// The octets an XCLIENT command carrying only this attribute takes, CRLF included.
pub fn xclient_line_len(name: &str, value: &str) -> usize {
    "XCLIENT ".len() + xclient_attribute_text(name, value).len() + 2
}

/// The attributes Postfix authorises the next XCLIENT by: `smtpd_authorized_xclient_hosts`
/// is matched against the client's name and address as the XCLIENT before changed them, so
/// an earlier command that changed either would get the later ones refused.
const XCLIENT_IDENTITY: [&str; 2] = ["NAME", "ADDR"];

/// The attributes as XCLIENT commands of at most 512 octets each (RFC 5321 §4.5.3.1.4, CRLF
/// included). One command, in the order given, when they fit; otherwise as few as they
/// fit in, NAME and ADDR moved to the last (see [`XCLIENT_IDENTITY`]) and the rest in the
/// order given. Postfix applies each command, changing only the attributes it names, so a
/// long set is split rather than sent as one line a server may cut. An attribute too long
/// for a line of its own still goes alone: [`super::validate::xclient_attribute`] refuses
/// those before anything is sent.
pub fn xclient_commands(attrs: &[(String, String)]) -> Vec<Command> {
    let limit = super::validate::MAX_COMMAND_LINE;
    // "XCLIENT" and the CRLF; each attribute adds a space and itself.
    let base = "XCLIENT".len() + 2;
    let size = |(name, value): &(String, String)| 1 + xclient_attribute_text(name, value).len();
    if attrs.is_empty() {
        return Vec::new();
    }
    if base + attrs.iter().map(size).sum::<usize>() <= limit {
        return vec![Command::Xclient(attrs.to_vec())];
    }
    let (identity, rest): (Vec<_>, Vec<_>) = attrs.iter().cloned().partition(|(name, _)| {
        XCLIENT_IDENTITY
            .iter()
            .any(|id| id.eq_ignore_ascii_case(name))
    });
    // Packed from the end, so the last command is as full as it can be and holds NAME and
    // ADDR together whenever they fit one line; as few commands as packing from the start.
    let mut groups = Vec::new();
    let mut group: Vec<(String, String)> = Vec::new();
    let mut len = base;
    for attr in rest.into_iter().chain(identity).rev() {
        let add = size(&attr);
        if !group.is_empty() && len + add > limit {
            group.reverse();
            groups.push(std::mem::take(&mut group));
            len = base;
        }
        len += add;
        group.push(attr);
    }
    if !group.is_empty() {
        group.reverse();
        groups.push(group);
    }
    groups.into_iter().rev().map(Command::Xclient).collect()
}

/// RFC 3461 §4: xtext encodes '+', '=' and anything outside printable ASCII as "+HH".
pub fn xtext(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b'!'..=b'~').contains(&b) && b != b'+' && b != b'=' {
            out.push(b as char);
        } else {
            out.push_str(&format!("+{b:02X}"));
        }
    }
    out
}

/// Renders bytes for display: printable ASCII as is, CR/LF/TAB/NUL and other bytes escaped,
/// so a transcript shows exactly what travelled.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xclient_values_are_xtext_encoded_and_keywords_kept() {
        let c = Command::Xclient(vec![
            ("ADDR".into(), "192.0.2.7".into()),
            ("NAME".into(), "[UNAVAILABLE]".into()),
            ("HELO".into(), "a b=c".into()),
        ]);
        assert_eq!(
            c.line(),
            "XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE] HELO=a+20b+3Dc"
        );
        assert_eq!(c.verb(), Verb::Xclient);
        assert_eq!(classify_raw(b"xclient ADDR=1.2.3.4\r\n"), Verb::Xclient);
    }

    /// A set that fits one line stays one command, in the order given. A longer one: every
    /// attribute in exactly one line of at most 512 octets, NAME and ADDR in the last (Postfix
    /// authorises each XCLIENT by the name and address the one before set), the rest in order.
    #[test]
    fn xclient_attributes_are_split_over_lines_of_at_most_512() {
        let short = vec![
            ("ADDR".to_string(), "192.0.2.7".to_string()),
            ("NAME".to_string(), "[UNAVAILABLE]".to_string()),
            ("HELO".to_string(), "x".to_string()),
        ];
        assert_eq!(
            xclient_commands(&short),
            vec![Command::Xclient(short.clone())]
        );
        assert!(xclient_commands(&[]).is_empty());
        // Values of up to 255 octets, some needing xtext (each '+' becomes three octets); a
        // host name of 243 and an address, which fit one line together.
        let mut attrs = Vec::new();
        for (i, name) in XCLIENT_ATTRIBUTES.iter().enumerate() {
            let value = match *name {
                "ADDR" => "192.0.2.7".to_string(),
                "NAME" => vec!["n".repeat(60); 4].join("."),
                _ if i % 2 == 0 => "h".repeat(255),
                _ => "+".repeat(150),
            };
            attrs.push((name.to_string(), value));
        }
        let commands = xclient_commands(&attrs);
        assert!(
            commands.len() > 1,
            "{} attributes fit one line?",
            attrs.len()
        );
        let mut groups = Vec::new();
        for c in &commands {
            let wire = c.to_wire();
            assert!(wire.len() <= 512, "{} octets: {}", wire.len(), c.line());
            assert!(wire.starts_with(b"XCLIENT ") && wire.ends_with(b"\r\n"));
            let Command::Xclient(group) = c else {
                panic!("{c:?}");
            };
            assert!(!group.is_empty());
            groups.push(group.clone());
        }
        let is_identity = |n: &str| n == "NAME" || n == "ADDR";
        let last = groups.last().expect("a last command");
        assert!(
            attrs
                .iter()
                .filter(|(n, _)| is_identity(n))
                .all(|a| last.contains(a)),
            "NAME and ADDR in the last command: {last:?}"
        );
        let carried: Vec<_> = groups.iter().flatten().cloned().collect();
        let expected: Vec<_> = attrs
            .iter()
            .filter(|(n, _)| !is_identity(n))
            .chain(attrs.iter().filter(|(n, _)| is_identity(n)))
            .cloned()
            .collect();
        assert_eq!(carried, expected, "every attribute once, the rest in order");
        // As few lines as can be: no line could have taken the last attribute of the one
        // before it.
        for pair in commands.windows(2) {
            let Command::Xclient(before) = &pair[0] else {
                panic!("{pair:?}");
            };
            let (name, value) = before.last().expect("not empty");
            let grown = pair[1].to_wire().len() + 1 + xclient_attribute_text(name, value).len();
            assert!(grown > 512, "{name} would have fitted the line after");
        }
    }

    #[test]
    fn a_raw_line_is_split_into_its_commands() {
        assert_eq!(
            raw_commands(b"NOOP\r\nAUTH PLAIN eA==\r\nmail from:<a@b>\n"),
            vec![Verb::Noop, Verb::Auth, Verb::Mail]
        );
        // A message after DATA is not commands; its closing dot is answered.
        assert_eq!(
            raw_commands(b"DATA\r\nAUTH is just text here\r\n.\r\nQUIT\r\n"),
            vec![Verb::Data, Verb::Raw, Verb::Quit]
        );
        assert_eq!(raw_commands(b"NOOP"), Vec::<Verb>::new());
        assert_eq!(raw_unterminated(b"NOOP\r\nAUTH PLAIN"), Some(Verb::Auth));
        assert_eq!(raw_unterminated(b"DATA\r\nAUTH PLAIN"), None);
        assert_eq!(raw_unterminated(b"NOOP\r\n"), None);
    }

    #[test]
    fn simple_commands_end_with_crlf() {
        assert_eq!(
            Command::Ehlo("probe.example".into()).to_wire(),
            b"EHLO probe.example\r\n"
        );
        assert_eq!(Command::Helo("h".into()).to_wire(), b"HELO h\r\n");
        assert_eq!(Command::Lhlo("h".into()).to_wire(), b"LHLO h\r\n");
        assert_eq!(Command::StartTls.to_wire(), b"STARTTLS\r\n");
        assert_eq!(
            Command::AuthStart("LOGIN".into()).to_wire(),
            b"AUTH LOGIN\r\n"
        );
        assert_eq!(Command::Data.to_wire(), b"DATA\r\n");
        assert_eq!(Command::Rset.to_wire(), b"RSET\r\n");
        assert_eq!(Command::Noop(None).to_wire(), b"NOOP\r\n");
        assert_eq!(Command::Noop(Some("x".into())).to_wire(), b"NOOP x\r\n");
        assert_eq!(
            Command::Vrfy("postmaster".into()).to_wire(),
            b"VRFY postmaster\r\n"
        );
        assert_eq!(Command::Expn("staff".into()).to_wire(), b"EXPN staff\r\n");
        assert_eq!(
            Command::Help(Some("MAIL".into())).to_wire(),
            b"HELP MAIL\r\n"
        );
        assert_eq!(Command::Quit.to_wire(), b"QUIT\r\n");
        assert_eq!(
            Command::Bdat {
                size: 42,
                last: true
            }
            .to_wire(),
            b"BDAT 42 LAST\r\n"
        );
        assert_eq!(
            Command::Bdat {
                size: 7,
                last: false
            }
            .to_wire(),
            b"BDAT 7\r\n"
        );
    }

    #[test]
    fn mail_from_carries_every_parameter() {
        let p = MailParams {
            size: Some(1000),
            body: Some(Body::EightBitMime),
            smtputf8: true,
            requiretls: true,
            ret: Some(Ret::Hdrs),
            envid: Some("id+1=x y".into()),
            extra: vec!["MT-PRIORITY=3".into()],
        };
        assert_eq!(
            Command::MailFrom("a@b.example".into(), p).line(),
            "MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME SMTPUTF8 REQUIRETLS RET=HDRS ENVID=id+2B1+3Dx+20y MT-PRIORITY=3"
        );
        assert_eq!(
            Command::MailFrom(String::new(), MailParams::default()).to_wire(),
            b"MAIL FROM:<>\r\n"
        );
    }

    #[test]
    fn rcpt_to_carries_notify_and_orcpt() {
        let p = RcptParams {
            notify: vec![Notify::Success, Notify::Failure],
            orcpt: Some("x@y.example".into()),
            extra: vec![],
        };
        assert_eq!(
            Command::RcptTo("x@y.example".into(), p).line(),
            "RCPT TO:<x@y.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y.example"
        );
    }

    #[test]
    fn raw_bytes_go_out_exactly() {
        let bytes = b"MAIL FROM:<a>\n\r\x00.\r".to_vec();
        let c = Command::Raw(bytes.clone());
        assert_eq!(c.to_wire(), bytes);
        assert_eq!(c.line(), "MAIL FROM:<a>\\n\\r\\0.\\r");
        assert_eq!(c.verb(), Verb::Raw);
    }

    #[test]
    fn raw_lines_are_gated_by_their_verb() {
        assert_eq!(
            Command::Raw(b"auth plain AGEAYg==\r\n".to_vec()).gate_verb(),
            Verb::Auth
        );
        assert_eq!(
            Command::Raw(b"  MAIL FROM:<>\r\n".to_vec()).gate_verb(),
            Verb::Mail
        );
        assert_eq!(Command::Raw(b"\x00junk".to_vec()).gate_verb(), Verb::Raw);
        assert_eq!(Command::Rset.gate_verb(), Verb::Rset);
    }

    #[test]
    fn escape_shows_non_utf8() {
        assert_eq!(escape_bytes(b"a\xff\\"), "a\\xff\\\\");
    }
}
