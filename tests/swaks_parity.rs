//! Issue #26: a swaks user switches and loses nothing. Each promise is checked against the real
//! Postfix fixture where it can be — what arrived in the Maildir, and the counters Postfix logs
//! when a client disconnects (`disconnect from …[127.0.0.N] ehlo=1 quit=1 commands=2`) — with
//! each session coming from its own loopback address (`--local-address 127.0.0.N`), so its log
//! line is its own however the tests interleave. Where Postfix cannot play the part (a SOCKS
//! proxy that is not there, an XCLIENT syntax error), a scripted server or no server at all.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::Command;
use common::fake_server::{FakeServer, Peer, greet};
use common::postfix::{Postfix, shared};

fn smtpscope() -> Command {
    let mut cmd = Command::cargo_bin("smtpscope").expect("binary");
    cmd.timeout(Duration::from_secs(60));
    cmd.env(
        "SMTPSCOPE_CONFIG_DIR",
        std::env::temp_dir().join("smtpscope-swaks-parity-empty"),
    );
    cmd
}

/// (exit code, stdout, stderr)
fn output(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("run smtpscope");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `session` against a Postfix port from `local` (a loopback address of the test's own),
/// trusting the fixture's CA, plus `extra`.
fn session(pf: &Postfix, port: u16, local: &str, extra: &[&str]) -> Command {
    let mut cmd = smtpscope();
    cmd.args([
        "session",
        "--server",
        &format!("127.0.0.1:{port}"),
        "--local-address",
        local,
        "--helo",
        "probe.test",
        "--timeout",
        "20",
        "--ca-file",
        &pf.ca_pem_path.display().to_string(),
        "--tls-name",
        "localhost",
    ]);
    cmd.args(extra);
    cmd.env("SMTPSCOPE_TEST_PW", &pf.password);
    cmd
}

/// Postfix's `disconnect from` line for the session from `local`, once it is logged.
fn disconnect_line(pf: &Postfix, local: &str) -> String {
    let needle = format!("[{local}]");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(line) = pf
            .log()
            .lines()
            .find(|l| l.contains("disconnect from") && l.contains(&needle))
        {
            return line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no disconnect line from {local}; log tail:\n{}",
            pf.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The counters of a disconnect line: `ehlo=1 quit=1 commands=2`.
fn counters(line: &str) -> String {
    line.rsplit_once(']')
        .map(|(_, rest)| rest.trim().to_string())
        .unwrap_or_default()
}

fn unique(what: &str) -> String {
    format!(
        "smtpscope-{what}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// The header section of a delivered message (Postfix stores LF line ends).
fn header_section(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\n\n").next().unwrap_or("").to_string()
}

fn count_headers(headers: &str, name: &str) -> usize {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    headers
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .count()
}

// ---------------------------------------------------------------------------------------------
// 1. --header with --attach: the operator's header replaces the standard one.

#[test]
fn header_with_attach_replaces_each_standard_header_once() {
    let Some(pf) = shared("header_with_attach_replaces_each_standard_header_once") else {
        return;
    };
    let marker = unique("attach-headers");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data.txt");
    std::fs::write(&file, "id,value\n1,42\n").unwrap();
    let file = file.display().to_string();
    let subject = format!("Subject: {marker}");
    let message_id = format!("Message-ID: <{marker}@probe.test>");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.41",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--header",
            &subject,
            "--header",
            "From: Operator <operator@outside.example.net>",
            "--header",
            "To: Someone <postmaster@lab.example>",
            "--header",
            "Date: Mon, 07 Dec 2026 01:00:00 +0000",
            "--header",
            &message_id,
            "--header",
            "X-Mailer: mine",
            "--attach",
            &file,
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
    let headers = header_section(&got);
    for name in ["Subject", "From", "To", "Date", "Message-ID", "X-Mailer"] {
        assert_eq!(
            count_headers(&headers, name),
            1,
            "exactly one {name}:\n{headers}"
        );
    }
    assert!(headers.contains(&subject), "{headers}");
    assert!(headers.contains("X-Mailer: mine"), "{headers}");
    assert!(
        headers.contains("Date: Mon, 07 Dec 2026 01:00:00 +0000"),
        "{headers}"
    );
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("filename=\"data.txt\""),
        "the attachment: {text}"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. AUTH only with a mechanism the server offers.

#[test]
fn auth_is_not_sent_to_a_server_that_does_not_offer_it() {
    let Some(pf) = shared("auth_is_not_sent_to_a_server_that_does_not_offer_it") else {
        return;
    };
    // Before TLS this Postfix offers no AUTH at all (smtpd_tls_auth_only).
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.42",
        &[
            "--tls",
            "none",
            "--allow-cleartext-auth",
            "--auth",
            "plain",
            "--user",
            &pf.user,
            "--password-env",
            "SMTPSCOPE_TEST_PW",
            "--quit-after",
            "auth",
        ],
    ));
    assert_eq!(code, 11, "{out}{err}");
    assert!(
        out.contains("does not offer AUTH PLAIN (offers: none)")
            && out.contains("no credentials sent"),
        "{out}"
    );
    assert!(!out.contains("C: AUTH"), "{out}");
    assert!(!out.contains(&pf.password), "{out}");
    assert_eq!(
        counters(&disconnect_line(pf, "127.0.0.42")),
        "ehlo=1 quit=1 commands=2",
        "nothing but EHLO and QUIT"
    );

    // Inside TLS it offers PLAIN and LOGIN: XOAUTH2 is still not offered.
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.43",
        &[
            "--auth",
            "xoauth2",
            "--user",
            &pf.user,
            "--password-env",
            "SMTPSCOPE_TEST_PW",
            "--quit-after",
            "auth",
        ],
    ));
    assert_eq!(code, 11, "{out}{err}");
    assert!(
        out.contains("does not offer AUTH XOAUTH2 (offers: PLAIN LOGIN CRAM-MD5)"),
        "{out}"
    );
    assert_eq!(
        counters(&disconnect_line(pf, "127.0.0.43")),
        "ehlo=2 starttls=1 quit=1 commands=4"
    );

    // The control: --force sends it anyway, and Postfix counts the attempt.
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.44",
        &[
            "--force",
            "--auth",
            "xoauth2",
            "--user",
            &pf.user,
            "--password-env",
            "SMTPSCOPE_TEST_PW",
            "--quit-after",
            "auth",
        ],
    ));
    assert_eq!(code, 5, "{out}{err}");
    assert!(out.contains("sending it anyway (--force)"), "{out}");
    assert!(
        counters(&disconnect_line(pf, "127.0.0.44")).contains("auth=0/1"),
        "{}",
        pf.log_tail(20)
    );
}

// ---------------------------------------------------------------------------------------------
// 3. --drop-after data and dot, as swaks.

#[test]
fn drop_after_data_delivers_nothing_and_dot_delivers() {
    let Some(pf) = shared("drop_after_data_delivers_nothing_and_dot_delivers") else {
        return;
    };
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.45",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--drop-after",
            "data",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("S: 354"), "{out}");
    assert!(!out.contains("C: QUIT"), "{out}");
    assert!(
        out.contains("closing without QUIT after data (--drop-after)"),
        "{out}"
    );
    let line = disconnect_line(pf, "127.0.0.45");
    assert!(line.contains("data=0/1"), "the message never came: {line}");
    assert!(!line.contains("quit="), "{line}");

    let marker = unique("drop-dot");
    let subject = format!("Subject: {marker}");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.46",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--header",
            &subject,
            "--drop-after",
            "dot",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("C: QUIT"), "{out}");
    pf.wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
    let line = disconnect_line(pf, "127.0.0.46");
    assert!(line.contains(" data=1 "), "{line}");
    assert!(!line.contains("quit="), "{line}");
}

