//! The whole app (update, view, worker) driven by key messages against a practice lab server
//! in-process, on a TestBackend, waiting for what the screen shows.

#![allow(clippy::expect_used, clippy::unwrap_used)] // test code: a failed setup should panic loudly

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use smtpscope::lab::{Lab, LabConfig, Policy};
use smtpscope::scenario::Catalogue;
use smtpscope::tui::message::Message;
use smtpscope::tui::state::{ProfileEntry, State};
use smtpscope::tui::view::Theme;
use smtpscope::tui::{AppIo, lab_profile, run_app, worker::Worker};
use tokio::sync::{mpsc, watch};
use tokio_stream_shim::ReceiverStream;

mod tokio_stream_shim {
    //! A tiny Stream over an mpsc receiver, so the test can feed keys.
    use std::pin::Pin;
    use std::task::{Context, Poll};
    pub struct ReceiverStream<T>(pub tokio::sync::mpsc::UnboundedReceiver<T>);
    impl<T> futures::Stream for ReceiverStream<T> {
        type Item = T;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            self.0.poll_recv(cx)
        }
    }
}

async fn wait_for(screen: &mut watch::Receiver<String>, needle: &str) -> String {
    wait_until(screen, needle, true).await
}

/// The first screen on which `needle` is shown (`present`) or no longer shown.
async fn wait_until(screen: &mut watch::Receiver<String>, needle: &str, present: bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = screen.borrow_and_update().clone();
        if text.contains(needle) == present {
            return text;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(
            !left.is_zero(),
            "{needle:?} never {}; last screen:\n{text}",
            if present { "appeared" } else { "went away" }
        );
        let _ = tokio::time::timeout(left, screen.changed()).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_through_a_on_open_and_secure_labs() {
    let mut labs = Vec::new();
    let mut profiles = Vec::new();
    for (policy, name) in [
        (Policy::OpenRelay, "lab-open"),
        (Policy::Secure, "lab-secure"),
    ] {
        let lab = Lab::start(
            LabConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                policy,
                misbehave: vec![],
                store_dir: None,
            },
            None,
        )
        .await
        .expect("lab");
        profiles.push(ProfileEntry {
            name: name.into(),
            profile: lab_profile(&lab),
            saved: false,
        });
        if policy == Policy::Secure {
            let mut bad = lab_profile(&lab);
            bad.relay.local_recipient = Some("nobody@lab.example".into());
            profiles.push(ProfileEntry {
                name: "bad-control".into(),
                profile: bad,
                saved: false,
            });
        }
        labs.push(lab);
    }
    let catalogue = Catalogue::built_in()
        .entries
        .into_iter()
        .map(|e| e.scenario)
        .collect();
    let state = State::new(profiles, catalogue);
    let export_dir = tempfile::tempdir().expect("tempdir");
    let mut app = App::start_with(state, None, Some(export_dir.path()));

    app.wait_for("lab-open").await;
    app.press(KeyCode::Enter);
    app.wait_for("\n│MAIL FROM:<relay-test@outside.example.net>")
        .await;
    app.press(KeyCode::Enter);
    app.wait_for("\n│RCPT TO:<relay-test@elsewhere.example.org>")
        .await;
    app.press(KeyCode::Enter);
    let s = app.wait_for("FAIL:").await;
    assert!(s.contains("250 2.1.5 Ok"), "{s}");

    // p lists the profiles; the next one down is lab-secure.
    app.press(KeyCode::Char('p'));
    app.press(KeyCode::Down);
    app.press(KeyCode::Enter);
    app.wait_for(" lab-secure (in memory) │").await;
    app.press(KeyCode::Enter);
    app.wait_for("\n│MAIL FROM:<relay-test@outside.example.net>")
        .await;
    app.press(KeyCode::Enter);
    app.wait_for("\n│RCPT TO:<relay-test@elsewhere.example.org>")
        .await;
    app.press(KeyCode::Enter);
    let s = app.wait_for("PASS:").await;
    assert!(s.contains("554 5.7.1"), "{s}");
    assert!(
        s.contains("unauth-relay PASS"),
        "the picker shows the last verdict: {s}"
    );

    // A "local" recipient the server refuses: the control fails, so A proves nothing.
    app.press(KeyCode::Char('p'));
    app.press(KeyCode::Down);
    app.press(KeyCode::Enter);
    app.wait_for(" bad-control (in memory) │").await;
    app.press(KeyCode::Enter);
    app.wait_for("\n│MAIL FROM:<relay-test@outside.example.net>")
        .await;
    app.press(KeyCode::Enter);
    app.wait_for("\n│RCPT TO:<relay-test@elsewhere.example.org>")
        .await;
    app.press(KeyCode::Enter);
    let s = app.wait_for("INCONCLUSIVE:").await;
    assert!(s.contains("proves nothing"), "{s}");

    // Back on lab-open, the picker shows lab-open's own verdict, not the last one run.
    app.press(KeyCode::Char('p'));
    app.press(KeyCode::Char('k'));
    app.press(KeyCode::Up);
    app.press(KeyCode::Enter);
    let s = app.wait_for(" lab-open (in memory) │").await;
    assert!(
        s.contains("unauth-relay FAIL"),
        "each profile keeps its verdicts: {s}"
    );

    // Hand-typed commands on a fresh connection, and an export.
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    for c in "NOOP".chars() {
        app.press(KeyCode::Char(c));
    }
    app.press(KeyCode::Enter);
    app.wait_for("C: NOOP").await;
    app.wait_for("S: 250 2.0.0 Ok").await;
    app.press(KeyCode::F(8));
    let s = app.wait_for("6 session records written to").await;
    let written: Vec<_> = std::fs::read_dir(export_dir.path())
        .expect("dir")
        .flatten()
        .collect();
    // One record per session: A on each of the three profiles, the local-delivery control
    // that followed each refusal (lab-secure, bad-control), and the one typed by hand.
    assert_eq!(written.len(), 6, "{s}");
    let texts: Vec<String> = written
        .iter()
        .map(|e| std::fs::read_to_string(e.path()).expect("export"))
        .collect();
    let typed: Vec<&String> = texts.iter().filter(|t| t.contains("C: NOOP")).collect();
    assert_eq!(
        typed.len(),
        1,
        "the hand-typed session is a record of its own"
    );
    assert!(typed[0].contains("# profile: lab-open\n"), "{}", typed[0]);
    assert!(!typed[0].contains("RCPT TO"), "{}", typed[0]);

    app.quit().await;
    drop(labs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_leaves_the_ui_responsive_and_esc_aborts() {
    let lab = Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy: Policy::Secure,
            misbehave: vec![smtpscope::lab::Misbehaviour::SlowBanner],
            store_dir: None,
        },
        None,
    )
    .await
    .expect("lab");
    let catalogue = Catalogue::built_in()
        .entries
        .into_iter()
        .map(|e| e.scenario)
        .collect();
    let state = State::new(
        vec![ProfileEntry {
            name: "slow".into(),
            profile: lab_profile(&lab),
            saved: false,
        }],
        catalogue,
    );
    let mut app = App::start(state);
    app.press(KeyCode::Enter);
    app.wait_for("waiting for the server").await;
    // The banner takes 5 s; the UI answers meanwhile: the help opens and closes while the
    // connection is still waiting for it (seen on the screen, not timed).
    app.press(KeyCode::F(1));
    app.wait_for("Keys (Up/Down").await;
    // Esc closes the help (only Esc or q do), the next Esc aborts.
    app.press(KeyCode::Char('x'));
    app.press(KeyCode::Esc);
    let behind = app.wait_for_gone("Keys (Up/Down").await;
    assert!(
        behind.contains("waiting for the server"),
        "the help came and went before the banner:\n{behind}"
    );
    app.press(KeyCode::Esc);
    app.wait_for("aborted").await;
    app.quit().await;
}

/// The app on a TestBackend with its worker, driven by keys.
struct App {
    keys: mpsc::UnboundedSender<Message>,
    screen: watch::Receiver<String>,
    app: tokio::task::JoinHandle<Result<(), smtpscope::tui::AppError<std::convert::Infallible>>>,
}

impl App {
    fn start(state: State) -> App {
        App::start_with(state, None, None)
    }

    /// With the run history kept in `history`, and records exported to `exports`.
    fn start_with(
        state: State,
        history: Option<&std::path::Path>,
        exports: Option<&std::path::Path>,
    ) -> App {
        let mut state = state;
        let (keys, key_rx) = mpsc::unbounded_channel();
        let (effect_tx, effect_rx) = mpsc::unbounded_channel();
        let (net_tx, net_rx) = mpsc::unbounded_channel();
        let (abort_tx, abort_rx) = watch::channel(0u64);
        let (draw_tx, screen) = watch::channel(String::new());
        let exports = exports.map_or_else(std::env::temp_dir, std::path::Path::to_path_buf);
        let mut worker = Worker::new(net_tx, exports);
        if let Some(dir) = history {
            worker = worker.with_history(smtpscope::history::History::new(dir));
        }
        tokio::spawn(worker.run(effect_rx, abort_rx));
        let app = tokio::spawn(async move {
            let mut terminal = Terminal::new(TestBackend::new(120, 35)).expect("terminal");
            let io = AppIo {
                effects: effect_tx,
                abort: abort_tx,
                net: net_rx,
                on_draw: Some(draw_tx),
                clipboard: None,
            };
            run_app(
                &mut terminal,
                &mut state,
                ReceiverStream(key_rx),
                io,
                Theme { color: false },
                Vec::new(),
            )
            .await
        });
        App { keys, screen, app }
    }

    fn press(&self, code: KeyCode) {
        self.press_with(code, KeyModifiers::NONE);
    }

    fn press_with(&self, code: KeyCode, mods: KeyModifiers) {
        self.keys
            .send(Message::Key(KeyEvent::new(code, mods)))
            .expect("app alive");
    }

    fn type_text(&self, text: &str) {
        for c in text.chars() {
            self.press(KeyCode::Char(c));
        }
    }

    async fn wait_for(&mut self, needle: &str) -> String {
        wait_for(&mut self.screen, needle).await
    }

    async fn wait_for_gone(&mut self, needle: &str) -> String {
        wait_until(&mut self.screen, needle, false).await
    }

    async fn quit(self) {
        self.press_with(KeyCode::Char('c'), KeyModifiers::CONTROL);
        tokio::time::timeout(Duration::from_secs(5), self.app)
            .await
            .expect("quits")
            .expect("joins")
            .expect("no error");
    }
}

async fn lab(policy: Policy) -> Lab {
    Lab::start(
        LabConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            policy,
            misbehave: vec![],
            store_dir: None,
        },
        None,
    )
    .await
    .expect("lab")
}

