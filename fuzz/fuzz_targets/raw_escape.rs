//! The raw-escape parser of the TUI's manual mode (and of smuggling sequences).
//!
//! `unescape` must never panic on any text (the input, read as lossy UTF-8 so that multi-byte
//! characters next to `\x` are exercised too), and for any bytes b,
//! `unescape(escape_bytes(b)) == b`. When it succeeds, the output is never longer than the
//! input text.

#![no_main]

use libfuzzer_sys::fuzz_target;
use smtpscope::scenario::model::unescape;
use smtpscope::smtp::command::escape_bytes;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(out) = unescape(&text) {
        assert!(out.len() <= text.len());
        // Text without a backslash comes back unchanged.
        if !text.contains('\\') {
            assert_eq!(out, text.as_bytes());
        }
    }

    let escaped = escape_bytes(data);
    assert!(
        escaped.is_ascii(),
        "escape_bytes produced non-ASCII: {escaped:?}"
    );
    assert!(
        !escaped.contains(['\r', '\n', '\0']),
        "escape_bytes left a control byte raw: {escaped:?}"
    );
    match unescape(&escaped) {
        Ok(back) => assert_eq!(
            back, data,
            "round trip changed the bytes; escaped: {escaped:?}"
        ),
        Err(e) => panic!("unescape rejected escape_bytes output {escaped:?}: {e}"),
    }
});
