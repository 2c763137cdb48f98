//! Splitting a byte stream into lines with a bound on each: a log line is the peer's to make
//! long, and a megabyte "line" must cost neither memory nor a failure.

use std::io::{self, BufRead};

/// The longest line kept; the rest of a longer one is skipped, and the line is passed on cut
/// (it will not parse, and is counted as not understood).
pub const MAX_LINE: usize = 64 * 1024;

/// Reads `reader` to its end, calling `each` with every line (without the `\n`). A last line
/// without a newline is passed too. Returns the bytes read.
pub fn for_each_line(reader: &mut impl BufRead, mut each: impl FnMut(&[u8])) -> io::Result<u64> {
    let mut partial = Partial::default();
    let mut total = 0u64;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            partial.finish(&mut each);
            return Ok(total);
        }
        let used = partial.feed(buf, &mut each);
        total += used as u64;
        reader.consume(used);
    }
}

/// A line being assembled across reads.
#[derive(Debug, Default)]
pub struct Partial {
    line: Vec<u8>,
    /// The current line went past `MAX_LINE`: the rest of it is skipped.
    cut: bool,
}

impl Partial {
    /// Takes whole lines from `buf` (completing the pending one first) and keeps the tail;
    /// returns the bytes used (all of them).
    pub fn feed(&mut self, buf: &[u8], each: &mut impl FnMut(&[u8])) -> usize {
        let mut rest = buf;
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            let piece = &rest[..nl];
            if self.line.is_empty() && !self.cut {
                // The common case: a whole line inside the buffer, passed without a copy.
                each(&piece[..piece.len().min(MAX_LINE)]);
            } else {
                self.take(piece);
                each(&self.line);
                self.line.clear();
                self.cut = false;
            }
            rest = &rest[nl + 1..];
        }
        self.take(rest);
        buf.len()
    }

    fn take(&mut self, piece: &[u8]) {
        if self.cut {
            return;
        }
        let room = MAX_LINE - self.line.len();
        if piece.len() > room {
            self.line.extend_from_slice(&piece[..room]);
            self.cut = true;
        } else {
            self.line.extend_from_slice(piece);
        }
    }

    /// The end of the input: a pending line without its newline is a line too.
    pub fn finish(&mut self, each: &mut impl FnMut(&[u8])) {
        if !self.line.is_empty() || self.cut {
            each(&self.line);
        }
        self.line.clear();
        self.cut = false;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code
mod tests {
    use super::*;

    fn split(input: &[u8], capacity: usize) -> Vec<Vec<u8>> {
        let mut r = io::BufReader::with_capacity(capacity, input);
        let mut out = Vec::new();
        for_each_line(&mut r, |l| out.push(l.to_vec())).unwrap();
        out
    }

    #[test]
    fn lines_across_buffer_edges_and_a_last_line_without_newline() {
        let input = b"one\ntwo two\n\nthree";
        for capacity in 1..8 {
            assert_eq!(
                split(input, capacity),
                [
                    b"one".to_vec(),
                    b"two two".to_vec(),
                    Vec::new(),
                    b"three".to_vec()
                ],
                "buffer of {capacity}"
            );
        }
    }

    #[test]
    fn a_megabyte_line_is_cut_and_the_next_line_is_whole() {
        let mut input = vec![b'x'; 1024 * 1024];
        input.extend_from_slice(b"\nnext\n");
        for capacity in [4096, 8 * 1024 * 1024] {
            let lines = split(&input, capacity);
            assert_eq!(lines.len(), 2);
            assert_eq!(lines[0].len(), MAX_LINE);
            assert_eq!(lines[1], b"next");
        }
    }
}
