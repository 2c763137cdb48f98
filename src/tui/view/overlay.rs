//! Modal panes: help (generated from the key table), teaching text, capabilities, the password
//! prompt and the profile editor.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};

use super::Theme;
use crate::scenario::teaching::explain;
use crate::tui::keymap::{Scope, hints, scope_name};
use crate::tui::lines::match_ranges;
use crate::tui::state::{Overlay, Scroll, State};
use crate::tui::wrap::{self, width};

pub fn centered(area: Rect, pct_x: u16, pct_y: u16) -> Rect {
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

/// One line of an overlay's text: what it says, how far its wrapped rows are indented, and
/// its style.
pub struct Row {
    pub text: String,
    pub indent: usize,
    pub style: Style,
}

impl Row {
    fn plain(text: impl Into<String>) -> Row {
        let text = text.into();
        let indent = hanging_indent(&text);
        Row {
            text,
            indent,
            style: Style::default(),
        }
    }
}

/// Where a wrapped line's later rows start: under its text, past leading spaces and a list
/// marker ("- ", "• ", "12. ").
fn hanging_indent(line: &str) -> usize {
    let lead = line.len() - line.trim_start().len();
    let rest = &line[lead..];
    let marker = if rest.starts_with("- ") || rest.starts_with("• ") || rest.starts_with("* ") {
        2
    } else {
        let digits = rest.chars().take_while(char::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with(". ") {
            digits + 2
        } else {
            0
        }
    };
    lead + marker
}

/// The help text: every binding by scope (each key once), the escape syntax, the log file,
/// then Relay 101.
pub fn help_text(state: &State) -> Vec<Row> {
    let mut out = vec![
        Row::plain("Keys (Up/Down/PgUp/PgDn/Home/End scroll; / searches, n next; Esc or q closes)"),
        Row::plain(""),
    ];
    for scope in [
        Scope::Global,
        Scope::Picker,
        Scope::Transcript,
        Scope::Editor,
        Scope::Profiles,
        Scope::Overlay,
        Scope::Compare,
    ] {
        out.push(Row::plain(format!("{}:", scope_name(scope))));
        let hints = hints(scope);
        let w = hints
            .iter()
            .map(|h| width(&h.keys))
            .max()
            .unwrap_or(0)
            .max(9);
        for h in hints {
            out.push(Row {
                text: format!("  {:<w$}  {}", h.keys, h.label),
                indent: w + 4,
                style: Style::default(),
            });
        }
        out.push(Row::plain(""));
    }
    for line in [
        "Typing commands by hand: the line is sent with CRLF added. Escapes send exact bytes: \\r \\n \\t \\0 \\\\ \\xHH; a line containing \\r or \\n gets no CRLF added.",
        "AUTH typed by hand asks for the password (masked) and keeps it in memory only.",
        "STARTTLS typed by hand upgrades the connection properly, then offers the EHLO that RFC 3207 requires in the editor.",
        "",
    ] {
        out.push(Row::plain(line));
    }
    out.push(Row::plain(format!(
        "Log file: {}",
        state
            .log_path
            .as_ref()
            .map_or("(none)".to_string(), |p| p.display().to_string())
    )));
    out.push(Row::plain(""));
    out.extend(state.relay_101.lines().map(Row::plain));
    out
}

/// What changed between the EHLO before TLS and the one after it, by keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Same,
    /// Offered only after TLS (AUTH, typically).
    New,
    /// Offered both times, with other parameters (AUTH PLAIN → AUTH PLAIN LOGIN).
    Changed,
}

fn keyword(raw: &str) -> String {
    raw.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// Each capability after TLS with what changed, and the keywords that were offered before TLS
/// and are gone after it (STARTTLS, typically).
pub fn tls_changes(
    before: &[(String, String)],
    after: &[(String, String)],
) -> (Vec<Change>, Vec<String>) {
    let changes = after
        .iter()
        .map(|(raw, _)| {
            let k = keyword(raw);
            match before.iter().find(|(b, _)| keyword(b) == k) {
                None => Change::New,
                Some((b, _)) if !b.eq_ignore_ascii_case(raw) => Change::Changed,
                Some(_) => Change::Same,
            }
        })
        .collect();
    let gone = before
        .iter()
        .filter(|(b, _)| !after.iter().any(|(a, _)| keyword(a) == keyword(b)))
        .map(|(b, _)| b.clone())
        .collect();
    (changes, gone)
}

/// The capabilities before and after TLS, what each means, and what TLS changed.
pub fn capabilities_text(state: &State, theme: Theme) -> Vec<Row> {
    let before = &state.conn.caps_before;
    let after = &state.conn.caps_after;
    let w = before
        .iter()
        .chain(after)
        .map(|(k, _)| width(k))
        .max()
        .unwrap_or(0)
        .clamp(12, 28);
    let row = |mark: &str, k: &str, m: &str, style: Style| Row {
        text: format!("{mark} {k:<w$} {m}"),
        indent: w + 3,
        style,
    };
    let head = |t: &str| Row {
        text: t.to_string(),
        indent: 0,
        style: theme.focus(true),
    };
    let mut out = vec![head("Before TLS")];
    if before.is_empty() {
        out.push(Row::plain("  (none seen yet)"));
    }
    for (k, m) in before {
        out.push(row(" ", k, m, Style::default()));
    }
    out.push(Row::plain(""));
    out.push(head("After TLS (the only ones trusted once TLS is up)"));
    if after.is_empty() {
        out.push(Row::plain(
            if before.iter().any(|(k, _)| keyword(k) == "STARTTLS") {
                "  (none seen yet: STARTTLS is offered; run a scenario or type STARTTLS)"
            } else {
                "  (none seen yet)"
            },
        ));
    } else {
        let (changes, gone) = tls_changes(before, after);
        for ((k, m), c) in after.iter().zip(changes) {
            out.push(match c {
                Change::Same => row(" ", k, m, Style::default()),
                Change::New => row(
                    "+",
                    k,
                    &format!("{m} (new after TLS)"),
                    theme.fg(Color::Green),
                ),
                Change::Changed => row(
                    "~",
                    k,
                    &format!("{m} (changed after TLS)"),
                    theme.fg(Color::Yellow),
                ),
            });
        }
        for k in &gone {
            out.push(row(
                "-",
                k,
                "no longer offered once TLS is up",
                theme.fg(Color::Red),
            ));
        }
        out.push(Row::plain(""));
        out.push(Row::plain(
            "+ new inside TLS   ~ changed inside TLS   - gone inside TLS",
        ));
    }
    out
}

/// The TLS session of the connection and the certificate chain the server sent.
pub fn tls_text(state: &State, theme: Theme) -> Vec<Row> {
    let heading = |text: &str| Row {
        text: text.into(),
        indent: 0,
        style: theme.focus(true),
    };
    let field = |k: &str, v: &str| Row {
        text: format!("  {k:<15} {v}"),
        indent: 18,
        style: Style::default(),
    };
    let mut out = Vec::new();
    let info = match (&state.conn.tls, &state.conn.tls_rejected) {
        (Some(t), _) => {
            out.extend([
                heading("Session"),
                field("version", &t.version),
                field("cipher suite", &t.cipher_suite),
                field(
                    "key exchange",
                    t.key_exchange.as_deref().unwrap_or("(not reported)"),
                ),
                Row::plain(""),
            ]);
            t
        }
        // The handshake stopped at the certificate: the chain is still worth reading.
        (None, Some(t)) => {
            out.push(Row {
                text: "The handshake stopped at the certificate:".into(),
                indent: 0,
                style: theme.fg(Color::Red),
            });
            out.push(Row::plain(""));
            t
        }
        (None, None) => {
            return vec![Row::plain(
                "No TLS on this connection (yet): run a scenario, or type STARTTLS (F2 chooses STARTTLS or implicit TLS).",
            )];
        }
    };
    out.push(heading("Certificate chain as sent"));
    for line in info.detail_lines() {
        let style = if line.starts_with("NOT verified") || line.contains("EXPIRED") {
            theme.fg(Color::Red)
        } else if line.contains("WARN") || line.contains("NOT ") {
            theme.fg(Color::Yellow)
        } else if line.starts_with("verified for") {
            theme.fg(Color::Green)
        } else {
            Style::default()
        };
        let text = format!("  {line}");
        let indent = value_column(&text).unwrap_or_else(|| hanging_indent(&text));
        out.push(Row {
            text,
            indent,
            style,
        });
    }
    if !info.verification.verified && info.verification.accepted_insecurely {
        out.push(Row::plain(
            "  accepted only because verification is off (F4)",
        ));
    }
    out
}

/// Where the value of a "  label    value" line starts, so its wrapped rows line up under the
/// value rather than under the label.
fn value_column(line: &str) -> Option<usize> {
    let lead = line.len() - line.trim_start().len();
    let rest = &line[lead..];
    let label = rest.find(' ')?;
    let after = &rest[label..];
    let gap = after.len() - after.trim_start().len();
    (gap >= 2 && !after.trim_start().is_empty()).then_some(lead + label + gap)
}

/// The rows of `rows` wrapped to `width`, each wrapped row indented under its text.
pub fn wrap_rows(rows: &[Row], width: usize) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    for r in rows {
        let pieces = wrap::wrap(&r.text, width);
        let first = pieces.first().cloned().unwrap_or(0..0);
        out.push(Line::from(Span::styled(
            r.text[first.clone()].to_string(),
            r.style,
        )));
        if first.end >= r.text.len() {
            continue;
        }
        let indent = if r.indent + 8 <= width { r.indent } else { 0 };
        let rest = &r.text[first.end..];
        for piece in wrap::wrap(rest, width - indent) {
            out.push(Line::from(Span::styled(
                format!("{}{}", " ".repeat(indent), &rest[piece]),
                r.style,
            )));
        }
    }
    out
}

/// A pane of text over the screen that scrolls: where it is shows in its bottom border. It is
/// searched as the transcript is: every match marked, "3 of 41" (or "no match") in the border.
fn text_pane(frame: &mut Frame, r: Rect, title: &str, rows: &[Row], scroll: &Scroll) {
    frame.render_widget(Clear, r);
    let inner_w = usize::from(r.width.saturating_sub(2));
    let inner_h = usize::from(r.height.saturating_sub(2));
    let mut lines = wrap_rows(rows, inner_w.max(1));
    let _ = scroll.visible(lines.len(), inner_h);
    mark_search(&mut lines, scroll);
    let top = scroll.visible(lines.len(), inner_h);
    let searching = search_status(scroll);
    let more = if lines.len() > inner_h {
        let last = (usize::from(top) + inner_h).min(lines.len());
        format!(
            "{searching} rows {}-{last} of {} · Esc closes ",
            usize::from(top) + 1,
            lines.len()
        )
    } else {
        format!("{searching} Esc closes ")
    };
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title.to_string())
                    .title_bottom(Line::from(more).right_aligned()),
            )
            .scroll((top, 0)),
        r,
    );
}

