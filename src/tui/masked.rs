//! The password prompt's buffer. A general text widget keeps undo history and a yank buffer,
//! copies this prompt would leave behind in memory; this one holds the characters in a single
//! allocation that is wiped when it grows, is cleared, or is dropped.

use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

/// Room for any realistic password, so typing one never reallocates.
const INITIAL_CAPACITY: usize = 256;

pub struct MaskedInput {
    text: Zeroizing<String>,
}

impl Default for MaskedInput {
    fn default() -> Self {
        Self {
            text: Zeroizing::new(String::with_capacity(INITIAL_CAPACITY)),
        }
    }
}

impl MaskedInput {
    pub fn push(&mut self, c: char) {
        if self.text.len() + c.len_utf8() > self.text.capacity() {
            // Grow by hand: String's own growth would free the old buffer without wiping it.
            let mut bigger = Zeroizing::new(String::with_capacity(self.text.capacity() * 2 + 4));
            bigger.push_str(&self.text);
            self.text = bigger;
        }
        self.text.push(c);
    }

    pub fn pop(&mut self) {
        // String::pop would leave the character's bytes in the spare capacity: copy all but
        // the last character into a fresh buffer and let the old one be wiped on drop.
        let keep = self.text.char_indices().last().map_or(0, |(i, _)| i);
        let mut shorter = Zeroizing::new(String::with_capacity(self.text.capacity()));
        shorter.push_str(&self.text[..keep]);
        self.text = shorter;
    }

    pub fn clear(&mut self) {
        self.text.zeroize();
    }

    /// Number of characters typed (what the mask shows).
    pub fn len(&self) -> usize {
        self.text.chars().count()
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Moves the password out; the buffer is left empty and wiped.
    pub fn take(&mut self) -> SecretString {
        let secret = SecretString::from(self.text.as_str());
        self.text.zeroize();
        secret
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
}
