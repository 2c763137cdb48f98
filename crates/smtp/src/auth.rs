//! Client side of SMTP AUTH (RFC 4954) for the SASL mechanisms smtpscope
//! speaks: PLAIN (RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5
//! (RFC 2195) and Google's XOAUTH2.
//!
//! This is a sans-IO state machine: it turns credentials and 334 challenges
//! into command lines and never touches a socket, so the same code drives a
//! live session, a dry run and the unit tests. Every line that carries
//! credential material comes back as a [`SecretLine`] so that transcripts
//! cannot print it by accident.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use hmac::{Hmac, KeyInit, Mac};
use md5::Md5;
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// How much of an undecodable challenge an error quotes: enough to recognise
/// a server's free-text prompt, short enough to keep a log line readable.
const CHALLENGE_PREVIEW_CHARS: usize = 40;

/// The marker that replaces credential material in anything shown to a user.
const REDACTED: &str = "<redacted>";

/// A SASL mechanism smtpscope can authenticate with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mechanism {
    /// RFC 4616: authzid NUL authcid NUL password in one message.
    Plain,
    /// The obsolete but ubiquitous LOGIN mechanism: username and password
    /// sent in two separate steps.
    Login,
    /// RFC 2195 challenge-response; the password never crosses the wire.
    CramMd5,
    /// Google's OAuth 2.0 bearer-token mechanism (predecessor of RFC 7628
    /// OAUTHBEARER).
    Xoauth2,
}

impl Mechanism {
    /// Every supported mechanism, in the order a user would most likely want
    /// them listed.
    pub const ALL: [Mechanism; 4] = [
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::CramMd5,
        Mechanism::Xoauth2,
    ];

    /// The name as registered with IANA and advertised in the EHLO `AUTH`
    /// keyword.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Xoauth2 => "XOAUTH2",
        }
    }

    /// Parses a mechanism name. SASL names are case-insensitive in EHLO
    /// (RFC 4422 §3.1 defines them in upper case, but servers and users are
    /// not consistent), so "cram-md5" and "CRAM-MD5" both match. Surrounding
    /// whitespace is ignored, since names often come from EHLO lines or
    /// config files.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s))
    }

    /// Whether RFC 4954 §4's initial response may carry the first client
    /// message. LOGIN is excluded because sending the username there is a
    /// non-standard extension that some servers reject; CRAM-MD5 cannot,
    /// since its only message answers the server's challenge.
    pub fn allows_initial_response(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Xoauth2)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the client proves its identity with.
#[derive(Clone)]
pub struct Credentials {
    /// The authentication identity (RFC 4422 authcid).
    pub username: String,
    /// The password, or the OAuth 2.0 bearer token for XOAUTH2.
    pub secret: SecretString,
    /// The identity to act as, if different from `username`. Only PLAIN can
    /// carry it (RFC 4616 §2); the other mechanisms have no field for it and
    /// ignore it.
    pub authzid: Option<String>,
}

impl Credentials {
    /// Credentials without an authorization identity.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            secret: SecretString::from(secret.into()),
            authzid: None,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &format_args!("{REDACTED}"))
            .field("authzid", &self.authzid)
            .finish()
    }
}

/// A command line that may carry credential material.
///
/// There is deliberately no `Display` impl and `Debug` always prints
/// `<redacted>`, so a line can only reach a log through [`redacted`] or an
/// explicit [`expose`]. The text is zeroized on drop.
///
/// [`redacted`]: SecretLine::redacted
/// [`expose`]: SecretLine::expose
pub struct SecretLine {
    text: Zeroizing<String>,
    /// Byte offset where credential material starts; everything before it
    /// (e.g. "AUTH PLAIN ") is safe to show. `None` for lines with no secret.
    secret_from: Option<usize>,
}

impl SecretLine {
    fn public(text: &str) -> Self {
        Self {
            text: Zeroizing::new(text.to_owned()),
            secret_from: None,
        }
    }

    /// Builds `prefix` followed by base64(`payload`). The buffer is sized up
    /// front so that encoding never reallocates and leaves an unzeroized copy
    /// of the secret behind in freed memory.
    fn secret_base64(prefix: &str, payload: &[u8]) -> Self {
        let encoded = base64::encoded_len(payload.len(), true).unwrap_or(0);
        let mut text = Zeroizing::new(String::with_capacity(prefix.len() + encoded));
        text.push_str(prefix);
        STANDARD.encode_string(payload, &mut text);
        Self {
            text,
            secret_from: Some(prefix.len()),
        }
    }

    /// The line exactly as it must be sent, without CRLF.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The line as sent, followed by the CRLF that ends every SMTP command
    /// line (RFC 5321 §2.3.8), in a buffer that is wiped on drop.
    pub fn to_wire(&self) -> Zeroizing<Vec<u8>> {
        let mut wire = Zeroizing::new(Vec::with_capacity(self.text.len() + 2));
        wire.extend_from_slice(self.text.as_bytes());
        wire.extend_from_slice(b"\r\n");
        wire
    }

