//! Fitting text to the screen: word wrapping, cutting at a word with an ellipsis, and which
//! transcript lines fill the pane. Pure arithmetic, so it is tested without a terminal.

use std::ops::Range;

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Columns `text` takes on a terminal.
pub fn width(text: &str) -> usize {
    text.width()
}

/// The rows of `text` wrapped at `width` columns, as byte ranges: a row breaks after the last
/// space that fits, and a word longer than a row is cut. Always at least one row.
pub fn wrap(text: &str, width: usize) -> Vec<Range<usize>> {
    let width = width.max(1);
    let mut rows = Vec::new();
    let mut start = 0;
    let mut col = 0;
    // Byte offset just after the last space of the current row.
    let mut after_space = None;
    for (i, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if col + w > width && i > start {
            // Break after the last space, unless the word would not fit a row of its own
            // anyway: then it fills this row and goes on in the next (an address in a command
            // stays next to its verb).
            let word_start = after_space.filter(|&b| b > start);
            let fits_alone = word_start.is_some_and(|b| {
                let word_end = text[b..].find(' ').map_or(text.len(), |e| b + e);
                text[b..word_end].width() <= width
            });
            let at = if fits_alone {
                word_start.unwrap_or(i)
            } else {
                i
            };
            rows.push(start..at);
            start = at;
            col = text[start..i].width();
            after_space = None;
        }
        col += w;
        if c == ' ' {
            after_space = Some(i + 1);
        }
    }
    rows.push(start..text.len());
    rows
}

/// How many rows `text` takes wrapped at `width` columns.
pub fn height(text: &str, width: usize) -> usize {
    wrap(text, width).len()
}

/// `text` in at most `width` columns: whole, or cut after the last word that fits with an
/// ellipsis (a single word too long for the room is cut inside).
pub fn ellipsize(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let room = width - 1;
    let mut end = 0;
    let mut col = 0;
    let mut last_word_end = None;
    for (i, c) in text.char_indices() {
        let w = c.width().unwrap_or(0);
        if col + w > room {
            break;
        }
        if c == ' ' && i > 0 {
            last_word_end = Some(i);
        }
        col += w;
        end = i + c.len_utf8();
    }
    // Cut at a word when one fits; a lone separator (" │ ") left at the end is dropped too.
    let cut = last_word_end.unwrap_or(end);
    let kept = text[..cut].trim_end_matches([' ', '│', '—', '-', ':', ';', ',']);
    format!("{kept}…")
}

/// `text` from column `skip`, in at most `width` columns; a cut on either side is shown with
/// an ellipsis so the operator knows there is more.
pub fn window_of_line(text: &str, skip: usize, width: usize) -> String {
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut col = 0;
    let mut used = 0;
    let total = text.width();
    let cut_right = total > skip + width;
    let room = if cut_right { width - 1 } else { width };
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if col < skip {
            col += w;
            continue;
        }
        if used + w > room {
            break;
        }
        out.push(c);
        used += w;
        col += w;
    }
    if skip > 0 && !out.is_empty() {
        let mut chars = out.chars();
        chars.next();
        out = format!("…{}", chars.as_str());
    }
    if cut_right {
        out.push('…');
    }
    out
}

/// The transcript lines that fill the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// The first line drawn.
    pub first: usize,
    /// Rows of the first line above the pane (a wrapped line cut at the top).
    pub skip: usize,
    /// One past the last line drawn.
    pub end: usize,
}

