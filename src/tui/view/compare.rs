//! The compare view: the selected scenario's last run on two profiles, side by side, step by
//! step, with the steps whose verdicts differ marked between the columns.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use super::Theme;
use crate::scenario::Verdict;
use crate::tui::state::{LastRun, Scroll, State};
use crate::tui::wrap::{self, width};

/// One side's text for a row: its lines, already wrapped to the column.
type Cell = Vec<(String, Style)>;

fn wrapped(text: &str, col: usize, indent: usize, style: Style) -> Cell {
    let mut out = Vec::new();
    let rows = wrap::wrap(text, col.max(1));
    let first = rows.first().cloned().unwrap_or(0..0);
    out.push((text[first.clone()].to_string(), style));
    if first.end < text.len() {
        let rest = &text[first.end..];
        let indent = if indent + 8 <= col { indent } else { 0 };
        for r in wrap::wrap(rest, col - indent) {
            out.push((format!("{}{}", " ".repeat(indent), &rest[r]), style));
        }
    }
    out
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

fn verdict_color(v: Verdict) -> Color {
    match v {
        Verdict::Pass => Color::Green,
        Verdict::Fail => Color::Red,
        Verdict::Warn => Color::Yellow,
        Verdict::Inconclusive => Color::Magenta,
        Verdict::Skipped => Color::DarkGray,
    }
}

/// The header cell of a side: the profile, its server, the verdict and why.
fn head(state: &State, name: &str, run: Option<&LastRun>, col: usize, theme: Theme) -> Cell {
    let server = state
        .profiles
        .position(name)
        .and_then(|i| state.profiles.entries.get(i))
        .map_or(String::new(), |p| p.profile.server.clone());
    let mut out = wrapped(&format!("{name} — {server}"), col, 2, theme.focus(true));
    match run {
        Some(r) => {
            let text = if r.reason.is_empty() {
                r.verdict.to_string()
            } else {
                format!("{} {}", r.verdict, r.reason)
            };
            out.extend(wrapped(&text, col, 2, theme.fg(verdict_color(r.verdict))));
        }
        None => out.extend(wrapped(
            "not run on this profile yet: pick it with p, then Enter runs the scenario",
            col,
            0,
            theme.fg(Color::DarkGray),
        )),
    }
    out
}

/// Step `i` of a side: its mark and name, then the reply it got.
fn step(run: Option<&LastRun>, i: usize, col: usize, theme: Theme) -> (Cell, Option<Verdict>) {
    let Some(s) = run.and_then(|r| r.steps.get(i)) else {
        return (vec![(String::new(), Style::default())], None);
    };
    let v = s.result.as_ref().map(|r| r.verdict);
    let style = v.map_or(Style::default(), |v| theme.fg(verdict_color(v)));
    let mut out = wrapped(&format!("{} {}", mark(v), s.label), col, 2, style);
    let reply = match &s.result {
        Some(r) => r.reply_text().to_string(),
        None => "not reached".to_string(),
    };
    out.extend(wrapped(&format!("  {reply}"), col, 2, Style::default()));
    (out, v)
}

/// The whole view as lines `width` columns wide: the current profile on the left, `other`
/// on the right (the first run's labs in their own order), a ≠ between the columns where
/// their verdicts differ.
pub fn lines(state: &State, other: &str, width: usize, theme: Theme) -> Vec<Line<'static>> {
    let Some(scenario) = state.selected_scenario() else {
        return vec![Line::from("no scenario selected")];
    };
    let current = state
        .profiles
        .current()
        .map_or(String::new(), |p| p.name.clone());
    // The first run's pair reads in its own order (lab-open, then lab-secure), whichever
    // of them is current.
    let at = |n: &str| state.compare.iter().position(|(c, _)| c == n);
    let (left_name, other) = match (at(&current), at(other)) {
        (Some(a), Some(b)) if b < a => (other.to_string(), current),
        _ => (current, other.to_string()),
    };
    let other = other.as_str();
    let col = width.saturating_sub(3) / 2;
    let left = state.verdicts.run(&left_name, &scenario.id);
    let right = state.verdicts.run(other, &scenario.id);
    let mut rows: Vec<(Cell, Cell, bool)> = vec![(
        head(state, &left_name, left, col, theme),
        head(state, other, right, col, theme),
        left.map(|r| r.verdict) != right.map(|r| r.verdict),
    )];
    let n = left
        .map_or(0, |r| r.steps.len())
        .max(right.map_or(0, |r| r.steps.len()));
    for i in 0..n {
        let (l, lv) = step(left, i, col, theme);
        let (r, rv) = step(right, i, col, theme);
        rows.push((l, r, lv.is_some() && rv.is_some() && lv != rv));
    }
    let mut out = Vec::new();
    // A blank row after the header and after each step keeps the pairs readable.
    for (l, r, differ) in rows {
        let h = l.len().max(r.len());
        for j in 0..h {
            let (lt, ls) = l.get(j).cloned().unwrap_or_default();
            let (rt, rs) = r.get(j).cloned().unwrap_or_default();
            let pad = col.saturating_sub(self::width(&lt));
            let gutter = if differ && j == 0 { " ≠ " } else { "   " };
            out.push(Line::from(vec![
                Span::styled(lt, ls),
                Span::raw(" ".repeat(pad)),
                Span::styled(gutter, theme.fg(Color::Yellow)),
                Span::styled(rt, rs),
            ]));
        }
        out.push(Line::from(""));
    }
    out
}

