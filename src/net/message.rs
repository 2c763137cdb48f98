//! A message after DATA's 354, streamed: read a chunk, encode it (CRLF, dot-stuffing), send it,
//! so a message of any size costs the same memory. The transcript keeps a small body whole and
//! a large one as its head, its tail, its length and its SHA-256: the wire gets every byte.

use std::time::Duration;

use ring::digest::{Context, SHA256};
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::smtp::command::Command;
use crate::smtp::data::DataEncoder;
use crate::smtp::reply::Reply;
use crate::transcript::Event;

use super::driver::Connection;
use super::error::NetError;

/// A body up to this size is kept whole in the transcript.
pub const KEEP_WHOLE: usize = 64 * 1024;
/// Above it, this much of its start and of its end is kept.
const KEEP_EDGE: usize = 4 * 1024;
const CHUNK: usize = 64 * 1024;
/// How long to wait for the reason of a server that stopped reading mid-message.
const LAST_WORDS: Duration = Duration::from_secs(2);

/// What the transcript keeps of a body as it goes out.
struct BodyRecord {
    keep_all: bool,
    head: Vec<u8>,
    tail: Vec<u8>,
    len: u64,
    sha: Context,
}

impl BodyRecord {
    fn new(keep_all: bool) -> Self {
        BodyRecord {
            keep_all,
            head: Vec::new(),
            tail: Vec::new(),
            len: 0,
            sha: Context::new(&SHA256),
        }
    }

    fn add(&mut self, wire: &[u8]) {
        self.len += wire.len() as u64;
        self.sha.update(wire);
        if self.keep_all || self.head.len() < KEEP_WHOLE {
            let room = if self.keep_all {
                wire.len()
            } else {
                (KEEP_WHOLE - self.head.len()).min(wire.len())
            };
            self.head.extend_from_slice(&wire[..room]);
        }
        if !self.keep_all {
            self.tail.extend_from_slice(wire);
            if self.tail.len() > KEEP_EDGE {
                self.tail.drain(..self.tail.len() - KEEP_EDGE);
            }
        }
    }

    fn record(self, conn: &mut Connection) {
        if self.keep_all || self.len <= KEEP_WHOLE as u64 {
            conn.record_sent(&self.head);
            return;
        }
        let digest: String = self
            .sha
            .finish()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        conn.record_sent(&self.head[..KEEP_EDGE.min(self.head.len())]);
        conn.note(Event::Info(format!(
            "message body: {} octets on the wire, SHA-256 {digest}; the transcript keeps the first and last {} (--show-data full keeps all)",
            self.len, KEEP_EDGE
        )));
        conn.record_sent(&self.tail);
    }
}

impl Connection {
    /// Sends the message read from `source` (not yet encoded) after DATA's 354 and reads the
    /// reply. With `keep_all` the transcript holds every byte.
    pub async fn send_message_from<R: AsyncRead + Unpin>(
        &mut self,
        mut source: R,
        keep_all: bool,
    ) -> Result<Reply, NetError> {
        let mut encoder = DataEncoder::new();
        let mut record = BodyRecord::new(keep_all);
        let mut buf = vec![0u8; CHUNK];
        let mut wire = Vec::with_capacity(CHUNK + CHUNK / 16);
        loop {
            let n = source.read(&mut buf).await.map_err(|e| NetError::Io {
                doing: "reading the message to send".into(),
                reason: e.to_string(),
            })?;
            wire.clear();
            if n == 0 {
                encoder.finish(&mut wire);
            } else {
                encoder.feed(&buf[..n], &mut wire);
            }
            record.add(&wire);
            if let Err(e) = self.write_unrecorded(&wire).await {
                record.record(self);
                return self.last_words(e).await;
            }
            if n == 0 {
                break;
            }
        }
        record.record(self);
        self.message_sent();
        self.read_reply().await
    }

    /// Sends the message with BDAT (RFC 3030) in chunks of `chunk` octets: no dot-stuffing,
    /// each chunk answered on its own, the last one marked LAST. Returns the last reply, or
    /// the first refusal of a chunk.
    pub async fn send_bdat_from<R: AsyncRead + Unpin>(
        &mut self,
        mut source: R,
        chunk: usize,
        keep_all: bool,
        binary: bool,
    ) -> Result<Reply, NetError> {
        let chunk = chunk.max(1);
        let mut encoder = if binary {
            DataEncoder::binary()
        } else {
            DataEncoder::for_bdat()
        };
        let mut record = BodyRecord::new(keep_all);
        let mut buf = vec![0u8; CHUNK];
        let mut pending: Vec<u8> = Vec::new();
        let mut done = false;
        loop {
            if !done && pending.len() < chunk {
                let n = source.read(&mut buf).await.map_err(|e| NetError::Io {
                    doing: "reading the message to send".into(),
                    reason: e.to_string(),
                })?;
                if n == 0 {
                    encoder.finish(&mut pending);
                    done = true;
                } else {
                    encoder.feed(&buf[..n], &mut pending);
                }
                continue;
            }
            let last = done && pending.len() <= chunk;
            let piece: Vec<u8> = pending.drain(..pending.len().min(chunk)).collect();
            let command = Command::Bdat {
                size: piece.len() as u64,
                last,
            };
            if last {
                // Its reply ends the transaction, like the reply after DATA's dot.
                self.send_unanswered(&command).await?;
            } else {
                self.send(&command).await?;
            }
            record.add(&piece);
            if let Err(e) = self.write_unrecorded(&piece).await {
                record.record(self);
                return self.last_words(e).await;
            }
            if last {
                self.message_sent();
                record.record(self);
                return self.read_reply().await;
            }
            let reply = self.read_reply().await?;
            if !reply.is_positive() {
                record.record(self);
                return Ok(reply);
            }
        }
    }

    /// Another reply to the message: LMTP gives one per accepted recipient.
    pub async fn read_reply_after_message(&mut self) -> Result<Reply, NetError> {
        self.message_sent();
        self.read_reply().await
    }

    /// The server stopped taking the message: it may have answered first (552, too big), and
    /// that answer says more than the broken pipe.
    async fn last_words(&mut self, write_error: NetError) -> Result<Reply, NetError> {
        if !matches!(write_error, NetError::Io { .. }) {
            return Err(write_error);
        }
        self.message_sent();
        let reply = self.read_reply_for(LAST_WORDS).await;
        self.close().await;
        match reply {
            Ok(Some(r)) => Ok(r),
            _ => Err(write_error),
        }
    }
}
