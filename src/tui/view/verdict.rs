//! The verdict panel: the scenario's steps, expected against observed, and the verdict.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::Theme;
use crate::scenario::Verdict;
use crate::tui::state::{Run, State};
use crate::tui::wrap::{self, ellipsize};

pub fn verdict_span(v: Verdict, theme: Theme) -> Span<'static> {
    verdict_span_as(v, v.to_string(), theme)
}

/// The verdict in as few letters as are readable, for a narrow list: PASS, FAIL, WARN, INC?,
/// SKIP.
pub fn verdict_short(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Warn => "WARN",
        Verdict::Inconclusive => "INC?",
        Verdict::Skipped => "SKIP",
    }
}

/// `text` in the verdict's colour.
pub fn verdict_span_as(v: Verdict, text: String, theme: Theme) -> Span<'static> {
    let color = match v {
        Verdict::Pass => Color::Green,
        Verdict::Fail => Color::Red,
        Verdict::Warn => Color::Yellow,
        Verdict::Inconclusive => Color::Magenta,
        Verdict::Skipped => Color::DarkGray,
    };
    Span::styled(text, theme.fg(color).add_modifier(Modifier::BOLD))
}

fn mark(v: Option<Verdict>) -> &'static str {
    match v {
        Some(Verdict::Pass) => "✓",
        Some(Verdict::Fail) => "✗",
        Some(Verdict::Warn) => "!",
        Some(Verdict::Inconclusive) => "?",
        Some(Verdict::Skipped) => "–",
        None => "·",
    }
}

