//! The live transcript. Only the visible lines are drawn, so a long session costs what a
//! screenful does.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Theme;
use crate::smtp::status;
use crate::tui::lines::{LineMeta, direction};
use crate::tui::state::{Focus, LineKind, State};

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

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let focused = state.focus == Focus::Transcript;
    let t = &state.transcript;
    let mode = match (t.follow, t.raw_view) {
        (true, false) => "follow",
        (false, false) => "scrolled",
        (true, true) => "follow, raw",
        (false, true) => "scrolled, raw",
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" Transcript ({mode}) "))
        .border_style(theme.focus(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let meaning = t
        .selected_line
        .and_then(|i| t.lines.meta(i))
        .and_then(|l| l.code)
        .map(|(code, enhanced)| status::explain(code, enhanced).one_line());
    let height = inner.height.saturating_sub(u16::from(meaning.is_some())) as usize;
    let total = t.lines.len();
    let end = total.saturating_sub(if t.follow { 0 } else { t.scroll });
    let start = end.saturating_sub(height);
    let query = t.search.as_ref().map(|q| q.to_lowercase());
    let mut lines: Vec<Line> = Vec::with_capacity(height + 1);
    for idx in start..end {
        let Some(l) = t.lines.meta(idx) else {
            break;
        };
        let text = t.lines.text(idx);
        let raw;
        let body = if t.raw_view {
            raw = t.lines.raw(idx);
            raw.as_str()
        } else {
            text
        };
        let mut style = style_for(l, theme);
        if t.selected_line == Some(idx) {
            style = style.add_modifier(Modifier::REVERSED);
        } else if query
            .as_ref()
            .is_some_and(|q| text.to_lowercase().contains(q.as_str()))
        {
            style = style.add_modifier(Modifier::UNDERLINED);
        }
        let mut spans = vec![
            Span::styled(
                format!("{:>6} {} ", l.ms, if l.tls { "tls" } else { "   " }),
                theme.fg(Color::DarkGray),
            ),
            Span::styled(format!("{} {body}", direction(l.kind)), style),
        ];
        if let Some(lat) = l.latency_ms {
            spans.push(Span::styled(
                format!("  [{lat} ms]"),
                theme.fg(Color::DarkGray),
            ));
        }
        lines.push(Line::from(spans));
    }
    if let Some(m) = meaning {
        while lines.len() < height {
            lines.push(Line::from(""));
        }
        lines.push(Line::from(Span::styled(
            format!("= {m}"),
            theme.fg(Color::Yellow),
        )));
    }
    if total == 0 {
        lines.push(Line::from(Span::styled(
            "Nothing yet. Pick a scenario and press Enter, or type a command below.",
            theme.fg(Color::DarkGray),
        )));
    }
    frame.render_widget(Paragraph::new(lines), inner);
}