// ---------------------------------------------------------------------------------------------
// 4. Refusals decided from the EHLO answer, before MAIL, with exit 12.

/// A private Postfix with two more listeners: one that hides CHUNKING, DSN and 8BITMIME from
/// its EHLO answer, one that takes messages of at most 2000 octets.
fn limited() -> Option<&'static Postfix> {
    static LIMITED: OnceLock<Option<Postfix>> = OnceLock::new();
    LIMITED
        .get_or_init(|| {
            let listeners = vec![
                vec!["smtpd_discard_ehlo_keywords=chunking,dsn,8bitmime".to_string()],
                vec!["message_size_limit=2000".to_string()],
            ];
            match Postfix::start_with(listeners) {
                Ok(Some(p)) => Some(p),
                Ok(None) => {
                    let why = common::postfix::missing_requirements()
                        .unwrap_or_else(|| "postfix not installed".into());
                    if std::env::var("CI").is_ok_and(|v| v == "true") {
                        panic!("CI requires Postfix: {why}");
                    }
                    common::skips::skipped("swaks_parity limited Postfix", &why);
                    None
                }
                Err(e) => panic!("starting Postfix: {e}"),
            }
        })
        .as_ref()
}

#[test]
fn what_the_ehlo_answer_rules_out_is_refused_before_mail() {
    let Some(pf) = limited() else { return };
    let hidden = pf.extra_ports[0];
    let small = pf.extra_ports[1];
    let envelope = [
        "--tls",
        "none",
        "--from",
        "sender@outside.example.net",
        "--to",
        "postmaster@lab.example",
    ];
    let big = "x".repeat(5000);
    let cases: Vec<(&str, u16, Vec<&str>, &str)> = vec![
        (
            "127.0.0.51",
            hidden,
            vec!["--bdat"],
            "does not advertise CHUNKING",
        ),
        (
            "127.0.0.52",
            hidden,
            vec!["--dsn-notify", "success,failure"],
            "does not advertise DSN",
        ),
        (
            "127.0.0.53",
            hidden,
            vec!["--body", "Grüße aus Köln"],
            "holds 8-bit bytes and the server does not advertise 8BITMIME",
        ),
        (
            "127.0.0.54",
            small,
            vec!["--body", &big],
            "the server takes at most 2000 (SIZE)",
        ),
    ];
    for (local, port, extra, says) in cases {
        let mut args = envelope.to_vec();
        args.extend(extra);
        let (code, out, err) = output(&mut session(pf, port, local, &args));
        assert_eq!(code, 12, "{args:?}: {out}{err}");
        assert!(out.contains(says), "{args:?}: {out}");
        assert!(!out.contains("C: MAIL"), "{args:?}: {out}");
        assert_eq!(
            counters(&disconnect_line(pf, local)),
            "ehlo=1 quit=1 commands=2",
            "{args:?}: refused before MAIL"
        );
    }
    // The control: --force sends the 8-bit body anyway, and it arrives.
    let marker = unique("forced-8bit");
    let body = format!("{marker} Grüße");
    let mut args = envelope.to_vec();
    args.extend(["--force", "--body", &body]);
    let (code, out, err) = output(&mut session(pf, hidden, "127.0.0.55", &args));
    assert_eq!(code, 0, "{out}{err}");
    pf.wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
}

