//! The command palette (Ctrl-P) drawn over the screen: what is typed, then the matching
//! actions, each with its keys, the selected one marked.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::Theme;
use super::overlay::centered;
use crate::tui::palette::{Palette, filtered};
use crate::tui::wrap::ellipsize;

pub fn render(p: &Palette, frame: &mut Frame, area: Rect, theme: Theme) {
    let r = centered(area, 70, 70);
    frame.render_widget(Clear, r);
    let shown = filtered(&p.query);
    let inner_w = usize::from(r.width.saturating_sub(2));
    let rows = usize::from(r.height.saturating_sub(3));
    // Keep the selected entry in view.
    let first = p.selected.saturating_sub(rows.saturating_sub(1));
    let mut lines = vec![Line::from(vec![
        Span::styled("> ", theme.focus(true)),
        Span::raw(p.query.clone()),
        Span::styled("█", theme.focus(true)),
    ])];
    if shown.is_empty() {
        lines.push(Line::from("no action matches; Backspace to widen"));
    }
    for (i, e) in shown.iter().enumerate().skip(first).take(rows) {
        let keys_w = e.keys.chars().count().min(inner_w / 2);
        let label_w = inner_w.saturating_sub(keys_w + 3);
        let label = ellipsize(e.label, label_w);
        let pad = label_w.saturating_sub(label.chars().count());
        let text = format!(" {label}{} {}", " ".repeat(pad), ellipsize(&e.keys, keys_w));
        let style = if i == p.selected {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(text, style)));
    }
    let title = format!(
        " Actions: {} · Up/Down, Enter runs, Esc closes ",
        shown.len()
    );
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(ellipsize(&title, inner_w)),
        ),
        r,
    );
}
