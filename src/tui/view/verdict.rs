//! The verdict panel: the scenario's steps, expected against observed, and the verdict.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};

use super::Theme;
use crate::scenario::Verdict;
use crate::tui::state::State;

pub fn verdict_span(v: Verdict, theme: Theme) -> Span<'static> {
    let color = match v {
        Verdict::Pass => Color::Green,
        Verdict::Fail => Color::Red,
        Verdict::Warn => Color::Yellow,
        Verdict::Inconclusive => Color::Magenta,
        Verdict::Skipped => Color::DarkGray,
    };
    Span::styled(v.to_string(), theme.fg(color).add_modifier(Modifier::BOLD))
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

pub fn render(state: &State, frame: &mut Frame, area: Rect, theme: Theme) {
    let mut lines: Vec<Line> = Vec::new();
    let title;
    match (&state.run, state.selected_scenario()) {
        (Some(run), Some(sel)) if run.scenario.id == sel.id => {
            title = format!(" {} {} ", run.scenario.label(), run.scenario.title);
            if let Some((v, reason)) = run.verdict() {
                lines.push(Line::from(vec![
                    verdict_span(v, theme),
                    Span::raw(format!(" {reason}")),
                ]));
            }
            for (i, s) in run.steps.iter().enumerate() {
                let here = run.step() == Some(i);
                let v = s.result.as_ref().map(|r| r.verdict);
                let pointer = if here { "▶" } else { " " };
                let mut spans = vec![Span::raw(format!("{pointer}{} ", mark(v)))];
                spans.push(Span::raw(s.label.clone()));
                lines.push(Line::from(spans));
                match &s.result {
                    Some(r) => {
                        let reply = r
                            .reply
                            .as_ref()
                            .map_or("no reply".to_string(), |x| x.text.clone());
                        lines.push(Line::from(Span::styled(
                            format!("    expected {}; got {reply}", s.expected),
                            theme.fg(Color::Gray),
                        )));
                        if r.verdict != Verdict::Pass {
                            lines.push(Line::from(Span::styled(
                                format!("    {}", r.reason),
                                theme.fg(Color::Gray),
                            )));
                        }
                    }
                    None => lines.push(Line::from(Span::styled(
                        format!("    expected {}", s.expected),
                        theme.fg(Color::DarkGray),
                    ))),
                }
            }
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