/// Which of `total` lines fill `rows` rows, line `i` being `height(i)` rows tall: the lines
/// ending just before `end`, or, when the selected line would be above them, the lines from
/// the selection down. Only the lines drawn (and at most one more) are measured, so a
/// million-line transcript costs what a screenful does.
pub fn window(
    total: usize,
    end: usize,
    rows: usize,
    selected: Option<usize>,
    height: impl Fn(usize) -> usize,
) -> Window {
    let end = end.min(total);
    let mut first = end;
    let mut used = 0;
    while first > 0 && used < rows {
        first -= 1;
        used += height(first).max(1);
    }
    let skip = used.saturating_sub(rows);
    // Scrolled to the top (or near it): the lines after `end` fill the rest of the pane
    // instead of leaving it empty.
    let mut end = end;
    while end < total && used < rows {
        used += height(end).max(1);
        end += 1;
    }
    match selected.filter(|&s| s < total) {
        Some(s) if s < first || (s == first && skip > 0) || s >= end => {
            // From the selection down: it is the top line, whole.
            let mut last = s;
            let mut used = 0;
            while last < total && used < rows {
                used += height(last).max(1);
                last += 1;
            }
            Window {
                first: s,
                skip: 0,
                end: last,
            }
        }
        _ => Window { first, skip, end },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str, w: usize) -> Vec<&str> {
        wrap(text, w).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn wraps_at_spaces_and_cuts_long_words() {
        assert_eq!(rows("", 10), vec![""]);
        assert_eq!(rows("one two", 7), vec!["one two"]);
        assert_eq!(rows("one two", 6), vec!["one ", "two"]);
        assert_eq!(rows("one two three", 9), vec!["one two ", "three"]);
        assert_eq!(rows("abcdefghijkl x", 5), vec!["abcde", "fghij", "kl x"]);
        // A word longer than a row fills the row it starts in.
        assert_eq!(
            rows("MAIL FROM:<someone@example.org>", 12),
            vec!["MAIL FROM:<s", "omeone@examp", "le.org>"]
        );
        assert_eq!(height("abcdefghijkl x", 5), 3);
        // Wide characters count two columns.
        assert_eq!(rows("日本語", 4), vec!["日本", "語"]);
        // Every byte is in exactly one row.
        let text = "250 2.1.5 <relay-test@elsewhere.example.org>: Recipient ok, and more";
        for w in 1..30 {
            let joined: String = rows(text, w).concat();
            assert_eq!(joined, text, "width {w}");
            assert!(rows(text, w).iter().all(|r| width(r) <= w), "width {w}");
        }
    }

    #[test]
    fn ellipsize_cuts_at_a_word() {
        assert_eq!(ellipsize("short", 10), "short");
        assert_eq!(ellipsize("i why / how to fix", 10), "i why /…");
        assert_eq!(ellipsize("lab │ not authenticated", 12), "lab │ not…");
        assert_eq!(ellipsize("lab │ not authenticated", 7), "lab…");
        assert_eq!(ellipsize("abcdefghij", 5), "abcd…");
        assert_eq!(ellipsize("abc", 0), "");
        assert!(width(&ellipsize("a b c d e f g h", 7)) <= 7);
    }

    #[test]
    fn a_window_of_a_line_marks_both_cuts() {
        assert_eq!(window_of_line("abcdefghij", 0, 20), "abcdefghij");
        assert_eq!(window_of_line("abcdefghij", 0, 5), "abcd…");
        assert_eq!(window_of_line("abcdefghij", 4, 3), "…f…");
        assert_eq!(window_of_line("abcdefghij", 6, 10), "…hij");
        assert_eq!(window_of_line("abc", 10, 5), "");
    }

    #[test]
    fn the_window_ends_at_the_bottom_and_keeps_the_selection() {
        // Ten lines, line 7 three rows tall, five rows of room.
        let h = |i: usize| if i == 7 { 3 } else { 1 };
        let w = window(10, 10, 5, None, h);
        assert_eq!(
            w,
            Window {
                first: 7,
                skip: 0,
                end: 10
            }
        );
        // Ending at line 8: line 7 is cut at the top.
        let w = window(10, 8, 2, None, h);
        assert_eq!(
            w,
            Window {
                first: 7,
                skip: 1,
                end: 8
            }
        );
        // A selection above the window becomes its top line, whole.
        let w = window(10, 10, 5, Some(2), h);
        assert_eq!(
            w,
            Window {
                first: 2,
                skip: 0,
                end: 7
            }
        );
        // A selection inside the window changes nothing.
        assert_eq!(window(10, 10, 5, Some(9), h), window(10, 10, 5, None, h));
        // Scrolled to the very top: the first lines fill the pane.
        assert_eq!(
            window(10, 0, 5, None, h),
            Window {
                first: 0,
                skip: 0,
                end: 5
            }
        );
        // Fewer lines than rows: all of them.
        assert_eq!(
            window(3, 3, 10, None, h),
            Window {
                first: 0,
                skip: 0,
                end: 3
            }
        );
        assert_eq!(
            window(0, 0, 10, None, h),
            Window {
                first: 0,
                skip: 0,
                end: 0
            }
        );
    }

    #[test]
    fn only_the_lines_drawn_are_measured() {
        let measured = std::cell::Cell::new(0usize);
        let h = |_| {
            measured.set(measured.get() + 1);
            2
        };
        let w = window(1_000_000, 1_000_000, 40, None, h);
        assert_eq!(w.end - w.first, 20);
        assert_eq!(measured.get(), 20);
        measured.set(0);
        let w = window(1_000_000, 1_000_000, 40, Some(10), h);
        assert_eq!((w.first, w.end), (10, 30));
        assert!(measured.get() <= 41, "{}", measured.get());
    }
}
