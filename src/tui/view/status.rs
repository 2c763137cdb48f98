//! The status bar (profile, server, phase, TLS, AUTH) and the toggles bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::tui::keymap::{Action, key_for};
use crate::tui::state::{State, TOGGLES};

pub fn render_status(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let (profile, server) =
        state
            .profiles
            .current()
            .map_or(("no profile".to_string(), "-".to_string()), |p| {
                let tag = if p.saved { "" } else { " (in memory)" };
                (format!("{}{tag}", p.name), p.profile.server.clone())
            });
    let phase = if state.conn.phase.is_empty() {
        "not connected".to_string()
    } else {
        state.conn.phase.clone()
    };
    let tls = match &state.conn.tls {
        Some(t) if t.verification.verified => Span::styled(
            format!("TLS {} {} ✓cert", t.version, t.cipher_suite),
            theme.fg(Color::Green),
        ),
        Some(t) => Span::styled(
            format!(
                "TLS {} ✗cert ({})",
                t.version,
                t.verification.failure.as_deref().unwrap_or("?")
            ),
            theme.fg(Color::Red),
        ),
        None => Span::styled("no TLS", theme.fg(Color::Yellow)),
    };
    let auth = match &state.conn.auth {
        Some(u) => Span::styled(format!("AUTH {u}"), theme.fg(Color::Green)),
        None => Span::raw("not authenticated"),
    };
    let line = Line::from(vec![
        Span::styled(format!(" {profile} "), theme.focus(true)),
        Span::raw(format!("│ {server} │ {phase} │ ")),
        tls,
        Span::raw(" │ "),
        auth,
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

pub fn render_toggles(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let t = &state.toggles;
    let mut spans = Vec::new();
    for spec in TOGGLES {
        let key = key_for(Action::Toggle(spec.toggle)).unwrap_or_default();
        spans.push(Span::raw(format!(" {key} {}", spec.tag)));
        let value = (spec.value)(t);
        spans.push(if (spec.alarming)(t) {
            Span::styled(value, theme.fg(Color::Red))
        } else {
            Span::raw(value)
        });
    }
    if state.toggles_pending() {
        spans.push(Span::styled(" (next connection)", theme.fg(Color::Yellow)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
