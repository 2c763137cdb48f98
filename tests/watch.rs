//! `smtpscope watch` on what real servers log and on recorded samples of each log form: the
//! counts equal the probes sent, thresholds cross and clear (exit 1 and 0), `--follow` goes on
//! across rotation and truncation and runs `--exec` with the alert in its environment, and
//! hostile lines (escapes, a megabyte line, invalid UTF-8) are counted, never fatal, never
//! printed raw.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

fn watch(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .timeout(Duration::from_secs(60))
        .arg("watch")
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn watch_json(args: &[&str], stdin: &[u8]) -> (i32, Value) {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (code, out, err) = watch(&all, stdin);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, doc)
}

/// One sample of each form and server, as they log the four kinds.
const SAMPLES: &str = "\
Dec  7 05:06:50 mail postfix/smtpd[812]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<spam@outside.example> to=<x@evil.example> proto=ESMTP helo=<probe>
<22>1 2026-12-07T05:07:10.001+00:00 mail postfix/smtpd 812 - - NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <y@evil.example>: Relay access denied; from=<spam@outside.example> to=<y@evil.example> proto=ESMTP helo=<probe>
2026-12-07T05:07:20+0000 mail postfix/submission/smtpd[813]: warning: unknown[198.51.100.7]: SASL PLAIN authentication failed: authentication failure
2026-12-07T05:07:21+0000 mail postfix/smtpd[813]: lost connection after AUTH from unknown[198.51.100.7]
Dec  7 05:07:30 mail postfix/smtpd[814]: improper command pipelining after EHLO from unknown[192.0.2.55]: MAIL FROM:<a@b>\\r\\n
2026-12-07 05:08:00 H=(probe.test) [203.0.113.10] F=<spam@outside.example> rejected RCPT <z@other.example>: relay not permitted
2026-12-07 05:08:01 plain authenticator failed for (probe.test) [198.51.100.7]:40000 I=[127.0.0.1]:587: 535 Incorrect authentication data (set_id=bob)
Dec  7 05:08:10 mail smtpd[99]: 1a2b3c4d5e6f7a8b smtp connected address=192.0.2.77 host=probe.test
Dec  7 05:08:11 mail smtpd[99]: 1a2b3c4d5e6f7a8b smtp failed-command command=\"RCPT TO:<w@evil.example>\" result=\"550 Invalid recipient: <w@evil.example>\"
Dec  7 05:08:12 mail smtpd[99]: 1a2b3c4d5e6f7a8b smtp authentication user=bob result=permfail
Dec  7 05:08:13 mail postfix/smtpd[812]: connect from unknown[203.0.113.9]
this line is in no log form at all
";

#[test]
fn each_server_and_log_form_is_counted() {
    let (code, doc) = watch_json(&["-"], SAMPLES.as_bytes());
    assert_eq!(code, 0, "no threshold given, none crossed: {doc:#}");
    assert_eq!(doc["lines"], 12, "{doc:#}");
    assert_eq!(doc["not_understood"], 1, "{doc:#}");
    let relay = &doc["relay_denied"];
    assert_eq!(relay["total"], 4, "Postfix twice, Exim, OpenSMTPD: {doc:#}");
    assert_eq!(relay["by_client"]["203.0.113.9"], 2);
    assert_eq!(relay["by_client"]["203.0.113.10"], 1);
    assert_eq!(
        relay["by_client"]["192.0.2.77"], 1,
        "OpenSMTPD's session client"
    );
    assert_eq!(relay["by_sender"]["spam@outside.example"], 3);
    assert_eq!(relay["by_recipient_domain"]["evil.example"], 3);
    assert_eq!(relay["by_recipient_domain"]["other.example"], 1);
    let auth = &doc["auth_failed"];
    assert_eq!(auth["total"], 3, "{doc:#}");
    assert_eq!(auth["by_client"]["198.51.100.7"], 2);
    assert_eq!(auth["by_client"]["192.0.2.77"], 1);
    assert_eq!(doc["pipelining"]["total"], 1);
    assert_eq!(doc["pipelining"]["by_client"]["192.0.2.55"], 1);
    assert_eq!(doc["lost_after_auth"]["total"], 1);

    // The human summary: totals, top offenders, a sparkline, "no threshold crossed".
    let (code, out, _) = watch(&[], SAMPLES.as_bytes());
    assert_eq!(code, 0);
    assert!(
        out.contains("standard input: 12 line(s), 1 not in a known log form"),
        "{out}"
    );
    assert!(out.contains("203.0.113.9 (2)"), "{out}");
    assert!(out.contains("per minute"), "{out}");
    assert!(out.contains("no threshold crossed"), "{out}");
}

