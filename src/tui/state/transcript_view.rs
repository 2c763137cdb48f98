//! The transcript pane: the lines, and where the operator is looking in them.

use ratatui::crossterm::event::KeyCode;

use super::Lines;
use crate::transcript::Entry;

/// How far cut lines scroll sideways: past the longest line anyone reads.
const MAX_HSCROLL: usize = 100_000;

#[derive(Debug)]
pub struct TranscriptView {
    pub lines: Lines,
    /// Lines from the bottom when not following.
    pub scroll: usize,
    pub follow: bool,
    pub raw_view: bool,
    /// Long lines wrapped onto more rows (the default), or cut at the pane's edge.
    pub wrap: bool,
    /// Columns scrolled to the right while lines are cut.
    pub hscroll: usize,
    pub selected_line: Option<usize>,
    pub search: Option<String>,
    /// The query being typed after `/`, until Enter or Esc.
    pub search_input: Option<String>,
}

impl Default for TranscriptView {
    fn default() -> TranscriptView {
        TranscriptView {
            lines: Lines::default(),
            scroll: 0,
            follow: true,
            raw_view: false,
            wrap: true,
            hscroll: 0,
            selected_line: None,
            search: None,
            search_input: None,
        }
    }
}

impl TranscriptView {
    /// Adds a transcript entry as display lines.
    pub fn push_entry(&mut self, e: &Entry) {
        let before = self.lines.len();
        self.lines.push_entry(e);
        if !self.follow {
            // Keep the view still while new lines arrive below it.
            self.scroll += self.lines.len() - before;
        }
    }

    pub fn scroll_up(&mut self, n: usize) {
        self.follow = false;
        self.scroll = (self.scroll + n).min(self.lines.len());
    }

    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
        if self.scroll == 0 {
            self.follow = true;
        }
    }

    pub fn top(&mut self) {
        self.follow = false;
        self.scroll = self.lines.len();
        if self.selected_line.is_some() && !self.lines.is_empty() {
            self.selected_line = Some(0);
        }
    }

    /// Back to the bottom, following new lines, with no line selected.
    pub fn follow(&mut self) {
        self.follow = true;
        self.scroll = 0;
        self.selected_line = None;
    }

    pub fn toggle_raw(&mut self) {
        self.raw_view = !self.raw_view;
    }

    pub fn toggle_wrap(&mut self) {
        self.wrap = !self.wrap;
        self.hscroll = 0;
    }

    /// Scrolls cut lines sideways; false when lines are wrapped, so there is nothing to scroll.
    pub fn scroll_sideways(&mut self, right: bool, n: usize) -> bool {
        if self.wrap {
            return false;
        }
        self.hscroll = if right {
            self.hscroll.saturating_add(n).min(MAX_HSCROLL)
        } else {
            self.hscroll.saturating_sub(n)
        };
        true
    }

    /// A page up: the selection moves with it, so that it stays on screen.
    pub fn page_up(&mut self, n: usize) {
        match self.selected_line {
            Some(cur) => self.select(cur.saturating_sub(n)),
            None => self.scroll_up(n),
        }
    }

    pub fn page_down(&mut self, n: usize) {
        match self.selected_line {
            Some(cur) => self.select(cur + n),
            None => self.scroll_down(n),
        }
    }

    pub fn select_previous(&mut self) {
        if let Some(cur) = self.current_line() {
            self.select(cur.saturating_sub(1));
        }
    }

    pub fn select_next(&mut self) {
        if let Some(cur) = self.current_line() {
            self.select(cur + 1);
        }
    }

    /// The selected line, or the last one when none is selected yet.
    fn current_line(&self) -> Option<usize> {
        let last = self.lines.len().checked_sub(1)?;
        Some(self.selected_line.unwrap_or(last))
    }

    fn select(&mut self, line: usize) {
        let last = self.lines.len().saturating_sub(1);
        let line = line.min(last);
        self.selected_line = Some(line);
        self.follow = false;
        // Keep the selection on screen: scroll is counted from the bottom.
        let from_bottom = last - line;
        if from_bottom < self.scroll {
            self.scroll = from_bottom;
        }
    }

    pub fn start_search(&mut self) {
        self.search_input = Some(String::new());
    }

    pub fn typing_search(&self) -> bool {
        self.search_input.is_some()
    }

    /// A key while the query is being typed; true when Enter made it the search.
    pub fn search_key(&mut self, code: KeyCode) -> bool {
        let Some(input) = self.search_input.as_mut() else {
            return false;
        };
        match code {
            KeyCode::Enter => {
                let q = std::mem::take(input);
                self.search_input = None;
                self.search = (!q.is_empty()).then_some(q);
                return true;
            }
            KeyCode::Esc => self.search_input = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c) => input.push(c),
            _ => {}
        }
        false
    }

    /// "3 of 41": where the selected line is among the search's matches, and how many there
    /// are; `(0, 41)` when the selection is not on a match. `None` without a search.
    pub fn match_count(&self) -> Option<(usize, usize)> {
        let q = self.search.as_deref()?;
        let total = self.lines.matches(q)?.len();
        let at = self
            .selected_line
            .and_then(|l| self.lines.match_position(q, l))
            .map_or(0, |(i, _)| i);
        Some((at, total))
    }

    /// Selects the next line after the selection that matches the search. Returns the query
    /// when no line matches it, for the operator to be told.
    pub fn search_next(&mut self) -> Option<String> {
        let q = self.search.clone()?;
        let n = self.lines.len();
        let start = self.selected_line.map_or(0, |i| (i + 1) % n.max(1));
        self.lines.set_search(&q);
        match self.lines.next_match(&q, start) {
            Some(i) => {
                self.selected_line = Some(i);
                self.follow = false;
                self.scroll = n - 1 - i;
                None
            }
            None => Some(q),
        }
    }
}