    /// The line as it may appear in a transcript: credential material is
    /// replaced by `<redacted>`, so "AUTH PLAIN AHRpbQB0..." becomes
    /// "AUTH PLAIN <redacted>" and a bare response becomes "<redacted>".
    /// Lines without credentials ("AUTH LOGIN", the empty XOAUTH2
    /// acknowledgement, "*") are returned unchanged.
    pub fn redacted(&self) -> String {
        match self.secret_from {
            None => self.text.as_str().to_owned(),
            Some(at) => format!("{}{REDACTED}", self.text.get(..at).unwrap_or("")),
        }
    }

    /// Whether the line contains credential material. LOGIN's username step
    /// counts: it is half of what an eavesdropper needs.
    pub fn carries_secret(&self) -> bool {
        self.secret_from.is_some()
    }
}

impl fmt::Debug for SecretLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Why the client could not answer a 334 challenge. After any of these the
/// exchange should be abandoned with [`SaslClient::cancel`].
#[derive(Debug, thiserror::Error)]
pub enum SaslError {
    /// `step` was called before `start`, so no AUTH command is in flight.
    #[error("received a 334 challenge before the AUTH command was started")]
    NotStarted,
    /// RFC 4954 §4 requires the 334 text to be base64.
    #[error("334 challenge is not valid base64 ({source}): {preview:?}")]
    InvalidBase64 {
        /// The first 40 characters of the challenge as received.
        preview: String,
        /// What the decoder objected to.
        #[source]
        source: base64::DecodeError,
    },
    /// The server asked for more steps than the mechanism has.
    #[error("{mechanism} has no step {step}: unexpected 334 challenge")]
    UnexpectedChallenge {
        /// The mechanism in progress.
        mechanism: Mechanism,
        /// The 1-based number of the offending challenge.
        step: usize,
    },
    /// CRAM-MD5's security rests on a fresh challenge (RFC 2195 §2); an empty
    /// one is a server bug, and answering it would hand out a digest of the
    /// password over a constant.
    #[error("CRAM-MD5 server sent an empty challenge")]
    EmptyChallenge,
    /// HMAC key setup failed. HMAC accepts keys of any length, so this should
    /// be unreachable; it exists so that no panic path is needed.
    #[error("HMAC-MD5 could not be keyed with the password")]
    Hmac,
}

/// Drives one AUTH exchange for one mechanism.
///
/// Call [`start`](Self::start) for the AUTH command, then
/// [`step`](Self::step) with the text of every 334 reply, sending each line
/// it returns, until the server answers 235 or 5xx.
pub struct SaslClient {
    mechanism: Mechanism,
    credentials: Credentials,
    started: bool,
    /// Whether the first client message went out with the AUTH command.
    initial_sent: bool,
    /// Number of 334 challenges answered so far.
    steps: usize,
    challenges: Vec<String>,
}

impl fmt::Debug for SaslClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaslClient")
            .field("mechanism", &self.mechanism)
            .field("credentials", &self.credentials)
            .field("started", &self.started)
            .field("initial_sent", &self.initial_sent)
            .field("steps", &self.steps)
            .field("challenges", &self.challenges)
            .finish()
    }
}

impl SaslClient {
    pub fn new(mechanism: Mechanism, credentials: Credentials) -> Self {
        Self {
            mechanism,
            credentials,
            started: false,
            initial_sent: false,
            steps: 0,
            challenges: Vec::new(),
        }
    }

    /// The AUTH command, without CRLF. With `initial_response` and a
    /// mechanism that allows it, the first client message rides along (RFC
    /// 4954 §4), saving a round trip; otherwise it is sent in answer to the
    /// first 334. Calling `start` again begins a fresh exchange.
    pub fn start(&mut self, initial_response: bool) -> SecretLine {
        self.started = true;
        self.steps = 0;
        self.challenges.clear();
        self.initial_sent = initial_response && self.mechanism.allows_initial_response();
        let command = format!("AUTH {}", self.mechanism.name());
        if !self.initial_sent {
            return SecretLine::public(&command);
        }
        // RFC 4954 §4 would send an empty initial response as "=", but
        // neither PLAIN nor XOAUTH2 messages can be empty.
        let message = self.first_message();
        SecretLine::secret_base64(&format!("{command} "), &message)
    }