/// An 8-bit body to a server that offers 8BITMIME is declared BODY=8BITMIME (RFC 6152).
#[test]
fn an_8bit_body_is_declared_8bitmime() {
    let Some(pf) = shared("an_8bit_body_is_declared_8bitmime") else {
        return;
    };
    let marker = unique("8bit");
    let body = format!("{marker}: Grüße aus Köln\n");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.56",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--body",
            &body,
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("C: MAIL FROM:<sender@outside.example.net> BODY=8BITMIME"),
        "{out}"
    );
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
    assert!(String::from_utf8_lossy(&got).contains("Grüße aus Köln"));
}

// ---------------------------------------------------------------------------------------------
// 5. --quit-after connect and tls, as swaks.

#[test]
fn quit_after_connect_quits_after_the_banner_and_tls_sends_no_second_ehlo() {
    let Some(pf) = shared("quit_after_connect_quits_after_the_banner_and_tls_sends_no_second_ehlo")
    else {
        return;
    };
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.57",
        &["--quit-after", "connect"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("S: 220"), "{out}");
    assert!(
        out.contains("stopping after connect (--quit-after): QUIT"),
        "{out}"
    );
    assert!(out.contains("C: QUIT"), "{out}");
    assert_eq!(
        counters(&disconnect_line(pf, "127.0.0.57")),
        "quit=1 commands=1"
    );

    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.58",
        &["--quit-after", "tls"],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("TLS established"), "{out}");
    assert!(!out.contains("tls C: EHLO"), "{out}");
    assert_eq!(
        counters(&disconnect_line(pf, "127.0.0.58")),
        "ehlo=1 starttls=1 quit=1 commands=3"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. The PROXY v2 header on one line.

#[test]
fn the_proxy_v2_header_is_one_line_in_the_transcript() {
    let Some(pf) = shared("the_proxy_v2_header_is_one_line_in_the_transcript") else {
        return;
    };
    let (code, out, err) = output(&mut session(
        pf,
        pf.proxy_port,
        "127.0.0.59",
        &[
            "--proxy",
            "v2",
            "--proxy-source",
            "192.0.2.7:4000",
            "--quit-after",
            "ehlo",
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let expected = format!(
        " C: [PROXY v2 header, 28 bytes: PROXY TCP4 192.0.2.7:4000 → 127.0.0.1:{}]",
        pf.proxy_port
    );
    let sent: Vec<&str> = out.lines().filter(|l| l.contains(" C: ")).collect();
    assert!(
        sent.first().is_some_and(|l| l.ends_with(&expected)),
        "{out}"
    );
    let before_banner: Vec<&str> = out
        .lines()
        .take_while(|l| !l.contains(" S: 220"))
        .filter(|l| l.contains(" C: "))
        .collect();
    assert_eq!(before_banner.len(), 1, "one line before the banner: {out}");
    // Postfix took it: the session is logged as from the header's source.
    assert!(pf.log().contains("[192.0.2.7]"), "{}", pf.log_tail(20));
}

// ---------------------------------------------------------------------------------------------
// 7. Comma lists, --cc and --bcc.

#[test]
fn comma_lists_cc_and_bcc_each_give_a_rcpt() {
    let Some(pf) = shared("comma_lists_cc_and_bcc_each_give_a_rcpt") else {
        return;
    };
    let marker = unique("comma");
    let subject = format!("Subject: {marker}");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.60",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "alice@lab.example,bob@lab.example",
            "--bcc",
            "postmaster@lab.example",
            "--header",
            &subject,
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    for rcpt in ["alice", "bob", "postmaster"] {
        assert!(
            out.contains(&format!("C: RCPT TO:<{rcpt}@lab.example>")),
            "{rcpt}: {out}"
        );
    }
    assert!(
        counters(&disconnect_line(pf, "127.0.0.60")).contains("rcpt=3"),
        "{}",
        pf.log_tail(10)
    );
    for mailbox in ["alice", "bob", "postmaster"] {
        let got = pf
            .wait_for_message_containing(mailbox, marker.as_bytes(), Duration::from_secs(15))
            .unwrap();
        let headers = header_section(&got);
        assert!(
            headers.contains("To: <alice@lab.example>, <bob@lab.example>"),
            "{headers}"
        );
        assert_eq!(count_headers(&headers, "Cc"), 0, "{headers}");
        assert!(
            !headers
                .lines()
                .any(|l| l.starts_with("To:") && l.contains("postmaster")),
            "Bcc stays out of the headers: {headers}"
        );
    }

    let marker = unique("cc");
    let subject = format!("Subject: {marker}");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.61",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "alice@lab.example",
            "--cc",
            "bob@lab.example",
            "--header",
            &subject,
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let got = pf
        .wait_for_message_containing("bob", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
    assert!(header_section(&got).contains("Cc: <bob@lab.example>"));
}

// ---------------------------------------------------------------------------------------------
// Missing features: --data-file -, --dump-mail, --tls-get-peer-cert, --output-file,
// --tls-optional.

#[test]
fn data_from_standard_input_is_delivered_byte_for_byte() {
    let Some(pf) = shared("data_from_standard_input_is_delivered_byte_for_byte") else {
        return;
    };
    let marker = unique("stdin");
    let body = format!(
        "Subject: stdin\r\nMessage-ID: <{marker}@probe.test>\r\n\r\n.leading dot\r\n.\r\nnot the end\r\nlast line\r\n"
    );
    let (code, out, err) = output(
        session(
            pf,
            pf.relaxed_port,
            "127.0.0.62",
            &[
                "--from",
                "sender@outside.example.net",
                "--to",
                "postmaster@lab.example",
                "--data-file",
                "-",
            ],
        )
        .write_stdin(body.clone()),
    );
    assert_eq!(code, 0, "{out}{err}");
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
    let text = String::from_utf8_lossy(&got);
    let start = text.find("Subject: stdin").expect("our headers");
    assert_eq!(&text[start..], body.replace("\r\n", "\n"), "{text}");
}

#[test]
fn dump_mail_prints_the_message_and_opens_no_connection() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        &addr,
        "--helo",
        "probe.test",
        "--to",
        "a@x.test,b@y.test",
        "--header",
        "Subject: dumped",
        "--body",
        "first\n.dot line\nlast",
        "--auth",
        "plain",
        "--user",
        "bob",
        "--password-env",
        "SMTPSCOPE_SURELY_UNSET_FOR_DUMP",
        "--dump-mail",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&"Subject: dumped"), "{out}");
    assert!(lines.contains(&"To: <a@x.test>, <b@y.test>"), "{out}");
    assert!(lines.contains(&"..dot line"), "dot-stuffing shown: {out}");
    assert_eq!(lines.last(), Some(&"."), "the final dot: {out}");
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("--dump-mail connected: {other:?}"),
    }
}

#[test]
fn peer_chain_and_transcript_go_to_files() {
    let Some(pf) = shared("peer_chain_and_transcript_go_to_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain.pem");
    let transcript = dir.path().join("transcript.txt");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.63",
        &[
            "--quit-after",
            "ehlo",
            "--tls-get-peer-cert",
            &chain.display().to_string(),
            "--output-file",
            &transcript.display().to_string(),
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !out.contains("S: 220"),
        "the transcript went to the file: {out}"
    );
    let text = std::fs::read_to_string(&transcript).unwrap();
    assert!(text.contains(" S: 220 "), "{text}");
    assert!(text.contains("written to"), "{text}");
    assert!(text.ends_with("=== session complete (exit 0)\n"), "{text}");
    let pem = std::fs::read(&chain).unwrap();
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!certs.is_empty(), "{}", String::from_utf8_lossy(&pem));
    assert!(
        certs[0].windows(9).any(|w| w == b"localhost"),
        "the leaf first"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in [&chain, &transcript] {
        let mode = std::fs::metadata(f).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", f.display());
    }
}

#[test]
fn tls_optional_goes_on_in_cleartext_after_a_failed_handshake() {
    let Some(pf) = shared("tls_optional_goes_on_in_cleartext_after_a_failed_handshake") else {
        return;
    };
    // Without the fixture's CA, the certificate does not verify.
    let args = |local: &str, marker: &str, optional: bool| {
        let mut cmd = smtpscope();
        cmd.args([
            "session",
            "--server",
            &format!("127.0.0.1:{}", pf.relaxed_port),
            "--local-address",
            local,
            "--helo",
            "probe.test",
            "--trust",
            "mozilla",
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--header",
            &format!("Subject: {marker}"),
        ]);
        if optional {
            cmd.arg("--tls-optional");
        }
        cmd
    };
    let (code, out, err) = output(&mut args("127.0.0.64", "never-sent", false));
    assert_eq!(code, 4, "{out}{err}");

    let marker = unique("tlso");
    let (code, out, err) = output(&mut args("127.0.0.65", &marker, true));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("going on in cleartext on a new connection (--tls-optional)"),
        "{out}"
    );
    assert!(!out.contains("tls C: MAIL"), "{out}");
    pf.wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// 8. Wording.

#[test]
fn a_password_given_as_a_variable_name_is_not_echoed() {
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        "127.0.0.1:9",
        "--auth",
        "plain",
        "--user",
        "bob",
        "--password-env",
        "hunter2",
    ]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("is not set"), "{err}");
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{out}{err}"
    );
}

