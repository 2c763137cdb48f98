//! The live transcript. Long lines wrap (or, with `z`, are cut and scroll sideways). Only the
//! visible lines are measured and drawn, so a long session costs what a screenful does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Theme;
use crate::tui::lines::{LineMeta, direction};
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
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Transcript ({}) ", mode.join(", ")))
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
    let query = t.search.as_ref().map(|q| q.to_lowercase());
    let mut lines: Vec<Line> = Vec::with_capacity(rows + 1);
    for idx in win.first..win.end {
        let Some(l) = t.lines.meta(idx) else {
            break;
        };
        let (text, plain) = body(t, idx);
        let mut style = style_for(l, theme);
        if t.selected_line == Some(idx) {
            style = style.add_modifier(Modifier::REVERSED);
        } else if query
            .as_ref()
            .is_some_and(|q| t.lines.text(idx).to_lowercase().contains(q.as_str()))
        {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
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
            spans.push(Span::styled(shown[..cut].to_string(), style));
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
                spans.push(Span::styled(text[r.start..split].to_string(), style));
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
