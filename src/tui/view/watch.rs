//! The watch pane: the profile's mail log, followed. Relay denials and AUTH failures per
//! minute as sparklines, the top offenders, the selected offender's lines, and the scenarios
//! that test the same policy from outside with their last verdicts here: the inside log and
//! the outside test on one screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Sparkline};

use super::Theme;
use super::overlay::centered;
use crate::terminal_text::one_line;
use crate::tui::state::State;
use crate::watch::event::Kind;
use crate::watch::snapshot::Snapshot;

/// The scenarios that test from outside what each kind of log line records from inside.
const TESTED_BY: [(Kind, &[&str]); 2] = [
    (
        Kind::RelayDenied,
        &["unauth-relay", "relay-tricks", "auth-relay-disallowed"],
    ),
    (Kind::AuthFailed, &["auth-needs-tls", "auth-relay-approved"]),
];

pub fn render(state: &State, selected: usize, frame: &mut Frame, area: Rect, theme: Theme) {
    let r = centered(area, 94, 94);
    frame.render_widget(Clear, r);
    let Some(w) = state.watch.as_deref() else {
        let block = Block::default()
            .borders(Borders::ALL)
            .title(" Watch (Esc closes) ");
        frame.render_widget(
            Paragraph::new("reading the profile's mail log…").block(block),
            r,
        );
        return;
    };
    let title = format!(
        " Watch {} — {} lines, {} not in a known form (Esc closes, Up/Down select) ",
        one_line(&w.source),
        w.lines,
        w.not_understood
    );
    let block = Block::default().borders(Borders::ALL).title(title);
    let inner = block.inner(r);
    frame.render_widget(block, r);
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1), // error, or the totals
            Constraint::Length(1),
            Constraint::Length(2), // relay sparkline
            Constraint::Length(1),
            Constraint::Length(2), // auth sparkline
            Constraint::Length(1),
            Constraint::Min(3),    // offenders, then the selected one's lines
            Constraint::Length(2), // tested by
        ])
        .split(inner);
    let headline = match &w.error {
        Some(e) => Line::from(Span::styled(one_line(e), theme.fg(Color::Red))),
        None => Line::from(format!(
            "relay denied {} · AUTH failed {} · improper pipelining {} · lost after AUTH {}",
            w.totals[0], w.totals[1], w.totals[2], w.totals[3]
        )),
    };
    frame.render_widget(Paragraph::new(headline), parts[0]);
    for (kind, label_at, line_at, colour) in [
        (Kind::RelayDenied, 1, 2, Color::Red),
        (Kind::AuthFailed, 3, 4, Color::Yellow),
    ] {
        let data = &w.per_minute[kind.index()];
        let max = data.iter().copied().max().unwrap_or(0);
        frame.render_widget(
            Paragraph::new(format!(
                "{} per minute, the log's last {} minutes (max {max})",
                kind.words(),
                data.len()
            )),
            parts[label_at],
        );
        frame.render_widget(
            Sparkline::default().data(data).style(theme.fg(colour)),
            parts[line_at],
        );
    }
    frame.render_widget(offenders(w, selected, theme), parts[6]);
    frame.render_widget(Paragraph::new(tested_by(state)), parts[7]);
}

/// The offenders, one line each, the selected one marked, then its lines.
fn offenders(w: &Snapshot, selected: usize, theme: Theme) -> Paragraph<'static> {
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "  {:<40} {:>8} {:>8} {:>10} {:>6}",
            "client", "relay", "AUTH", "pipelining", "lost"
        ),
        Style::default().add_modifier(Modifier::BOLD),
    ))];
    for (i, o) in w.offenders.iter().enumerate() {
        let text = format!(
            "{} {:<40} {:>8} {:>8} {:>10} {:>6}",
            if i == selected { '>' } else { ' ' },
            one_line(&o.client),
            o.counts[0],
            o.counts[1],
            o.counts[2],
            o.counts[3]
        );
        lines.push(if i == selected {
            Line::from(Span::styled(text, theme.fg(Color::Cyan)))
        } else {
            Line::from(text)
        });
    }
    if w.offenders.is_empty() {
        lines.push(Line::from(
            "  no relay denials, AUTH failures or pipelining yet",
        ));
    }
    if let Some(o) = w.offenders.get(selected) {
        lines.push(Line::from(""));
        lines.push(Line::from(format!(
            "lines of {} (the latest kept):",
            one_line(&o.client)
        )));
        let theirs: Vec<&str> = w.lines_of(&o.client).collect();
        for l in theirs.iter().rev().take(12).rev() {
            lines.push(Line::from(format!("  {}", one_line(l))));
        }
    }
    Paragraph::new(lines)
}

/// "tested from outside by A unauth-relay ✓ PASS, …" for this profile.
fn tested_by(state: &State) -> Vec<Line<'static>> {
    let profile = state.profiles.current().map(|p| p.name.clone());
    TESTED_BY
        .iter()
        .map(|(kind, ids)| {
            let tests = ids
                .iter()
                .filter(|id| state.catalogue.iter().any(|s| s.id == **id))
                .map(|id| {
                    let verdict = profile
                        .as_deref()
                        .and_then(|p| state.verdicts.get(p, id))
                        .map_or("not run yet".to_string(), |v| v.to_string());
                    format!("{id} {verdict}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            Line::from(format!(
                "{} is tested from outside by: {tests}",
                kind.words()
            ))
        })
        .collect()
}
