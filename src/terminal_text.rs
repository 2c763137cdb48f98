//! The one boundary between text nobody on the team wrote (a server's replies, a certificate's
//! names, DNS records, file contents) and the operator's terminal.
//!
//! Everything the command-line front ends print goes through [`out!`](crate::out),
//! [`outln!`](crate::outln), [`errln!`](crate::errln) or [`err!`](crate::err), which pass the
//! whole text through [`for_terminal`]: C0 and C1 controls, ESC, DEL, bidirectional overrides
//! and isolates, and zero-width characters are shown as visible escapes (`\x1b`, `\u{202e}`),
//! so a hostile server can neither drive the terminal (titles, clearing, OSC 52 clipboard
//! writes) nor make a line read other than it is. Newlines and tabs are the printer's own
//! layout and stay. `tests/layers.rs` fails on a print macro used anywhere else.
//!
//! A closed stdout (`smtpscope session … | head -2`) is not an error of the run: the first
//! failed write turns further output off, the run goes on and ends as it would (the session
//! closed properly), and the process then exits with the status a broken pipe gives (141).

use std::borrow::Cow;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

/// Characters that change how text is shown rather than showing themselves: bidirectional
/// embeddings, overrides, isolates and marks, zero-width characters and the Unicode line and
/// paragraph separators.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// True for a character [`for_terminal`] shows as an escape (newline and tab included: a
/// single line of peer text never carries layout of its own).
pub fn needs_escape(c: char) -> bool {
    c.is_control() || invisible(c)
}

fn push_escape(out: &mut String, c: char) {
    let n = u32::from(c);
    if n < 0x100 {
        out.push_str(&format!("\\x{n:02x}"));
    } else {
        out.push_str(&format!("\\u{{{n:04x}}}"));
    }
}

/// `text` safe for a terminal, its newlines and tabs kept: for a whole report or message
/// whose layout is the printer's own.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    escape_where(text, |c| c != '\n' && c != '\t' && needs_escape(c))
}

/// One value safe for a terminal on one line: newlines and tabs escaped as well.
pub fn one_line(text: &str) -> Cow<'_, str> {
    escape_where(text, needs_escape)
}

fn escape_where(text: &str, escape: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(&escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '\n' if escape(c) => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' if escape(c) => out.push_str("\\t"),
            c if escape(c) => push_escape(&mut out, c),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A JSON document with the characters [`for_terminal`] would escape written as JSON's own
/// `\uXXXX` escapes: the same document to a parser, nothing for a terminal to act on, and
/// left unchanged by the printer. (serde_json already escapes controls; bidi and zero-width
/// characters it leaves raw, and only inside strings can they occur.)
pub fn json_text(doc: &str) -> Cow<'_, str> {
    if !doc.chars().any(invisible) {
        return Cow::Borrowed(doc);
    }
    let mut out = String::with_capacity(doc.len() + 16);
    for c in doc.chars() {
        if invisible(c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// An XML document (JUnit) with those characters as character references (`&#x202e;`): the
/// same document to a parser.
pub fn xml_text(doc: &str) -> Cow<'_, str> {
    if !doc.chars().any(invisible) {
        return Cow::Borrowed(doc);
    }
    let mut out = String::with_capacity(doc.len() + 16);
    for c in doc.chars() {
        if invisible(c) {
            out.push_str(&format!("&#x{:04x};", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Set once stdout is found closed: nothing more is written there.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The exit status of a program whose output pipe closed, as a shell reports SIGPIPE
/// (128 + 13).
pub const BROKEN_PIPE_STATUS: u8 = 141;

/// True once a write to stdout failed because its reader went away.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// `code`, or the broken-pipe status if stdout closed under the run.
pub fn exit_status(code: u8) -> u8 {
    if stdout_closed() && code == 0 {
        BROKEN_PIPE_STATUS
    } else {
        code
    }
}

/// Writes `text` (made safe) to stdout; a closed stdout turns further output off.
pub fn write_stdout(text: &str) {
    if stdout_closed() {
        return;
    }
    let mut out = std::io::stdout().lock();
    let ok = out
        .write_all(for_terminal(text).as_bytes())
        .and_then(|()| out.flush());
    if ok.is_err() {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// Writes `text` (made safe) to stderr; a closed stderr is ignored (there is nobody left to
/// tell).
pub fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(for_terminal(text).as_bytes())
        .and_then(|()| err.flush());
}

/// `print!`, terminal-safe and quiet on a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::terminal_text::write_stdout(&format!($($arg)*))
    };
}

/// `println!`, terminal-safe and quiet on a closed stdout.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::terminal_text::write_stdout("\n")
    };
    ($($arg:tt)*) => {
        $crate::terminal_text::write_stdout(&format!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprint!`, terminal-safe.
#[macro_export]
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::terminal_text::write_stderr(&format!($($arg)*))
    };
}

/// `eprintln!`, terminal-safe.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::terminal_text::write_stderr(&format!("{}\n", format_args!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal_and_keeps_layout() {
        let hostile =
            "220 \x1b]0;owned\x07 \x1b[2J \x1b]52;c;aGk=\x07 \u{202e}txt.exe \u{200b}x\u{2066}";
        let shown = for_terminal(hostile);
        for bad in ['\x1b', '\x07', '\u{202e}', '\u{200b}', '\u{2066}'] {
            assert!(!shown.contains(bad), "{bad:?} in {shown}");
        }
        assert_eq!(
            shown,
            "220 \\x1b]0;owned\\x07 \\x1b[2J \\x1b]52;c;aGk=\\x07 \\u{202e}txt.exe \\u{200b}x\\u{2066}"
        );
        assert_eq!(for_terminal("a\n\tb ✓ — é"), "a\n\tb ✓ — é");
        assert!(matches!(for_terminal("plain"), Cow::Borrowed(_)));
        assert_eq!(one_line("a\nb\tc\r"), "a\\nb\\tc\\r");
        assert_eq!(for_terminal("\u{9b}31m \u{7f}"), "\\x9b31m \\x7f");
    }

    #[test]
    fn machine_formats_keep_their_meaning_and_give_the_terminal_nothing() {
        let doc = serde_json::json!({"reply": "550 \u{202e}gpj.exe \u{1b}[2J"}).to_string();
        let safe = json_text(&doc);
        assert_eq!(
            for_terminal(&safe),
            safe,
            "nothing left for the printer to change"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still JSON");
        assert_eq!(back["reply"], "550 \u{202e}gpj.exe \u{1b}[2J");
        assert_eq!(xml_text("<a>\u{202e}x</a>"), "<a>&#x202e;x</a>");
    }
}