/// Marks every match of the pane's search in `lines` (as drawn, wrapped), and tells the
/// scroll which lines hold one so that it moves to the match asked for and counts them. A
/// match is looked for within each span, so what is marked is what is counted.
pub(super) fn mark_search(lines: &mut [Line<'static>], scroll: &Scroll) {
    let query = scroll.search.clone().unwrap_or_default();
    if query.is_empty() {
        return;
    }
    let hits: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            l.spans
                .iter()
                .any(|s| !match_ranges(&s.content, &query).is_empty())
        })
        .map(|(i, _)| i)
        .collect();
    scroll.found(&hits);
    for &i in &hits {
        if let Some(l) = lines.get_mut(i) {
            *l = marked(std::mem::take(l), &query);
        }
    }
}

/// The search's part of a pane's bottom border: the query being typed, "3 of 41 · n next", or
/// "no match"; empty with no search.
pub(super) fn search_status(scroll: &Scroll) -> String {
    match (&scroll.typing, &scroll.search) {
        (Some(typed), _) => format!(" /{typed}▏ Enter searches · "),
        (None, Some(q)) => match scroll.match_count() {
            (_, 0) => format!(" no match for {q:?} · "),
            (at, total) => format!(" {at} of {total} · n next · "),
        },
        (None, None) => String::new(),
    }
}