    /// Answers one 334 challenge: `challenge_b64` is the reply text after
    /// "334 ". The line to send is returned without CRLF. Which message goes
    /// out depends only on how many challenges came before, never on the
    /// prompt text, because LOGIN prompts vary between servers and are not
    /// standardised.
    pub fn step(&mut self, challenge_b64: &str) -> Result<SecretLine, SaslError> {
        if !self.started {
            return Err(SaslError::NotStarted);
        }
        let challenge = decode_challenge(challenge_b64)?;
        self.challenges
            .push(String::from_utf8_lossy(&challenge).into_owned());
        let index = self.steps;
        self.steps += 1;
        let unexpected = || SaslError::UnexpectedChallenge {
            mechanism: self.mechanism,
            step: index + 1,
        };

        match (self.mechanism, self.initial_sent, index) {
            // A 334 after PLAIN's initial response has nothing left to ask
            // for; without one, the server's (normally empty) 334 asks for
            // the message (RFC 4954 §4).
            (Mechanism::Plain, false, 0) => Ok(self.first_message_line()),
            (Mechanism::Plain, _, _) => Err(unexpected()),
            // LOGIN: first prompt is for the username, second for the
            // password.
            (Mechanism::Login, _, 0) => Ok(SecretLine::secret_base64(
                "",
                self.credentials.username.as_bytes(),
            )),
            (Mechanism::Login, _, 1) => Ok(SecretLine::secret_base64(
                "",
                self.credentials.secret.expose_secret().as_bytes(),
            )),
            (Mechanism::Login, _, _) => Err(unexpected()),
            (Mechanism::CramMd5, _, 0) => self.cram_md5_response(&challenge),
            (Mechanism::CramMd5, _, _) => Err(unexpected()),
            // Without an initial response, the first 334 asks for the token.
            (Mechanism::Xoauth2, false, 0) => Ok(self.first_message_line()),
            // After the token, a 334 carries a base64 JSON error; Google's
            // XOAUTH2 protocol requires an empty line to obtain the final
            // 5xx, which is what ends the exchange.
            (Mechanism::Xoauth2, true, 0) | (Mechanism::Xoauth2, false, 1) => {
                Ok(SecretLine::public(""))
            }
            (Mechanism::Xoauth2, _, _) => Err(unexpected()),
        }
    }

    /// The line that aborts the exchange (RFC 4954 §4); the server answers
    /// 501. Send it after [`step`](Self::step) fails so the session is
    /// usable again.
    pub fn cancel(&mut self) -> SecretLine {
        self.started = false;
        SecretLine::public("*")
    }

    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// Every challenge received since `start`, decoded from base64 and
    /// converted to text lossily, for the transcript. A challenge that was
    /// not valid base64 is not recorded.
    pub fn decoded_challenges(&self) -> &[String] {
        &self.challenges
    }

    fn first_message_line(&self) -> SecretLine {
        SecretLine::secret_base64("", &self.first_message())
    }

    /// The message a mechanism sends unprompted, for those that have one.
    fn first_message(&self) -> Zeroizing<Vec<u8>> {
        match self.mechanism {
            Mechanism::Xoauth2 => xoauth2_message(&self.credentials),
            _ => plain_message(&self.credentials),
        }
    }

    /// RFC 2195 §2: the response is the username, a space, and the HMAC-MD5
    /// of the challenge keyed with the password, as 32 lowercase hex digits.
    fn cram_md5_response(&self, challenge: &[u8]) -> Result<SecretLine, SaslError> {
        if challenge.is_empty() {
            return Err(SaslError::EmptyChallenge);
        }
        let password = self.credentials.secret.expose_secret().as_bytes();
        let mut mac = Hmac::<Md5>::new_from_slice(password).map_err(|_| SaslError::Hmac)?;
        mac.update(challenge);
        let digest = mac.finalize().into_bytes();

        let username = &self.credentials.username;
        let mut response =
            Zeroizing::new(String::with_capacity(username.len() + 1 + 2 * digest.len()));
        response.push_str(username);
        response.push(' ');
        for byte in digest.iter() {
            response.push(hex_digit(byte >> 4));
            response.push(hex_digit(byte & 0x0f));
        }
        Ok(SecretLine::secret_base64("", response.as_bytes()))
    }
}

fn hex_digit(nibble: u8) -> char {
    char::from(b"0123456789abcdef"[usize::from(nibble & 0x0f)])
}

/// Decodes a 334 text. Surrounding whitespace (a stray CR, a trailing space)
/// is not part of the challenge, and missing padding is tolerated because
/// some servers omit it even though RFC 4954 §4 asks for RFC 4648 base64.
fn decode_challenge(text: &str) -> Result<Vec<u8>, SaslError> {
    let text = text.trim_matches(|c: char| c.is_ascii_whitespace());
    STANDARD_PAD_INDIFFERENT
        .decode(text)
        .map_err(|source| SaslError::InvalidBase64 {
            preview: preview(text),
            source,
        })
}