#[test]
fn thresholds_cross_and_clear_on_the_logs_own_time() {
    // Five denials within 40 s from one client, then quiet for ten minutes, then one more.
    let mut log = String::new();
    for s in [0, 10, 20, 30, 40] {
        log.push_str(&format!(
            "Dec  7 06:00:{s:02} mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<a@b> to=<x@evil.example> proto=ESMTP helo=<h>\n"
        ));
    }
    log.push_str("Dec  7 06:10:00 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[203.0.113.9]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<a@b> to=<x@evil.example> proto=ESMTP helo=<h>\n");
    let (code, doc) = watch_json(&["--threshold", "relay:5/1m"], log.as_bytes());
    assert_eq!(code, 1, "crossed: {doc:#}");
    let alerts = doc["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2, "crossed once, cleared once: {doc:#}");
    assert_eq!(alerts[0]["state"], "crossed");
    assert_eq!(alerts[0]["kind"], "relay_denied");
    assert_eq!(alerts[0]["count"], 5);
    assert_eq!(alerts[0]["top_client"], "203.0.113.9");
    assert_eq!(alerts[1]["state"], "cleared");
    // Six within an hour do not cross 10/1h; five do not cross 6/1m.
    let (code, doc) = watch_json(
        &["--threshold", "10/1h", "--threshold", "6/1m"],
        log.as_bytes(),
    );
    assert_eq!(code, 0, "{doc:#}");
    assert!(doc["alerts"].as_array().unwrap().is_empty());
    // The human line says what crossed and who sent most.
    let (code, out, _) = watch(&["--threshold", "relay:5/1m"], log.as_bytes());
    assert_eq!(code, 1);
    assert!(
        out.contains(
            "5 relay denied within 41s (threshold relay_denied:5/1m); most from 203.0.113.9"
        ),
        "{out}"
    );
    // A threshold in a form it does not know is a usage error saying the form.
    let (code, _, err) = watch(&["--threshold", "20 per minute"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("COUNT/DURATION"), "{err}");
}

#[test]
fn hostile_lines_are_counted_and_never_printed_raw() {
    let mut log = Vec::new();
    // A relay denial whose client field carries escapes and an OSC 52 clipboard write.
    log.extend_from_slice(b"Dec  7 05:06:50 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[\x1b]52;c;SGk=\x07\x1b[2J]: 554 5.7.1 <x@e>: Relay access denied; from=<\x1b[31mred@x> to=<x@e\x1b[0m> proto=ESMTP helo=<h>\n");
    log.extend(std::iter::repeat_n(b'A', 1024 * 1024));
    log.push(b'\n');
    log.extend_from_slice(b"Dec  7 05:06:51 mail postfix/smtpd[1]: \xff\xfe not UTF-8\n");
    log.extend_from_slice("Dec  7 05:06:52 mail postfix/smtpd[1]: lost connection after AUTH from unknown[\u{202e}1.2.3.4]\n".as_bytes());
    for format in ["human", "json"] {
        let (code, out, err) = watch(&["--format", format, "--top", "5"], &log);
        assert_eq!(code, 0, "{out}{err}");
        assert!(!out.contains('\u{1b}'), "{format}: raw ESC in {out:?}");
        assert!(!out.contains('\u{7}'), "{format}: raw BEL in {out:?}");
        assert!(
            !out.contains('\u{202e}'),
            "{format}: raw bidi override in {out:?}"
        );
        assert!(
            out.len() < 64 * 1024,
            "{format}: the megabyte line is not echoed"
        );
    }
    let (_, doc) = watch_json(&[], &log);
    assert_eq!(doc["lines"], 4);
    assert_eq!(
        doc["not_understood"], 2,
        "the long line and the non-UTF-8 one"
    );
    assert_eq!(doc["relay_denied"]["total"], 1);
    assert_eq!(doc["lost_after_auth"]["total"], 1);
}

#[test]
fn a_file_that_is_no_log_is_refused_clearly() {
    let (code, _, err) = watch(&["/dev/zero"], b"");
    assert_eq!(code, 4);
    assert!(
        err.contains("/dev/zero") && err.contains("not a regular file"),
        "{err}"
    );
    let (code, _, err) = watch(&["/nonexistent/mail.log"], b"");
    assert_eq!(code, 4);
    assert!(err.contains("/nonexistent/mail.log"), "{err}");
    let (code, _, err) = watch(&["--follow", "-"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("one log file"), "{err}");
}

/// Lines written now, in the journald short-iso form (the log's time is the clock's, so the
/// windows of `--follow` behave as in production).
fn denial_now(client: &str) -> String {
    let now = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S+0000");
    format!(
        "{now} mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[{client}]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<a@b> to=<x@evil.example> proto=ESMTP helo=<h>\n"
    )
}

#[test]
fn follow_goes_on_across_rotation_and_truncation_and_runs_exec() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mail.log");
    let exec_out = dir.path().join("exec.out");
    std::fs::write(&log, denial_now("198.51.100.1").repeat(10)).unwrap();
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("smtpscope"))
        .args([
            "watch",
            "--follow",
            "--format",
            "json",
            "--threshold",
            "relay:3/1m",
            "--duration",
            "60",
            "--exec",
            &format!(
                "printf '%s %s %s %s\\n' \"$SMTPSCOPE_ALERT_STATE\" \"$SMTPSCOPE_ALERT_KIND\" \"$SMTPSCOPE_ALERT_COUNT\" \"$SMTPSCOPE_ALERT_CLIENT\" >> {}",
                exec_out.display()
            ),
        ])
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_alert = |what: &str| -> Value {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no alert line for {what}"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    };
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(text.as_bytes()).unwrap();
    };
    // The ten lines already there are not read (as `tail -F`): two new ones do not cross.
    // The follower must have opened the file first: wait until it has (its first poll).
    std::thread::sleep(Duration::from_millis(500));
    append(&denial_now("203.0.113.9").repeat(2));
    // Rotated: renamed away, a new file under the name; the third denial is in the new file.
    std::fs::rename(&log, dir.path().join("mail.log.1")).unwrap();
    std::fs::write(&log, denial_now("203.0.113.9")).unwrap();
    let a = next_alert("the third denial, after rotation");
    assert_eq!(a["state"], "crossed", "{a}");
    assert_eq!(a["count"], 3, "{a}");
    assert_eq!(a["top_client"], "203.0.113.9", "{a}");
    // Truncated (copytruncate) and written again: read from the start, nothing lost.
    std::fs::write(&log, "").unwrap();
    std::thread::sleep(Duration::from_millis(600));
    append(&denial_now("192.0.2.1"));
    // The exec ran for the crossing, with the alert in its environment only.
    let deadline = Instant::now() + Duration::from_secs(20);
    let ran = loop {
        let text = std::fs::read_to_string(&exec_out).unwrap_or_default();
        if !text.is_empty() || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        ran.lines().next(),
        Some("crossed relay_denied 3 203.0.113.9"),
        "{ran}"
    );
    let _ = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "a threshold was crossed");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

/// What the real Postfix logs for relay attempts and a failed AUTH, counted: the relay
/// denials equal the RCPTs smtpscope saw refused with "Relay access denied", per client.
#[test]
fn postfix_log_counts_equal_the_probes_sent() {
    let Some(pf) = common::postfix::shared("watch_postfix") else {
        return;
    };
    let recipients = [
        "a@elsewhere.example.org",
        "b@elsewhere.example.org",
        "c@other.example.net",
    ];
    let mut args = vec![
        "session".to_string(),
        "--server".into(),
        format!("127.0.0.1:{}", pf.relaxed_port),
        "--ca-file".into(),
        pf.ca_pem_path.display().to_string(),
        "--tls-name".into(),
        "localhost".into(),
        "--helo".into(),
        "probe.test".into(),
        "--from".into(),
        "spam@outside.example.net".into(),
        "--quit-after".into(),
        "rcpt".into(),
    ];
    for r in recipients {
        args.push("--to".into());
        args.push(r.into());
    }
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .timeout(Duration::from_secs(60))
        .args(&args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let refused = text
        .lines()
        .filter(|l| l.contains("S: 554") && l.contains("Relay access denied"))
        .count();
    assert_eq!(refused, 3, "{text}");
    // A wrong password, after TLS.
    let out = Command::cargo_bin("smtpscope")
        .unwrap()
        .timeout(Duration::from_secs(60))
        .env("WRONG_PW", "not-the-password")
        .args([
            "session",
            "--server",
            &format!("127.0.0.1:{}", pf.relaxed_port),
            "--ca-file",
            &pf.ca_pem_path.display().to_string(),
            "--tls-name",
            "localhost",
            "--helo",
            "probe.test",
            "--auth",
            "plain",
            "--user",
            &pf.restricted_user,
            "--password-env",
            "WRONG_PW",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Postfix logs through postlogd, a moment later.
    let deadline = Instant::now() + Duration::from_secs(20);
    let log_path = pf.log_path();
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.matches("Relay access denied").count() >= refused
            && log.contains("authentication failed")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Postfix did not log in time:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (code, doc) = watch_json(&[log_path.to_str().unwrap()], b"");
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(
        doc["not_understood"], 0,
        "every Postfix line is in a known form: {doc:#}"
    );
    assert_eq!(doc["relay_denied"]["total"], 3, "{doc:#}");
    assert_eq!(doc["relay_denied"]["by_client"]["127.0.0.1"], 3, "{doc:#}");
    assert_eq!(
        doc["relay_denied"]["by_sender"]["spam@outside.example.net"],
        3
    );
    assert_eq!(
        doc["relay_denied"]["by_recipient_domain"]["elsewhere.example.org"],
        2
    );
    assert_eq!(doc["auth_failed"]["total"], 1, "{doc:#}");
    assert_eq!(doc["auth_failed"]["by_client"]["127.0.0.1"], 1);
}

/// `relay:5x/1m`: five times the usual rate, the usual rate taken over `--baseline-window`
/// before the window. An hour at three a minute, then twenty in one minute, crosses; the same
/// burst against a usual ten a minute does not.
#[test]
fn a_spike_over_the_usual_rate_crosses_and_a_busy_normal_does_not() {
    let line = |s: i64, client: &str| {
        format!(
            "2026-12-07T{:02}:{:02}:{:02}+0000 mail postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[{client}]: 554 5.7.1 <x@evil.example>: Relay access denied; from=<a@b> to=<x@evil.example> proto=ESMTP helo=<h>\n",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    };
    let log = |usual_per_minute: i64| {
        let mut text = String::new();
        for m in 0..60 {
            for k in 0..usual_per_minute {
                text.push_str(&line(m * 60 + k * 60 / usual_per_minute, "198.51.100.1"));
            }
        }
        for k in 0..20 {
            text.push_str(&line(3600 + k * 3, "203.0.113.9"));
        }
        text
    };
    let (code, doc) = watch_json(&["--threshold", "relay:5x/1m"], log(3).as_bytes());
    assert_eq!(code, 1, "{doc:#}");
    let alert = &doc["alerts"][0];
    assert_eq!(alert["state"], "crossed", "{doc:#}");
    assert_eq!(alert["threshold"], "relay_denied:5x/1m");
    assert_eq!(alert["top_client"], "203.0.113.9");
    let usual = alert["usual"].as_f64().unwrap();
    assert!((2.9..=3.1).contains(&usual), "{usual}");
    let (code, out, _) = watch(&["--threshold", "relay:5x/1m"], log(3).as_bytes());
    assert_eq!(code, 1);
    assert!(out.contains("usually 3.0 in as long"), "{out}");

    let (code, doc) = watch_json(&["--threshold", "relay:5x/1m"], log(10).as_bytes());
    assert_eq!(code, 0, "twice the usual is no spike: {doc:#}");
    // The baseline is a flag of its own, checked like a threshold's duration.
    let (code, _) = watch_json(
        &["--threshold", "relay:5x/1m", "--baseline-window", "30m"],
        log(3).as_bytes(),
    );
    assert_eq!(code, 1);
    let (code, _, err) = watch(&["--baseline-window", "2d"], b"");
    assert_eq!(code, 2);
    assert!(err.contains("from 1s to 24h"), "{err}");
}
