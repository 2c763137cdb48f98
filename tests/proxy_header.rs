//! `--proxy v1|v2 --proxy-source IP:PORT`: the PROXY header goes out first, before the banner
//! is read, naming the given client and the server's own address, as HAProxy sends it.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use assert_cmd::Command;

/// Reads the header (`n` bytes, or one line when `n` is 0), then plays a minimal server until
/// QUIT; returns the header and everything after it.
/// The header the server read, and the command lines after it.
type Received = (Vec<u8>, Vec<String>);

fn server(n: usize) -> (String, std::thread::JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(sock.try_clone().unwrap());
        let mut writer = sock;
        let mut header = vec![0u8; n];
        if n == 0 {
            reader.read_until(b'\n', &mut header).unwrap();
        } else {
            reader.read_exact(&mut header).unwrap();
        }
        writer.write_all(b"220 proxied.test ESMTP\r\n").unwrap();
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            let quit = line.to_ascii_uppercase().starts_with("QUIT");
            writer
                .write_all(if quit { b"221 bye\r\n" } else { b"250 ok\r\n" })
                .unwrap();
            lines.push(line.trim_end().to_string());
            if quit {
                break;
            }
        }
        (header, lines)
    });
    (addr, handle)
}

fn session(addr: &str, version: &str) -> (Option<i32>, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .args([
            "session",
            "--server",
            addr,
            "--tls",
            "none",
            "--helo",
            "probe.test",
            "--proxy",
            version,
            "--proxy-source",
            "192.0.2.7:4711",
            "--quit-after",
            "ehlo",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_version_1_header_comes_first() {
    let (addr, handle) = server(0);
    let port = addr.rsplit(':').next().unwrap().to_string();
    let (code, out) = session(&addr, "v1");
    let (header, lines) = handle.join().unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        String::from_utf8(header).unwrap(),
        format!("PROXY TCP4 192.0.2.7 127.0.0.1 4711 {port}\r\n")
    );
    assert_eq!(lines.first().map(String::as_str), Some("EHLO probe.test"));
    assert!(
        out.contains("C: PROXY TCP4 192.0.2.7 127.0.0.1 4711"),
        "{out}"
    );
}

#[test]
fn a_version_2_header_comes_first() {
    let (addr, handle) = server(28);
    let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
    let (code, out) = session(&addr, "v2");
    let (header, lines) = handle.join().unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(&header[..12], b"\r\n\r\n\0\r\nQUIT\n");
    assert_eq!(&header[12..16], &[0x21, 0x11, 0, 12]);
    assert_eq!(&header[16..24], &[192, 0, 2, 7, 127, 0, 0, 1]);
    assert_eq!(&header[24..26], &4711u16.to_be_bytes());
    assert_eq!(&header[26..28], &port.to_be_bytes());
    assert_eq!(lines.first().map(String::as_str), Some("EHLO probe.test"));
}

#[test]
fn a_proxy_header_needs_its_source_and_the_same_family() {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .args(["session", "--server", "127.0.0.1:9", "--proxy", "v1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--proxy-source"));
    // An IPv6 client claimed on an IPv4 connection to a server named by its address: refused
    // before connecting (tests/values.rs). Named by a host name, the family is known once the
    // name resolves: connected, then closed with nothing sent, naming the setting.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path())
        .args([
            "session",
            "--server",
            &format!("localhost:{port}"),
            "-4",
            "--tls",
            "none",
            "--proxy",
            "v1",
            "--proxy-source",
            "[2001:db8::7]:1",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("proxy_source (or --proxy-source): the PROXY source [2001:db8::7]:1")
            && text.contains("must be the same family"),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(2), "{text}");
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut sent = Vec::new();
    let _ = std::io::Read::read_to_end(&mut conn, &mut sent);
    assert!(sent.is_empty(), "nothing was sent: {sent:?}");
}
