//! Values a protocol field cannot carry are refused before anything connects (exit 2), each
//! error naming its flag, or for a profile `profile NAME: key`: a SOCKS5 login (RFC 1929),
//! a PROXY source of the other family than the server's, ESMTP parameters (RFC 5321 §4.1.2),
//! BODY=BINARYMIME without BDAT (RFC 3030 §3), an XCLIENT attribute too long for a line, and
//! SASL identities and secrets holding NUL or line ends. A secret is never echoed.
//!
//! Every case runs the real binary against a listening socket that must record no connection.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// A listener that must stay untouched: the value is refused before any connection.
fn untouched() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

fn assert_nothing_connected(l: &TcpListener, what: &str) {
    match l.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok(_) => panic!("{what}: smtpscope connected although the value was refused"),
        Err(e) => panic!("{what}: {e}"),
    }
}

/// Runs smtpscope with `args` and `env`; the exit code and stdout plus stderr.
fn run(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .env("SMTPSCOPE_CONFIG_DIR", config)
        .envs(env.iter().copied())
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

/// Asserts a refusal: exit 2, `says` in the output, and no connection to `l`.
fn refused(l: &TcpListener, (code, out): (Option<i32>, String), says: &str, what: &str) {
    assert_eq!(code, Some(2), "{what}: {out}");
    assert!(out.contains(says), "{what}: expected {says:?} in: {out}");
    assert_nothing_connected(l, what);
}

/// A config directory holding one profile, `p`, with `toml` after its server line.
fn with_profile(server: &str, toml: &str) -> tempfile::TempDir {
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(config.path().join("profiles")).unwrap();
    std::fs::write(
        config.path().join("profiles/p.toml"),
        format!("server = \"{server}\"\ntls = \"none\"\n{toml}"),
    )
    .unwrap();
    config
}

const SECRET: &str = "S3cr3tValue";

#[test]
fn socks5_logins_are_refused_before_the_proxy_is_reached() {
    let config = tempfile::tempdir().unwrap();
    let long = "u".repeat(256);
    let long_pw = "p".repeat(256);
    let with_lf = format!("{SECRET}\nmore");
    for (user, password, says) in [
        (
            "",
            "pw",
            "--socks5-user is empty; RFC 1929 allows 1 to 255 octets",
        ),
        (
            long.as_str(),
            "pw",
            "--socks5-user is 256 octets long; RFC 1929 allows 1 to 255 octets",
        ),
        (
            "a\r\nb",
            "pw",
            "--socks5-user holds a CR (\\r) at position 2",
        ),
        ("a\u{1b}b", "pw", "--socks5-user holds an ESC (\\x1b)"),
        (
            "u",
            long_pw.as_str(),
            "--socks5-password-env SOCKS_PW: the password is 256 octets long",
        ),
        (
            "u",
            with_lf.as_str(),
            "--socks5-password-env SOCKS_PW: the password holds an LF (\\n);",
        ),
    ] {
        let (proxy, proxy_addr) = untouched();
        let outcome = run(
            config.path(),
            &[
                "session",
                "--server",
                "mx.test",
                "--tls",
                "none",
                "--to",
                "a@b.example",
                "--socks5",
                &proxy_addr,
                "--socks5-user",
                user,
                "--socks5-password-env",
                "SOCKS_PW",
            ],
            &[("SOCKS_PW", password)],
        );
        assert!(
            !outcome.1.contains(SECRET),
            "the secret echoed: {}",
            outcome.1
        );
        refused(&proxy, outcome, says, &format!("user {user:?}"));
    }
    // From a profile: a NUL (no command line can carry one) and a password with a CR.
    let (proxy, proxy_addr) = untouched();
    for (toml, env, says) in [
        (
            "socks5_user = \"u\\u0000x\"\n",
            "pw".to_string(),
            "profile p: socks5_user holds a NUL (\\0) at position 2",
        ),
        (
            "socks5_user = \"u\"\n",
            format!("{SECRET}\r"),
            "profile p: socks5_password_env SOCKS_PW: the password holds a CR (\\r);",
        ),
    ] {
        let config = with_profile(
            "mx.test",
            &format!("socks5 = \"{proxy_addr}\"\nsocks5_password_env = \"SOCKS_PW\"\n{toml}"),
        );
        for sub in ["session", "check"] {
            let outcome = run(
                config.path(),
                &[sub, "--profile", "p"],
                &[("SOCKS_PW", env.as_str())],
            );
            assert!(
                !outcome.1.contains(SECRET),
                "the secret echoed: {}",
                outcome.1
            );
            refused(&proxy, outcome, says, &format!("{sub}: {toml}"));
        }
    }
}

/// An IPv6 source claimed to an IPv4 server: refused when the server is an IP literal,
/// whether the source came from the flag or the profile.
#[test]
fn a_proxy_source_of_the_other_family_is_refused_before_connecting() {
    let config = tempfile::tempdir().unwrap();
    let (server, addr) = untouched();
    let outcome = run(
        config.path(),
        &[
            "session",
            "--server",
            &addr,
            "--tls",
            "none",
            "--proxy",
            "v1",
            "--proxy-source",
            "[::1]:25",
        ],
        &[],
    );
    refused(
        &server,
        outcome,
        "--proxy-source [::1]:25 is IPv6, and the server 127.0.0.1 is IPv4",
        "--proxy-source",
    );
    let config = with_profile(
        &addr,
        "proxy = \"v2\"\nproxy_source = \"[2001:db8::7]:40000\"\n",
    );
    for sub in ["session", "check"] {
        let outcome = run(config.path(), &[sub, "--profile", "p"], &[]);
        refused(
            &server,
            outcome,
            "profile p: proxy_source [2001:db8::7]:40000 is IPv6",
            sub,
        );
    }
    // The reverse, where this machine has IPv6 loopback to listen on.
    if let Ok(l6) = TcpListener::bind("[::1]:0") {
        l6.set_nonblocking(true).unwrap();
        let addr6 = l6.local_addr().unwrap().to_string();
        let outcome = run(
            config.path(),
            &[
                "session",
                "--server",
                &addr6,
                "--tls",
                "none",
                "--proxy",
                "v1",
                "--proxy-source",
                "192.0.2.7:25",
            ],
            &[],
        );
        refused(
            &l6,
            outcome,
            "--proxy-source 192.0.2.7:25 is IPv4",
            "v4 to v6",
        );
    }
}

#[test]
fn extension_parameters_follow_rfc_5321_one_per_flag() {
    let config = tempfile::tempdir().unwrap();
    let (server, addr) = untouched();
    for (flag, value, says) in [
        (
            "--mail-param",
            "X=1 AUTH=<>",
            "it holds a space; give one parameter per --mail-param",
        ),
        (
            "--rcpt-param",
            "NOTIFY=NEVER ORCPT=rfc822;x",
            "give one parameter per --rcpt-param",
        ),
        ("--mail-param", "", "it is empty"),
        ("--mail-param", "=foo", "there is no keyword before '='"),
        ("--mail-param", "X==1", "'=' is not allowed in a value"),
        ("--mail-param", "X=", "there is no value after '='"),
        ("--mail-param", "X=grüße", "'ü' is not ASCII"),
        ("--rcpt-param", "KEY_1=v", "'_' is not allowed in a keyword"),
        (
            "--mail-param",
            "X=1\r\nRSET",
            "holds a CR (\\r) at position 4",
        ),
    ] {
        let outcome = run(
            config.path(),
            &[
                "session",
                "--server",
                &addr,
                "--tls",
                "none",
                "--to",
                "a@b.example",
                flag,
                value,
            ],
            &[],
        );
        assert!(
            outcome.1.contains(&format!("{flag} ")),
            "{flag} {value:?} is named: {}",
            outcome.1
        );
        refused(&server, outcome, says, &format!("{flag} {value:?}"));
    }
    // The same value passes where SMTPUTF8 allows UTF-8 in a value (RFC 6531 §3.3): what is
    // refused then is only the missing server, so the refusal above was the grammar's.
    let (code, out) = run(
        config.path(),
        &[
            "session",
            "--server",
            "127.0.0.1:9",
            "--tls",
            "none",
            "--to",
            "a@b.example",
            "--smtputf8",
            "--mail-param",
            "X=grüße",
        ],
        &[],
    );
    assert_eq!(code, Some(3), "{out}");
}

/// RFC 3030 §3: a BINARYMIME body only goes by BDAT, whichever flag declared it.
#[test]
fn binarymime_needs_bdat() {
    let config = tempfile::tempdir().unwrap();
    let (server, addr) = untouched();
    let base = ["session", "--server", &addr, "--tls", "none"];
    let mut args = base.to_vec();
    args.extend(["--to", "a@b.example", "--mail-param", "body=binarymime"]);
    refused(
        &server,
        run(config.path(), &args, &[]),
        "--mail-param \"body=binarymime\": BODY=BINARYMIME needs --bdat",
        "--mail-param BODY=BINARYMIME",
    );
    let mut args = base.to_vec();
    args.extend(["--to", "a@b.example", "--binarymime"]);
    refused(
        &server,
        run(config.path(), &args, &[]),
        "--bdat",
        "--binarymime",
    );
}

/// One attribute whose xtext-encoded value cannot fit a 512-octet line even alone is
/// refused, named; several that fit alone are split over lines (see tests/xclient.rs).
#[test]
fn an_xclient_attribute_too_long_for_a_line_is_refused() {
    let long = format!("HELO={}", "+".repeat(200));
    let (server, addr) = untouched();
    let config = tempfile::tempdir().unwrap();
    let outcome = run(
        config.path(),
        &[
            "session",
            "--server",
            &addr,
            "--tls",
            "none",
            "--xclient",
            &long,
        ],
        &[],
    );
    assert!(
        !outcome.1.contains("++++"),
        "the value is not repeated: {}",
        outcome.1
    );
    refused(
        &server,
        outcome,
        "--xclient HELO: with its value xtext-encoded, an XCLIENT line for it alone would be 615 octets",
        "--xclient",
    );
    let config = with_profile(&addr, &format!("xclient = [\"{long}\"]\n"));
    for sub in ["session", "check"] {
        refused(
            &server,
            run(config.path(), &[sub, "--profile", "p"], &[]),
            "profile p: xclient HELO: ",
            sub,
        );
    }
}

#[test]
fn sasl_fields_without_nul_or_line_ends() {
    let (server, addr) = untouched();
    let config = tempfile::tempdir().unwrap();
    let auth = |user: &str| -> Vec<String> {
        [
            "session",
            "--server",
            &addr,
            "--tls",
            "none",
            "--allow-cleartext-auth",
            "--to",
            "a@b.example",
            "--auth",
            "plain",
            "--user",
            user,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // The user name from the flag.
    let mut args = auth("a\r\nb");
    args.extend(["--password-env".into(), "PW".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refused(
        &server,
        run(config.path(), &args, &[("PW", "pw")]),
        "--user holds a CR (\\r) at position 2",
        "--user",
    );
    // The password from the environment and from a file: named, never shown.
    let mut args = auth("alice");
    args.extend(["--password-env".into(), "PW".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env_secret = format!("{SECRET}\rx");
    let outcome = run(config.path(), &args, &[("PW", env_secret.as_str())]);
    assert!(!outcome.1.contains(SECRET), "{}", outcome.1);
    refused(
        &server,
        outcome,
        "--password-env PW: the password holds a CR (\\r); ",
        "--password-env",
    );
    let file = config.path().join("pw");
    std::fs::write(&file, format!("{SECRET}\0x\n")).unwrap();
    let mut args = auth("alice");
    args.extend(["--password-file".into(), file.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let outcome = run(config.path(), &args, &[]);
    assert!(!outcome.1.contains(SECRET), "{}", outcome.1);
    refused(
        &server,
        outcome,
        &format!(
            "--password-file {}: the password holds a NUL (\\0); ",
            file.display()
        ),
        "--password-file",
    );
    // From a profile: the user name, the plain password, the password command's output.
    for (auth_toml, says) in [
        (
            "username = \"u\\u0000x\"\npassword_env = \"PW\"\n",
            "profile p: [auth] username holds a NUL (\\0) at position 2",
        ),
        (
            &*format!("username = \"u\"\npassword = \"{SECRET}\\u0000\"\n"),
            "profile p: [auth] password holds a NUL (\\0); ",
        ),
        (
            &*format!("username = \"u\"\npassword_command = [\"printf\", \"{SECRET}\\\\001x\"]\n"),
            "profile p: [auth] password_command: the password holds the control byte \\x01",
        ),
    ] {
        let config = with_profile(
            &addr,
            &format!("[auth]\nmechanism = \"plain\"\n{auth_toml}"),
        );
        let outcome = run(
            config.path(),
            &[
                "session",
                "--profile",
                "p",
                "--allow-cleartext-auth",
                "--to",
                "a@b.example",
            ],
            &[("PW", "pw")],
        );
        assert!(!outcome.1.contains(SECRET), "{}", outcome.1);
        refused(&server, outcome, says, auth_toml);
    }
}
