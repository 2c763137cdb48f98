//! Modal panes: help (generated from the key table), teaching text, capabilities, the password
//! prompt and the profile editor.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::Color;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::Theme;
use crate::scenario::teaching::explain;
use crate::tui::keymap::{BINDINGS, Scope, scope_name};
use crate::tui::state::{Overlay, State};

fn centered(area: Rect, pct_x: u16, pct_y: u16) -> Rect {
    let v = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Percentage((100 - pct_y) / 2),
            Constraint::Percentage(pct_y),
            Constraint::Percentage((100 - pct_y) / 2),
        ])
        .split(area);
    Layout::default()
        .direction(Direction::Horizontal)
        .constraints([
            Constraint::Percentage((100 - pct_x) / 2),
            Constraint::Percentage(pct_x),
            Constraint::Percentage((100 - pct_x) / 2),
        ])
        .split(v[1])[1]
}

/// The help text: every binding by scope, the escape syntax, the log file, then Relay 101.
pub fn help_text(state: &State) -> Vec<String> {
    let mut out = vec![
        "Keys (any other key closes this help; Up/Down/PgUp/PgDn scroll)".to_string(),
        String::new(),
    ];
    for scope in [
        Scope::Global,
        Scope::Picker,
        Scope::Transcript,
        Scope::Editor,
    ] {
        out.push(format!("{}:", scope_name(scope)));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            out.push(format!("  {:<10} {}", b.key, b.label));
        }
        out.push(String::new());
    }
    out.extend([
        "Typing commands by hand: the line is sent with CRLF added. Escapes send exact".to_string(),
        "bytes: \\r \\n \\t \\0 \\\\ \\xHH; a line containing \\r or \\n gets no CRLF added."
            .to_string(),
        "AUTH typed by hand asks for the password (masked) and keeps it in memory only."
            .to_string(),
        "STARTTLS typed by hand upgrades the connection properly.".to_string(),
        String::new(),
        format!(
            "Log file: {}",
            state
                .log_path
                .as_ref()
                .map_or("(none)".to_string(), |p| p.display().to_string())
        ),
        String::new(),
    ]);
    out.extend(state.relay_101.lines().map(str::to_string));
    out
}

/// The TLS section of the capabilities pane: the session, then the chain as sent.
fn tls_lines(state: &State, theme: Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled("TLS", theme.focus(true)))];
    match (&state.conn.tls, &state.conn.tls_rejected) {
        (None, None) => lines.push(Line::from("  (no TLS session)")),
        (None, Some(info)) => {
            lines.push(Line::from(Span::styled(
                "  handshake stopped at the certificate:",
                theme.fg(Color::Red),
            )));
            for l in info.detail_lines() {
                lines.push(Line::from(format!("  {l}")));
            }
        }
        (Some(info), _) => {
            lines.push(Line::from(format!(
                "  {}, {}{}",
                info.version,
                info.cipher_suite,
                info.key_exchange
                    .as_deref()
                    .map(|k| format!(", {k}"))
                    .unwrap_or_default()
            )));
            for l in info.detail_lines() {
                let warn = l.contains("WARN") || l.contains("NOT ") || l.contains("EXPIRED");
                let line = format!("  {l}");
                lines.push(if warn {
                    Line::from(Span::styled(line, theme.fg(Color::Yellow)))
                } else {
                    Line::from(line)
                });
            }
        }
    }
    lines
}