/// `line` with every occurrence of `query` inside a span marked as a search match.
fn marked(line: Line<'static>, query: &str) -> Line<'static> {
    let hl = Style::default().add_modifier(Modifier::BOLD | Modifier::REVERSED);
    let mut spans = Vec::with_capacity(line.spans.len() + 2);
    for span in line.spans {
        let text = span.content.to_string();
        let mut at = 0;
        for (s, e) in match_ranges(&text, query) {
            if s > at {
                spans.push(Span::styled(text[at..s].to_string(), span.style));
            }
            spans.push(Span::styled(text[s..e].to_string(), span.style.patch(hl)));
            at = e;
        }
        if at < text.len() {
            spans.push(Span::styled(text[at..].to_string(), span.style));
        }
    }
    Line { spans, ..line }
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
        Overlay::Watch { selected } => super::watch::render(state, *selected, frame, area, theme),
        Overlay::Profiles(picker) => super::profiles::render(state, picker, frame, area, theme),
        Overlay::Compare { other, scroll } => {
            super::compare::render(state, other, scroll, frame, area, theme)
        }
        Overlay::Help { scroll } => {
            let rows = help_text(state);
            text_pane(frame, centered(area, 90, 90), " Help ", &rows, scroll);
        }
        Overlay::Teaching { scroll } => {
            // The reply selected (or the last), read in the scenario's context, comes first.
            let context = super::reply_in_context(state);
            let text = state.selected_scenario().map(explain).unwrap_or_default();
            let mut rows: Vec<Row> = context.iter().map(Row::plain).collect();
            if !rows.is_empty() {
                rows.push(Row::plain(""));
            }
            rows.extend(text.lines().map(Row::plain));
            let title = if context.is_empty() {
                " Why it matters and how to fix it "
            } else {
                " This reply, why it matters and how to fix it "
            };
            text_pane(frame, centered(area, 90, 90), title, &rows, scroll);
        }
        Overlay::Tls { scroll } => {
            let rows = tls_text(state, theme);
            text_pane(frame, centered(area, 90, 90), " TLS ", &rows, scroll);
        }
        Overlay::History {
            profile,
            lines,
            scroll,
        } => {
            let rows: Vec<Row> = lines.iter().map(Row::plain).collect();
            let title = format!(" History of {profile} ");
            text_pane(frame, centered(area, 90, 90), &title, &rows, scroll);
        }
        Overlay::Capabilities { scroll } => {
            let rows = capabilities_text(state, theme);
            text_pane(
                frame,
                centered(area, 90, 90),
                " Capabilities ",
                &rows,
                scroll,
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
        Overlay::ConfirmRestart { running, next, .. } => {
            let r = centered(area, 70, 20);
            frame.render_widget(Clear, r);
            frame.render_widget(
                Paragraph::new(format!(
                    "{running} is in progress: abort it (its connection closed, QUIT not sent) and start {next}? y/n"
                ))
                .wrap(Wrap { trim: true })
                .block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" Start another scenario "),
                ),
                r,
            );
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
        Overlay::Palette(p) => super::palette::render(p, frame, area, theme),
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
    use super::*;

    fn caps(list: &[&str]) -> Vec<(String, String)> {
        list.iter()
            .map(|k| (k.to_string(), String::new()))
            .collect()
    }

    #[test]
    fn tls_changes_mark_new_changed_and_gone() {
        let before = caps(&["PIPELINING", "STARTTLS", "AUTH PLAIN", "8BITMIME"]);
        let after = caps(&["PIPELINING", "auth plain login", "SIZE 1000", "8BITMIME"]);
        let (changes, gone) = tls_changes(&before, &after);
        assert_eq!(
            changes,
            vec![Change::Same, Change::Changed, Change::New, Change::Same]
        );
        assert_eq!(gone, vec!["STARTTLS".to_string()]);
    }

    #[test]
    fn wrapped_rows_keep_their_indent() {
        let rows = vec![Row {
            text: "  KEY        a label long enough to wrap onto a second row".into(),
            indent: 13,
            style: Style::default(),
        }];
        let lines: Vec<String> = wrap_rows(&rows, 30)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert!(lines.len() >= 2, "{lines:?}");
        for l in &lines[1..] {
            assert!(l.starts_with(&" ".repeat(13)), "{l:?}");
            assert!(width(l) <= 30, "{l:?}");
        }
        assert_eq!(hanging_indent("  - a bullet"), 4);
        assert_eq!(hanging_indent("  12. step"), 6);
        assert_eq!(hanging_indent("plain"), 0);
    }

    #[test]
    fn wrapped_lines_counts_as_words_wrap() {
        assert_eq!(wrapped_lines("", 10), 1);
        assert_eq!(wrapped_lines("one two", 7), 1);
        assert_eq!(wrapped_lines("one two", 6), 2);
        assert_eq!(wrapped_lines("one two three", 9), 2);
        assert_eq!(wrapped_lines("abcdefghijkl x", 5), 3);
    }
}
