//! `-4`, `-6` and `--local-address`: which of a name's addresses are tried, and where the
//! connection comes from, as the server sees it. Loopback only: 127.0.0.2 is a local source
//! on every Linux machine without configuration.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;

fn session(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .arg("session")
        .args(["--tls", "none", "--helo", "probe.test", "--timeout", "5"])
        .args(args)
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_local_address_is_the_source_the_server_sees() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut sock, peer) = listener.accept().unwrap();
        sock.write_all(b"220 hi\r\n").unwrap();
        peer
    });
    let (code, out) = session(&[
        "--server",
        &addr,
        "--local-address",
        "127.0.0.2",
        "--quit-after",
        "banner",
    ]);
    let peer = server.join().unwrap();
    assert_eq!(peer.ip().to_string(), "127.0.0.2", "{out}");
    assert!(code.is_some(), "{out}");
}

#[test]
fn a_family_with_no_address_is_said_plainly() {
    let (code, out) = session(&["--server", "127.0.0.1:9", "-6"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("no IPv6 address"), "{out}");
    let (code, out) = session(&["--server", "127.0.0.1:9", "--local-address", "::1"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("no IPv6 address"), "{out}");
    let (code, out) = session(&["--server", "127.0.0.1:9", "--local-address", "not-an-ip"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--local-address \"not-an-ip\""), "{out}");
    let (code, out) = session(&["--server", "127.0.0.1:9", "-4", "-6"]);
    assert_eq!(code, Some(2), "{out}");
}
