//! Drawing: one file per pane. Nothing here changes state or does I/O.

mod compare;
mod fit;
mod overlay;
mod palette;
mod picker;
mod profiles;
mod status;
mod transcript;
mod verdict;
mod watch;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::keymap::{Scope, footer, step_footer};
use super::lines::LineKind;
use super::state::{Focus, Overlay, Phase, State};
use super::wrap::ellipsize;
use crate::scenario::runner::StepKind;
use crate::smtp::status as reply_status;

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
    let (known, said) = meaning(state);
    let said = format!(" {said}");
    // Two rows when the explanation needs them, so that it is read whole at 80 columns.
    let said_rows = super::wrap::height(&said, usize::from(area.width).saturating_sub(1).max(1));
    // Two rows when the explanation needs them; all it needs (up to a third of the screen)
    // while `m` has expanded it.
    let strip = if state.strip_expanded {
        u16::try_from(said_rows.clamp(1, usize::from(area.height / 3).max(2))).unwrap_or(2)
    } else {
        u16::from(said_rows > 1) + 1
    };
    // A notice (an error, an export's path) wraps rather than being cut: onto as many rows as
    // it needs, up to a quarter of the screen (at least three).
    let most = usize::from(area.height / 4).max(3);
    let notice_rows = notice_text(state).map_or(1, |(_, t)| {
        super::wrap::height(t, usize::from(area.width).max(1)).clamp(1, most)
    });
    let notice_rows = u16::try_from(notice_rows).unwrap_or(1);
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(6),
            Constraint::Length(strip),
            Constraint::Length(3),
            Constraint::Length(notice_rows),
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
    state.panes.set(crate::tui::state::PaneAreas {
        picker: left[0],
        verdict: left[1],
        transcript: cols[1],
        editor: rows[4],
    });
    picker::render(state, frame, left[0], theme);
    verdict::render(state, frame, left[1], theme);
    transcript::render(state, frame, cols[1], theme);
    render_meaning(known, &said, frame, rows[3], theme);
    render_editor(state, frame, rows[4], theme);
    render_notice(state, frame, rows[5], theme);
    render_footer(state, frame, rows[6], theme);
    if state.overlay.is_some() {
        overlay::render(state, frame, area, theme);
    }
}

