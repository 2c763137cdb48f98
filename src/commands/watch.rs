//! `smtpscope watch`: a summary of a mail log's relay denials, AUTH failures and pipelining
//! violations (exit 1 when a threshold was crossed), or with `--follow`, alerts as they
//! happen.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::cli::{WatchArgs, WatchFormat};
use crate::watch::Watch;
use crate::watch::event::Kind;
use crate::watch::follow::Follower;
use crate::watch::lines::for_each_line;
use crate::watch::syslog::Clock;
use crate::watch::tally::{KindTally, Tally, TopCounts};
use crate::watch::threshold::{Alert, AlertState, duration_text};

/// Exit codes: 0 no threshold crossed, 1 one was, 2 usage, 4 a log could not be read.
const CROSSED: u8 = 1;
const USAGE: u8 = 2;
const UNREADABLE: u8 = 4;

/// How often `--follow` looks for new lines.
const POLL: Duration = Duration::from_millis(250);

pub fn run(args: WatchArgs) -> u8 {
    let code = if args.follow {
        follow(&args)
    } else {
        summary(&args)
    };
    crate::terminal_text::exit_status(code)
}

/// The inputs: each FILE, or standard input for none or "-".
fn inputs(args: &WatchArgs) -> Vec<Option<&Path>> {
    if args.files.is_empty() {
        return vec![None];
    }
    args.files
        .iter()
        .map(|f| (f.as_os_str() != "-").then_some(f.as_path()))
        .collect()
}

fn summary(args: &WatchArgs) -> u8 {
    let mut watch = Watch::new(&args.threshold, args.baseline_window, Clock::now());
    let mut names = Vec::new();
    for input in inputs(args) {
        let read = match input {
            None => {
                names.push("standard input".to_string());
                let stdin = std::io::stdin();
                let mut lock = stdin.lock();
                for_each_line(&mut lock, |l| {
                    watch.line(l);
                })
            }
            Some(path) => {
                names.push(path.display().to_string());
                match open_log(path) {
                    Ok(mut reader) => for_each_line(&mut reader, |l| {
                        watch.line(l);
                    }),
                    Err(e) => Err(e),
                }
            }
        };
        if let Err(e) = read {
            crate::errln!(
                "smtpscope watch: cannot read {}: {e}",
                names.last().map_or("", String::as_str)
            );
            return UNREADABLE;
        }
    }
    // The windows still open at the end of the log are judged at its last line.
    if let Some(last) = watch.tally.last {
        watch.tick(last);
    }
    match args.format {
        WatchFormat::Human => crate::out!("{}", human(&watch, &names.join(", "), args.top)),
        WatchFormat::Json => crate::outln!(
            "{}",
            crate::terminal_text::json_text(&json(&watch, args.top).to_string())
        ),
    }
    if watch.crossed() { CROSSED } else { 0 }
}

/// A log file for reading: a regular file (a FIFO or device would never end), read through a
/// buffer. Its size is not bounded: it is streamed, and only counts are kept.
fn open_log(path: &Path) -> std::io::Result<std::io::BufReader<std::fs::File>> {
    let (file, _) = crate::bounded_read::open_regular(path).map_err(std::io::Error::other)?;
    Ok(std::io::BufReader::with_capacity(1 << 20, file))
}

