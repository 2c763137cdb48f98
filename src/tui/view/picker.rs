//! The scenario picker: the catalogue with each scenario's last verdict.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};

use super::Theme;
use super::verdict::verdict_span;
use crate::tui::state::{Focus, State};

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let items: Vec<ListItem> = state
        .catalogue
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let label = if s.label() != s.id {
                format!("{:<2}", s.label())
            } else {
                "  ".into()
            };
            let mut spans = vec![Span::raw(format!("{label} {}", s.id))];
            if let Some(Some(v)) = state.last_verdicts.get(i) {
                spans.push(Span::raw(" "));
                spans.push(verdict_span(*v, theme));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let block = Block::default()
        .borders(Borders::ALL)
        .title(" Scenarios ")
        .border_style(theme.focus(state.focus == Focus::Picker));
    let list = List::new(items)
        .block(block)
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut ls = ListState::default();
    ls.select(Some(state.selected));
    frame.render_stateful_widget(list, area, &mut ls);
}
