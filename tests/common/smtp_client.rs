//! A hand-driven SMTP client for tests that check a server reply by reply: it sends exactly
//! the bytes asked for, so a test can pipeline, split or misorder commands on purpose.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long a reply may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A hand-driven SMTP client.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
        Client {
            writer: stream.try_clone().expect("clone"),
            reader: BufReader::new(stream),
        }
    }

    /// Connects and takes the banner.
    pub fn greeted(addr: SocketAddr) -> Client {
        let mut c = Client::connect(addr);
        let banner = c.reply();
        assert!(banner.starts_with("220 "), "{banner}");
        c
    }

    /// One whole reply, its lines joined with '\n'.
    pub fn reply(&mut self) -> String {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match self.reader.read_line(&mut line) {
                Ok(0) => panic!("connection closed; reply so far: {lines:?}"),
                Ok(_) => {}
                Err(e) => panic!("no reply ({e}); so far: {lines:?}"),
            }
            let line = line.trim_end().to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines.join("\n");
            }
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("send");
    }

    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// True once the server has closed: end of stream or a reset, no more replies.
    pub fn is_closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}
