//! The live transcript. Long lines wrap (or, with `z`, are cut and scroll sideways). Only the
//! visible lines are measured and drawn, so a long session costs what a screenful does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Theme;
use crate::tui::lines::{LineMeta, direction, match_ranges};
use crate::tui::state::{Focus, LineKind, State};
use crate::tui::wrap::{self, window};

fn style_for(l: &LineMeta, theme: Theme) -> ratatui::style::Style {
    match l.kind {
        LineKind::Sent => theme.fg(Color::Cyan),
        LineKind::Received => match l.code.map(|(c, _)| c / 100) {
            Some(4) => theme.fg(Color::Yellow),
            Some(5) => theme.fg(Color::Red),
            _ => theme.fg(Color::Green),
        },
        LineKind::Event => theme.fg(Color::Magenta),
        LineKind::Violation => theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        LineKind::Error => theme.fg(Color::Red),
    }
}

/// Columns before a line's text: time, TLS marker and direction ("  1502 tls S: ").
const PREFIX: usize = 14;

/// What a line shows: its text (or escaped bytes) and, on a reply's last line, the latency.
fn body(t: &crate::tui::state::TranscriptView, idx: usize) -> (String, usize) {
    let mut text = if t.raw_view {
        t.lines.raw(idx)
    } else {
        t.lines.text(idx).to_string()
    };
    let plain = text.len();
    if let Some(lat) = t.lines.meta(idx).and_then(|l| l.latency_ms) {
        text.push_str(&format!("  [{lat} ms]"));
    }
    (text, plain)
}

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let focused = state.focus == Focus::Transcript;
    let t = &state.transcript;
    let mut mode = vec![if t.follow { "follow" } else { "scrolled" }];
    if !t.wrap {
        mode.push("cut: ←→ scroll");
    }
    if t.raw_view {
        mode.push("raw");
    }
    let found = t.match_count().map(|(at, total)| {
        let q = crate::terminal_text::one_line(t.search.as_deref().unwrap_or(""));
        match (at, total) {
            (_, 0) => format!(" \"{q}\": no match "),
            (0, n) => format!(" \"{q}\": {n} matches "),
            (i, n) => format!(" \"{q}\": {i} of {n} "),
        }
    });
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(
            " Transcript ({}) {}",
            mode.join(", "),
            found.as_deref().unwrap_or("")
        ))
        .border_style(theme.focus(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rows = usize::from(inner.height);
    let text_width = usize::from(inner.width).saturating_sub(PREFIX).max(8);
    let total = t.lines.len();
    if total == 0 {
        frame.render_widget(
            Paragraph::new(Line::from(Span::styled(
                "Nothing yet. Pick a scenario and press Enter, or type a command below.",
                theme.fg(Color::DarkGray),
            )))
            .wrap(ratatui::widgets::Wrap { trim: true }),
            inner,
        );
        return;
    }
    let end = total.saturating_sub(if t.follow { 0 } else { t.scroll });
    let win = if t.wrap {
        window(total, end, rows, t.selected_line, |i| {
            wrap::height(&body(t, i).0, text_width)
        })
    } else {
        window(total, end, rows, t.selected_line, |_| 1)
    };
    let query = t.search.as_deref().unwrap_or("");
    let hl = highlight(theme);
    let mut lines: Vec<Line> = Vec::with_capacity(rows + 1);
    for idx in win.first..win.end {
        let Some(l) = t.lines.meta(idx) else {
            break;
        };
        let (text, plain) = body(t, idx);
        let mut style = style_for(l, theme);
        if t.selected_line == Some(idx) {
            style = style.add_modifier(Modifier::REVERSED);
        }
        // Every occurrence of the search in the line's text (not in its latency) is marked.
        let marks = text
            .get(..plain)
            .map(|shown| match_ranges(shown, query))
            .unwrap_or_default();
        let head = Span::styled(
            format!(
                "{:>6} {} {} ",
                l.ms,
                if l.tls { "tls" } else { "   " },
                direction(l.kind)
            ),
            theme.fg(Color::DarkGray),
        );
        let gray = theme.fg(Color::DarkGray);
        if !t.wrap {
            let shown = wrap::window_of_line(&text, t.hscroll, text_width);
            let mut spans = vec![head];
            // The latency keeps its own colour when it is in view (it ends the line).
            let cut = if plain < text.len() && shown.ends_with(" ms]") {
                shown.rfind("  [").unwrap_or(shown.len())
            } else {
                shown.len()
            };
            let before = shown.get(..cut).unwrap_or("");
            let marks = match_ranges(before, query);
            push_marked(&mut spans, before, (0, before.len()), style, &marks, hl);
            spans.push(Span::styled(shown[cut..].to_string(), gray));
            lines.push(Line::from(spans));
            continue;
        }
        for (n, r) in wrap::wrap(&text, text_width).into_iter().enumerate() {
            if idx == win.first && n < win.skip {
                continue;
            }
            let mut spans = vec![if n == 0 {
                head.clone()
            } else {
                Span::raw(" ".repeat(PREFIX))
            }];
            let split = plain.clamp(r.start, r.end);
            if split > r.start {
                push_marked(&mut spans, &text, (r.start, split), style, &marks, hl);
            }
            if r.end > split {
                spans.push(Span::styled(text[split..r.end].to_string(), gray));
            }
            lines.push(Line::from(spans));
        }
    }
    lines.truncate(rows);
    frame.render_widget(Paragraph::new(lines), inner);
}

/// How a match of the search is marked: black on yellow, or bold reversed without colour.
fn highlight(theme: Theme) -> Style {
    if theme.color {
        Style::default()
            .fg(Color::Black)
            .bg(Color::Yellow)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    }
}

/// `text[range]` as spans in `style`, with the parts inside `marks` (sorted byte ranges of
/// `text`) in `hl` instead.
fn push_marked(
    spans: &mut Vec<Span<'static>>,
    text: &str,
    (from, to): (usize, usize),
    style: Style,
    marks: &[(usize, usize)],
    hl: Style,
) {
    let mut at = from;
    let mut push = |a: usize, b: usize, st: Style| {
        if let Some(part) = text.get(a..b).filter(|p| !p.is_empty()) {
            spans.push(Span::styled(part.to_string(), st));
        }
    };
    for &(s, e) in marks {
        let (s, e) = (s.max(at), e.min(to));
        if s >= e {
            continue;
        }
        push(at, s, style);
        push(s, e, hl);
        at = e;
    }
    push(at, to, style);
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)] // test code
mod tests {
    use super::*;
    use crate::transcript::{Entry, EntryKind};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    #[test]
    fn every_visible_match_is_marked_and_counted() {
        let mut s = State::new(Vec::new(), Vec::new());
        for text in ["NOOP Line 4 and line 4", "NOOP other", "NOOP line 40"] {
            s.push_entry(&Entry {
                at: std::time::Duration::ZERO,
                tls: false,
                kind: EntryKind::Sent {
                    bytes: format!("{text}\r\n").into_bytes(),
                    redacted: false,
                },
            });
        }
        s.transcript.search = Some("line 4".into());
        s.transcript.search_next();
        assert_eq!(s.transcript.selected_line, Some(0));
        let theme = Theme { color: true };
        let mut term = Terminal::new(TestBackend::new(60, 8)).unwrap();
        term.draw(|f| render(&s, f, f.area(), theme)).unwrap();
        let buf = term.backend().buffer().clone();
        let row = |y: u16| -> String {
            (0..buf.area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect()
        };
        assert!(row(0).contains("\"line 4\": 1 of 2"), "{}", row(0));
        let marked = |y: u16| -> Vec<u16> {
            (0..buf.area.width)
                .filter(|&x| buf[(x, y)].bg == Color::Yellow)
                .collect()
        };
        // Line 1 (row 1): both occurrences, whatever their case; the text starts after the
        // border and the 14-column prefix.
        let first = row(1);
        let start = (0..buf.area.width)
            .find(|&x| buf[(x, 1)].symbol() == "N")
            .expect("line shown");
        let expect: Vec<u16> = (start + 5..start + 11)
            .chain(start + 16..start + 22)
            .collect();
        assert_eq!(marked(1), expect, "{first}");
        assert_eq!(marked(2), Vec::<u16>::new(), "no match on the second line");
        assert_eq!(marked(3).len(), 6, "{}", row(3));
    }
}
