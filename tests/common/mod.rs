//! Test support shared by the integration tests.
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

pub mod dns_server;
pub mod explorer;
pub mod fake_server;
pub mod postfix;
pub mod pty;
pub mod skips;
pub mod smtp_client;
pub mod stepping;

/// Every `{name}` in `text` that looks like an unfilled template variable (lowercase letters,
/// digits and `_` in braces). Written apart from the crate's own check, so a bug there cannot
/// hide one here.
pub fn placeholders(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if b != b'{' {
            continue;
        }
        let name: Vec<u8> = bytes[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || **c == b'_')
            .copied()
            .collect();
        if !name.is_empty() && bytes.get(i + 1 + name.len()) == Some(&b'}') {
            out.push(format!("{{{}}}", String::from_utf8_lossy(&name)));
        }
    }
    out
}

/// Rust Debug forms that must never reach a reader (`DnsName("x")`, `Some(..)`).
pub fn debug_forms(text: &str) -> Vec<&'static str> {
    [
        "DnsName(",
        "IpAddress(",
        "Some(",
        "None)",
        "InvalidContentType",
    ]
    .into_iter()
    .filter(|f| text.contains(f))
    .collect()
}
