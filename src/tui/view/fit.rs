//! One-line bars (status, footer) that give way by priority instead of being cut at the edge:
//! the least important parts take their short form first, then go; what stays is whole.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::tui::wrap::{ellipsize, width};

/// One part of a bar.
#[derive(Debug, Clone)]
pub struct Part {
    pub text: String,
    /// The same said shorter, if there is a shorter way.
    pub short: Option<String>,
    /// 1 is kept longest; 0 is never dropped (only shortened or, last, cut at a word).
    pub priority: u8,
    /// Styles for a leading key ("F1") and for the rest; the key is `key_len` bytes long.
    pub key_style: Style,
    pub style: Style,
    pub key_len: usize,
}

impl Part {
    pub fn new(text: impl Into<String>, priority: u8, style: Style) -> Part {
        Part {
            text: text.into(),
            short: None,
            priority,
            key_style: style,
            style,
            key_len: 0,
        }
    }

    pub fn short(mut self, short: impl Into<String>) -> Part {
        self.short = Some(short.into());
        self
    }

    /// A footer hint: the key in its own style, then the label.
    pub fn hint(key: &str, label: &str, short: &str, priority: u8, key_style: Style) -> Part {
        let text = format!("{key} {label}");
        let short = (short != label).then(|| format!("{key} {short}"));
        Part {
            text,
            short,
            priority,
            key_style,
            style: Style::default(),
            key_len: key.len(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    Full,
    Short,
    Gone,
}

/// The text each part shows in `room` columns with `sep` between parts (None: dropped).
/// Short forms are taken from the least important part up; if that is not enough, parts are
/// dropped from the least important up; a part that still does not fit is cut at a word.
pub fn choose(parts: &[Part], sep: &str, room: usize) -> Vec<Option<String>> {
    let mut forms = vec![Form::Full; parts.len()];
    let text = |p: &Part, f: Form| -> Option<String> {
        match f {
            Form::Full => Some(p.text.clone()),
            Form::Short => Some(p.short.clone().unwrap_or_else(|| p.text.clone())),
            Form::Gone => None,
        }
    };
    let total = |forms: &[Form]| -> usize {
        let shown: Vec<String> = parts
            .iter()
            .zip(forms)
            .filter_map(|(p, f)| text(p, *f))
            .collect();
        shown.iter().map(|s| width(s)).sum::<usize>() + width(sep) * shown.len().saturating_sub(1)
    };
    // Least important first: a higher number, then further right. 0 (never dropped) last.
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by_key(|&i| {
        let p = parts[i].priority;
        (
            std::cmp::Reverse(if p == 0 { 0 } else { u16::from(p) + 1 }),
            std::cmp::Reverse(i),
        )
    });
    for &i in &order {
        if total(&forms) <= room {
            break;
        }
        if parts[i].short.is_some() {
            forms[i] = Form::Short;
        }
    }
    for &i in &order {
        if total(&forms) <= room {
            break;
        }
        if parts[i].priority > 0 {
            forms[i] = Form::Gone;
        }
    }
    // Room left over: the most important parts get their full text back.
    for &i in order.iter().rev() {
        if forms[i] == Form::Short {
            forms[i] = Form::Full;
            if total(&forms) > room {
                forms[i] = Form::Short;
            }
        }
    }
    let mut out: Vec<Option<String>> = parts.iter().zip(&forms).map(|(p, f)| text(p, *f)).collect();
    // Still too wide: cut the last part shown at a word.
    let over = total(&forms).saturating_sub(room);
    if over > 0
        && let Some(last) = out.iter_mut().rev().find_map(|o| o.as_mut())
    {
        let keep = width(last).saturating_sub(over);
        *last = ellipsize(last, keep);
    }
    out
}

/// The bar as a line: the chosen parts with `sep` between them, each in its styles.
pub fn line(parts: &[Part], sep: Span<'static>, room: usize) -> Line<'static> {
    let chosen = choose(parts, &sep.content, room);
    let mut spans = Vec::new();
    for (p, text) in parts.iter().zip(chosen) {
        let Some(text) = text else { continue };
        if !spans.is_empty() {
            spans.push(sep.clone());
        }
        let key_len = if text.starts_with(&p.text[..p.key_len.min(p.text.len())]) {
            p.key_len.min(text.len())
        } else {
            0
        };
        if key_len > 0 {
            spans.push(Span::styled(text[..key_len].to_string(), p.key_style));
            spans.push(Span::styled(text[key_len..].to_string(), p.style));
        } else {
            spans.push(Span::styled(text, p.style));
        }
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> Vec<Part> {
        vec![
            Part::new("lab-secure (in memory)", 0, Style::default()).short("lab-secure"),
            Part::new("127.0.0.1:40000", 2, Style::default()),
            Part::new("not connected", 3, Style::default()),
            Part::new(
                "TLS TLSv1.3 TLS13_AES_256_GCM_SHA384 ✓cert",
                1,
                Style::default(),
            )
            .short("TLSv1.3 ✓cert"),
            Part::new("not authenticated", 4, Style::default()).short("no AUTH"),
        ]
    }

    #[test]
    fn everything_fits_when_there_is_room() {
        let all = choose(&parts(), " │ ", 200);
        assert!(all.iter().all(Option::is_some));
        assert_eq!(
            all[3].as_deref(),
            Some("TLS TLSv1.3 TLS13_AES_256_GCM_SHA384 ✓cert")
        );
    }

    #[test]
    fn short_forms_come_before_dropping_and_nothing_is_cut_mid_word() {
        let sep = " │ ";
        for room in [40, 60, 80, 100] {
            let chosen = choose(&parts(), sep, room);
            let shown: Vec<&str> = chosen.iter().flatten().map(String::as_str).collect();
            let joined = shown.join(sep);
            assert!(width(&joined) <= room, "{room}: {joined}");
            assert!(!joined.contains('…'), "{room}: {joined}");
            assert!(
                joined.starts_with("lab-secure"),
                "the profile is never dropped: {joined}"
            );
        }
        let at_80 = choose(&parts(), sep, 80);
        assert_eq!(at_80[3].as_deref(), Some("TLSv1.3 ✓cert"), "{at_80:?}");
        assert!(at_80.iter().all(Option::is_some), "{at_80:?}");
        let at_70 = choose(&parts(), sep, 70);
        assert_eq!(at_70[4].as_deref(), Some("no AUTH"), "{at_70:?}");
        let at_60 = choose(&parts(), sep, 60);
        assert_eq!(at_60[4], None, "the least important goes first: {at_60:?}");
        assert!(at_60[2].is_some(), "{at_60:?}");
        let at_40 = choose(&parts(), sep, 40);
        assert_eq!(at_40[2], None, "the phase goes before TLS: {at_40:?}");
        assert!(at_40[3].is_some(), "{at_40:?}");
    }

    #[test]
    fn a_part_too_long_for_any_room_is_cut_at_a_word() {
        let p = vec![Part::new(
            "a very long profile name indeed",
            0,
            Style::default(),
        )];
        let chosen = choose(&p, " ", 15);
        assert_eq!(chosen[0].as_deref(), Some("a very long…"));
    }
}
