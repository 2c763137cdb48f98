//! Where a pane over the main screen is scrolled to. The view knows how tall the text is at
//! the current width and records the furthest it can go, so that keys never scroll past the
//! end (and Up after End moves at once). A pane can be searched as the transcript is (`/`,
//! `n`): the view, which knows the rows, finds the matches and moves to the one asked for.

use std::sync::atomic::{AtomicU8, AtomicU16, AtomicUsize, Ordering};

use ratatui::crossterm::event::KeyCode;

#[derive(Debug)]
pub struct Scroll {
    pos: AtomicU16,
    /// The furthest row the text can start at, as last drawn; unknown (no limit) before.
    max: AtomicU16,
    /// The query being typed after `/`.
    pub typing: Option<String>,
    /// The search: every match is marked, `n` goes to the next.
    pub search: Option<String>,
    /// A move the view makes once it knows the rows: 0 none, 1 to the first match from the
    /// top shown, 2 to the match after the current one.
    jump: AtomicU8,
    /// The row of the current match (`usize::MAX`: none).
    current: AtomicUsize,
    /// What the view found at the last draw: the current match (1-based, 0 none) and how many.
    at: AtomicUsize,
    total: AtomicUsize,
}

impl Default for Scroll {
    fn default() -> Scroll {
        Scroll {
            pos: AtomicU16::new(0),
            max: AtomicU16::new(u16::MAX),
            typing: None,
            search: None,
            jump: AtomicU8::new(0),
            current: AtomicUsize::new(usize::MAX),
            at: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }
}

impl Scroll {
    fn max(&self) -> u16 {
        self.max.load(Ordering::Relaxed)
    }

    fn set(&self, pos: u16) {
        self.pos.store(pos, Ordering::Relaxed);
    }

    pub fn pos(&self) -> u16 {
        self.pos.load(Ordering::Relaxed).min(self.max())
    }

    pub fn down(&mut self, n: u16) {
        self.set(self.pos().saturating_add(n).min(self.max()));
    }

    pub fn up(&mut self, n: u16) {
        self.set(self.pos().saturating_sub(n));
    }

    pub fn top(&mut self) {
        self.set(0);
    }

    pub fn bottom(&mut self) {
        self.set(self.max());
    }

    /// For the view: `content` rows in a pane of `rows`; returns the first row to show.
    pub fn visible(&self, content: usize, rows: usize) -> u16 {
        let max = u16::try_from(content.saturating_sub(rows)).unwrap_or(u16::MAX);
        self.max.store(max, Ordering::Relaxed);
        self.pos.load(Ordering::Relaxed).min(max)
    }

    /// `/`: a query is typed.
    pub fn start_search(&mut self) {
        self.typing = Some(String::new());
    }

    /// A key while the query is typed: Enter makes it the search (an empty one ends it) and
    /// goes to its first match from the top shown; Esc gives up typing.
    pub fn search_key(&mut self, code: KeyCode) {
        let Some(input) = self.typing.as_mut() else {
            return;
        };
        match code {
            KeyCode::Enter => {
                let q = std::mem::take(input);
                self.typing = None;
                self.search = (!q.is_empty()).then_some(q);
                self.current.store(usize::MAX, Ordering::Relaxed);
                self.jump.store(1, Ordering::Relaxed);
            }
            KeyCode::Esc => self.typing = None,
            KeyCode::Backspace => {
                input.pop();
            }
            KeyCode::Char(c) => input.push(c),
            _ => {}
        }
    }

    /// `n`: on to the next match (round to the first after the last).
    pub fn search_next(&mut self) {
        if self.search.is_some() {
            self.jump.store(2, Ordering::Relaxed);
        }
    }

    /// For the view: the rows that match the search (`hits`, in order) move the pane as asked
    /// and are counted; returns the row of the current match.
    pub fn found(&self, hits: &[usize]) -> Option<usize> {
        let jump = self.jump.swap(0, Ordering::Relaxed);
        let current = self.current.load(Ordering::Relaxed);
        let from = match jump {
            1 => Some(usize::from(self.pos())),
            2 if current != usize::MAX => Some(current + 1),
            2 => Some(usize::from(self.pos())),
            _ => None,
        };
        let current = match from {
            Some(from) => {
                let hit = hits
                    .iter()
                    .find(|&&h| h >= from)
                    .or_else(|| hits.first())
                    .copied();
                if let Some(h) = hit {
                    self.set(u16::try_from(h).unwrap_or(u16::MAX));
                }
                hit.unwrap_or(usize::MAX)
            }
            None => current,
        };
        self.current.store(current, Ordering::Relaxed);
        let at = hits.iter().position(|&h| h == current).map_or(0, |i| i + 1);
        self.at.store(at, Ordering::Relaxed);
        self.total.store(hits.len(), Ordering::Relaxed);
        (current != usize::MAX).then_some(current)
    }

    /// "3 of 41" as last drawn: the current match (1-based, 0 none) and how many there are.
    pub fn match_count(&self) -> (usize, usize) {
        (
            self.at.load(Ordering::Relaxed),
            self.total.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrolling_stops_at_the_end_the_view_measured() {
        let mut s = Scroll::default();
        s.down(5);
        assert_eq!(s.pos(), 5, "no limit known before the first draw");
        assert_eq!(s.visible(30, 10), 5);
        s.down(100);
        assert_eq!(s.pos(), 20);
        s.up(1);
        assert_eq!(s.pos(), 19, "Up after the end moves at once");
        s.bottom();
        assert_eq!(s.pos(), 20);
        s.top();
        assert_eq!(s.pos(), 0);
        // Text shorter than the pane: nothing to scroll.
        assert_eq!(s.visible(5, 10), 0);
        s.down(3);
        assert_eq!(s.pos(), 0);
    }
}