fn follow(args: &WatchArgs) -> u8 {
    let paths: Vec<&Path> = match inputs(args).as_slice() {
        [Some(p)] => vec![*p],
        _ => {
            crate::errln!("smtpscope watch: --follow takes one log file (not standard input)");
            return USAGE;
        }
    };
    let path = paths[0];
    let mut follower = match Follower::open(path, args.from_start) {
        Ok(f) => f,
        Err(e) => {
            crate::errln!("smtpscope watch: cannot follow {}: {e}", path.display());
            return UNREADABLE;
        }
    };
    let mut watch = Watch::new(&args.threshold, args.baseline_window, Clock::now());
    if args.format == WatchFormat::Human {
        crate::errln!(
            "smtpscope watch: following {} ({}); Ctrl-C to stop",
            path.display(),
            if args.threshold.is_empty() {
                "no --threshold: counting only".to_string()
            } else {
                args.threshold
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        );
    }
    let started = Instant::now();
    let stop_at = args.duration.map(|d| started + Duration::from_secs(d));
    let interrupted = ctrl_c();
    let mut shown = 0;
    loop {
        let noticed = follower.poll(&mut |l| {
            watch.line(l);
        });
        match noticed {
            Ok(n) if n.rotated && args.format == WatchFormat::Human => {
                crate::errln!(
                    "smtpscope watch: {} was rotated; reading the new file",
                    path.display()
                );
            }
            Ok(n) if n.truncated && args.format == WatchFormat::Human => {
                crate::errln!(
                    "smtpscope watch: {} was truncated; reading from its start",
                    path.display()
                );
            }
            Ok(_) => {}
            Err(e) => {
                crate::errln!("smtpscope watch: reading {}: {e}", path.display());
                return UNREADABLE;
            }
        }
        // Windows also close while nothing is written: judged by the clock.
        watch.tick(jiff::Timestamp::now().as_second());
        while shown < watch.alerts.len() {
            let alert = &watch.alerts[shown];
            announce(alert, args);
            shown += 1;
        }
        if stop_at.is_some_and(|t| Instant::now() >= t)
            || interrupted.load(std::sync::atomic::Ordering::Relaxed)
        {
            break;
        }
        std::thread::sleep(POLL);
    }
    if args.format == WatchFormat::Human {
        crate::out!("{}", human(&watch, &path.display().to_string(), args.top));
    }
    if watch.crossed() { CROSSED } else { 0 }
}

/// Set on Ctrl-C (and SIGTERM, SIGHUP), so `--follow` ends with its summary rather than in
/// the middle of a line.
fn ctrl_c() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let set = std::sync::Arc::clone(&flag);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    if let Ok(runtime) = runtime {
        std::thread::spawn(move || {
            runtime.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    if let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
                        signal(SignalKind::interrupt()),
                        signal(SignalKind::terminate()),
                        signal(SignalKind::hangup()),
                    ) {
                        tokio::select! {
                            _ = int.recv() => {}
                            _ = term.recv() => {}
                            _ = hup.recv() => {}
                        }
                        set.store(true, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    set.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
        });
    }
    flag
}

/// Prints an alert and runs `--exec` with it in the environment.
fn announce(alert: &Alert, args: &WatchArgs) {
    match args.format {
        WatchFormat::Json => match serde_json::to_string(alert) {
            Ok(line) => crate::outln!("{}", crate::terminal_text::json_text(&line)),
            Err(e) => crate::errln!("smtpscope watch: cannot render an alert: {e}"),
        },
        WatchFormat::Human => crate::outln!("{}", alert_line(alert)),
    }
    if let Some(cmd) = &args.exec {
        run_exec(cmd, alert);
    }
}

pub fn alert_line(a: &Alert) -> String {
    let when = time_text(a.at);
    match a.state {
        AlertState::Crossed => format!(
            "ALERT {when}: {} {} within {}{} (threshold {}){}",
            a.count,
            kind_words(a.kind),
            duration_text(a.at - a.window_start + 1),
            a.usual
                .map(|u| format!(", usually {u:.1} in as long"))
                .unwrap_or_default(),
            a.threshold,
            a.top_client
                .as_deref()
                .map(|c| format!("; most from {c}"))
                .unwrap_or_default()
        ),
        AlertState::Cleared => format!(
            "CLEARED {when}: {} back under {} (peak {})",
            kind_words(a.kind),
            a.threshold,
            a.count
        ),
    }
}

fn kind_words(key: &str) -> &'static str {
    Kind::from_key(key).map_or("events", Kind::words)
}

/// `--exec`: the operator's command, run by `sh -c` as they wrote it; the alert reaches it
/// only through environment variables, never spliced into the command line, so log text
/// cannot become shell syntax.
fn run_exec(cmd: &str, a: &Alert) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env(
            "SMTPSCOPE_ALERT_STATE",
            match a.state {
                AlertState::Crossed => "crossed",
                AlertState::Cleared => "cleared",
            },
        )
        .env("SMTPSCOPE_ALERT_KIND", a.kind)
        .env("SMTPSCOPE_ALERT_COUNT", a.count.to_string())
        .env("SMTPSCOPE_ALERT_THRESHOLD", &a.threshold)
        .env("SMTPSCOPE_ALERT_AT", time_text(a.at))
        .env(
            "SMTPSCOPE_ALERT_CLIENT",
            a.top_client.as_deref().unwrap_or(""),
        )
        .stdin(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => crate::errln!("smtpscope watch: --exec command ended with {s}"),
        Err(e) => crate::errln!("smtpscope watch: cannot run --exec command: {e}"),
    }
}