/// How many lines `text` takes wrapped at word boundaries to `width` columns (a word longer
/// than a line is cut across lines, as the paragraph does).
fn wrapped_lines(text: &str, width: usize) -> usize {
    let width = width.max(1);
    let mut lines = 0;
    // As if a line were full, so that the first word starts one.
    let mut used = width;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if used + 1 + n <= width {
            used += 1 + n;
        } else {
            lines += n.div_ceil(width);
            used = (n - 1) % width + 1;
        }
    }
    lines.max(1)
}

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let Some(overlay) = &state.overlay else {
        return;
    };
    match overlay {
        Overlay::Help { scroll } => {
            let r = centered(area, 90, 90);
            frame.render_widget(Clear, r);
            let text: Vec<Line> = help_text(state).into_iter().map(Line::from).collect();
            frame.render_widget(
                Paragraph::new(text)
                    .block(Block::default().borders(Borders::ALL).title(" Help "))
                    .scroll((*scroll, 0)),
                r,
            );
        }
        Overlay::Teaching { scroll } => {
            let r = centered(area, 90, 90);
            frame.render_widget(Clear, r);
            let text = state.selected_scenario().map(explain).unwrap_or_default();
            frame.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .title(" Why it matters and how to fix it "),
                    )
                    .scroll((*scroll, 0)),
                r,
            );
        }
        Overlay::Capabilities => {
            let r = centered(area, 80, 80);
            frame.render_widget(Clear, r);
            let mut lines = Vec::new();
            for (title, caps) in [
                ("Before TLS", &state.conn.caps_before),
                (
                    "After TLS (the only ones trusted once TLS is up)",
                    &state.conn.caps_after,
                ),
            ] {
                lines.push(Line::from(Span::styled(title, theme.focus(true))));
                if caps.is_empty() {
                    lines.push(Line::from("  (none seen yet)"));
                }
                for (k, m) in caps {
                    lines.push(Line::from(format!("  {k:<28} {m}")));
                }
                lines.push(Line::from(""));
            }
            lines.extend(tls_lines(state, theme));
            frame.render_widget(
                Paragraph::new(lines).wrap(Wrap { trim: false }).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" Capabilities "),
                ),
                r,
            );
        }
        Overlay::Password { field, why, .. } => {
            let r = match why {
                // The reason, a blank line and the field, in borders: as tall as that needs.
                Some(why) => {
                    let r = centered(area, 80, 100);
                    let lines = wrapped_lines(why, usize::from(r.width.saturating_sub(2)));
                    let height = u16::try_from(lines).unwrap_or(u16::MAX).saturating_add(4);
                    let top = r.y + r.height.saturating_sub(height) / 2;
                    Rect::new(r.x, top, r.width, height.min(r.height))
                }
                None => centered(area, 60, 20),
            };
            frame.render_widget(Clear, r);
            let block = Block::default()
                .borders(Borders::ALL)
                .title(" Password (Enter to use, Esc to cancel; never saved) ");
            let mut inner = block.inner(r);
            frame.render_widget(block, r);
            if let Some(why) = why {
                let parts = Layout::default()
                    .direction(Direction::Vertical)
                    .constraints([Constraint::Min(1), Constraint::Length(1)])
                    .split(inner);
                frame.render_widget(
                    Paragraph::new(Span::styled(why.clone(), theme.fg(Color::Yellow)))
                        .wrap(Wrap { trim: true }),
                    parts[0],
                );
                inner = parts[1];
            }
            // The mask only: one bullet per character, never the text.
            let shown = if field.is_empty() {
                Line::from(Span::styled(
                    "password (kept in memory only)",
                    theme.fg(Color::DarkGray),
                ))
            } else {
                Line::from("•".repeat(field.len()))
            };
            frame.render_widget(Paragraph::new(shown), inner);
            frame.set_cursor_position((
                inner.x
                    + u16::try_from(field.len())
                        .unwrap_or(u16::MAX)
                        .min(inner.width.saturating_sub(1)),
                inner.y,
            ));
        }
        Overlay::ProfileEditor { name, field, error } => {
            let r = centered(area, 90, 85);
            frame.render_widget(Clear, r);
            let title =
                format!(" Profile {name} — Ctrl-S saves to profiles/{name}.toml, Esc cancels ");
            let block = Block::default().borders(Borders::ALL).title(title);
            let inner = block.inner(r);
            frame.render_widget(block, r);
            let parts = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Min(3), Constraint::Length(2)])
                .split(inner);
            frame.render_widget(field.as_ref(), parts[0]);
            if let Some(e) = error {
                frame.render_widget(
                    Paragraph::new(Span::styled(e.clone(), theme.fg(Color::Red)))
                        .wrap(Wrap { trim: false }),
                    parts[1],
                );
            }
        }
        Overlay::ConfirmSwitch { from, to } => {
            let r = centered(area, 70, 20);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(format!(
                    "a run is in progress on {from}: switch to {to} and abort it? y/n"
                ))
                .wrap(Wrap { trim: true })
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" Switch profile "),
                ),
                r,
            );
        }
        Overlay::ConfirmDelete { name } => {
            let r = centered(area, 50, 20);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(format!(
                    "Delete profile {name}? y deletes, any other key keeps it."
                ))
                .block(Block::default().borders(Borders::ALL).title(" Delete ")),
                r,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::wrapped_lines;

    #[test]
    fn wrapped_lines_counts_as_words_wrap() {
        assert_eq!(wrapped_lines("", 10), 1);
        assert_eq!(wrapped_lines("one two", 7), 1);
        assert_eq!(wrapped_lines("one two", 6), 2);
        assert_eq!(wrapped_lines("one two three", 9), 2);
        assert_eq!(wrapped_lines("abcdefghijkl x", 5), 3);
    }
}
