//! The network side of the TUI: a task that carries out effects (connect, step, send) and
//! reports back through a channel, so the screen never waits on a server.

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};

use std::sync::Arc;

use super::message::{Effect, NetEvent, Target};
use super::state::{CloseReason, ConnInfo, ConnPhase};
use crate::export::SessionRecord;
use crate::history::History;
use crate::net::{ConnectOptions, Connection, Idle, NetError};
use crate::profile::{Profile, ProfileError, ProfileStore};
use crate::report::TargetInfo;
use crate::run::{Input, RunEvent, ScenarioRun};
use crate::scenario::runner::StepKind;
use crate::scenario::{Context, Scenario};
use crate::smtp::command::Command;
use crate::target::{ResolvedTarget, RunOptions, TargetError};
use crate::transcript::Transcript;

type Sink = mpsc::UnboundedSender<NetEvent>;

/// What can go wrong on the network side, kept typed so the screen can react to the kind.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("profile {profile}: {}", source.explain(crate::advice::FrontEnd::Tui))]
    Target {
        profile: String,
        #[source]
        source: TargetError,
    },
    #[error(transparent)]
    Net(#[from] NetError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("the profile has no [auth] username: press e to edit it")]
    NoAuth,
    #[error(transparent)]
    Export(#[from] crate::export::ExportError),
    #[error("cannot delete {}: {source}", path.display())]
    Delete {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WorkerError {
    fn target(t: &Target, source: TargetError) -> WorkerError {
        WorkerError::Target {
            profile: t.profile_name.clone(),
            source,
        }
    }
}

/// The profile and toggles resolved exactly as `check` and `session` resolve a profile and
/// flags.
pub fn resolve(t: &Target) -> Result<ResolvedTarget, TargetError> {
    crate::target::resolve(
        Some((&t.profile_name, &t.profile)),
        &t.toggles.overrides(&t.profile, t.password.clone()),
    )
}

/// Where to connect: the server, or the most preferred MX host. Reads no secret.
async fn connect_options(t: &Target) -> Result<(ResolvedTarget, ConnectOptions), WorkerError> {
    let resolved = resolve(t).map_err(|e| WorkerError::target(t, e))?;
    let mut found = resolved
        .endpoints(false)
        .await
        .map_err(|e| WorkerError::target(t, e))?;
    if found.is_empty() {
        return Err(WorkerError::target(t, TargetError::NoServer));
    }
    let (_, mut opts) = found.remove(0);
    // Advice in errors names keys and profile fields, not flags.
    opts.front_end = crate::advice::FrontEnd::Tui;
    Ok((resolved, opts))
}

/// Everything a scenario run needs. The secret is read here, once per run, and only for a
/// scenario that authenticates: an unset password variable must not stop the others.
pub async fn context(t: &Target, needs_auth: bool) -> Result<Context, WorkerError> {
    let (resolved, opts) = connect_options(t).await?;
    let credentials = if needs_auth {
        resolved
            .read_credentials()
            .map_err(|e| WorkerError::target(t, e))?
    } else {
        None
    };
    let run = RunOptions {
        send_data: t.toggles.send_data,
        keep_transcripts: false,
        concurrency: 1,
        // The explorer sends each command at its Enter: nothing to pipeline.
        pipelining: false,
    };
    Ok(resolved.context(opts, credentials, run))
}

fn conn_info(conn: &Connection) -> ConnInfo {
    let s = conn.session();
    let caps = |c: Option<&crate::smtp::Capabilities>| {
        c.map(|c| {
            c.entries
                .iter()
                .map(|e| {
                    (
                        e.raw.clone(),
                        e.meaning()
                            .unwrap_or("not a keyword smtpscope knows (kept as sent)")
                            .to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
    };
    ConnInfo {
        phase: if conn.is_open() {
            ConnPhase::Open(s.phase())
        } else {
            ConnPhase::Closed(CloseReason::Ended)
        },
        tls: conn.tls_info().cloned().map(Box::new),
        tls_rejected: conn.tls_rejected().cloned().map(Box::new),
        auth: s.authenticated().map(str::to_string),
        caps_before: caps(s.capabilities_before_tls()),
        caps_after: caps(s.capabilities_after_tls()),
    }
}

/// Waits for what the server sends on the connection that is open and waiting for the
/// operator: the scenario run's, else the hand-typed one. Never resolves when there is none,
/// or when a command is waiting for its reply (the command path reads that). Cancel safe
/// (see [`Connection::idle_read`]). Returns what was heard and whether it was the run's.
async fn idle_read(manual: &mut Option<Kept>, driver: &mut Option<Driver>) -> (Idle, bool) {
    if let Some(conn) = driver
        .as_mut()
        .and_then(|d| d.run.connection_mut())
        .filter(|c| c.is_open() && !c.awaiting_reply())
    {
        return (conn.idle_read().await, true);
    }
    if let Some(k) = manual
        .as_mut()
        .filter(|k| k.conn.is_open() && !k.conn.awaiting_reply())
    {
        return (k.conn.idle_read().await, false);
    }
    std::future::pending().await
}

/// How often the watch pane's log is looked at: new lines show within this.
const WATCH_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Follows `path` from its start for the watch pane until `stop` is set, sending what it
/// says whenever it changed. On its own thread: file reads block, and a large log takes a
/// while to read the first time.
fn follow_log(path: &std::path::Path, tx: &Sink, stop: &std::sync::atomic::AtomicBool) {
    use crate::watch::snapshot::{LINES_KEPT, Snapshot};
    let source = path.display().to_string();
    let failed = |why: String| {
        let _ = tx.send(NetEvent::Watch(Box::new(Snapshot {
            source: source.clone(),
            error: Some(why),
            ..Snapshot::default()
        })));
    };
    let mut follower = match crate::watch::follow::Follower::open(path, true) {
        Ok(f) => f,
        Err(e) => return failed(format!("cannot read {source}: {e}")),
    };
    let mut watch = crate::watch::Watch::new(
        &[],
        crate::watch::threshold::DEFAULT_BASELINE_SECS,
        crate::watch::syslog::Clock::now(),
    );
    let mut recent: std::collections::VecDeque<(String, String)> =
        std::collections::VecDeque::new();
    let mut shown = None;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let polled = follower.poll(&mut |line| {
            watch.line(line);
            if let Some((_, client)) = watch.last_event.take() {
                recent.push_back((client, String::from_utf8_lossy(line).into_owned()));
                if recent.len() > LINES_KEPT {
                    recent.pop_front();
                }
            }
        });
        if let Err(e) = polled {
            return failed(format!("reading {source}: {e}"));
        }
        if shown != Some(watch.tally.lines) {
            shown = Some(watch.tally.lines);
            let snapshot = Snapshot::of(&watch, &source, &recent);
            if tx.send(NetEvent::Watch(Box::new(snapshot))).is_err() {
                return;
            }
        }
        std::thread::sleep(WATCH_POLL);
    }
}

/// A transcript whose entries go to the screen as they are recorded.
fn live_transcript(tx: &Sink) -> Transcript {
    let tx = tx.clone();
    let mut t = Transcript::new();
    t.observe(move |e| {
        let _ = tx.send(NetEvent::Entry(e.clone()));
    });
    t
}

/// A session's connection, kept (open or closed) so it can be exported as a record.
struct Kept {
    profile: String,
    /// The profile's `export_dir`, if it names one.
    export_dir: Option<PathBuf>,
    conn: Connection,
    /// The scenario run it belonged to (its serial number), if any.
    run: Option<u64>,
}

/// A session that ended, as its record: the connection itself is dropped at once, as it
/// always was (an aborted run's socket closes then, with no QUIT).
struct Finished {
    export_dir: Option<PathBuf>,
    record: SessionRecord,
    /// The scenario run it belonged to, whose verdict and steps its record gets at the end.
    run: Option<u64>,
}

/// At most this many finished sessions are kept for export; the oldest go first.
pub const KEPT_SESSIONS: usize = 100;

/// Where exports go: `--export-dir` wins, then the profile's `export_dir`, then the default
/// (`exports/` in the data directory).
#[derive(Debug, Clone)]
pub struct ExportDirs {
    pub forced: Option<PathBuf>,
    pub default: PathBuf,
}

impl From<PathBuf> for ExportDirs {
    /// One directory for every export.
    fn from(dir: PathBuf) -> ExportDirs {
        ExportDirs {
            forced: Some(dir.clone()),
            default: dir,
        }
    }
}

impl ExportDirs {
    fn for_profile(&self, profile_dir: Option<&PathBuf>) -> PathBuf {
        self.forced
            .as_ref()
            .or(profile_dir)
            .unwrap_or(&self.default)
            .clone()
    }
}

/// A scenario run in progress, driven one step per Enter.
struct Driver {
    /// The run's serial number, which its sessions' records carry.
    serial: u64,
    /// When the run started, for its place in the run history.
    started: (jiff::Timestamp, std::time::Instant),
    profile: String,
    export_dir: Option<PathBuf>,
    run: ScenarioRun,
    control: Option<Scenario>,
}

pub struct Worker {
    tx: Sink,
    driver: Option<Driver>,
    manual: Option<Kept>,
    /// The name the operator's last EHLO or HELO on that connection gave, to offer again
    /// after STARTTLS.
    manual_helo: Option<String>,
    /// Finished sessions, oldest first, for export.
    finished: std::collections::VecDeque<Finished>,
    exports: ExportDirs,
    /// Where finished scenario runs are kept (none: not kept).
    history: Option<History>,
    /// Set to stop the thread following a mail log for the watch pane.
    watching: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The serial number of the last scenario run started.
    runs: u64,
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop_watch();
    }
}

impl Worker {
    pub fn new(tx: Sink, exports: impl Into<ExportDirs>) -> Worker {
        Worker {
            tx,
            driver: None,
            manual: None,
            manual_helo: None,
            finished: std::collections::VecDeque::new(),
            exports: exports.into(),
            history: None,
            watching: None,
            runs: 0,
        }
    }

    fn stop_watch(&mut self) {
        if let Some(stop) = self.watching.take() {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Keeps every scenario run that finishes in `history`.
    pub fn with_history(mut self, history: History) -> Worker {
        self.history = Some(history);
        self
    }

    /// Keeps a session that ended for export.
    fn keep(&mut self, kept: Kept) {
        keep_in(&mut self.finished, kept);
    }

    /// Keeps the sessions of one profile's run that ended, for export.
    fn keep_all(
        &mut self,
        profile: &str,
        export_dir: Option<&PathBuf>,
        run: u64,
        conns: Vec<Connection>,
    ) {
        for conn in conns {
            self.keep(Kept {
                profile: profile.to_string(),
                export_dir: export_dir.cloned(),
                conn,
                run: Some(run),
            });
        }
    }

    /// Gives the records of run `serial`'s sessions what the run came to.
    fn label_run(&mut self, serial: u64, part: &crate::export::ScenarioPart) {
        for f in self.finished.iter_mut().filter(|f| f.run == Some(serial)) {
            f.record.scenario = Some(part.clone());
        }
    }

    /// Drops the scenario run in progress, keeping its sessions' records.
    fn drop_driver(&mut self) {
        if let Some(d) = self.driver.take() {
            let part = unfinished(&d, "the run was stopped before its verdict");
            let conns = d.run.abandon();
            self.keep_all(&d.profile, d.export_dir.as_ref(), d.serial, conns);
            self.label_run(d.serial, &part);
        }
    }

    /// Closes the hand-typed session, keeping its record.
    async fn close_manual(&mut self) {
        if let Some(mut k) = self.manual.take() {
            k.conn.close().await;
            self.keep(k);
        }
    }

    fn send(&self, ev: NetEvent) {
        let _ = self.tx.send(ev);
    }

    fn error(&self, e: WorkerError) {
        self.send(NetEvent::Error(Arc::new(e)));
    }

    /// Runs until the effect channel closes. An abort signal interrupts whatever is in flight.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Effect>,
        mut abort: watch::Receiver<u64>,
    ) {
        loop {
            // While nothing is asked of the network, the open connection is read in the
            // background: what the server says on its own (a 421 at its idle timeout) shows
            // at once, not when the next command goes out.
            let effect = tokio::select! {
                effect = rx.recv() => match effect {
                    Some(e) => e,
                    None => break,
                },
                (heard, during_run) = idle_read(&mut self.manual, &mut self.driver) => {
                    self.heard(heard, during_run);
                    continue;
                }
            };
            // Esc was pressed after this effect was queued: its Abort is in the queue behind
            // it, and nothing queued before that Abort may reach the network.
            if abort.has_changed().unwrap_or(false) {
                abort.borrow_and_update();
                self.abort().await;
                let dropped = self.cancel_queued(Some(effect), &mut rx).await;
                if dropped > 0 {
                    self.send(NetEvent::Info(aborted_words(dropped)));
                }
                continue;
            }
            if matches!(effect, Effect::Abort) {
                self.abort().await;
                continue;
            }
            tokio::select! {
                _ = self.handle(effect) => {}
                _ = abort.changed() => {
                    abort.borrow_and_update();
                    self.abort().await;
                    let dropped = self.cancel_queued(None, &mut rx).await;
                    self.send(NetEvent::Info(aborted_words(dropped)));
                }
            }
        }
    }

    /// What the server said or did while idle, shown: the live transcript has its lines
    /// already; the connection's state and, for a close, what it means.
    fn heard(&mut self, heard: Idle, during_run: bool) {
        let conn = if during_run {
            self.driver.as_ref().and_then(|d| d.run.connection())
        } else {
            self.manual.as_ref().map(|k| &k.conn)
        };
        if let Some(conn) = conn {
            self.send(NetEvent::Conn(conn_info(conn)));
        }
        match heard {
            Idle::Arrived { .. } => {}
            Idle::Closed { last, idle } => self.send(NetEvent::ServerClosed {
                code: last.as_ref().and_then(|r| r.code()),
                last: last.map(|r| r.summary()),
                idle,
                during_run,
            }),
            Idle::Failed(e) => self.error(WorkerError::Net(e)),
        }
    }

    /// Drops every network effect queued before the abort's own `Effect::Abort` (typed
    /// commands a tarpit had not answered yet, steps asked for); the rest (exports, profile
    /// files) are still carried out.
    async fn cancel_queued(
        &mut self,
        first: Option<Effect>,
        rx: &mut mpsc::UnboundedReceiver<Effect>,
    ) -> usize {
        let mut kept = Vec::new();
        let mut dropped = 0;
        let mut next = first;
        loop {
            let effect = match next.take() {
                Some(e) => e,
                None => match rx.recv().await {
                    Some(e) => e,
                    None => break,
                },
            };
            match effect {
                Effect::Abort => break,
                Effect::StartScenario { .. }
                | Effect::StartDomainCheck { .. }
                | Effect::Advance { .. }
                | Effect::Skip
                | Effect::RunRest
                | Effect::Rset
                | Effect::Reconnect { .. }
                | Effect::Manual { .. }
                | Effect::ManualAuth { .. } => dropped += 1,
                other => kept.push(other),
            }
        }
        for effect in kept {
            self.handle(effect).await;
        }
        dropped
    }

    async fn abort(&mut self) {
        self.drop_driver();
        self.close_manual().await;
        self.send(NetEvent::Idle);
    }

    async fn handle(&mut self, effect: Effect) {
        match effect {
            Effect::StartScenario {
                target,
                scenario,
                control,
                run_all,
            } => {
                self.start(&target, *scenario, control.map(|c| *c), run_all)
                    .await
            }
            Effect::StartDomainCheck { target, check } => self.domain_check(&target, check).await,
            Effect::Advance { edited } => self.advance(edited, false).await,
            Effect::Skip => self.advance(None, true).await,
            Effect::RunRest => {
                while self.driver.is_some() {
                    self.advance(None, false).await;
                }
            }
            Effect::Rset => {
                if let Some(d) = self.driver.as_mut() {
                    if let Err(e) = d.run.rset().await {
                        let _ = self.tx.send(NetEvent::Error(Arc::new(e.into())));
                    }
                    let info = d.run.connection().map(conn_info);
                    if let Some(i) = info {
                        self.send(NetEvent::Conn(i));
                    }
                }
                self.send(NetEvent::Idle);
            }
            Effect::Reconnect { target } => {
                self.drop_driver();
                self.close_manual().await;
                if let Err(e) = self.manual_conn(&target).await {
                    self.error(e);
                }
                self.send(NetEvent::Idle);
            }
            Effect::Abort => self.abort().await,
            Effect::Manual { target, bytes } => {
                if let Err(e) = self.manual_send(&target, bytes).await {
                    self.error(e);
                }
                self.send(NetEvent::Idle);
            }
            Effect::ManualAuth { target, mechanism } => {
                let result = async {
                    let resolved = resolve(&target).map_err(|e| WorkerError::target(&target, e))?;
                    let source = resolved.credentials.ok_or(WorkerError::NoAuth)?;
                    // Read once, before connecting: a password_command runs once per AUTH.
                    let creds = source.read().map_err(|e| WorkerError::target(&target, e))?;
                    let conn = self.manual_conn(&target).await?;
                    conn.authenticate(mechanism, creds, true).await?;
                    Ok::<(), WorkerError>(())
                }
                .await;
                if let Err(e) = result {
                    self.error(e);
                }
                if let Some(k) = &self.manual {
                    self.send(NetEvent::Conn(conn_info(&k.conn)));
                }
                self.send(NetEvent::Idle);
            }
            Effect::Export { json } => self.export(json),
            Effect::WriteRun {
                export_dir,
                profile,
                text,
            } => {
                let dir = self.exports.for_profile(export_dir.as_ref());
                match crate::export::write_run(&dir, &profile, &text) {
                    Ok(path) => self.send(NetEvent::RunWritten(path)),
                    Err(e) => self.error(WorkerError::Export(e)),
                }
            }
            Effect::SaveProfile { name, text } => {
                let result = (|| {
                    let store = ProfileStore::from_env()?;
                    let path = store.path(&name)?;
                    let profile = Profile::parse(&text, &path)?;
                    let path = store.save(&name, &profile)?;
                    Ok::<_, ProfileError>((path, profile))
                })();
                match result {
                    Ok((path, profile)) => self.send(NetEvent::ProfileSaved {
                        name,
                        path,
                        profile: Box::new(profile),
                    }),
                    Err(e) => self.error(e.into()),
                }
            }
            Effect::WatchLog { path } => {
                self.stop_watch();
                let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
                self.watching = Some(Arc::clone(&stop));
                let tx = self.tx.clone();
                std::thread::spawn(move || follow_log(&path, &tx, &stop));
            }
            Effect::StopWatch => self.stop_watch(),
            Effect::ShowHistory { profile } => {
                let lines = match &self.history {
                    None => vec!["Run history is not kept in this session.".to_string()],
                    Some(h) => history_lines(h, &profile),
                };
                self.send(NetEvent::History { profile, lines });
            }
            Effect::ListProfiles => match ProfileStore::from_env() {
                Ok(store) => self.send(list_profiles(&store)),
                Err(e) => self.error(e.into()),
            },
            Effect::RenameProfile { from, to } => {
                match ProfileStore::from_env().and_then(|s| s.rename(&from, &to)) {
                    Ok(path) => self.send(NetEvent::ProfileRenamed { from, to, path }),
                    Err(e) => self.error(e.into()),
                }
            }
            Effect::DeleteProfile { name } => {
                let result = ProfileStore::from_env()
                    .and_then(|s| s.path(&name))
                    .map_err(WorkerError::from)
                    .and_then(|path| trash_profile(&name, &path));
                match result {
                    Ok(trashed) => self.send(NetEvent::ProfileDeleted { name, trashed }),
                    Err(e) => self.error(e),
                }
            }
            Effect::RestoreProfile { name, from } => {
                let result = ProfileStore::from_env()
                    .map_err(WorkerError::from)
                    .and_then(|store| {
                        let to = store.path(&name)?;
                        if to.exists() {
                            return Err(WorkerError::Delete {
                                path: to,
                                source: std::io::Error::new(
                                    std::io::ErrorKind::AlreadyExists,
                                    "a profile of that name exists again; the trashed one stays in the trash",
                                ),
                            });
                        }
                        move_file(&from, &to).map_err(|source| WorkerError::Delete {
                            path: from.clone(),
                            source,
                        })?;
                        Ok(store)
                    });
                match result {
                    Ok(store) => {
                        self.send(NetEvent::ProfileRestored { name });
                        self.send(list_profiles(&store));
                    }
                    Err(e) => self.error(e),
                }
            }
        }
    }

    async fn manual_conn(&mut self, target: &Target) -> Result<&mut Connection, WorkerError> {
        let open = self.manual.as_ref().is_some_and(|k| k.conn.is_open());
        if !open {
            // A session that ended on its own (the server closed it) is kept as it was.
            self.close_manual().await;
            let (_, opts) = connect_options(target).await?;
            let mut conn = Connection::new(opts, live_transcript(&self.tx));
            let opened = conn.open().await;
            self.send(NetEvent::Conn(conn_info(&conn)));
            let kept = Kept {
                profile: target.profile_name.clone(),
                export_dir: target.profile.export_dir.clone(),
                conn,
                run: None,
            };
            if let Err(e) = opened {
                self.keep(kept);
                return Err(e.into());
            }
            self.manual = Some(kept);
            self.manual_helo = None;
        }
        self.manual
            .as_mut()
            .map(|k| &mut k.conn)
            .ok_or(WorkerError::Net(NetError::NotConnected))
    }

    async fn manual_send(&mut self, target: &Target, bytes: Vec<u8>) -> Result<(), WorkerError> {
        self.drop_driver();
        let conn = self.manual_conn(target).await?;
        let is_starttls = bytes.eq_ignore_ascii_case(b"STARTTLS\r\n");
        let greeting = std::str::from_utf8(&bytes).ok().and_then(|line| {
            let line = line.trim_end();
            let (verb, name) = line.split_once(' ')?;
            (verb.eq_ignore_ascii_case("EHLO") || verb.eq_ignore_ascii_case("HELO"))
                .then(|| name.trim().to_string())
                .filter(|n| !n.is_empty())
        });
        let result = if is_starttls {
            conn.starttls().await.map(|_| ())
        } else if bytes.ends_with(b"\n") {
            conn.command(&Command::Raw(bytes)).await.map(|_| ())
        } else {
            // No line ending yet: the server will not answer until the line is complete.
            conn.send(&Command::Raw(bytes)).await
        };
        let info = conn_info(conn);
        self.send(NetEvent::Conn(info));
        if greeting.is_some() {
            self.manual_helo = greeting;
        }
        if is_starttls && result.is_ok() {
            // RFC 3207 §4.2: the client must forget what it knew and say EHLO again; with the
            // name the operator gave before, else the profile's.
            let helo = self.manual_helo.clone().unwrap_or_else(|| {
                resolve(target).map_or_else(|_| crate::target::default_helo(), |r| r.helo)
            });
            self.send(NetEvent::Suggest {
                command: format!("EHLO {helo}"),
                why: "TLS is up: RFC 3207 requires a new EHLO; it is in the editor, Enter sends it"
                    .into(),
            });
        }
        result.map_err(WorkerError::from)
    }

    async fn start(
        &mut self,
        target: &Target,
        scenario: Scenario,
        control: Option<Scenario>,
        run_all: bool,
    ) {
        self.drop_driver();
        self.close_manual().await;
        let ctx = match context(target, scenario.needs_auth()).await {
            Ok(c) => c,
            Err(e) => {
                self.error(e);
                return;
            }
        };
        // The same rule, in the same words, as `check`: a scenario that cannot run here says
        // why instead of quietly changing the target.
        if let Some(why) = crate::scenario::runner::unmet_requirement(&scenario, &ctx) {
            self.send(NetEvent::Done {
                verdict: crate::scenario::Verdict::Skipped,
                reason: why,
                edited: Vec::new(),
            });
            return;
        }
        let tx = self.tx.clone();
        let events: crate::run::Sink = Arc::new(move |ev| {
            let net = match ev {
                RunEvent::StepOffered { index, kind } => NetEvent::Preview { index, step: kind },
                RunEvent::StepJudged { index, result } => NetEvent::Step { index, result },
                RunEvent::Note(text) => NetEvent::Info(text),
                RunEvent::SessionOpened | RunEvent::SessionClosed => return,
            };
            let _ = tx.send(net);
        });
        let live = self.tx.clone();
        let run = ScenarioRun::new(scenario, ctx)
            .with_transcripts(Arc::new(move || live_transcript(&live)))
            .with_events(events);
        self.runs += 1;
        self.driver = Some(Driver {
            serial: self.runs,
            started: (jiff::Timestamp::now(), std::time::Instant::now()),
            profile: target.profile_name.clone(),
            export_dir: target.profile.export_dir.clone(),
            run,
            control,
        });
        if let Some(d) = self.driver.as_mut() {
            d.run.start().await;
        }
        self.after_step().await;
        if run_all {
            while self.driver.is_some() {
                self.advance(None, false).await;
            }
        }
    }

    /// After the run moved: the sessions that ended are kept for export, the connection
    /// shown, and a run with every step judged is finished.
    async fn after_step(&mut self) {
        let Some(d) = self.driver.as_mut() else {
            return;
        };
        let closed = d.run.take_closed();
        let info = d.run.connection().map(conn_info);
        let last_closed = closed.last().map(|c| {
            let mut i = conn_info(c);
            i.phase = ConnPhase::Closed(CloseReason::SessionComplete);
            i
        });
        let (profile, export_dir, serial) = (d.profile.clone(), d.export_dir.clone(), d.serial);
        let part = unfinished(d, "the run is under way");
        let done = d.run.is_done();
        self.keep_all(&profile, export_dir.as_ref(), serial, closed);
        self.label_run(serial, &part);
        if let Some(i) = info.or(last_closed) {
            self.send(NetEvent::Conn(i));
        }
        if done {
            self.finish().await;
        }
    }

    /// The run's verdict, as `check` decides it (the local-delivery control included), kept
    /// in the history and reported.
    async fn finish(&mut self) {
        let Some(d) = self.driver.take() else {
            return;
        };
        let ctx = d.run.context().clone();
        let (mut result, closed) = d.run.finish().await;
        self.keep_all(&d.profile, d.export_dir.as_ref(), d.serial, closed);
        // An edited run is no verdict of the scenario, so the control that would qualify
        // one is not run either.
        if let Some(control) = d.control
            && result.verdict == crate::scenario::Verdict::Pass
            && !result.is_edited()
        {
            self.send(NetEvent::Info("running the local-delivery control…".into()));
            self.send(NetEvent::ControlStarted {
                of: result.id.clone(),
            });
            // Its sessions are shown and kept like the run's, each with its own record.
            let live = self.tx.clone();
            let (c, conns) = Box::pin(crate::run::execute::control_for(
                &mut result,
                control,
                ctx.clone(),
                Arc::new(move || live_transcript(&live)),
            ))
            .await;
            // The status bar followed the control's connection: it is closed now.
            if let Some(last) = conns.last() {
                let mut i = conn_info(last);
                i.phase = ConnPhase::Closed(CloseReason::SessionComplete);
                self.send(NetEvent::Conn(i));
            }
            self.runs += 1;
            let serial = self.runs;
            self.keep_all(&d.profile, d.export_dir.as_ref(), serial, conns);
            self.label_run(
                serial,
                &crate::export::ScenarioPart {
                    id: c.id.clone(),
                    verdict: Some(c.verdict),
                    reason: c.reason.clone(),
                    steps: c.steps.clone(),
                    control_for: Some(result.id.clone()),
                },
            );
        }
        self.label_run(
            d.serial,
            &crate::export::ScenarioPart {
                id: result.id.clone(),
                verdict: Some(result.verdict),
                reason: result.reason.clone(),
                steps: result.steps.clone(),
                control_for: None,
            },
        );
        // Keeping the run and comparing it are told apart: "not kept" only when the run was
        // not written, never because an older file could not be read.
        let kept = self
            .history
            .as_ref()
            .map(|h| record_run(h, &d.profile, d.started, &ctx, &result));
        let compared = match (&self.history, &kept) {
            (Some(h), Some(Ok(_))) if !result.is_edited() => {
                Some(h.last_two_with(&d.profile, &result.id))
            }
            _ => None,
        };
        self.send(NetEvent::Done {
            verdict: result.verdict,
            reason: result.reason.clone(),
            edited: result.edited.clone(),
        });
        if let Some(Err(e)) = kept {
            self.send(NetEvent::Info(format!("run history not kept: {e}")));
        }
        match compared {
            Some(Err(e)) => {
                self.send(NetEvent::Info(format!(
                    "run kept, but not compared with the last: {e}"
                )));
            }
            Some(Ok(found)) => {
                for e in &found.skipped {
                    self.send(NetEvent::Info(format!(
                        "warning: a history file was skipped: {e}"
                    )));
                }
                // Before and after: said only when something changed since the last run.
                if let Some((before, after)) = found.pair {
                    let d = crate::history::diff(&before, &after);
                    if !d.is_empty() {
                        self.send(NetEvent::Info(format!(
                            "since the last run ({}): {}",
                            before.when(),
                            d.one_line()
                        )));
                    }
                }
            }
            None => {}
        }
    }

    /// Runs one domain check exactly as `check` does (the same plan entry, the same code),
    /// and reports each of its results as a row of the verdict panel.
    async fn domain_check(&mut self, target: &Target, check: crate::run::DomainCheck) {
        self.drop_driver();
        let resolved = match resolve(target) {
            Ok(r) => r,
            Err(e) => {
                self.error(WorkerError::target(target, e));
                return;
            }
        };
        let results = match crate::run::domain::run(&[check], &resolved, None).await {
            Ok(r) => r.results,
            Err(e) => {
                self.error(WorkerError::target(target, e));
                return;
            }
        };
        let rows: Vec<crate::scenario::StepResult> =
            results.iter().map(crate::run::domain::as_row).collect();
        for (index, result) in rows.iter().enumerate() {
            self.send(NetEvent::Step {
                index,
                result: result.clone(),
            });
        }
        let (verdict, reason) = if rows.is_empty() {
            (
                crate::scenario::Verdict::Skipped,
                "the profile names no domain".to_string(),
            )
        } else {
            crate::scenario::runner::aggregate(&rows)
        };
        self.send(NetEvent::Done {
            verdict,
            reason,
            edited: Vec::new(),
        });
    }

    async fn advance(&mut self, typed: Option<String>, skip: bool) {
        let Some(d) = self.driver.as_mut() else {
            self.send(NetEvent::Idle);
            return;
        };
        let offered = d.run.offer();
        let input = match (typed, &offered) {
            _ if skip => Input::Skip,
            (None, _) => Input::AsOffered,
            // The step's own command, untouched.
            (Some(t), Some((_, StepKind::Command(c)))) if t == *c => Input::AsOffered,
            (Some(t), Some((_, StepKind::Command(_)))) if d.run.accepts_edit(&t) => {
                Input::Edited(t)
            }
            // Anything else typed is the operator's own command, not this step's: it goes
            // out on the scenario's connection but is never graded as the step, which stays
            // next.
            (Some(t), _) => {
                let mut bytes = t.into_bytes();
                if !bytes.ends_with(b"\n") {
                    bytes.extend_from_slice(b"\r\n");
                }
                let sent = d.run.aside(bytes).await;
                let info = d.run.connection().map(conn_info);
                if let Some(i) = info {
                    self.send(NetEvent::Conn(i));
                }
                self.send(NetEvent::Info(match sent {
                    Ok(_) => "sent outside the scenario and not graded: it is not this step's command; the step is still next".into(),
                    Err(e) => format!("not graded, not this step's command: {e}"),
                }));
                if let Some((index, step)) = offered {
                    self.send(NetEvent::Preview { index, step });
                }
                return;
            }
        };
        d.run.advance(input).await;
        self.after_step().await;
    }

    /// Writes every session kept and every session still open, one file each, where the
    /// profile's exports go; reports the files written.
    fn export(&self, json: bool) {
        let live_driver = self.driver.as_ref().and_then(|d| {
            d.run.connection().map(|c| {
                (
                    d.profile.as_str(),
                    d.export_dir.as_ref(),
                    c,
                    Some(unfinished(d, "the run is under way")),
                )
            })
        });
        let live = self
            .manual
            .as_ref()
            .map(|k| (k.profile.as_str(), k.export_dir.as_ref(), &k.conn, None))
            .into_iter()
            .chain(live_driver)
            // A connection that never got as far as connecting has nothing to record.
            .filter(|(_, _, conn, _)| !conn.transcript().entries().is_empty())
            .map(|(profile, dir, conn, part)| {
                let mut record = SessionRecord::of(conn, profile);
                record.scenario = part;
                (dir.cloned(), record)
            });
        let done = self
            .finished
            .iter()
            .map(|f| (f.export_dir.clone(), f.record.clone()));
        let mut written = Vec::new();
        let mut taken = std::collections::HashSet::new();
        for (profile_dir, record) in done.chain(live) {
            let dir = self.exports.for_profile(profile_dir.as_ref());
            match crate::export::write_distinct(&dir, &record, json, &mut taken) {
                Ok(path) => written.push(path),
                Err(e) => {
                    self.error(WorkerError::Export(e));
                    return;
                }
            }
        }
        self.send(NetEvent::Exported(written));
    }
}

/// Moves a deleted profile's file into `trash/` in the data directory (created 0700), named
/// `NAME-STAMP.toml`, so that `u` can bring it back; returns where it went.
fn trash_profile(name: &str, path: &std::path::Path) -> Result<PathBuf, WorkerError> {
    let failed = |source: std::io::Error| WorkerError::Delete {
        path: path.to_path_buf(),
        source,
    };
    let dir = crate::data_dir::data_dir()
        .map_err(|e| failed(std::io::Error::other(e.to_string())))?
        .join("trash");
    crate::private_write::create_private_dir_all(&dir).map_err(failed)?;
    let now = jiff::Timestamp::now();
    let to = dir.join(format!(
        "{name}-{}.{:03}.toml",
        now.strftime("%Y%m%d-%H%M%S"),
        now.subsec_millisecond()
    ));
    move_file(path, &to).map_err(failed)?;
    Ok(to)
}

/// A rename, or a copy and a removal where the two are on different file systems.
fn move_file(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    if std::fs::rename(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to)?;
    std::fs::remove_file(from)
}

/// What an abort did, for the status line.
fn aborted_words(dropped: usize) -> String {
    match dropped {
        0 => "aborted: the connection was closed (QUIT not sent)".into(),
        1 => "aborted: the connection was closed (QUIT not sent); 1 queued command was not sent"
            .into(),
        n => format!(
            "aborted: the connection was closed (QUIT not sent); {n} queued commands were not sent"
        ),
    }
}

/// The profiles of a config directory as it is now, for the profile list.
pub fn list_profiles(store: &ProfileStore) -> NetEvent {
    match store.list() {
        Ok(list) => {
            let mut profiles = Vec::new();
            let mut errors = Vec::new();
            for (name, p) in list {
                match p {
                    Ok(p) => profiles.push((name, p)),
                    Err(e) => errors.push(Arc::new(e)),
                }
            }
            NetEvent::ProfilesListed { profiles, errors }
        }
        Err(e) => NetEvent::ProfilesListed {
            profiles: Vec::new(),
            errors: vec![Arc::new(e)],
        },
    }
}

/// The history pane's lines for `profile`; a run that cannot be read is named, not fatal.
fn history_lines(history: &History, profile: &str) -> Vec<String> {
    let paths = match history.runs(profile) {
        Ok(p) => p,
        Err(e) => return vec![format!("The history cannot be read: {e}")],
    };
    let mut runs = Vec::new();
    let mut unreadable = Vec::new();
    for path in &paths {
        match crate::history::RunRecord::load(path) {
            Ok(r) => runs.push(r),
            Err(e) => unreadable.push(format!("  skipped: {e}")),
        }
    }
    let mut lines = crate::history::timeline(&runs);
    if !unreadable.is_empty() {
        lines.push(String::new());
        lines.push("Runs that could not be read:".into());
        lines.extend(unreadable);
    }
    lines
}

/// Keeps a finished run in the profile's history, as `check --history` would have (an
/// edited run is kept with its edits named, and never compared as the scenario's verdict).
fn record_run(
    history: &History,
    profile: &str,
    started: (jiff::Timestamp, std::time::Instant),
    ctx: &Context,
    result: &crate::scenario::ScenarioResult,
) -> Result<PathBuf, crate::history::HistoryError> {
    let elapsed_ms = started.1.elapsed().as_millis() as u64;
    let result = crate::scenario::ScenarioResult {
        elapsed_ms,
        ..result.clone()
    };
    let info = TargetInfo {
        server: ctx.opts.target.to_string(),
        tls: match ctx.opts.tls_mode {
            crate::net::TlsMode::None => "none",
            crate::net::TlsMode::Starttls => "starttls",
            crate::net::TlsMode::Implicit => "implicit",
        }
        .into(),
        profile: Some(profile.to_string()),
        helo: ctx.helo.clone(),
        auth_user: ctx.credentials.as_ref().map(|(_, c)| c.username.clone()),
    };
    let header = crate::report::json::run_header(&info, started.0);
    let doc = crate::report::json::render_run(&header, &info, &[result], elapsed_ms);
    history.save(profile, started.0, &doc)
}

/// Keeps the record of a session that ended, dropping the oldest beyond [`KEPT_SESSIONS`];
/// the connection is dropped here (closing its socket, if still open).
fn keep_in(finished: &mut std::collections::VecDeque<Finished>, kept: Kept) {
    if kept.conn.transcript().entries().is_empty() {
        return;
    }
    if finished.len() >= KEPT_SESSIONS {
        finished.pop_front();
    }
    finished.push_back(Finished {
        record: SessionRecord::of(&kept.conn, &kept.profile),
        export_dir: kept.export_dir,
        run: kept.run,
    });
}

/// What a run that has no verdict yet (or will never have one) says in its records.
fn unfinished(d: &Driver, why: &str) -> crate::export::ScenarioPart {
    crate::export::ScenarioPart {
        id: d.run.scenario().id.clone(),
        verdict: None,
        reason: why.to_string(),
        steps: d.run.results(),
        control_for: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_list_reads_the_directory_as_it_is_now() {
        let dir = tempfile::tempdir().expect("dir");
        let store = ProfileStore::new(dir.path());
        let names = |ev: NetEvent| match ev {
            NetEvent::ProfilesListed { profiles, errors } => (
                profiles.into_iter().map(|(n, _)| n).collect::<Vec<_>>(),
                errors.len(),
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            names(list_profiles(&store)),
            (vec![], 0),
            "no directory yet"
        );
        std::fs::create_dir_all(store.dir()).expect("mkdir");
        std::fs::write(
            store.dir().join("by-hand.toml"),
            "server = \"mx.example.com:25\"\n",
        )
        .expect("write");
        std::fs::write(store.dir().join("broken.toml"), "server = ").expect("write");
        let (found, errors) = names(list_profiles(&store));
        assert_eq!(found, vec!["by-hand".to_string()]);
        assert_eq!(
            errors, 1,
            "the broken file is reported, not dropped silently"
        );
    }
}
