//! The password prompt's buffer. A general text widget keeps undo history and a yank buffer,
//! copies this prompt would leave behind in memory; this one holds the characters in a single
//! allocation: an erased character is zeroed where it lay, and the allocation is wiped when it
//! grows, is cleared, is taken (Enter) or is dropped (the prompt closed).

use secrecy::SecretString;
use zeroize::Zeroize;

/// Room for any realistic password, so typing one never reallocates.
const INITIAL_CAPACITY: usize = 256;

/// One allocation, every byte of it initialised: the typed UTF-8 first, zeros after. Erasing
/// writes zeros over the erased bytes in place; growing copies into a bigger allocation and
/// wipes the old one before it is freed; dropping wipes it.
pub struct MaskedInput {
    buf: Box<[u8]>,
    len: usize,
}

impl Default for MaskedInput {
    fn default() -> Self {
        Self {
            buf: vec![0; INITIAL_CAPACITY].into_boxed_slice(),
            len: 0,
        }
    }
}

/// Zeros over a buffer about to be freed (a test build also records what it held then).
fn wipe_for_release(buf: &mut [u8]) {
    buf.zeroize();
    #[cfg(test)]
    released::record(buf);
}

impl MaskedInput {
    pub fn push(&mut self, c: char) {
        let mut utf8 = [0u8; 4];
        let bytes = c.encode_utf8(&mut utf8).as_bytes();
        let end = self.len + bytes.len();
        if end > self.buf.len() {
            // Grow by hand: a Vec's own growth would free the old buffer without wiping it.
            let mut bigger = vec![0u8; (self.buf.len() * 2 + 4).max(end)].into_boxed_slice();
            bigger[..self.len].copy_from_slice(&self.buf[..self.len]);
            let mut old = std::mem::replace(&mut self.buf, bigger);
            wipe_for_release(&mut old);
        }
        self.buf[self.len..end].copy_from_slice(bytes);
        utf8.zeroize();
        self.len = end;
    }

    /// Erases the last character: its bytes are overwritten with zeros where they are.
    pub fn pop(&mut self) {
        // Back over UTF-8 continuation bytes (10xxxxxx) to the character's first byte.
        let mut start = self.len;
        while start > 0 {
            start -= 1;
            if self.buf[start] & 0xC0 != 0x80 {
                break;
            }
        }
        self.buf[start..self.len].zeroize();
        self.len = start;
    }

    /// Erases everything typed (the whole allocation is zeroed).
    pub fn clear(&mut self) {
        self.buf.zeroize();
        self.len = 0;
    }

    /// Number of characters typed (what the mask shows).
    pub fn len(&self) -> usize {
        self.buf[..self.len]
            .iter()
            .filter(|b| **b & 0xC0 != 0x80)
            .count()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Moves the password out; the buffer is left empty and wiped.
    pub fn take(&mut self) -> SecretString {
        // Only whole characters are ever pushed, so the bytes are UTF-8.
        let secret = SecretString::from(std::str::from_utf8(&self.buf[..self.len]).unwrap_or(""));
        self.clear();
        secret
    }

    /// The whole allocation, typed bytes and the zeros after them: what a memory dump would
    /// find. For tests that assert erased bytes are gone.
    #[cfg(test)]
    pub(crate) fn allocation(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for MaskedInput {
    fn drop(&mut self) {
        wipe_for_release(&mut self.buf);
    }
}

/// Test builds only: each buffer's bytes at the moment it is given back to the allocator
/// (after the wipe), per thread, so a test can assert that what was freed held no secret.
#[cfg(test)]
pub(crate) mod released {
    use std::cell::RefCell;

    thread_local! {
        static RELEASED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(buf: &[u8]) {
        RELEASED.with(|r| r.borrow_mut().push(buf.to_vec()));
    }

    /// The buffers released on this thread since the last call.
    pub(crate) fn take() -> Vec<Vec<u8>> {
        RELEASED.with(|r| std::mem::take(&mut *r.borrow_mut()))
    }
}

impl std::fmt::Debug for MaskedInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MaskedInput({} chars, redacted)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn typing_erasing_and_taking() {
        let mut m = MaskedInput::default();
        for c in "pässwort".chars() {
            m.push(c);
        }
        m.pop();
        m.push('T');
        assert_eq!(m.len(), 8);
        let s = m.take();
        assert_eq!(s.expose_secret(), "pässworT");
        assert!(m.is_empty());
        m.pop();
        assert!(m.is_empty(), "popping an empty buffer is harmless");
    }

    #[test]
    fn growing_past_the_first_allocation_keeps_every_character() {
        let mut m = MaskedInput::default();
        let long: String = std::iter::repeat_n("é1", 300).collect();
        for c in long.chars() {
            m.push(c);
        }
        assert_eq!(m.len(), 600);
        assert_eq!(m.take().expose_secret(), long);
    }

    #[test]
    fn debug_never_shows_the_text() {
        let mut m = MaskedInput::default();
        for c in "hunter2".chars() {
            m.push(c);
        }
        let d = format!("{m:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("7 chars"), "{d}");
        m.clear();
        assert!(m.is_empty());
    }

    fn zeros_after(m: &MaskedInput, n: usize) -> bool {
        m.allocation()[n..].iter().all(|b| *b == 0)
    }

    #[test]
    fn erased_bytes_are_zeroed_in_place_and_taking_wipes_the_rest() {
        let mut m = MaskedInput::default();
        for c in "pässwort".chars() {
            m.push(c);
        }
        assert_eq!(&m.allocation()[..9], "pässwort".as_bytes());
        m.pop();
        assert_eq!(&m.allocation()[..8], "pässwor".as_bytes());
        assert!(zeros_after(&m, 8), "the erased 't' is gone");
        for _ in 0..5 {
            m.pop();
        }
        // "pä": the two bytes of 'ä' went together.
        m.pop();
        assert_eq!(&m.allocation()[..1], b"p");
        assert!(zeros_after(&m, 1), "{:?}", &m.allocation()[..10]);
        m.push('x');
        let _ = m.take();
        assert!(zeros_after(&m, 0), "take leaves the allocation zeroed");
    }

    #[test]
    fn growing_and_dropping_free_only_wiped_buffers() {
        let _ = released::take();
        let mut m = MaskedInput::default();
        for _ in 0..INITIAL_CAPACITY + 1 {
            m.push('s');
        }
        let freed = released::take();
        assert_eq!(freed.len(), 1, "the first allocation was replaced");
        assert_eq!(freed[0].len(), INITIAL_CAPACITY);
        assert!(
            freed[0].iter().all(|b| *b == 0),
            "and wiped before it was freed"
        );
        drop(m);
        let freed = released::take();
        assert_eq!(freed.len(), 1);
        assert!(freed[0].iter().all(|b| *b == 0), "dropped wiped");
    }
}
