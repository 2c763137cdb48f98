//! The SMTP protocol core. It turns commands into bytes and bytes into replies, capabilities,
//! explanations and session state — and does no I/O: no sockets, no async runtime, no clock,
//! no terminal. Everything here is testable with byte strings alone.

pub mod auth;
pub mod capabilities;
pub mod command;
pub mod data;
pub mod flow;
pub mod proxy;
pub mod reply;
pub mod session;
pub mod socks5;
pub mod status;
pub mod tls_hello;
pub mod validate;

pub use capabilities::Capabilities;
pub use command::{Command, Verb};
pub use reply::{EnhancedCode, Reply, ReplyLimits, ReplyParser, Violation};
pub use session::{Phase, Refusal, SecurityPolicy, Session};

#[cfg(test)]
mod purity {
    /// The core must stay free of I/O so it can be tested byte by byte and reused by every
    /// front end. This test fails if any file in src/smtp/ names an I/O facility.
    #[test]
    fn no_io_imports_in_the_protocol_core() {
        const FORBIDDEN: &[&str] = &[
            "tokio",
            "std::net",
            "std::fs",
            "std::io::stdin",
            "std::time::Instant",
            "std::time::SystemTime",
            "SystemTime",
            "Instant::now",
            "ratatui",
            "crossterm",
            "std::process",
            "std::thread::sleep",
            "jiff",
            "rustls",
            "std::env",
        ];
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        // Submodules (validate/, flow/) are held to the same rule as the files above them.
        let mut dirs = vec![src];
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("directory entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut checked = 0;
        for path in files {
            let text = std::fs::read_to_string(&path).expect("source is readable");
            // This file necessarily names what it forbids; only check its code above the test.
            let code = match text.find("mod purity") {
                Some(at) if path.ends_with("lib.rs") => &text[..at],
                _ => &text[..],
            };
            for word in FORBIDDEN {
                assert!(
                    !code.contains(word),
                    "{} mentions `{word}`: the protocol core must do no I/O",
                    path.display()
                );
            }
            checked += 1;
        }
        assert!(checked >= 7, "expected the core's files, found {checked}");
    }
}