fn render_editor(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let title = match &state.run {
        Some(r) if r.is_waiting() => " Command: waiting for the server… (Esc aborts) ".to_string(),
        Some(r) if matches!(r.phase(), Phase::AtStep(_)) => match r.offer() {
            Some(StepKind::Command(_)) | None => {
                " Command: next step, edit if you like, Enter sends, Esc aborts ".to_string()
            }
            Some(_) => " Next step: not a command; Enter runs it, Esc aborts ".to_string(),
        },
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

/// The notice line's colour and text: the latest notice, else the welcome.
fn notice_text(state: &State) -> Option<(Color, &str)> {
    match (&state.notice, &state.welcome) {
        (Some((true, t)), _) => Some((Color::Red, t.as_str())),
        (Some((false, t)), _) => Some((Color::Yellow, t.as_str())),
        (None, Some(w)) => Some((Color::Green, w.as_str())),
        (None, None) => None,
    }
}

fn render_notice(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let Some((color, text)) = notice_text(state) else {
        return;
    };
    // Wrapped onto the rows it was given (up to three); past them the last row is cut at a
    // word (the verdict panel and the transcript say it whole).
    let width = usize::from(area.width).max(1);
    let ranges = super::wrap::wrap(text, width);
    let rows = usize::from(area.height).max(1);
    let lines: Vec<Line> = ranges
        .iter()
        .take(rows)
        .enumerate()
        .map(|(i, r)| {
            let row = if i + 1 == rows && r.end < text.len() {
                ellipsize(&text[r.start..], width)
            } else {
                text[r.clone()].to_string()
            };
            Line::from(Span::styled(row, theme.fg(color)))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// How far back the meaning strip looks for the last reply when no line is selected: a
/// screenful or two, so that a transcript of a million lines costs nothing here.
const LAST_REPLY_LOOKBACK: usize = 200;

/// What the selected transcript line means (or, with none selected, the last reply), said
/// in one fixed place: the strip between the panes and the editor.
pub fn meaning(state: &State) -> (bool, String) {
    let lines = &state.transcript.lines;
    let (picked, idx) = match state.transcript.selected_line {
        Some(i) => (true, Some(i)),
        None => {
            let n = lines.len();
            let found = (n
                .saturating_sub(LAST_REPLY_LOOKBACK)
                .max(state.profile_start)..n)
                .rev()
                .find(|&i| lines.meta(i).is_some_and(|m| m.code.is_some()));
            (false, found)
        }
    };
    let Some(meta) = idx.and_then(|i| lines.meta(i)) else {
        return (
            false,
            "Tab, then Up/Down: the selected line's reply code is explained here".into(),
        );
    };
    let what = match (meta.kind, meta.code) {
        (_, Some((code, enhanced))) => {
            // A multi-line reply's enhanced code is on its first line.
            let enhanced = enhanced.or_else(|| {
                let (first, last) = reply_bounds(state, idx?);
                (first..=last).find_map(|j| lines.meta(j).and_then(|m| m.code?.1))
            });
            let answering = idx.and_then(|i| answered_verb(state, i));
            reply_status::explain_answer(code, enhanced, answering).one_line()
        }
        (LineKind::Sent, None) => "a command smtpscope sent; the server's reply follows it".into(),
        (LineKind::Received, None) => "a reply line without a code (shown as it arrived)".into(),
        (LineKind::Violation, _) => {
            "the server broke the protocol here; the line is shown as it arrived".into()
        }
        (LineKind::Error, _) => "the connection failed or was closed here".into(),
        (LineKind::Event, _) => "a note from smtpscope, not something the server sent".into(),
    };
    let head = if picked { "selected" } else { "last reply" };
    (true, format!("{head}: {what}"))
}

/// What `i` says first: the reply selected in the transcript (or the last one), what it
/// answers, what its code means there, and, when it answers a step of the run, what that step
/// expects, its verdict and the step's own note. Empty when there is no reply to explain.
pub fn reply_in_context(state: &State) -> Vec<String> {
    let lines = &state.transcript.lines;
    let idx = match state.transcript.selected_line {
        Some(i) => Some(i),
        None => {
            let n = lines.len();
            (n.saturating_sub(LAST_REPLY_LOOKBACK)
                .max(state.profile_start)..n)
                .rev()
                .find(|&i| lines.meta(i).is_some_and(|m| m.code.is_some()))
        }
    };
    let Some((i, Some((code, _)))) = idx.and_then(|i| lines.meta(i).map(|m| (i, m.code))) else {
        return Vec::new();
    };
    let (first, last) = reply_bounds(state, i);
    let enhanced = (first..=last).find_map(|j| lines.meta(j).and_then(|m| m.code?.1));
    let i = first;
    let sent = (i.saturating_sub(LAST_REPLY_LOOKBACK)..i)
        .rev()
        .find(|&j| lines.meta(j).is_some_and(|m| m.kind == LineKind::Sent));
    let answering = sent.map(|j| crate::smtp::command::classify_raw(lines.text(j).as_bytes()));
    let mut out = vec!["The reply you selected".to_string()];
    out.extend((first..=last).map(|j| format!("  S: {}", lines.text(j))));
    if let Some(j) = sent {
        out.push(format!("  answers C: {}", lines.text(j)));
    }
    out.push(format!(
        "  means: {}",
        reply_status::explain_answer(code, enhanced, answering).one_line()
    ));
    let step = state.run.as_ref().and_then(|run| {
        let command = sent.map(|j| lines.text(j))?;
        run.steps.iter().enumerate().find_map(|(k, s)| {
            s.result
                .as_ref()
                .filter(|r| r.command == command)
                .map(|r| (run, k, s, r))
        })
    });
    match step {
        Some((run, k, s, r)) => {
            out.push(format!(
                "  In {} ({}), it answers step {}, {}: expected {}; {} — {}",
                run.scenario.label(),
                run.scenario.title,
                k + 1,
                s.label,
                s.expected,
                r.verdict,
                r.reason
            ));
            if let Some(note) = run.scenario.steps.get(k).and_then(|st| st.note.as_deref()) {
                out.push(format!("  About this step: {}", note.replace('\n', " ")));
            }
        }
        None => out.push(
            "  It answers no step of the run shown: the local-delivery control, a command typed \
             by hand, or another session."
                .into(),
        ),
    }
    out
}

/// The first and last display lines of the reply line `i` belongs to: a multi-line reply
/// (`550-…` then `550 …`) is one answer, its enhanced code on its first line.
fn reply_bounds(state: &State, i: usize) -> (usize, usize) {
    let lines = &state.transcript.lines;
    let continues = |j: usize| {
        lines
            .meta(j)
            .is_some_and(|m| m.kind == LineKind::Received && m.code.is_some())
            && lines.text(j).as_bytes().get(3) == Some(&b'-')
    };
    let mut first = i;
    while first > 0 && i - first < LAST_REPLY_LOOKBACK && continues(first - 1) {
        first -= 1;
    }
    let mut last = i;
    while last - i < LAST_REPLY_LOOKBACK && continues(last) && last + 1 < lines.len() {
        last += 1;
    }
    (first, last)
}

/// The command a reply line answers: the nearest line sent before it (within a screenful or
/// two), read for its verb. A 503 to AUTH means something else than a 503 to RCPT.
fn answered_verb(state: &State, reply_line: usize) -> Option<crate::smtp::command::Verb> {
    let lines = &state.transcript.lines;
    (reply_line.saturating_sub(LAST_REPLY_LOOKBACK)..reply_line)
        .rev()
        .find(|&i| lines.meta(i).is_some_and(|m| m.kind == LineKind::Sent))
        .map(|i| crate::smtp::command::classify_raw(lines.text(i).as_bytes()))
}

fn render_meaning(known: bool, text: &str, frame: &mut Frame, area: Rect, theme: Theme) {
    let style = if known {
        theme.fg(Color::Yellow)
    } else {
        theme.fg(Color::DarkGray)
    };
    let width = usize::from(area.width);
    // Later rows start under the text, past the leading space.
    let rows: Vec<Line> = super::wrap::wrap(text, width.saturating_sub(1).max(1))
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let row = &text[r.clone()];
            // The last row that fits says it is cut, at a word.
            let lead = if i == 0 { "" } else { " " };
            let row = if i + 1 == usize::from(area.height) && r.end < text.len() {
                format!("{lead}{}", ellipsize(&text[r.start..], width - lead.len()))
            } else {
                format!("{lead}{row}")
            };
            Line::from(Span::styled(row, style))
        })
        .take(usize::from(area.height))
        .collect();
    frame.render_widget(Paragraph::new(rows), area);
}

/// The footer of a pane over the screen that takes keys of its own (the profile editor, a
/// question, the password prompt, the palette): its keys, not the main screen's.
fn overlay_footer(overlay: &Overlay) -> Option<Vec<crate::tui::keymap::Hint>> {
    let hint = |keys: &'static str, label: &'static str, short: &'static str, priority: u8| {
        crate::tui::keymap::Hint {
            keys: keys.to_string(),
            key_list: vec![keys],
            label,
            short,
            priority,
        }
    };
    let hints = match overlay {
        Overlay::ProfileEditor { .. } => vec![
            hint("Ctrl-S", "save the profile", "save", 1),
            hint("Esc", "cancel (nothing is written)", "cancel", 1),
            hint("arrows", "move", "move", 3),
        ],
        Overlay::Password { .. } => vec![
            hint("Enter", "use it (kept in memory only)", "use", 1),
            hint("Esc", "cancel", "cancel", 1),
        ],
        Overlay::ConfirmDelete { .. }
        | Overlay::ConfirmRestart { .. }
        | Overlay::ConfirmSwitch { .. } => vec![
            hint("y", "yes", "yes", 1),
            hint("any other key", "no", "no", 1),
        ],
        Overlay::Palette(_) => vec![
            hint("Enter", "run the action", "run", 1),
            hint("Up/Down", "select", "select", 2),
            hint("Backspace", "widen", "widen", 3),
            hint("Esc", "close", "close", 1),
        ],
        _ => return None,
    };
    Some(hints)
}

fn render_footer(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let scope = match state.focus {
        _ if matches!(state.overlay, Some(Overlay::Compare { .. })) => Scope::Compare,
        _ if state.overlay.as_ref().is_some_and(Overlay::scrolls) => Scope::Overlay,
        _ if matches!(state.overlay, Some(Overlay::Profiles(_))) => Scope::Profiles,
        Focus::Picker => Scope::Picker,
        Focus::Transcript => Scope::Transcript,
        Focus::Editor => Scope::Editor,
    };
    let stepping = state
        .run
        .as_ref()
        .is_some_and(|r| matches!(r.phase(), Phase::AtStep(_)));
    let hints = if let Some(own) = state.overlay.as_ref().and_then(overlay_footer) {
        own
    } else if stepping && scope == Scope::Editor {
        let command = state
            .run
            .as_ref()
            .and_then(|r| r.offer())
            .is_none_or(|k| matches!(k, StepKind::Command(_)));
        step_footer(command)
    } else {
        footer(scope)
    };
    let parts: Vec<fit::Part> = hints
        .iter()
        .map(|h| fit::Part::hint(&h.keys, h.label, h.short, h.priority, theme.focus(true)))
        .collect();
    let line = fit::line(&parts, Span::raw("  "), usize::from(area.width));
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::smtp::reply::ReplyParser;
    use crate::transcript::{Entry, EntryKind};

    fn state_with(exchange: &[(&str, &str)]) -> State {
        let mut state = State::new(Vec::new(), Vec::new());
        for (sent, reply) in exchange {
            state.transcript.push_entry(&Entry {
                at: Duration::ZERO,
                tls: false,
                kind: EntryKind::Sent {
                    bytes: format!("{sent}\r\n").into_bytes(),
                    redacted: false,
                },
            });
            let Some(reply) = ReplyParser::default().feed(reply.as_bytes()).reply else {
                panic!("not a reply: {reply}");
            };
            state.transcript.push_entry(&Entry {
                at: Duration::ZERO,
                tls: false,
                kind: EntryKind::Received {
                    reply,
                    latency: None,
                },
            });
        }
        state
    }

    /// Postfix answers AUTH before STARTTLS with a 503; the strip read it as "commands out of
    /// order (e.g. RCPT before MAIL…) — fix the session".
    #[test]
    fn the_strip_reads_a_503_as_the_answer_to_auth() {
        let state = state_with(&[(
            "AUTH PLAIN",
            "503 5.5.1 Error: authentication not enabled\r\n",
        )]);
        let (known, said) = meaning(&state);
        assert!(known);
        assert!(
            said.contains("authentication not enabled: AUTH is offered only after STARTTLS"),
            "{said}"
        );
        assert!(!said.contains("RCPT before MAIL"), "{said}");
    }

    #[test]
    fn the_strip_reads_greylisting_without_contradiction() {
        let state = state_with(&[(
            "RCPT TO:<a@b.example>",
            "451 4.7.1 Please try again later\r\n",
        )]);
        let (_, said) = meaning(&state);
        assert!(
            said.contains("temporarily refused (greylisting?)"),
            "{said}"
        );
        assert!(!said.contains("message refused"), "{said}");
        let ok = state_with(&[("NOOP", "250 2.0.0 Ok\r\n")]);
        let (_, said) = meaning(&ok);
        assert!(!said.contains("undefined status"), "{said}");
    }
}