#[test]
fn auth_password_points_at_the_password_sources() {
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        "127.0.0.1:9",
        "--auth-password",
        "hunter2",
    ]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("--password-env VAR"), "{err}");
    assert!(!err.contains("a similar argument exists"), "{err}");
}

#[test]
fn cli_errors_do_not_speak_of_raw_lines() {
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        "127.0.0.1:9",
        "--to",
        "a\u{1}b@x.test",
    ]));
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("control character"), "{err}");
    assert!(!err.contains("hand-typed"), "{err}");
}

#[test]
fn socket_sessions_log_the_socket_path() {
    let Some(pf) = shared("socket_sessions_log_the_socket_path") else {
        return;
    };
    let socket = pf.unix_socket().display().to_string();
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--socket",
        &socket,
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--quit-after",
        "banner",
    ]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("-- connecting to {socket}")), "{out}");
    assert!(!out.contains("localhost:25"), "{out}");
}

#[test]
fn an_unreachable_socks_proxy_is_named_as_the_proxy() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        "mail.example.test:25",
        "--socks5",
        &format!("127.0.0.1:{port}"),
        "--timeout",
        "5",
    ]));
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        format!("{out}{err}").contains(&format!("connection to the SOCKS5 proxy 127.0.0.1:{port}"))
            && out.contains("refused"),
        "{out}{err}"
    );
}