pub fn render(
    state: &State,
    other: &str,
    scroll: &Scroll,
    frame: &mut Frame,
    area: Rect,
    theme: Theme,
) {
    let r = super::overlay::centered(area, 96, 90);
    frame.render_widget(Clear, r);
    let inner_w = usize::from(r.width.saturating_sub(2));
    let inner_h = usize::from(r.height.saturating_sub(2));
    let mut body = lines(state, other, inner_w, theme);
    let _ = scroll.visible(body.len(), inner_h);
    super::overlay::mark_search(&mut body, scroll);
    let top = scroll.visible(body.len(), inner_h);
    let searching = super::overlay::search_status(scroll);
    let title = state
        .selected_scenario()
        .map_or(" Compare ".to_string(), |s| {
            format!(
                " Compare {} {}: two profiles side by side ",
                s.label(),
                s.id
            )
        });
    frame.render_widget(
        Paragraph::new(body)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(title)
                    .title_bottom(Line::from(border_hint(r.width, &searching)).right_aligned()),
            )
            .scroll((top, 0)),
        r,
    );
}

/// The bottom border's hint in the words that fit `width` (the border's corners left), so
/// that it keeps its start rather than losing it to the right alignment; after the search's
/// status (`searching`, from [`super::overlay::search_status`]), which comes first when
/// there is one, and goes whole or not at all.
fn border_hint(width: u16, searching: &str) -> String {
    let room = usize::from(width.saturating_sub(4));
    let searching = if searching.chars().count() <= room {
        searching
    } else {
        ""
    };
    let room = room - searching.chars().count();
    let hint = [
        " ≠ verdicts differ · Left/Right: another profile · / searches · Esc closes ",
        " ≠ verdicts differ · Left/Right: another profile · Esc closes ",
        " ≠ differ · Left/Right: other profile · Esc ",
        " ≠ differ · ←/→ profile · Esc ",
        " Esc closes ",
    ]
    .into_iter()
    .find(|h| h.chars().count() <= room)
    .unwrap_or("");
    format!("{searching}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_border_hint_keeps_its_start_at_every_width() {
        for searching in ["", " 2 of 5 · n next · "] {
            for width in 0..120u16 {
                let hint = border_hint(width, searching);
                assert!(hint.chars().count() <= usize::from(width.saturating_sub(4)));
                let rest = hint.strip_prefix(searching).unwrap_or(&hint);
                assert!(rest.is_empty() || rest.starts_with(" ≠") || rest == " Esc closes ");
            }
        }
        assert!(border_hint(80, "").contains("another profile"));
        assert!(border_hint(100, "").contains("/ searches"));
        assert!(border_hint(80, " 2 of 5 · n next · ").starts_with(" 2 of 5 · n next · "));
    }
    use crate::profile::Profile;
    use crate::scenario::Catalogue;
    use crate::scenario::runner::{ReplySummary, StepResult};
    use crate::tui::state::{ProfileEntry, Run};

    fn state() -> State {
        let entry = |name: &str| ProfileEntry {
            name: name.into(),
            profile: Profile {
                server: format!("{name}.example:25"),
                ..Profile::default()
            },
            saved: false,
        };
        let cat = Catalogue::built_in()
            .entries
            .into_iter()
            .map(|e| e.scenario)
            .collect();
        State::new(vec![entry("lab-open"), entry("lab-secure")], cat)
    }

    fn ran(s: &mut State, profile: &str, verdict: Verdict, rcpt: &str) {
        let a = s.catalogue[0].clone();
        let mut run = Run::new(
            a.clone(),
            profile.into(),
            &crate::scenario::vars::Vars::default(),
        );
        for (i, (v, reply)) in [(Verdict::Pass, "250 2.1.0 Ok"), (verdict, rcpt)]
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
                        code: None,
                        enhanced: None,
                        text: reply.into(),
                    }),
                    verdict: v,
                    reason: String::new(),
                    elapsed_ms: 1,
                    role: crate::scenario::model::Role::Probe,
                    note: None,
                    edited: false,
                },
            );
        }
        s.verdicts.record_run(
            profile,
            &a.id,
            LastRun {
                verdict,
                reason: format!("RCPT — {rcpt}"),
                steps: run.steps.clone(),
            },
        );
    }

    fn text(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    /// `/` in the compare view: every match marked, "1 of 2 · n next" in the border, and `n`
    /// goes on to the second.
    #[test]
    fn the_compare_view_is_searched_like_the_other_panes() {
        use ratatui::crossterm::event::KeyCode;
        use ratatui::style::Modifier;
        let mut s = state();
        ran(&mut s, "lab-open", Verdict::Fail, "250 2.1.5 Ok");
        ran(
            &mut s,
            "lab-secure",
            Verdict::Pass,
            "554 5.7.1 Relay access denied",
        );
        let mut scroll = Scroll::default();
        scroll.start_search();
        for c in "Relay access".chars() {
            scroll.search_key(KeyCode::Char(c));
        }
        scroll.search_key(KeyCode::Enter);
        let draw = |scroll: &Scroll| {
            let mut term =
                ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 30)).expect("term");
            term.draw(|f| {
                let area = f.area();
                render(&s, "lab-secure", scroll, f, area, Theme { color: false });
            })
            .expect("draw");
            term.backend().buffer().clone()
        };
        let screen = |buf: &ratatui::buffer::Buffer| -> String {
            (0..buf.area.height)
                .map(|y| {
                    (0..buf.area.width)
                        .map(|x| buf[(x, y)].symbol().to_string())
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        let buf = draw(&scroll);
        let all = screen(&buf);
        assert!(all.contains("1 of 2 · n next"), "{all}");
        let marked: String = (0..buf.area.height)
            .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
            .filter(|&p| buf[p].modifier.contains(Modifier::REVERSED))
            .map(|p| buf[p].symbol().to_string())
            .collect();
        assert_eq!(marked, "Relay accessRelay access", "{all}");
        scroll.search_next();
        let all = screen(&draw(&scroll));
        assert!(all.contains("2 of 2 · n next"), "{all}");
    }

    #[test]
    fn both_runs_side_by_side_with_the_difference_marked() {
        let mut s = state();
        ran(&mut s, "lab-open", Verdict::Fail, "250 2.1.5 Ok");
        ran(
            &mut s,
            "lab-secure",
            Verdict::Pass,
            "554 5.7.1 Relay access denied",
        );
        let shown = text(&lines(&s, "lab-secure", 100, Theme { color: false }));
        let all = shown.join("\n");
        // The first run's labs read open, then secure, whichever is current.
        s.compare = vec![
            ("lab-open".into(), "open".into()),
            ("lab-secure".into(), "secure".into()),
        ];
        s.switch_profile(1);
        let swapped = text(&lines(&s, "lab-open", 100, Theme { color: false }));
        assert_eq!(swapped, shown);
        let row = |needle: &str| {
            shown
                .iter()
                .find(|l| l.contains(needle))
                .cloned()
                .unwrap_or_default()
        };
        let head = row("lab-open — lab-open.example:25");
        assert!(head.contains("lab-secure — lab-secure.example:25"), "{all}");
        let verdicts = row("FAIL RCPT");
        assert!(verdicts.contains("PASS RCPT — 554 5.7.1"), "{all}");
        let rcpt = row("✗ outside recipient");
        assert!(
            rcpt.contains("≠") && rcpt.contains("✓ outside recipient"),
            "the differing step is marked: {all}"
        );
        let sender = row("✓ outside sender");
        assert!(!sender.contains('≠'), "the same step is not: {all}");
        assert!(
            row("250 2.1.5 Ok").contains("554 5.7.1 Relay access denied"),
            "{all}"
        );
        for l in &shown {
            assert!(width(l) <= 100, "{l:?}");
        }
        // A profile that has not run it says so.
        let mut s = state();
        ran(&mut s, "lab-open", Verdict::Fail, "250 2.1.5 Ok");
        let all = text(&lines(&s, "lab-secure", 100, Theme { color: false })).join("\n");
        assert!(all.contains("not run on this profile yet"), "{all}");
    }
}