fn time_text(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| secs.to_string())
}

/// Eight levels of a terminal sparkline.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` minutes of the log (fewer when it spans less), as a sparkline, with
/// their span and the busiest minute's count.
fn sparkline(tally: &Tally, kind: Kind, width: usize) -> Option<(String, i64, i64, u32)> {
    let last = *tally.per_minute.keys().next_back()?;
    let oldest = *tally.per_minute.keys().next()?;
    let first = (last - width as i64 + 1).max(oldest);
    let counts: Vec<u32> = (first..=last)
        .map(|m| tally.per_minute.get(&m).map_or(0, |c| c[kind.index()]))
        .collect();
    let max = *counts.iter().max()?;
    if max == 0 {
        return None;
    }
    let line = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                BARS[((c as usize * BARS.len()).div_ceil(max as usize)).clamp(1, BARS.len()) - 1]
            }
        })
        .collect();
    Some((line, first * 60, last * 60, max))
}

fn top_text(counts: &TopCounts, n: usize) -> String {
    let top = counts.top(n);
    if top.is_empty() {
        return "-".into();
    }
    let mut text = top
        .iter()
        .map(|(k, c)| format!("{k} ({c})"))
        .collect::<Vec<_>>()
        .join(", ");
    if counts.error_bound > 0 {
        text.push_str(&format!(
            " (counts may be up to {} short: {} rarer keys were let go)",
            counts.error_bound, counts.pruned
        ));
    }
    text
}

pub fn human(watch: &Watch, source: &str, top: usize) -> String {
    let t = &watch.tally;
    let mut out = format!(
        "smtpscope watch: {source}: {} line(s), {} not in a known log form",
        t.lines, t.not_understood
    );
    if let (Some(first), Some(last)) = (t.first, t.last) {
        out.push_str(&format!(", {} to {}", time_text(first), time_text(last)));
    }
    out.push('\n');
    for kind in Kind::ALL {
        let k: &KindTally = t.kind(kind);
        out.push_str(&format!("{:<28} {}\n", kind.words(), k.total));
        if k.total == 0 {
            continue;
        }
        out.push_str(&format!(
            "  by client              {}\n",
            top_text(&k.by_client, top)
        ));
        if k.by_sender.distinct() > 0 {
            out.push_str(&format!(
                "  by sender              {}\n",
                top_text(&k.by_sender, top)
            ));
        }
        if k.by_recipient_domain.distinct() > 0 {
            out.push_str(&format!(
                "  by recipient domain    {}\n",
                top_text(&k.by_recipient_domain, top)
            ));
        }
        if let Some((line, from, to, max)) = sparkline(t, kind, 60) {
            out.push_str(&format!(
                "  per minute, {} to {} (max {max}): |{line}|\n",
                time_text(from),
                time_text(to)
            ));
        }
    }
    if watch.alerts.is_empty() {
        out.push_str("no threshold crossed\n");
    } else {
        for a in &watch.alerts {
            out.push_str(&alert_line(a));
            out.push('\n');
        }
    }
    out
}

fn counts_json(c: &TopCounts, top: usize) -> serde_json::Value {
    serde_json::Value::Object(
        c.top(top)
            .into_iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::from(v)))
            .collect(),
    )
}

pub fn json(watch: &Watch, top: usize) -> serde_json::Value {
    let t = &watch.tally;
    let mut doc = serde_json::json!({
        "lines": t.lines,
        "not_understood": t.not_understood,
        "first": t.first.map(time_text),
        "last": t.last.map(time_text),
        "alerts": watch.alerts,
    });
    for kind in Kind::ALL {
        let k = t.kind(kind);
        doc[kind.key()] = serde_json::json!({
            "total": k.total,
            "by_client": counts_json(&k.by_client, top),
            "by_sender": counts_json(&k.by_sender, top),
            "by_recipient_domain": counts_json(&k.by_recipient_domain, top),
            "error_bound": k.by_client.error_bound
                .max(k.by_sender.error_bound)
                .max(k.by_recipient_domain.error_bound),
        });
    }
    doc
}