#[test]
fn an_xclient_syntax_error_gets_no_authorisation_hint() {
    let server = FakeServer::start(None, false, |peer: &mut Peer| {
        greet(peer, &["XCLIENT NAME ADDR"]);
        peer.expect("XCLIENT");
        peer.send(b"501 5.5.4 Bad XCLIENT attribute name: FOO\r\n");
        peer.expect("QUIT");
        peer.send(b"221 bye\r\n");
        peer.close();
    });
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--server",
        &server.addr(),
        "--tls",
        "none",
        "--helo",
        "probe.test",
        "--timeout",
        "5",
        "--xclient",
        "ADDR=192.0.2.7",
    ]));
    server.finish();
    assert_eq!(code, 10, "{out}{err}");
    assert!(out.contains("XCLIENT refused: 501 5.5.4"), "{out}");
    assert!(!out.contains("smtpd_authorized_xclient_hosts"), "{out}");
}

#[test]
fn a_tab_is_allowed_in_a_header_value() {
    let Some(pf) = shared("a_tab_is_allowed_in_a_header_value") else {
        return;
    };
    let marker = unique("tab");
    let header = format!("X-Folded: {marker}\tafter a tab");
    let (code, out, err) = output(&mut session(
        pf,
        pf.relaxed_port,
        "127.0.0.66",
        &[
            "--from",
            "sender@outside.example.net",
            "--to",
            "postmaster@lab.example",
            "--header",
            &header,
        ],
    ));
    assert_eq!(code, 0, "{out}{err}");
    let got = pf
        .wait_for_message_containing("postmaster", marker.as_bytes(), Duration::from_secs(15))
        .unwrap();
    assert!(header_section(&got).contains(&header), "{got:?}");
    // Other control bytes are still refused.
    let (code, _, err) = output(smtpscope().args([
        "session",
        "--server",
        "127.0.0.1:9",
        "--to",
        "a@x.test",
        "--header",
        "X-Bad: a\u{1b}b",
    ]));
    assert_eq!(code, 2, "{err}");
}

