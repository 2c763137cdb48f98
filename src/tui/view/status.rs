//! The status bar (profile, server, phase, TLS, AUTH) and the toggles bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use super::fit::{self, Part};
use crate::tui::keymap::{Action, key_for};
use crate::tui::state::{State, TOGGLES};
use ratatui::style::Style;

pub fn render_status(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut parts = Vec::new();
    match state.profiles.current() {
        Some(p) if p.saved => parts.push(Part::new(format!(" {}", p.name), 0, theme.focus(true))),
        Some(p) => parts.push(
            Part::new(format!(" {} (in memory)", p.name), 0, theme.focus(true))
                .short(format!(" {}", p.name)),
        ),
        None => parts.push(Part::new(" no profile", 0, theme.focus(true))),
    }
    let server = state
        .profiles
        .current()
        .map_or("-".to_string(), |p| p.profile.server.clone());
    parts.push(Part::new(server, 2, Style::default()));
    let phase = state.conn.phase.to_string();
    parts.push(Part::new(phase, 4, Style::default()));
    parts.push(match &state.conn.tls {
        Some(t) if t.verification.verified => Part::new(
            format!("TLS {} {} ✓cert", t.version, t.cipher_suite),
            1,
            theme.fg(Color::Green),
        )
        .short(format!("{} ✓cert", t.version)),
        Some(t) => Part::new(
            format!(
                "TLS {} ✗cert ({})",
                t.version,
                t.verification.failure.as_deref().unwrap_or("?")
            ),
            1,
            theme.fg(Color::Red),
        )
        .short(format!("{} ✗cert", t.version)),
        None => Part::new("no TLS", 1, theme.fg(Color::Yellow)),
    });
    parts.push(match &state.conn.auth {
        Some(u) => Part::new(format!("AUTH {u}"), 3, theme.fg(Color::Green)),
        None => Part::new("not authenticated", 5, Style::default()).short("no AUTH"),
    });
    let line = fit::line(&parts, Span::raw(" │ "), usize::from(area.width));
    frame.render_widget(Paragraph::new(line), area);
}

pub fn render_toggles(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let t = &state.toggles;
    let mut spans = Vec::new();
    for spec in TOGGLES {
        let key = key_for(Action::Toggle(spec.toggle)).unwrap_or_default();
        spans.push(Span::raw(format!(" {key} {}", spec.tag)));
        let mut value = (spec.value)(t);
        // Verification against the profile's own CA file says so, not "platform".
        if spec.toggle == crate::tui::state::Toggle::Verify
            && t.verify != crate::profile::Verify::Insecure
            && state
                .profiles
                .current()
                .is_some_and(|p| p.profile.ca_file.is_some())
        {
            value = "ca-file";
        }
        spans.push(if (spec.alarming)(t) {
            Span::styled(value, theme.fg(Color::Red))
        } else {
            Span::raw(value)
        });
    }
    if state.toggles_pending() {
        let used: usize = spans.iter().map(|s| s.width()).sum();
        let room = usize::from(area.width).saturating_sub(used);
        let pending = [" (next connection)", " (next)", " *"]
            .into_iter()
            .find(|t| t.len() <= room)
            .unwrap_or("");
        spans.push(Span::styled(pending, theme.fg(Color::Yellow)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
