//! Copying out of the explorer: a transcript line, a session, the whole run, or the command
//! that reproduces what is on the screen, to the terminal's clipboard (OSC 52) or to a file.
//!
//! [`osc52`] builds the one escape sequence smtpscope itself writes to the terminal. What it
//! carries is base64, so no byte a server sent ever reaches the terminal raw through it, and it
//! passes unchanged through SSH and tmux (whose default `set-clipboard external` hands it on to
//! the outer terminal).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::lines::{LineKind, Lines, direction};
use super::state::State;
use crate::net::TlsMode;
use crate::profile::{Profile, Verify};

/// How much text one copy carries: terminals cap OSC 52 (xterm at about 100 kB of base64 by
/// default, others at a few MB); past this the copy keeps the end and says so.
pub const COPY_MAX: usize = 1 << 20;

/// The OSC 52 sequence that puts `text` on the terminal's clipboard: `ESC ] 52 ; c ; base64
/// BEL`. The only escape smtpscope emits itself; its payload is base64 and nothing else.
pub fn osc52(text: &str) -> String {
    format!("\x1b]52;c;{}\x07", STANDARD.encode(text.as_bytes()))
}

/// What a copy takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CopyWhat {
    /// The selected transcript line (or the last one).
    Line,
    /// The session the selected line is in (or the last one).
    Session,
    /// Every line of the run, with times, directions and the TLS marker.
    Run,
    /// The whole run written to a file in the exports directory.
    RunToFile,
    /// The `smtpscope check …` command (and swaks's, where one exists) for the selected
    /// scenario on the current profile with the toggles as they are.
    Command,
}

/// The text a copy takes, and what to call it in the notice; `None` when there is nothing.
pub fn text_of(state: &State, what: CopyWhat) -> Option<(String, &'static str)> {
    let lines = &state.transcript.lines;
    match what {
        CopyWhat::Line => {
            let i = state
                .transcript
                .selected_line
                .or_else(|| lines.len().checked_sub(1))?;
            Some((lines.text(i).to_string(), "the selected line"))
        }
        CopyWhat::Session => {
            let at = state
                .transcript
                .selected_line
                .or_else(|| lines.len().checked_sub(1))?;
            let (start, end) = session_around(lines, at);
            Some((export_range(lines, start, end), "this session"))
        }
        CopyWhat::Run | CopyWhat::RunToFile => {
            (!lines.is_empty()).then(|| (export_range(lines, 0, lines.len()), "the whole run"))
        }
        CopyWhat::Command => command_for(state).map(|c| (c, "the command")),
    }
}

/// Keeps the last [`COPY_MAX`] bytes of `text` (at a character boundary); true when cut.
pub fn bounded(text: String) -> (String, bool) {
    if text.len() <= COPY_MAX {
        return (text, false);
    }
    let mut cut = text.len() - COPY_MAX;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    (text[cut..].to_string(), true)
}

/// How the explorer's transcript opens each session (profile, server, scenario).
pub const SESSION_MARK: &str = "── session:";

/// Whether line `i` opens a session: the explorer's marker, or smtpscope's own "connecting to
/// …" note where no marker stands before it.
fn starts_session(lines: &Lines, i: usize) -> bool {
    let event = |j: usize| lines.meta(j).is_some_and(|m| m.kind == LineKind::Event);
    if !event(i) {
        return false;
    }
    let text = lines.text(i);
    text.starts_with(SESSION_MARK)
        || (text.starts_with("connecting to ")
            && !(i > 0 && event(i - 1) && lines.text(i - 1).starts_with(SESSION_MARK)))
}

/// The lines `[start, end)` of the session line `at` is in.
fn session_around(lines: &Lines, at: usize) -> (usize, usize) {
    let start = (0..=at)
        .rev()
        .find(|&i| starts_session(lines, i))
        .unwrap_or(0);
    let end = (at + 1..lines.len())
        .find(|&i| starts_session(lines, i))
        .unwrap_or(lines.len());
    (start, end)
}

/// Lines as the text export writes them: time, TLS marker, direction, text.
fn export_range(lines: &Lines, start: usize, end: usize) -> String {
    let mut out = String::new();
    for i in start..end {
        let Some(m) = lines.meta(i) else { continue };
        out.push_str(&format!(
            "{:>7} ms {} {} {}\n",
            m.ms,
            if m.tls { "tls" } else { "   " },
            direction(m.kind),
            lines.text(i)
        ));
    }
    out
}

/// A word for a POSIX shell: left bare when it is plainly safe, else in single quotes.
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn flag(out: &mut Vec<String>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.push(name.to_string());
        out.push(shell_word(v));
    }
}

/// The environment variable the copied command reads the password from: the profile's own,
/// or `SMTPSCOPE_PASSWORD`. A password is never part of a copied command.
pub fn password_var(profile: &Profile) -> String {
    profile
        .auth
        .as_ref()
        .and_then(|a| a.password_env.clone())
        .unwrap_or_else(|| "SMTPSCOPE_PASSWORD".into())
}