fn catalogue() -> Vec<smtpscope::scenario::Scenario> {
    Catalogue::built_in()
        .entries
        .into_iter()
        .map(|e| e.scenario)
        .collect()
}

fn in_memory(name: &str, profile: smtpscope::profile::Profile) -> ProfileEntry {
    ProfileEntry {
        name: name.into(),
        profile,
        saved: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_profile_closes_the_old_connection() {
    let open = lab(Policy::OpenRelay).await;
    let secure = lab(Policy::Secure).await;
    let state = State::new(
        vec![
            in_memory("lab-open", lab_profile(&open)),
            in_memory("lab-secure", lab_profile(&secure)),
        ],
        catalogue(),
    );
    let mut app = App::start(state);
    app.wait_for("lab-open").await;
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    app.type_text("NOOP");
    app.press(KeyCode::Enter);
    app.wait_for(&format!("connected to {}", open.addr)).await;
    app.wait_for("S: 250 2.0.0 Ok").await;
    app.wait_for(&format!(" lab-open (in memory) │ {} │ greeted", open.addr))
        .await;
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('p'));
    app.press(KeyCode::Down);
    app.press(KeyCode::Enter);
    app.wait_for(&format!(
        " lab-secure (in memory) │ {} │ not connected │ no TLS │ not authenticated",
        secure.addr
    ))
    .await;
    // The next command opens a connection to lab-secure, not the old one to lab-open.
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    app.type_text("NOOP");
    app.press(KeyCode::Enter);
    app.wait_for(&format!("connected to {}", secure.addr)).await;
    // The worker's news is shown again once its abort is done: the new connection's state.
    app.wait_for(&format!(
        " lab-secure (in memory) │ {} │ greeted",
        secure.addr
    ))
    .await;
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_password_env_asks_for_the_password() {
    let secure = lab(Policy::Secure).await;
    let mut profile = lab_profile(&secure);
    let auth = profile.auth.as_mut().expect("the lab profile has [auth]");
    auth.password = None;
    auth.password_env = Some("SMTPSCOPE_TUI_APP_NEVER_SET".into());
    let bob = smtpscope::lab::policy::USERS
        .iter()
        .find(|u| u.name == auth.username)
        .expect("a lab user");
    let state = State::new(vec![in_memory("env-unset", profile)], catalogue());
    let mut app = App::start(state);
    app.wait_for("env-unset").await;
    app.press(KeyCode::Down); // B authenticates
    app.press(KeyCode::Enter);
    app.wait_for("environment variable SMTPSCOPE_TUI_APP_NEVER_SET is not set: type the password")
        .await;
    app.type_text(bob.password);
    app.press(KeyCode::Enter);
    app.wait_for("Command: next step").await;
    app.press_with(KeyCode::Char('r'), KeyModifiers::CONTROL);
    let s = app.wait_for("PASS:").await;
    assert!(
        !s.contains(bob.password),
        "the password typed is never shown: {s}"
    );
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_n_skips_a_step_ctrl_x_resets_and_c_lists_what_the_server_offered() {
    let secure = lab(Policy::Secure).await;
    let state = State::new(
        vec![in_memory("lab-secure", lab_profile(&secure))],
        catalogue(),
    );
    let mut app = App::start(state);
    app.wait_for("lab-secure").await;
    // Nothing seen yet: both lists are empty.
    app.press(KeyCode::Char('c'));
    let s = app.wait_for("After TLS").await;
    assert_eq!(s.matches("(none seen yet)").count(), 2, "{s}");
    app.press(KeyCode::Esc);

    app.press(KeyCode::Enter); // A: unauthenticated relay
    app.wait_for("\n│MAIL FROM:<relay-test@outside.example.net>")
        .await;
    // Ctrl-N skips MAIL FROM: it is never sent, and RCPT is offered next.
    app.press_with(KeyCode::Char('n'), KeyModifiers::CONTROL);
    app.wait_for("\n│RCPT TO:<relay-test@elsewhere.example.org>")
        .await;
    app.press(KeyCode::Enter);
    let s = app.wait_for("INCONCLUSIVE:").await;
    assert!(
        s.contains("C: RCPT TO:<relay-test@elsewhere.example.org>"),
        "{s}"
    );
    assert!(
        !s.contains("C: MAIL FROM:<relay-test@outside.example.net>"),
        "a skipped step is not sent: {s}"
    );
    assert!(
        s.contains("S: 503"),
        "RCPT without MAIL is out of order: {s}"
    );

    // The run's capabilities, both before and inside TLS, are listed.
    app.press(KeyCode::Esc);
    app.press(KeyCode::Char('c'));
    let s = app.wait_for("After TLS").await;
    assert!(!s.contains("(none seen yet)"), "{s}");
    assert!(s.contains("STARTTLS"), "{s}");
    app.press(KeyCode::Esc);

    // Ctrl-X sends RSET, and the server's answer is shown.
    app.press_with(KeyCode::Char('x'), KeyModifiers::CONTROL);
    let s = app.wait_for("C: RSET").await;
    if !s.contains("S: 250 2.0.0 Ok") {
        app.wait_for("S: 250 2.0.0 Ok").await;
    }
    app.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_starttls_is_followed_by_a_prefilled_ehlo() {
    let secure = lab(Policy::Secure).await;
    let state = State::new(
        vec![in_memory("lab-secure", lab_profile(&secure))],
        catalogue(),
    );
    let mut app = App::start(state);
    app.wait_for("lab-secure").await;
    app.press(KeyCode::Tab);
    app.press(KeyCode::Tab);
    // A name of the operator's own, not the profile's probe.test: it is the one offered again.
    app.type_text("EHLO typed.test");
    app.press(KeyCode::Enter);
    app.wait_for("S: 250 ").await; // the EHLO reply's last line
    app.type_text("STARTTLS");
    app.press(KeyCode::Enter);
    // The handshake is done and the EHLO RFC 3207 requires waits in the editor.
    let s = app.wait_for("RFC 3207 requires a new EHLO").await;
    assert!(
        s.contains("│EHLO typed.test "),
        "the editor holds the EHLO: {s}"
    );
    app.press(KeyCode::Enter);
    // Sent inside TLS, the server now offers AUTH.
    app.wait_for("tls C: EHLO typed.test").await;
    app.wait_for("tls S: 250-AUTH").await;
    app.quit().await;
}

/// H: the profile's runs and what changed between them. The same profile name first points
/// at the open lab, then ("after the config change") at the secure one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shift_h_shows_the_runs_and_what_changed_after_a_config_change() {
    let open = lab(Policy::OpenRelay).await;
    let secure = lab(Policy::Secure).await;
    let history = tempfile::tempdir().expect("history dir");
    for (lab, verdict) in [
        (&open, "A  unauth-relay FAIL"),
        (&secure, "A  unauth-relay PASS"),
    ] {
        let state = State::new(vec![in_memory("mx", lab_profile(lab))], catalogue());
        let mut app = App::start_with(state, Some(history.path()), None);
        app.wait_for(" mx (in memory) ").await;
        app.press(KeyCode::Enter); // A
        app.wait_for("\n│MAIL FROM:<relay-test@outside.example.net>")
            .await;
        app.press_with(KeyCode::Char('r'), KeyModifiers::CONTROL);
        app.wait_for(verdict).await;
        app.quit().await;
    }
    let state = State::new(vec![in_memory("mx", lab_profile(&secure))], catalogue());
    let mut app = App::start_with(state, Some(history.path()), None);
    app.wait_for(" mx (in memory) ").await;
    app.press_with(KeyCode::Char('H'), KeyModifiers::SHIFT);
    let s = app.wait_for("History of mx").await;
    // Each run of A brings its control (local-delivery) along: two runs of each.
    assert!(s.contains("runs kept"), "{s}");
    assert!(s.contains("FAIL → PASS"), "A got better: {s}");
    assert!(s.contains("554 5.7.1"), "the reply that changed: {s}");
    app.press(KeyCode::Esc);
    app.quit().await;
}
