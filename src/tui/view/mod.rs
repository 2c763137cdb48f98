//! Drawing: one file per pane. Nothing here changes state or does I/O.

mod overlay;
mod picker;
mod status;
mod transcript;
mod verdict;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::keymap::{Scope, footer};
use super::state::{Focus, Phase, State};

/// Colours unless NO_COLOR asked for none (https://no-color.org).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }
    pub fn focus(&self, focused: bool) -> Style {
        match (focused, self.color) {
            (true, true) => Style::default()
                .fg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            (true, false) => Style::default().add_modifier(Modifier::BOLD),
            _ => Style::default(),
        }
    }
}

pub fn view(state: &State, frame: &mut Frame, theme: Theme) {
    let area = frame.area();
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(6),
            Constraint::Length(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .split(area);
    status::render_status(state, frame, rows[0], theme);
    status::render_toggles(state, frame, rows[1], theme);
    let left_width = if area.width >= 120 {
        44
    } else {
        (area.width * 2 / 5).max(24)
    };
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Length(left_width), Constraint::Min(20)])
        .split(rows[2]);
    let left = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Percentage(45), Constraint::Percentage(55)])
        .split(cols[0]);
    picker::render(state, frame, left[0], theme);
    verdict::render(state, frame, left[1], theme);
    transcript::render(state, frame, cols[1], theme);
    render_editor(state, frame, rows[3], theme);
    render_notice(state, frame, rows[4], theme);
    render_footer(state, frame, rows[5], theme);
    if state.overlay.is_some() {
        overlay::render(state, frame, area, theme);
    }
}

fn render_editor(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let title = match &state.run {
        Some(r) if r.is_waiting() => " Command: waiting for the server… (Esc aborts) ".to_string(),
        Some(r) if matches!(r.phase(), Phase::AtStep(_)) => {
            " Command: next step, edit if you like, Enter sends, Esc aborts ".to_string()
        }
        _ => " Command (escapes: \\r \\n \\0 \\xHH; AUTH asks for the password) ".to_string(),
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(title)
        .border_style(theme.focus(state.focus == Focus::Editor));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    if let Some(input) = &state.transcript.search_input {
        frame.render_widget(Paragraph::new(format!("/{input}")), inner);
    } else {
        frame.render_widget(state.editor.widget(), inner);
    }
}

fn render_notice(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let line = match (&state.notice, &state.welcome) {
        (Some((true, t)), _) => Line::from(Span::styled(t.clone(), theme.fg(Color::Red))),
        (Some((false, t)), _) => Line::from(Span::styled(t.clone(), theme.fg(Color::Yellow))),
        (None, Some(w)) => Line::from(Span::styled(w.clone(), theme.fg(Color::Green))),
        (None, None) => Line::from(""),
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn render_footer(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let scope = match state.focus {
        Focus::Picker => Scope::Picker,
        Focus::Transcript => Scope::Transcript,
        Focus::Editor => Scope::Editor,
    };
    let mut spans = Vec::new();
    for (key, label) in footer(scope) {
        spans.push(Span::styled(key, theme.focus(true)));
        spans.push(Span::raw(format!(" {label}  ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
