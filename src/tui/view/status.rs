//! The status bar (profile, server, phase, TLS, AUTH) and the toggles bar.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Theme;
use crate::tui::state::State;
use crate::tui::update::{tls_name, verify_name};

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
    let t = state.toggles;
    let verify = verify_name(t.verify);
    let verify_style = if verify == "INSECURE" {
        theme.fg(Color::Red)
    } else {
        theme.fg(Color::Reset)
    };
    let mut spans = vec![
        Span::raw(format!(
            " F2 tls:{} F3 req:{} F4 cert:",
            tls_name(t.tls),
            if t.require_tls { "on" } else { "off" }
        )),
        Span::styled(verify, verify_style),
        Span::raw(format!(
            " F5 auth:{} F6 {} F7 data:{}",
            if t.auth { "on" } else { "off" },
            t.mechanism.name(),
            if t.send_data { "on" } else { "off" }
        )),
    ];
    if state.toggles_pending() {
        spans.push(Span::styled(" (next connection)", theme.fg(Color::Yellow)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}