/// `smtpscope check …` for the selected scenario on the current profile with the toggles as
/// they are (and, for scenario A, the swaks command that makes the same probe). Every setting
/// is spelled out, so the command runs where the profile file is not.
pub fn command_for(state: &State) -> Option<String> {
    let entry = state.profiles.current()?;
    let p = &entry.profile;
    let t = &state.toggles;
    let scenario = state.catalogue.get(state.selected)?;
    let mut w: Vec<String> = vec!["smtpscope".into(), "check".into()];
    if p.server.is_empty() {
        flag(&mut w, "--domain", p.domain.as_deref());
    } else {
        flag(&mut w, "--server", Some(&p.server));
    }
    let tls = match t.tls {
        TlsMode::None => "none",
        TlsMode::Starttls => "starttls",
        TlsMode::Implicit => "implicit",
    };
    flag(&mut w, "--tls", Some(tls));
    if t.require_tls {
        w.push("--require-tls".into());
    }
    match t.verify {
        Verify::Insecure => w.push("--insecure".into()),
        Verify::Mozilla => flag(&mut w, "--trust", Some("mozilla")),
        Verify::Platform => {}
    }
    if t.verify != Verify::Insecure {
        flag(
            &mut w,
            "--ca-file",
            p.ca_file.as_ref().and_then(|f| f.to_str()),
        );
    }
    flag(&mut w, "--tls-name", p.tls_name.as_deref());
    flag(&mut w, "--helo", p.helo.as_deref());
    let timeout = p.timeout_secs.map(|s| s.to_string());
    flag(&mut w, "--timeout", timeout.as_deref());
    if t.auth
        && let Some(a) = &p.auth
    {
        let mechanism = t.mechanism.name().to_ascii_lowercase();
        flag(&mut w, "--auth", Some(&mechanism));
        flag(&mut w, "--user", Some(&a.username));
        flag(&mut w, "--password-env", Some(&password_var(p)));
    }
    let r = &p.relay;
    flag(&mut w, "--local-recipient", r.local_recipient.as_deref());
    flag(&mut w, "--external-sender", r.external_sender.as_deref());
    flag(
        &mut w,
        "--external-recipient",
        r.external_recipient.as_deref(),
    );
    flag(
        &mut w,
        "--approved-recipient",
        r.approved_recipient.as_deref(),
    );
    flag(
        &mut w,
        "--disallowed-recipient",
        r.disallowed_recipient.as_deref(),
    );
    flag(
        &mut w,
        "--other-local-sender",
        r.other_local_sender.as_deref(),
    );
    flag(&mut w, "--auth-sender", r.auth_sender.as_deref());
    if t.send_data {
        w.push("--send-data".into());
    }
    flag(&mut w, "--scenario", Some(&scenario.id));
    let mut out = w.join(" ");
    if scenario.id == "unauth-relay" && !p.server.is_empty() {
        let mut s: Vec<String> = vec!["swaks".into()];
        flag(&mut s, "--server", Some(&p.server));
        flag(
            &mut s,
            "--from",
            Some(
                r.external_sender
                    .as_deref()
                    .unwrap_or("relay-test@outside.example.net"),
            ),
        );
        flag(
            &mut s,
            "--to",
            Some(
                r.external_recipient
                    .as_deref()
                    .unwrap_or("relay-test@elsewhere.example.org"),
            ),
        );
        flag(&mut s, "--helo", p.helo.as_deref());
        match t.tls {
            TlsMode::Starttls => s.push("--tls-optional".into()),
            TlsMode::Implicit => s.push("--tlsc".into()),
            TlsMode::None => {}
        }
        flag(&mut s, "--quit-after", Some("RCPT"));
        out.push_str("\n# the same probe with swaks (stops after RCPT):\n# ");
        out.push_str(&s.join(" "));
    }
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn osc52_is_the_escape_and_base64_only() {
        let seq = osc52("250 Ok\x1b]0;pwned\x07");
        assert!(seq.starts_with("\x1b]52;c;"));
        assert!(seq.ends_with('\x07'));
        let payload = &seq["\x1b]52;c;".len()..seq.len() - 1];
        assert!(
            payload
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
            "{payload}"
        );
        assert_eq!(
            STANDARD.decode(payload).ok().as_deref(),
            Some("250 Ok\x1b]0;pwned\x07".as_bytes())
        );
        // Exactly one ESC and one BEL: the sequence's own.
        assert_eq!(seq.matches('\x1b').count(), 1);
        assert_eq!(seq.matches('\x07').count(), 1);
    }

    #[test]
    fn shell_words_are_quoted_where_needed() {
        assert_eq!(shell_word("127.0.0.1:2525"), "127.0.0.1:2525");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), "'it'\\''s'");
        assert_eq!(shell_word("$(x)"), "'$(x)'");
        assert_eq!(shell_word(""), "''");
    }

    #[test]
    fn a_copy_keeps_the_end_within_its_bound() {
        let (short, cut) = bounded("abc".into());
        assert_eq!((short.as_str(), cut), ("abc", false));
        let long = "é".repeat(COPY_MAX);
        let (kept, cut) = bounded(long);
        assert!(cut && kept.len() <= COPY_MAX);
    }
}
