//! The mail a practice server keeps: a ring bounded in count and bytes, so a long-running lab
//! under a load test holds the newest messages, not all of them, and says how many it let go.

use std::collections::VecDeque;

use crate::smtp::data::decode_data;

/// One accepted message, byte for byte as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub id: u64,
    pub from: String,
    pub to: Vec<String>,
    /// The DATA bytes as received, terminator included (still dot-stuffed); for BDAT, the
    /// chunks joined, which are never stuffed.
    pub raw: Vec<u8>,
    /// Sent with BDAT (RFC 3030) rather than DATA.
    pub chunked: bool,
    /// MAIL FROM's parameters as given (SIZE, BODY, SMTPUTF8, DSN's RET and ENVID).
    pub mail_params: String,
    /// Each recipient's RCPT parameters (DSN's NOTIFY and ORCPT), in the order of `to`.
    pub rcpt_params: Vec<String>,
    pub tls: bool,
    pub auth_user: Option<String>,
    /// At least one recipient was outside the lab's domain: a real server would have relayed.
    pub relayed: bool,
}

impl StoredMessage {
    /// The message content as a receiving server sees it: unstuffed, without the terminator.
    pub fn content(&self) -> Vec<u8> {
        if self.chunked {
            self.raw.clone()
        } else {
            decode_data(&self.raw)
        }
    }

    /// What the message costs to keep; envelope strings count, as a flood of recipients is
    /// memory too.
    fn weight(&self) -> usize {
        self.raw.len() + self.from.len() + self.to.iter().map(String::len).sum::<usize>()
    }
}

#[derive(Debug)]
pub(crate) struct MessageRing {
    messages: VecDeque<StoredMessage>,
    bytes: usize,
    max_messages: usize,
    max_bytes: usize,
    dropped: u64,
}

impl MessageRing {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> Self {
        MessageRing {
            messages: VecDeque::new(),
            bytes: 0,
            max_messages,
            max_bytes,
            dropped: 0,
        }
    }

    /// Keeps `m`, letting the oldest go while over either bound (`m` itself when it alone is
    /// over). Returns how many were let go now.
    pub(crate) fn push(&mut self, m: StoredMessage) -> u64 {
        self.bytes += m.weight();
        self.messages.push_back(m);
        let mut now = 0;
        while self.messages.len() > self.max_messages || self.bytes > self.max_bytes {
            let Some(old) = self.messages.pop_front() else {
                break;
            };
            self.bytes -= old.weight();
            now += 1;
        }
        self.dropped += now;
        now
    }

    pub(crate) fn to_vec(&self) -> Vec<StoredMessage> {
        self.messages.iter().cloned().collect()
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(id: u64, size: usize) -> StoredMessage {
        StoredMessage {
            id,
            from: String::new(),
            to: Vec::new(),
            chunked: false,
            mail_params: String::new(),
            rcpt_params: Vec::new(),
            raw: vec![b'x'; size],
            tls: false,
            auth_user: None,
            relayed: false,
        }
    }

    fn ids(ring: &MessageRing) -> Vec<u64> {
        ring.to_vec().iter().map(|m| m.id).collect()
    }

    #[test]
    fn the_oldest_go_first_by_count_and_by_bytes() {
        let mut ring = MessageRing::new(2, 1000);
        for id in 1..=5 {
            ring.push(msg(id, 10));
        }
        assert_eq!(ids(&ring), [4, 5]);
        assert_eq!(ring.dropped(), 3);

        let mut ring = MessageRing::new(100, 25);
        assert_eq!(ring.push(msg(1, 10)), 0);
        assert_eq!(ring.push(msg(2, 10)), 0);
        assert_eq!(ring.push(msg(3, 10)), 1);
        assert_eq!(ids(&ring), [2, 3]);
        assert_eq!(
            ring.push(msg(4, 30)),
            3,
            "alone over the bound: nothing is kept"
        );
        assert!(ids(&ring).is_empty());
        assert_eq!(ring.dropped(), 4);
    }
}
