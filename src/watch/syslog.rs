//! The envelope of one log line: when, which program, and the message. The forms mail servers
//! are logged in: RFC 3164 syslog (`Dec  7 05:06:50 host postfix/smtpd[123]: …`, also what
//! Postfix's own `maillog_file` writes), RFC 5424 (`<22>1 2026-12-07T05:06:50.1Z host
//! postfix/smtpd 123 - - …`), an RFC 3339 or journald `short-iso` stamp in front of the
//! RFC 3164 rest (`2026-12-07T05:06:50+0000 host postfix/smtpd[123]: …`), and Exim's own
//! mainlog (`2026-12-07 05:06:50 H=…`, no host or program).
//!
//! Parsing is by hand, byte by byte, with no allocation: a summary reads a million lines a
//! second, and the text is the peer's (see `watch::event` for what is done with it).

/// One parsed line; every field borrows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Seconds since the Unix epoch, UTC.
    pub time: i64,
    /// The program as logged ("postfix/smtpd", "exim", "smtpd"); empty for Exim's mainlog.
    pub program: &'a str,
    pub message: &'a str,
}

/// What a line without a year (RFC 3164) is dated by: the year it is read in, unless that puts
/// it more than a day in the future (December's lines read in January).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub now: i64,
    pub year: i16,
}

impl Clock {
    pub fn now() -> Clock {
        let now = jiff::Timestamp::now();
        Clock {
            now: now.as_second(),
            year: jiff::tz::Offset::UTC.to_datetime(now).year(),
        }
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The line's envelope, or `None` when it is in none of the forms above.
pub fn parse<'a>(line: &'a str, clock: &Clock) -> Option<LogLine<'a>> {
    let mut rest = line.trim_end_matches(['\r', '\n']);
    // A priority in front (<PRI>), as a syslog socket or RFC 5424 has it.
    let mut rfc5424 = false;
    if let Some(after) = rest.strip_prefix('<') {
        let end = after.find('>')?;
        if end == 0 || end > 3 || !after[..end].bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest = &after[end + 1..];
        if let Some(after_version) = rest.strip_prefix("1 ") {
            rfc5424 = true;
            rest = after_version;
        }
    }
    let b = rest.as_bytes();
    if b.len() >= 15 && b[3] == b' ' && MONTHS.contains(&&[b[0], b[1], b[2]]) {
        let time = rfc3164_time(b, clock)?;
        return program_and_message(&rest[15..], time);
    }
    let (time, used) = iso_time(b)?;
    let after = &rest[used..];
    if rfc5424 {
        return rfc5424_rest(after, time);
    }
    // Exim's mainlog: "YYYY-MM-DD HH:MM:SS " then the message, no host or program.
    if b.get(10) == Some(&b' ') {
        return Some(LogLine {
            time,
            program: "",
            message: after.strip_prefix(' ').unwrap_or(after),
        });
    }
    program_and_message(after, time)
}

/// " host program[pid]: message" (the leading space included).
fn program_and_message(rest: &str, time: i64) -> Option<LogLine<'_>> {
    let rest = rest.strip_prefix(' ')?.trim_start_matches(' ');
    let (_host, rest) = rest.split_once(' ')?;
    let (tag, message) = rest.split_once(": ")?;
    let program = tag.split_once('[').map_or(tag, |(p, _)| p);
    if program.is_empty() || program.contains(' ') {
        return None;
    }
    Some(LogLine {
        time,
        program,
        message,
    })
}

/// " HOST APP PROCID MSGID SD MSG" of RFC 5424 §6.
fn rfc5424_rest(rest: &str, time: i64) -> Option<LogLine<'_>> {
    let rest = rest.strip_prefix(' ')?;
    let mut fields = rest.splitn(5, ' ');
    let _host = fields.next()?;
    let app = fields.next()?;
    let _procid = fields.next()?;
    let _msgid = fields.next()?;
    let mut sd_and_msg = fields.next()?;
    // Structured data: "-" or one or more [id ...] elements (a ']' inside is escaped as "\]").
    if let Some(after) = sd_and_msg.strip_prefix('-') {
        sd_and_msg = after;
    } else {
        while sd_and_msg.starts_with('[') {
            let bytes = sd_and_msg.as_bytes();
            let mut i = 1;
            while i < bytes.len() && !(bytes[i] == b']' && bytes[i - 1] != b'\\') {
                i += 1;
            }
            sd_and_msg = sd_and_msg.get(i + 1..)?;
        }
    }
    let message = sd_and_msg.strip_prefix(' ').unwrap_or(sd_and_msg);
    // A UTF-8 BOM may start the message (RFC 5424 §6.4).
    let message = message.strip_prefix('\u{feff}').unwrap_or(message);
    Some(LogLine {
        time,
        program: if app == "-" { "" } else { app },
        message,
    })
}

fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

/// "Mmm dd hh:mm:ss" (day padded with a space), dated by `clock`.
fn rfc3164_time(b: &[u8], clock: &Clock) -> Option<i64> {
    let month = MONTHS.iter().position(|m| **m == [b[0], b[1], b[2]])? as i8 + 1;
    let day_text = if b[4] == b' ' { &b[5..6] } else { &b[4..6] };
    let day = digits(day_text)? as i8;
    if b[6] != b' ' || b[9] != b':' || b[12] != b':' {
        return None;
    }
    let (h, m, s) = (digits(&b[7..9])?, digits(&b[10..12])?, digits(&b[13..15])?);
    let at = |year: i16| -> Option<i64> {
        let dt = jiff::civil::DateTime::new(year, month, day, h as i8, m as i8, s as i8, 0).ok()?;
        Some(jiff::tz::Offset::UTC.to_timestamp(dt).ok()?.as_second())
    };
    let this_year = at(clock.year)?;
    if this_year > clock.now + 86_400 {
        return at(clock.year - 1);
    }
    Some(this_year)
}