/// The run's verdict and steps, said once each: the headline gives the verdict and its reason,
/// each step takes one line (its mark, its name, the reply), and a step gets a second line
/// only where it adds something: the step waiting in the editor says what it expects, and a
/// step that did not pass says why, unless the headline already does.
/// In `height` rows the steps come first: the headline is cut at a word to the rows they
/// leave (the notice line and `i` say it whole).
pub fn run_lines(run: &Run, width: usize, height: usize, theme: Theme) -> Vec<Line<'static>> {
    let mut lines: Vec<Line> = Vec::new();
    let headline = run.verdict().map(|(v, reason)| (v, reason.to_string()));
    let gray = theme.fg(Color::Gray);
    for (i, s) in run.steps.iter().enumerate() {
        let here = run.step() == Some(i);
        let v = s.result.as_ref().map(|r| r.verdict);
        let pointer = if here { "▶" } else { " " };
        let reply = s.result.as_ref().map(|r| r.reply_text());
        // A step the operator changed says so where it stands.
        let edited = if s.result.as_ref().is_some_and(|r| r.edited) {
            " (edited)"
        } else {
            ""
        };
        let head = format!("{pointer}{} {}{edited}", mark(v), s.label);
        let text = match reply {
            Some(reply) => format!("{head} — {reply}"),
            None => head,
        };
        lines.push(Line::from(Span::raw(ellipsize(&text, width))));
        let detail = match &s.result {
            None if here => Some(format!("expects {}", s.expected)),
            Some(r) if r.verdict != Verdict::Pass => {
                let said = headline
                    .as_ref()
                    .is_some_and(|(_, reason)| reason.contains(r.reason.as_str()));
                (!said && !r.reason.is_empty()).then(|| r.reason.clone())
            }
            _ => None,
        };
        if let Some(d) = detail {
            lines.push(Line::from(Span::styled(
                ellipsize(&format!("    {d}"), width),
                gray,
            )));
        }
    }
    if let Some((v, reason)) = &headline {
        // An edited run says so first: what it shows is not the scenario's verdict.
        let edited = run.edited();
        let (verdict, lead, text) = if edited.is_empty() {
            let verdict = v.to_string();
            let text = format!("{verdict} {reason}");
            (verdict, verdict_span(*v, theme), text)
        } else {
            let lead = "EDITED".to_string();
            let text = format!(
                "{lead} — not a verdict of {}: {}. As run: {v} {reason}",
                run.scenario.id,
                edited.join("; ")
            );
            let span = Span::styled(
                lead.clone(),
                theme.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            );
            (lead, span, text)
        };
        let rows = wrap::wrap(&text, width.max(1));
        let room = height.saturating_sub(lines.len()).max(1);
        let mut head: Vec<Line> = Vec::new();
        for (i, r) in rows.iter().take(room).enumerate() {
            let row = if i + 1 == room && r.end < text.len() {
                ellipsize(&text[r.start..], width)
            } else {
                text[r.clone()].to_string()
            };
            head.push(
                match row.strip_prefix(verdict.as_str()).filter(|_| i == 0) {
                    Some(rest) => Line::from(vec![lead.clone(), Span::raw(rest.to_string())]),
                    None => Line::from(row),
                },
            );
        }
        head.extend(lines);
        lines = head;
    }
    lines
}

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let width = usize::from(area.width.saturating_sub(2));
    let mut lines: Vec<Line> = Vec::new();
    let title;
    match (&state.run, state.selected_scenario()) {
        (Some(run), Some(sel)) if run.scenario.id == sel.id => {
            title = format!(" {} {} ", run.scenario.label(), run.scenario.title);
            let height = usize::from(area.height.saturating_sub(2));
            lines = run_lines(run, width, height, theme);
        }
        (_, Some(sel)) => {
            title = format!(" {} {} ", sel.label(), sel.title);
            lines.push(Line::from(sel.tests.trim().to_string()));
            lines.push(Line::from(""));
            lines.push(Line::from(Span::styled(
                "Enter runs it step by step; i explains why it matters and how to fix a failure.",
                theme.fg(Color::Gray),
            )));
        }
        _ => title = " Verdict ".into(),
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Catalogue;
    use crate::scenario::runner::{ReplySummary, StepResult};

    fn text(lines: &[Line]) -> String {
        lines
            .iter()
            .map(|l| {
                l.spans
                    .iter()
                    .map(|s| s.content.as_ref())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_reason_is_said_once_and_each_step_takes_a_line() {
        let a = Catalogue::built_in()
            .entries
            .into_iter()
            .map(|e| e.scenario)
            .find(|s| s.id == "unauth-relay")
            .expect("A");
        let mut run = Run::new(
            a,
            "lab-open".into(),
            &crate::scenario::vars::Vars::default(),
        );
        let reason = "expected rejected by policy (5xx, not 5.1.x)";
        for (i, (verdict, reply, why)) in [
            (Verdict::Pass, "250 2.1.0 Ok", "accepted as expected"),
            (Verdict::Fail, "250 2.1.5 Ok", reason),
        ]
        .into_iter()
        .enumerate()
        {
            run.record(
                i,
                StepResult {
                    name: None,
                    command: "X".into(),
                    expected: "x".into(),
                    reply: Some(ReplySummary {
                        code: Some(250),
                        enhanced: None,
                        text: reply.into(),
                    }),
                    verdict,
                    reason: why.into(),
                    elapsed_ms: 1,
                    role: crate::scenario::model::Role::Probe,
                    note: None,
                    edited: false,
                },
            );
        }
        run.finish(
            Verdict::Fail,
            format!("RCPT TO:<relay-test@elsewhere.example.org> — 250 2.1.5 Ok: {reason}"),
            Vec::new(),
        );
        let shown = text(&run_lines(&run, 120, 20, Theme { color: false }));
        assert_eq!(shown.matches(reason).count(), 1, "{shown}");
        assert_eq!(
            shown.lines().count(),
            3,
            "headline and one line per step: {shown}"
        );
        assert!(
            shown.contains("✗ outside recipient — 250 2.1.5 Ok"),
            "{shown}"
        );
        // A reason the headline does not give is shown under its step.
        run.finish(
            Verdict::Fail,
            "the local-delivery control failed, so a rejection means nothing".into(),
            Vec::new(),
        );
        let shown = text(&run_lines(&run, 60, 20, Theme { color: false }));
        assert!(shown.contains(&format!("    {reason}")), "{shown}");
        // Four rows: the steps and their detail first, the headline in what is left.
        let shown = text(&run_lines(&run, 30, 4, Theme { color: false }));
        assert_eq!(shown.lines().count(), 4, "{shown}");
        let first = shown.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("FAIL the local-delivery") && first.ends_with('…'),
            "{shown}"
        );
    }
}
