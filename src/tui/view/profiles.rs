//! The profile list: each profile's name, server and last verdicts, and the name being typed
//! for a new, renamed or duplicated profile.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};

use super::Theme;
use super::verdict::verdict_span;
use crate::tui::state::{NameFor, ProfilePicker, State};
use crate::tui::wrap::{ellipsize, width};

/// One row of the list as text and styled spans: "▶ name  server  A:PASS B:FAIL".
pub fn rows(state: &State, room: usize, theme: Theme) -> Vec<Line<'static>> {
    let entries = &state.profiles.entries;
    let current = state.profiles.current_index();
    let name_w = entries
        .iter()
        .map(|p| width(&p.name) + if p.saved { 0 } else { 12 })
        .max()
        .unwrap_or(4)
        .clamp(4, 32);
    let server_w = entries
        .iter()
        .map(|p| width(&p.profile.server))
        .max()
        .unwrap_or(6)
        .clamp(6, 30);
    let mut out = vec![Line::from(Span::styled(
        format!(
            "  {:<name_w$}  {:<server_w$}  last verdicts",
            "name", "server"
        ),
        theme.fg(Color::DarkGray),
    ))];
    for (i, p) in entries.iter().enumerate() {
        let mark = if i == current { "▶" } else { " " };
        let name = if p.saved {
            p.name.clone()
        } else {
            format!("{} (in memory)", p.name)
        };
        let head = format!(
            "{mark} {:<name_w$}  {:<server_w$}  ",
            ellipsize(&name, name_w),
            ellipsize(&p.profile.server, server_w)
        );
        let mut used = width(&head);
        let mut spans = vec![Span::raw(head)];
        let mut any = false;
        for s in &state.catalogue {
            let Some(v) = state.verdicts.get(&p.name, &s.id) else {
                continue;
            };
            let tag = if s.label() != s.id {
                s.label().to_string()
            } else {
                s.id.clone()
            };
            let cell = width(&tag) + 1 + v.to_string().len() + 1;
            if used + cell > room {
                spans.push(Span::raw("…"));
                break;
            }
            spans.push(Span::raw(format!("{tag}:")));
            spans.push(verdict_span(v, theme));
            spans.push(Span::raw(" "));
            used += cell;
            any = true;
        }
        if !any && used < room {
            spans.push(Span::styled("none yet", theme.fg(Color::DarkGray)));
        }
        out.push(Line::from(spans));
    }
    out
}

pub fn render(state: &State, picker: &ProfilePicker, frame: &mut Frame, area: Rect, theme: Theme) {
    let r = super::overlay::centered(area, 90, 80);
    frame.render_widget(Clear, r);
    let block = Block::default().borders(Borders::ALL).title(" Profiles ");
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let asking = picker.naming.is_some();
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(2),
            Constraint::Length(if asking { 3 } else { 2 }),
        ])
        .split(inner);
    let lines = rows(state, usize::from(inner.width), theme);
    let items: Vec<ListItem> = lines.into_iter().map(ListItem::new).collect();
    let list = List::new(items).highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut ls = ListState::default();
    // Row 0 is the header.
    ls.select(Some(picker.selected + 1));
    frame.render_stateful_widget(list, parts[0], &mut ls);
    let below = match &picker.naming {
        Some(n) => {
            let what = match &n.purpose {
                NameFor::New => "Name of the new profile".to_string(),
                NameFor::Rename { from } => format!("New name for {from}"),
                NameFor::Duplicate { from } => format!("Name of the copy of {from}"),
            };
            let mut lines = vec![Line::from(vec![
                Span::styled(format!("{what}: "), theme.focus(true)),
                Span::raw(n.input.clone()),
                Span::styled("█", theme.fg(Color::Gray)),
            ])];
            lines.push(match &n.error {
                Some(e) => Line::from(Span::styled(e.clone(), theme.fg(Color::Red))),
                None => Line::from(Span::styled(
                    "letters, digits, '.', '_' and '-'; Enter accepts, Esc cancels",
                    theme.fg(Color::DarkGray),
                )),
            });
            lines
        }
        None => vec![Line::from(Span::styled(
            "Each profile is a file in the config directory's profiles/; files written there by hand appear here. Enter uses the selected profile.",
            theme.fg(Color::DarkGray),
        ))],
    };
    frame.render_widget(Paragraph::new(below).wrap(Wrap { trim: false }), parts[1]);
}
