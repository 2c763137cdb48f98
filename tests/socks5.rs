//! `--socks5 HOST:PORT` (with `--socks5-user`/`--socks5-password-env`): the session reaches the
//! server through a SOCKS5 proxy. The real proxy is microsocks in front of the test Postfix;
//! a scripted proxy shows what goes on the wire (the server's name for the proxy to resolve)
//! and how each refusal is reported.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use common::postfix::shared;

fn smtpscope(extra: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env("SMTPSCOPE_CONFIG_DIR", tempfile::tempdir().unwrap().path());
    cmd.args(["session", "--helo", "probe.test", "--timeout", "10"]);
    cmd.args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run smtpscope");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// microsocks on a free loopback port, requiring `user`/`password`; killed on drop.
struct Microsocks {
    child: Child,
    port: u16,
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn microsocks(test: &str, user: &str, password: &str) -> Option<Microsocks> {
    let installed = Process::new("microsocks")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !installed {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI requires microsocks (apt-get install microsocks)"
        );
        common::skips::skipped(
            test,
            "microsocks not installed (apt-get install microsocks)",
        );
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let child = Process::new("microsocks")
        .args([
            "-i",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-u",
            user,
            "-P",
            password,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn microsocks");
    let proxy = Microsocks { child, port };
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "microsocks never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(proxy)
}

#[test]
fn through_a_real_socks5_proxy_to_postfix() {
    let test = "through_a_real_socks5_proxy_to_postfix";
    let Some(pf) = shared(test) else { return };
    let Some(proxy) = microsocks(test, "mailops", "s0cks-secret") else {
        return;
    };
    let server = format!("127.0.0.1:{}", pf.relaxed_port);
    let via = format!("127.0.0.1:{}", proxy.port);
    let ca = pf.ca_pem_path.display().to_string();
    let args = [
        "--server",
        &server,
        "--ca-file",
        &ca,
        "--tls-name",
        "localhost",
        "--socks5",
        &via,
        "--socks5-user",
        "mailops",
        "--socks5-password-env",
        "SOCKS_PW",
        "--quit-after",
        "ehlo",
    ];
    let (code, out) = smtpscope(&args, &[("SOCKS_PW", "s0cks-secret")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("via SOCKS5 {via}")), "{out}");
    assert!(
        out.contains("S: 220 mail.lab.example ESMTP Postfix"),
        "{out}"
    );
    // STARTTLS works through the tunnel: the certificate is verified inside it.
    assert!(out.contains("certificate verified for localhost"), "{out}");
    assert!(
        !out.contains("s0cks-secret"),
        "the proxy password is never shown: {out}"
    );

    // A wrong password is the proxy's refusal, named, and a connection failure (exit 3).
    let (code, out) = smtpscope(&args, &[("SOCKS_PW", "wrong")]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("refused the username and password"), "{out}");
    assert!(!out.contains("S: 220"), "{out}");
}

/// A one-connection SOCKS5 proxy that records the request and answers CONNECT with `reply`
/// (0 = success, after which it plays a minimal SMTP server). Returns its address and the
/// bytes of the request it received.
fn scripted_proxy(require_login: bool, reply: u8) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = [0u8; 2];
        s.read_exact(&mut head).unwrap();
        let mut methods = vec![0u8; usize::from(head[1])];
        s.read_exact(&mut methods).unwrap();
        if require_login && !methods.contains(&2) {
            s.write_all(&[5, 0xFF]).unwrap();
            return methods;
        }
        if require_login {
            s.write_all(&[5, 2]).unwrap();
            let mut v = [0u8; 2];
            s.read_exact(&mut v).unwrap();
            let mut user = vec![0u8; usize::from(v[1])];
            s.read_exact(&mut user).unwrap();
            let mut plen = [0u8; 1];
            s.read_exact(&mut plen).unwrap();
            let mut pw = vec![0u8; usize::from(plen[0])];
            s.read_exact(&mut pw).unwrap();
            s.write_all(&[1, 0]).unwrap();
        } else {
            s.write_all(&[5, 0]).unwrap();
        }
        let mut req = [0u8; 5];
        s.read_exact(&mut req).unwrap();
        let mut rest = vec![0u8; usize::from(req[4]) + 2];
        s.read_exact(&mut rest).unwrap();
        let request = [req.as_slice(), &rest].concat();
        s.write_all(&[5, reply, 0, 1, 127, 0, 0, 1, 0x04, 0x38])
            .unwrap();
        if reply == 0 {
            s.write_all(b"220 behind.proxy ESMTP\r\n").unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line.starts_with("QUIT") {
                    s.write_all(b"221 bye\r\n").unwrap();
                    break;
                }
                line.clear();
            }
        }
        request
    });
    (addr, handle)
}

#[test]
fn the_server_name_goes_to_the_proxy_unresolved() {
    let (proxy, handle) = scripted_proxy(false, 0);
    let (code, out) = smtpscope(
        &[
            "--server",
            "mail.unresolvable.invalid:2525",
            "--tls",
            "none",
            "--socks5",
            &proxy,
            "--quit-after",
            "banner",
        ],
        &[],
    );
    let request = handle.join().unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("S: 220 behind.proxy ESMTP"), "{out}");
    // CONNECT, address type 3 (a name), the name, port 2525: no local DNS lookup.
    let name = b"mail.unresolvable.invalid";
    let mut want = vec![5, 1, 0, 3, name.len() as u8];
    want.extend_from_slice(name);
    want.extend_from_slice(&2525u16.to_be_bytes());
    assert_eq!(request, want);
}

#[test]
fn proxy_refusals_are_named_and_exit_3() {
    // The proxy may not connect there.
    let (proxy, handle) = scripted_proxy(false, 2);
    let (code, out) = smtpscope(
        &["--server", "mx.test", "--tls", "none", "--socks5", &proxy],
        &[],
    );
    handle.join().unwrap();
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("connection not allowed by ruleset (reply 0x02)"),
        "{out}"
    );
    // The proxy wants a login and none was given.
    let (proxy, handle) = scripted_proxy(true, 0);
    let (code, out) = smtpscope(
        &["--server", "mx.test", "--tls", "none", "--socks5", &proxy],
        &[],
    );
    let offered = handle.join().unwrap();
    assert_eq!(offered, [0], "only 'no authentication' was offered");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("requires a username and password"), "{out}");
}

#[test]
fn socks5_usage_mistakes_are_exit_2() {
    for (args, says) in [
        (
            vec![
                "--server",
                "mx.test",
                "--socks5",
                "127.0.0.1:1",
                "--socks5-user",
                "u",
            ],
            "a SOCKS5 user needs a password source",
        ),
        (
            vec!["--server", "mx.test", "--socks5", "127.0.0.1:99999"],
            "SOCKS5 proxy",
        ),
        (
            vec![
                "--server",
                "mx.test",
                "--socket",
                "/tmp/x",
                "--socks5",
                "127.0.0.1:1",
            ],
            "cannot be used with",
        ),
    ] {
        let (code, out) = smtpscope(&args, &[]);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(out.contains(says), "{args:?}: {out}");
    }
}