/// As swaks: an `--attach-type` holds for the attachments after it, an `--attach-name` for the
/// next one only (seen in the message `--dump-mail` prints).
#[test]
fn attach_type_and_name_apply_as_in_swaks() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.bin");
    let b = dir.path().join("b.bin");
    let c = dir.path().join("c.bin");
    for f in [&a, &b, &c] {
        std::fs::write(f, "data").unwrap();
    }
    let (a, b, c) = (
        a.display().to_string(),
        b.display().to_string(),
        c.display().to_string(),
    );
    let (code, out, err) = output(smtpscope().args([
        "session",
        "--to",
        "x@y.test",
        "--dump-mail",
        "--attach",
        &a,
        "--attach-type",
        "text/csv",
        "--attach-name",
        "renamed.csv",
        "--attach",
        &b,
        "--attach",
        &c,
    ]));
    assert_eq!(code, 0, "{out}{err}");
    let parts: Vec<&str> = out.split("Content-Disposition: attachment").collect();
    assert_eq!(parts.len(), 4, "{out}");
    // Each part's Content-Type line comes just before its Content-Disposition.
    let type_of = |i: usize| {
        parts[i]
            .lines()
            .rev()
            .find(|l| l.starts_with("Content-Type:"))
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(
        type_of(0),
        "Content-Type: application/octet-stream",
        "{out}"
    );
    assert_eq!(type_of(1), "Content-Type: text/csv", "{out}");
    assert_eq!(type_of(2), "Content-Type: text/csv", "{out}");
    assert!(parts[1].contains("filename=\"a.bin\""), "{out}");
    assert!(parts[2].contains("filename=\"renamed.csv\""), "{out}");
    assert!(parts[3].contains("filename=\"c.bin\""), "{out}");
    // A type that is not type/subtype is a usage error.
    let (code, _, err) = output(smtpscope().args([
        "session",
        "--to",
        "x@y.test",
        "--dump-mail",
        "--attach-type",
        "text",
        "--attach",
        &a,
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("type/subtype"), "{err}");
}