/// "YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]": the time and the bytes it took. Without
/// an offset the time is taken as UTC.
fn iso_time(b: &[u8]) -> Option<(i64, usize)> {
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let year = digits(&b[0..4])? as i16;
    let month = digits(&b[5..7])? as i8;
    let day = digits(&b[8..10])? as i8;
    let (h, m, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    let mut i = 19;
    if b.get(i) == Some(&b'.') {
        i += 1;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
    }
    let mut offset: i64 = 0;
    match b.get(i) {
        Some(b'Z') => i += 1,
        Some(&sign @ (b'+' | b'-')) => {
            let hh = digits(b.get(i + 1..i + 3)?)?;
            let (mm, used) = if b.get(i + 3) == Some(&b':') {
                (digits(b.get(i + 4..i + 6)?)?, 6)
            } else {
                (digits(b.get(i + 3..i + 5)?)?, 5)
            };
            offset = (hh * 60 + mm) * 60;
            if sign == b'-' {
                offset = -offset;
            }
            i += used;
        }
        _ => {}
    }
    let dt = jiff::civil::DateTime::new(year, month, day, h as i8, m as i8, s as i8, 0).ok()?;
    let utc = jiff::tz::Offset::UTC.to_timestamp(dt).ok()?.as_second();
    Some((utc - offset, i))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    /// 2026-12-07 06:00:00 UTC.
    fn clock() -> Clock {
        Clock {
            now: 1_796_623_200,
            year: 2026,
        }
    }

    fn at(text: &str) -> i64 {
        text.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    #[test]
    fn rfc3164_and_postfix_maillog_file() {
        let l = parse(
            "Dec  7 05:06:50 mail postfix/smtpd[123]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 554",
            &clock(),
        )
        .unwrap();
        assert_eq!(l.time, at("2026-12-07T05:06:50Z"));
        assert_eq!(l.program, "postfix/smtpd");
        assert_eq!(l.message, "NOQUEUE: reject: RCPT from x[192.0.2.1]: 554");
        let l = parse("<22>Dec 17 05:06:50 mail exim[9]: text", &clock()).unwrap();
        assert_eq!(l.program, "exim");
        assert_eq!(
            l.time,
            at("2025-12-17T05:06:50Z"),
            "ten days ahead: last year's"
        );
        // A program tag without a pid.
        let l = parse("Jan  1 00:00:01 mx smtpd: x", &clock()).unwrap();
        assert_eq!(l.program, "smtpd");
        assert_eq!(l.time, at("2026-01-01T00:00:01Z"));
    }

    #[test]
    fn rfc5424_with_and_without_structured_data() {
        let l = parse(
            "<22>1 2026-12-07T05:06:50.123456+01:00 mail postfix/smtpd 4242 - - warning: x",
            &clock(),
        )
        .unwrap();
        assert_eq!(l.time, at("2026-12-07T04:06:50Z"));
        assert_eq!(l.program, "postfix/smtpd");
        assert_eq!(l.message, "warning: x");
        let l = parse(
            r#"<22>1 2026-12-07T05:06:50Z mail smtpd 1 ID47 [ex@1 a="b\]c"][ex@2 d="e"] message"#,
            &clock(),
        )
        .unwrap();
        assert_eq!(l.program, "smtpd");
        assert_eq!(l.message, "message");
    }

    #[test]
    fn journald_short_iso_rfc3339_and_exim_mainlog() {
        let l = parse(
            "2026-12-07T05:06:50+0000 mail postfix/submission/smtpd[7]: lost connection after AUTH from x[192.0.2.1]",
            &clock(),
        )
        .unwrap();
        assert_eq!(l.time, at("2026-12-07T05:06:50Z"));
        assert_eq!(l.program, "postfix/submission/smtpd");
        let l = parse(
            "2026-12-07T05:06:50.5-05:00 mail exim[1]: message",
            &clock(),
        )
        .unwrap();
        assert_eq!(l.time, at("2026-12-07T10:06:50Z"));
        let l = parse(
            "2026-12-07 05:06:50 H=(probe.test) [192.0.2.1] F=<a@b> rejected RCPT <x@y>: relay not permitted",
            &clock(),
        )
        .unwrap();
        assert_eq!(l.program, "");
        assert!(l.message.starts_with("H=(probe.test)"));
    }

    #[test]
    fn lines_in_no_known_form_are_none() {
        for line in [
            "",
            "hello",
            "Foo  7 05:06:50 mail x: y",
            "Dec 77 05:06:50 mail x: y",
            "Dec  7 05-06-50 mail x: y",
            "<999999>1 2026-12-07T05:06:50Z",
            "2026-13-07T05:06:50Z mail x: y",
            "Dec  7 05:06:50 mail no colon here",
            "\u{1b}]52;c;AAAA\u{7}",
        ] {
            assert_eq!(parse(line, &clock()), None, "{line:?}");
        }
    }
}
