//! Where a pane over the main screen is scrolled to. The view knows how tall the text is at
//! the current width and records the furthest it can go, so that keys never scroll past the
//! end (and Up after End moves at once).

use std::sync::atomic::{AtomicU16, Ordering};

#[derive(Debug)]
pub struct Scroll {
    pos: u16,
    /// The furthest row the text can start at, as last drawn; unknown (no limit) before.
    max: AtomicU16,
}

impl Default for Scroll {
    fn default() -> Scroll {
        Scroll {
            pos: 0,
            max: AtomicU16::new(u16::MAX),
        }
    }
}

impl Scroll {
    fn max(&self) -> u16 {
        self.max.load(Ordering::Relaxed)
    }

    pub fn pos(&self) -> u16 {
        self.pos.min(self.max())
    }

    pub fn down(&mut self, n: u16) {
        self.pos = self.pos().saturating_add(n).min(self.max());
    }

    pub fn up(&mut self, n: u16) {
        self.pos = self.pos().saturating_sub(n);
    }

    pub fn top(&mut self) {
        self.pos = 0;
    }

    pub fn bottom(&mut self) {
        self.pos = self.max();
    }

    /// For the view: `content` rows in a pane of `rows`; returns the first row to show.
    pub fn visible(&self, content: usize, rows: usize) -> u16 {
        let max = u16::try_from(content.saturating_sub(rows)).unwrap_or(u16::MAX);
        self.max.store(max, Ordering::Relaxed);
        self.pos.min(max)
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