fn preview(text: &str) -> String {
    let mut shown: String = text.chars().take(CHALLENGE_PREVIEW_CHARS).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// RFC 4616 §2: [authzid] NUL authcid NUL passwd. RFC 4616 forbids NUL in
/// the fields: configured credentials are refused with one before anything
/// connects ([`crate::validate::sasl_identity`], [`crate::validate::sasl_secret`]);
/// here the fields pass unchecked, so a test built by hand can still send a
/// malformed message on purpose.
fn plain_message(creds: &Credentials) -> Zeroizing<Vec<u8>> {
    let authzid = creds.authzid.as_deref().unwrap_or("");
    let password = creds.secret.expose_secret();
    let mut message = Zeroizing::new(Vec::with_capacity(
        authzid.len() + creds.username.len() + password.len() + 2,
    ));
    message.extend_from_slice(authzid.as_bytes());
    message.push(0);
    message.extend_from_slice(creds.username.as_bytes());
    message.push(0);
    message.extend_from_slice(password.as_bytes());
    message
}

/// Google's XOAUTH2 format: "user=" user ^A "auth=Bearer " token ^A ^A.
fn xoauth2_message(creds: &Credentials) -> Zeroizing<Vec<u8>> {
    const USER: &[u8] = b"user=";
    const AUTH: &[u8] = b"\x01auth=Bearer ";
    const END: &[u8] = b"\x01\x01";
    let token = creds.secret.expose_secret();
    let mut message = Zeroizing::new(Vec::with_capacity(
        USER.len() + creds.username.len() + AUTH.len() + token.len() + END.len(),
    ));
    message.extend_from_slice(USER);
    message.extend_from_slice(creds.username.as_bytes());
    message.extend_from_slice(AUTH);
    message.extend_from_slice(token.as_bytes());
    message.extend_from_slice(END);
    message
}

/// Every string that must never appear in output for these credentials when
/// authenticating with `mech`: the password (or token) itself and each
/// base64 line that embeds it whole. Base64 hides the password from a plain
/// substring search, and its encoding depends on the alignment inside the
/// message, so the full lines are listed rather than fragments. CRAM-MD5
/// adds nothing: its response is a digest, never the password.
///
/// The list is sorted longest first and has no empty or duplicate entries,
/// so replacing needles in order never leaves part of a longer one behind.
pub fn secret_needles(mech: Mechanism, creds: &Credentials) -> Vec<String> {
    let password = creds.secret.expose_secret();
    let mut needles = vec![password.to_owned()];
    match mech {
        Mechanism::Plain => needles.push(STANDARD.encode(plain_message(creds).as_slice())),
        Mechanism::Xoauth2 => needles.push(STANDARD.encode(xoauth2_message(creds).as_slice())),
        Mechanism::Login => needles.push(STANDARD.encode(password)),
        Mechanism::CramMd5 => {}
    }
    needles.retain(|n| !n.is_empty());
    needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    needles.dedup();
    needles
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    fn creds(user: &str, pass: &str) -> Credentials {
        Credentials::new(user, pass)
    }

    fn b64(s: &[u8]) -> String {
        STANDARD.encode(s)
    }

    fn unb64(s: &str) -> Vec<u8> {
        STANDARD.decode(s).unwrap()
    }

    const USERNAME_PROMPT: &str = "VXNlcm5hbWU6";
    const PASSWORD_PROMPT: &str = "UGFzc3dvcmQ6";

    // --- Mechanism ---

    #[test]
    fn mechanism_names() {
        assert_eq!(Mechanism::Plain.name(), "PLAIN");
        assert_eq!(Mechanism::Login.name(), "LOGIN");
        assert_eq!(Mechanism::CramMd5.name(), "CRAM-MD5");
        assert_eq!(Mechanism::Xoauth2.name(), "XOAUTH2");
        assert_eq!(Mechanism::CramMd5.to_string(), "CRAM-MD5");
    }

    #[test]
    fn mechanism_parse_is_case_insensitive_and_round_trips() {
        for m in Mechanism::ALL {
            assert_eq!(Mechanism::parse(m.name()), Some(m));
            assert_eq!(Mechanism::parse(&m.name().to_lowercase()), Some(m));
        }
        assert_eq!(Mechanism::parse("cram-md5"), Some(Mechanism::CramMd5));
        assert_eq!(Mechanism::parse("Cram-Md5"), Some(Mechanism::CramMd5));
        assert_eq!(Mechanism::parse("xoauth2"), Some(Mechanism::Xoauth2));
        assert_eq!(Mechanism::parse(" plain "), Some(Mechanism::Plain));
    }

    #[test]
    fn mechanism_parse_rejects_unknown() {
        for s in [
            "",
            "CRAM",
            "CRAMMD5",
            "CRAM_MD5",
            "SCRAM-SHA-1",
            "OAUTHBEARER",
            "PLAINX",
        ] {
            assert_eq!(Mechanism::parse(s), None, "{s}");
        }
    }

    #[test]
    fn mechanism_all_is_complete_and_distinct() {
        let mut names: Vec<_> = Mechanism::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 4);
    }

    #[test]
    fn mechanism_deserialises_from_kebab_case() {
        let cases = [
            ("plain", Mechanism::Plain),
            ("login", Mechanism::Login),
            ("cram-md5", Mechanism::CramMd5),
            ("xoauth2", Mechanism::Xoauth2),
        ];
        for (text, want) in cases {
            let de: StrDeserializer<'_, ValueError> = text.into_deserializer();
            assert_eq!(Mechanism::deserialize(de).unwrap(), want);
        }
        let de: StrDeserializer<'_, ValueError> = "CRAM-MD5".into_deserializer();
        assert!(Mechanism::deserialize(de).is_err());
    }

    #[test]
    fn initial_response_allowed_only_for_plain_and_xoauth2() {
        assert!(Mechanism::Plain.allows_initial_response());
        assert!(Mechanism::Xoauth2.allows_initial_response());
        assert!(!Mechanism::Login.allows_initial_response());
        assert!(!Mechanism::CramMd5.allows_initial_response());
    }

    // --- PLAIN ---

    #[test]
    fn plain_known_encoding_with_initial_response() {
        let mut c = SaslClient::new(Mechanism::Plain, creds("tim", "tanstaaftanstaaf"));
        let line = c.start(true);
        assert_eq!(line.expose(), "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
        assert!(line.carries_secret());
        assert_eq!(line.redacted(), "AUTH PLAIN <redacted>");
        assert_eq!(
            unb64("AHRpbQB0YW5zdGFhZnRhbnN0YWFm"),
            b"\0tim\0tanstaaftanstaaf"
        );
    }

    #[test]
    fn plain_user_pass_known_encoding() {
        let mut c = SaslClient::new(Mechanism::Plain, creds("user", "pass"));
        assert_eq!(c.start(true).expose(), "AUTH PLAIN AHVzZXIAcGFzcw==");
    }

    #[test]
    fn plain_with_authzid() {
        // RFC 4616 §4 example: authzid "Ursel", authcid "Kurt", password
        // "xipj3plmq".
        let mut cr = creds("Kurt", "xipj3plmq");
        cr.authzid = Some("Ursel".into());
        let mut c = SaslClient::new(Mechanism::Plain, cr);
        let line = c.start(true);
        assert_eq!(
            line.expose(),
            format!("AUTH PLAIN {}", b64(b"Ursel\0Kurt\0xipj3plmq"))
        );
        assert_eq!(line.expose(), "AUTH PLAIN VXJzZWwAS3VydAB4aXBqM3BsbXE=");
    }

    #[test]
    fn plain_without_initial_response_waits_for_334() {
        let mut c = SaslClient::new(Mechanism::Plain, creds("tim", "tanstaaftanstaaf"));
        let line = c.start(false);
        assert_eq!(line.expose(), "AUTH PLAIN");
        assert!(!line.carries_secret());
        assert_eq!(line.redacted(), "AUTH PLAIN");

        let resp = c.step("").unwrap();
        assert_eq!(resp.expose(), "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
        assert!(resp.carries_secret());
        assert_eq!(resp.redacted(), "<redacted>");
        assert_eq!(c.decoded_challenges(), [""]);

        let err = c.step("").unwrap_err();
        assert!(matches!(
            err,
            SaslError::UnexpectedChallenge {
                mechanism: Mechanism::Plain,
                step: 2
            }
        ));
    }

    #[test]
    fn plain_challenge_after_initial_response_is_an_error() {
        let mut c = SaslClient::new(Mechanism::Plain, creds("u", "p"));
        c.start(true);
        let err = c.step(&b64(b"huh?")).unwrap_err();
        assert!(matches!(
            err,
            SaslError::UnexpectedChallenge {
                mechanism: Mechanism::Plain,
                step: 1
            }
        ));
        // Still recorded: the server's text is what the user needs to see.
        assert_eq!(c.decoded_challenges(), ["huh?"]);
    }

    #[test]
    fn plain_non_ascii_password_is_utf8() {
        let mut c = SaslClient::new(Mechanism::Plain, creds("jörg", "pässwörd€"));
        let line = c.start(true);
        let payload = line.expose().strip_prefix("AUTH PLAIN ").unwrap();
        assert_eq!(unb64(payload), "\0jörg\0pässwörd€".as_bytes());
        assert_eq!(payload, "AGrDtnJnAHDDpHNzd8O2cmTigqw=");
    }

    // --- LOGIN ---

    #[test]
    fn login_never_sends_initial_response() {
        let mut c = SaslClient::new(Mechanism::Login, creds("tim", "secret"));
        let line = c.start(true);
        assert_eq!(line.expose(), "AUTH LOGIN");
        assert!(!line.carries_secret());
        assert_eq!(line.redacted(), "AUTH LOGIN");
    }

    #[test]
    fn login_steps_username_then_password() {
        let mut c = SaslClient::new(Mechanism::Login, creds("tim", "tanstaaftanstaaf"));
        c.start(false);
        let user = c.step(USERNAME_PROMPT).unwrap();
        assert_eq!(user.expose(), "dGlt");
        assert!(user.carries_secret());
        assert_eq!(user.redacted(), "<redacted>");
        let pass = c.step(PASSWORD_PROMPT).unwrap();
        assert_eq!(pass.expose(), "dGFuc3RhYWZ0YW5zdGFhZg==");
        assert!(pass.carries_secret());
        assert_eq!(pass.redacted(), "<redacted>");
        assert_eq!(c.decoded_challenges(), ["Username:", "Password:"]);

        let err = c.step(PASSWORD_PROMPT).unwrap_err();
        assert!(matches!(
            err,
            SaslError::UnexpectedChallenge {
                mechanism: Mechanism::Login,
                step: 3
            }
        ));
    }

    #[test]
    fn login_decides_by_step_not_prompt_text() {
        // Prompts in the "wrong" order, and unrelated prompts, must not
        // change what is sent.
        let mut c = SaslClient::new(Mechanism::Login, creds("alice", "hunter2"));
        c.start(false);
        assert_eq!(c.step(PASSWORD_PROMPT).unwrap().expose(), b64(b"alice"));
        assert_eq!(c.step(USERNAME_PROMPT).unwrap().expose(), b64(b"hunter2"));
        assert_eq!(c.decoded_challenges(), ["Password:", "Username:"]);

        let mut c = SaslClient::new(Mechanism::Login, creds("alice", "hunter2"));
        c.start(false);
        assert_eq!(c.step("").unwrap().expose(), b64(b"alice"));
        assert_eq!(
            c.step(&b64(b"Wer bist du?")).unwrap().expose(),
            b64(b"hunter2")
        );
    }

    #[test]
    fn login_non_ascii_credentials() {
        let mut c = SaslClient::new(Mechanism::Login, creds("ümlaut", "päss 🔑"));
        c.start(false);
        assert_eq!(
            unb64(c.step(USERNAME_PROMPT).unwrap().expose()),
            "ümlaut".as_bytes()
        );
        assert_eq!(
            unb64(c.step(PASSWORD_PROMPT).unwrap().expose()),
            "päss 🔑".as_bytes()
        );
    }

    // --- CRAM-MD5 ---

    /// RFC 2195 §2's worked example. The challenge host is ".net"; the
    /// commonly misquoted ".com" yields a different digest.
    #[test]
    fn cram_md5_rfc2195_vector() {
        let mut c = SaslClient::new(Mechanism::CramMd5, creds("tim", "tanstaaftanstaaf"));
        let line = c.start(true);
        assert_eq!(line.expose(), "AUTH CRAM-MD5");
        assert!(!line.carries_secret());
        let challenge = b64(b"<1896.697170952@postoffice.reston.mci.net>");
        assert_eq!(
            challenge,
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
        );
        let resp = c.step(&challenge).unwrap();
        assert_eq!(
            resp.expose(),
            "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"
        );
        assert_eq!(
            unb64(resp.expose()),
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        );
        assert!(resp.carries_secret());
        assert_eq!(
            c.decoded_challenges(),
            ["<1896.697170952@postoffice.reston.mci.net>"]
        );
        assert!(matches!(
            c.step(&challenge).unwrap_err(),
            SaslError::UnexpectedChallenge {
                mechanism: Mechanism::CramMd5,
                step: 2
            }
        ));
    }

    #[test]
    fn cram_md5_rfc2104_vectors() {
        // RFC 2104 Appendix / RFC 2202 §2 test case 2, through the whole
        // CRAM-MD5 path.
        fn digest_hex(key: &str, data: &[u8]) -> String {
            let mut c = SaslClient::new(Mechanism::CramMd5, creds("u", key));
            c.start(false);
            let resp = unb64(c.step(&b64(data)).unwrap().expose());
            String::from_utf8(resp)
                .unwrap()
                .strip_prefix("u ")
                .unwrap()
                .to_owned()
        }
        assert_eq!(
            digest_hex("Jefe", b"what do ya want for nothing?"),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        // RFC 2104 §3: a key longer than the 64-byte block is replaced by
        // its MD5 digest before use.
        let long_key = "k".repeat(100);
        let hashed = <Md5 as md5::Digest>::digest(long_key.as_bytes());
        let mut mac = Hmac::<Md5>::new_from_slice(&hashed).unwrap();
        mac.update(b"data");
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest_hex(&long_key, b"data"), want);
    }

    #[test]
    fn cram_md5_hex_is_lowercase_and_32_digits() {
        let mut c = SaslClient::new(Mechanism::CramMd5, creds("user name", "pw"));
        c.start(false);
        let resp = String::from_utf8(unb64(c.step(&b64(b"<x@y>")).unwrap().expose())).unwrap();
        let hex = resp.strip_prefix("user name ").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn cram_md5_empty_challenge_is_refused() {
        let mut c = SaslClient::new(Mechanism::CramMd5, creds("tim", "pw"));
        c.start(false);
        assert!(matches!(c.step("").unwrap_err(), SaslError::EmptyChallenge));
    }

    // --- XOAUTH2 ---

    #[test]
    fn xoauth2_initial_response_format() {
        let mut c = SaslClient::new(
            Mechanism::Xoauth2,
            creds(
                "someuser@example.com",
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
            ),
        );
        let line = c.start(true);
        let payload = line.expose().strip_prefix("AUTH XOAUTH2 ").unwrap();
        assert_eq!(
            unb64(payload),
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        // The example encoding from Google's XOAUTH2 protocol documentation.
        assert_eq!(
            payload,
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        assert_eq!(line.redacted(), "AUTH XOAUTH2 <redacted>");
    }

    #[test]
    fn xoauth2_error_challenge_gets_empty_response() {
        let mut c = SaslClient::new(Mechanism::Xoauth2, creds("u@example.com", "tok"));
        c.start(true);
        let json = r#"{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}"#;
        let resp = c.step(&b64(json.as_bytes())).unwrap();
        assert_eq!(resp.expose(), "");
        assert!(!resp.carries_secret());
        assert_eq!(resp.redacted(), "");
        assert_eq!(c.decoded_challenges(), [json]);
        assert!(matches!(
            c.step("").unwrap_err(),
            SaslError::UnexpectedChallenge {
                mechanism: Mechanism::Xoauth2,
                step: 2
            }
        ));
    }

    #[test]
    fn xoauth2_without_initial_response() {
        let mut c = SaslClient::new(Mechanism::Xoauth2, creds("u@example.com", "tok"));
        assert_eq!(c.start(false).expose(), "AUTH XOAUTH2");
        let token = c.step("").unwrap();
        assert_eq!(
            unb64(token.expose()),
            b"user=u@example.com\x01auth=Bearer tok\x01\x01"
        );
        assert!(token.carries_secret());
        assert_eq!(c.step(&b64(b"{}")).unwrap().expose(), "");
        assert!(c.step("").is_err());
    }

    #[test]
    fn xoauth2_ignores_authzid() {
        let mut cr = creds("u", "tok");
        cr.authzid = Some("admin".into());
        let mut c = SaslClient::new(Mechanism::Xoauth2, cr);
        let line = c.start(true);
        let payload = line.expose().strip_prefix("AUTH XOAUTH2 ").unwrap();
        assert_eq!(unb64(payload), b"user=u\x01auth=Bearer tok\x01\x01");
    }

    // --- challenge decoding and errors ---

    #[test]
    fn bad_base64_is_an_error_with_preview() {
        let mut c = SaslClient::new(Mechanism::Login, creds("u", "p"));
        c.start(false);
        let text = "Please enter your username and password, then wait patiently";
        let err = c.step(text).unwrap_err();
        match &err {
            SaslError::InvalidBase64 { preview, .. } => {
                assert_eq!(preview.chars().count(), 41);
                assert!(preview.starts_with("Please enter your username and password,"));
                assert!(preview.ends_with('…'));
            }
            other => panic!("unexpected error {other:?}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("not valid base64"), "{msg}");
        assert!(
            msg.contains("Please enter your username and password,"),
            "{msg}"
        );
        assert!(!msg.contains("wait patiently"), "{msg}");
        // A failed step neither counts nor is recorded.
        assert!(c.decoded_challenges().is_empty());
        assert_eq!(c.step(USERNAME_PROMPT).unwrap().expose(), b64(b"u"));
    }

    #[test]
    fn short_bad_base64_preview_is_untruncated() {
        let mut c = SaslClient::new(Mechanism::CramMd5, creds("u", "p"));
        c.start(false);
        match c.step("Go ahead").unwrap_err() {
            SaslError::InvalidBase64 { preview, .. } => assert_eq!(preview, "Go ahead"),
            other => panic!("unexpected error {other:?}"),
        }
        for bad in ["abc!", "A", "====", "YW Jj"] {
            assert!(
                matches!(c.step(bad).unwrap_err(), SaslError::InvalidBase64 { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn preview_truncates_on_char_boundaries() {
        let text = "ü".repeat(50);
        let p = preview(&text);
        assert_eq!(p.chars().count(), CHALLENGE_PREVIEW_CHARS + 1);
        assert!(p.starts_with(&"ü".repeat(40)));
    }

    #[test]
    fn challenge_whitespace_and_missing_padding_are_tolerated() {
        let mut c = SaslClient::new(Mechanism::Login, creds("u", "p"));
        c.start(false);
        c.step(" VXNlcm5hbWU6\r\n").unwrap();
        // "Password" without padding: "UGFzc3dvcmQ" (11 chars).
        c.step("UGFzc3dvcmQ").unwrap();
        assert_eq!(c.decoded_challenges(), ["Username:", "Password"]);
    }

    #[test]
    fn non_utf8_challenge_is_recorded_lossily() {
        let mut c = SaslClient::new(Mechanism::CramMd5, creds("u", "p"));
        c.start(false);
        c.step(&b64(b"<\xff\xfe@x>")).unwrap();
        assert_eq!(c.decoded_challenges(), ["<\u{fffd}\u{fffd}@x>"]);
    }

    #[test]
    fn step_before_start_is_an_error() {
        let mut c = SaslClient::new(Mechanism::Login, creds("u", "p"));
        assert!(matches!(
            c.step(USERNAME_PROMPT).unwrap_err(),
            SaslError::NotStarted
        ));
    }

    #[test]
    fn restart_resets_steps_and_transcript() {
        let mut c = SaslClient::new(Mechanism::Login, creds("u", "p"));
        c.start(false);
        c.step(USERNAME_PROMPT).unwrap();
        c.step(PASSWORD_PROMPT).unwrap();
        c.start(false);
        assert!(c.decoded_challenges().is_empty());
        assert_eq!(c.step(USERNAME_PROMPT).unwrap().expose(), b64(b"u"));
    }

    #[test]
    fn cancel_line_and_state() {
        let mut c = SaslClient::new(Mechanism::Login, creds("u", "p"));
        c.start(false);
        let cancel = c.cancel();
        assert_eq!(cancel.expose(), "*");
        assert!(!cancel.carries_secret());
        assert_eq!(cancel.redacted(), "*");
        assert!(matches!(
            c.step(USERNAME_PROMPT).unwrap_err(),
            SaslError::NotStarted
        ));
        assert_eq!(c.mechanism(), Mechanism::Login);
    }

    #[test]
    fn to_wire_appends_crlf() {
        let mut c = SaslClient::new(Mechanism::Plain, creds("user", "pass"));
        assert_eq!(
            c.start(true).to_wire().as_slice(),
            b"AUTH PLAIN AHVzZXIAcGFzcw==\r\n"
        );
    }

    // --- redaction ---

    #[test]
    fn debug_never_shows_secrets() {
        let password = "tanstaaftanstaaf";
        let cr = creds("tim", password);
        let needles = secret_needles(Mechanism::Plain, &cr);
        let mut c = SaslClient::new(Mechanism::Plain, cr.clone());
        let line = c.start(true);
        assert_eq!(format!("{line:?}"), "<redacted>");
        assert_eq!(format!("{line:#?}"), "<redacted>");
        let mut outputs = vec![
            format!("{line:?}"),
            format!("{c:?}"),
            format!("{cr:?}"),
            format!("{:?}", Ok::<_, SaslError>(line)),
        ];

        let mut login = SaslClient::new(Mechanism::Login, cr.clone());
        login.start(false);
        login.step(USERNAME_PROMPT).unwrap();
        let pass = login.step(PASSWORD_PROMPT).unwrap();
        outputs.push(format!("{pass:?}"));
        outputs.push(pass.redacted());
        outputs.push(format!("{login:?}"));

        for out in &outputs {
            assert!(!out.contains(password), "{out}");
            for n in &needles {
                assert!(!out.contains(n.as_str()), "{out} contains {n}");
            }
        }
        assert!(format!("{cr:?}").contains("tim"));
    }

    #[test]
    fn redacted_lines_contain_no_needles() {
        for mech in Mechanism::ALL {
            let cr = creds("tim", "tanstaaftanstaaf");
            let needles = secret_needles(mech, &cr);
            let mut c = SaslClient::new(mech, cr);
            let mut lines = vec![c.start(true)];
            let challenge = b64(b"<1896.697170952@postoffice.reston.mci.net>");
            while let Ok(line) = c.step(&challenge) {
                lines.push(line);
            }
            for line in &lines {
                let shown = line.redacted();
                for n in &needles {
                    assert!(!shown.contains(n.as_str()), "{mech}: {shown}");
                }
            }
            // Every line that does carry a needle is flagged as secret.
            for line in &lines {
                if needles.iter().any(|n| line.expose().contains(n.as_str())) {
                    assert!(line.carries_secret(), "{mech}: {}", line.redacted());
                }
            }
        }
    }

    #[test]
    fn secret_needles_plain_contains_password_and_base64() {
        let cr = creds("tim", "tanstaaftanstaaf");
        let needles = secret_needles(Mechanism::Plain, &cr);
        assert!(needles.contains(&"tanstaaftanstaaf".to_owned()));
        assert!(needles.contains(&"AHRpbQB0YW5zdGFhZnRhbnN0YWFm".to_owned()));
        let mut c = SaslClient::new(Mechanism::Plain, cr);
        let line = c.start(true);
        assert!(needles.iter().any(|n| line.expose().contains(n.as_str())));
    }

    #[test]
    fn secret_needles_per_mechanism() {
        let cr = creds("tim", "tanstaaftanstaaf");

        let login = secret_needles(Mechanism::Login, &cr);
        assert_eq!(login, ["dGFuc3RhYWZ0YW5zdGFhZg==", "tanstaaftanstaaf"]);

        let x = secret_needles(Mechanism::Xoauth2, &cr);
        assert!(x.contains(&b64(b"user=tim\x01auth=Bearer tanstaaftanstaaf\x01\x01")));
        assert!(x.contains(&"tanstaaftanstaaf".to_owned()));

        assert_eq!(
            secret_needles(Mechanism::CramMd5, &cr),
            ["tanstaaftanstaaf"]
        );

        let mut with_authz = cr.clone();
        with_authz.authzid = Some("boss".into());
        assert!(
            secret_needles(Mechanism::Plain, &with_authz)
                .contains(&b64(b"boss\0tim\0tanstaaftanstaaf"))
        );
    }

    #[test]
    fn secret_needles_sorted_longest_first_without_empties() {
        for mech in Mechanism::ALL {
            let needles = secret_needles(mech, &creds("someone", "pw"));
            assert!(
                needles.windows(2).all(|w| w[0].len() >= w[1].len()),
                "{needles:?}"
            );
            assert!(needles.iter().all(|n| !n.is_empty()));
        }
        // An empty password contributes no needle that would match everything.
        assert!(secret_needles(Mechanism::Login, &creds("u", "")).is_empty());
        assert_eq!(
            secret_needles(Mechanism::Plain, &creds("u", "")),
            [b64(b"\0u\0")]
        );
    }

    #[test]
    fn error_messages_name_mechanism_and_step() {
        let err = SaslError::UnexpectedChallenge {
            mechanism: Mechanism::CramMd5,
            step: 2,
        };
        assert_eq!(
            err.to_string(),
            "CRAM-MD5 has no step 2: unexpected 334 challenge"
        );
    }
}
