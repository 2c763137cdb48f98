//! The scenario picker: the catalogue with each scenario's last verdict on the current profile,
//! or, while one of the profiles to compare is current, each of their verdicts side by side.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState};

use super::Theme;
use super::verdict::{verdict_short, verdict_span, verdict_span_as};
use crate::scenario::Scenario;
use crate::tui::state::{Focus, State};

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let current = state.profiles.current().map(|p| p.name.as_str());
    let compared = current.is_some_and(|c| state.compare.iter().any(|(name, _)| name == c));
    let inner = usize::from(area.width.saturating_sub(2));
    let items: Vec<ListItem> = if compared {
        side_by_side(state, inner, theme)
    } else {
        state
            .catalogue
            .iter()
            .map(|s| {
                let h = head(s);
                let Some(v) = current.and_then(|p| state.verdicts.get(p, &s.id)) else {
                    return ListItem::new(Line::from(h));
                };
                // The verdict whole where it fits, else its short form; the id gives way
                // rather than the verdict.
                let full = v.to_string();
                let word = if h.chars().count() + 1 + full.len() <= inner {
                    full
                } else {
                    verdict_short(v).to_string()
                };
                let room = inner.saturating_sub(word.len() + 1);
                let h = if h.chars().count() > room {
                    fit(&h, room)
                } else {
                    h
                };
                ListItem::new(Line::from(vec![
                    Span::raw(h),
                    Span::raw(" "),
                    verdict_span_as(v, word, theme),
                ]))
            })
            .collect()
    };
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

/// The scenario's label and id.
fn head(s: &Scenario) -> String {
    let label = if s.label() != s.id {
        format!("{:<2}", s.label())
    } else {
        "  ".into()
    };
    format!("{label} {}", s.id)
}

/// One column per compared profile ("open:FAIL secure:PASS"), aligned down the list. The
/// verdicts are what the comparison is for, so on a narrow list the scenario's id is cut
/// rather than a verdict.
fn side_by_side(state: &State, inner: usize, theme: Theme) -> Vec<ListItem<'static>> {
    let widths: Vec<usize> = state
        .compare
        .iter()
        .map(|(name, tag)| {
            state
                .catalogue
                .iter()
                .filter_map(|s| state.verdicts.get(name, &s.id))
                .map(|v| tag.chars().count() + 1 + v.to_string().len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let cells: usize = widths.iter().filter(|w| **w > 0).map(|w| w + 1).sum();
    let room = inner.saturating_sub(cells);
    state
        .catalogue
        .iter()
        .map(|s| {
            let found: Vec<_> = state
                .compare
                .iter()
                .map(|(name, tag)| (tag, state.verdicts.get(name, &s.id)))
                .collect();
            if found.iter().all(|(_, v)| v.is_none()) {
                return ListItem::new(Line::from(head(s)));
            }
            let mut spans = vec![Span::raw(fit(&head(s), room))];
            for ((tag, verdict), width) in found.into_iter().zip(&widths) {
                if *width == 0 {
                    continue;
                }
                spans.push(Span::raw(" "));
                match verdict {
                    Some(v) => {
                        let used = tag.chars().count() + 1 + v.to_string().len();
                        spans.push(Span::raw(format!("{tag}:")));
                        spans.push(verdict_span(v, theme));
                        spans.push(Span::raw(" ".repeat(width.saturating_sub(used))));
                    }
                    None => spans.push(Span::raw(" ".repeat(*width))),
                }
            }
            ListItem::new(Line::from(spans))
        })
        .collect()
}

/// `text` in exactly `width` characters: padded, or cut with an ellipsis.
fn fit(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width {
        return format!("{text:<width$}");
    }
    let mut cut: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        cut.push('…');
    }
    cut
}
