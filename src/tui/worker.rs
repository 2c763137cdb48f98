//! The network side of the TUI: a task that carries out effects (connect, step, send) and
//! reports back through a channel, so the screen never waits on a server.

use std::path::PathBuf;

use tokio::sync::{mpsc, watch};

use super::message::{Effect, NetEvent, Target};
use super::state::{ConnInfo, Toggles};
use crate::cli::RelayArgs;
use crate::net::tls::{TlsOptions, Trust};
use crate::net::{ConnectOptions, Connection, Timeouts};
use crate::profile::{Profile, ProfileStore, Verify};
use crate::scenario::runner::{Stepper, aggregate, sessions};
use crate::scenario::vars::Vars;
use crate::scenario::{Context, Scenario, StepResult};
use crate::smtp::auth::Credentials;
use crate::smtp::command::Command;
use crate::smtp::session::SecurityPolicy;
use crate::transcript::Transcript;

type Sink = mpsc::UnboundedSender<NetEvent>;

/// Connection options and scenario context from a profile and the toggles.
pub fn context(t: &Target) -> Result<Context, String> {
    let p: &Profile = &t.profile;
    let tg: Toggles = t.toggles;
    let default_port = if tg.tls == crate::net::TlsMode::Implicit {
        465
    } else {
        25
    };
    let server = if p.server.trim().is_empty() {
        p.domain.clone().unwrap_or_default()
    } else {
        p.server.clone()
    };
    let target = crate::net::Target::parse(&server, default_port)
        .map_err(|e| format!("profile {}: server: {e}", t.profile_name))?;
    let mut opts = ConnectOptions::new(target);
    opts.tls_mode = tg.tls;
    opts.tls = TlsOptions {
        trust: if tg.verify == Verify::Mozilla {
            Trust::Mozilla
        } else {
            Trust::Platform
        },
        ca_file: p.ca_file.clone(),
        insecure: tg.verify == Verify::Insecure,
        tls_name: p.tls_name.clone(),
    };
    opts.policy = SecurityPolicy {
        require_tls: tg.require_tls && tg.tls != crate::net::TlsMode::None,
        allow_cleartext_auth: false,
    };
    let secs = p
        .timeout_secs
        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 3600.0)
        .unwrap_or(30.0);
    let per = std::time::Duration::from_secs_f64(secs);
    opts.timeouts = Timeouts {
        connect: per,
        reply: per,
        session: std::time::Duration::from_secs(3600),
    };
    let credentials = match (&p.auth, tg.auth) {
        (Some(a), true) => {
            let secret = match &t.password {
                Some(pw) => pw.clone(),
                None => crate::profile::resolve_password(a)?,
            };
            Some((
                tg.mechanism,
                Credentials {
                    username: a.username.clone(),
                    secret,
                    authzid: None,
                },
            ))
        }
        _ => None,
    };
    let helo = p
        .helo
        .clone()
        .unwrap_or_else(crate::commands::target::default_helo);
    let relay = crate::commands::target::relay_addresses(&RelayArgs::default(), Some(p));
    let user = credentials.as_ref().map(|(_, c)| c.username.clone());
    let vars = Vars::new(&helo, &relay, user.as_deref());
    Ok(Context {
        opts,
        helo,
        credentials,
        vars,
        send_data: tg.send_data,
        keep_transcripts: false,
        concurrency: 1,
    })
}

/// Like [`context`], and when the profile names a domain instead of a server, the most
/// preferred MX host found through the profile's DNS server (or the system's).
pub async fn context_resolved(t: &Target) -> Result<Context, String> {
    #[cfg_attr(not(feature = "dns"), allow(unused_mut))]
    let mut ctx = context(t)?;
    #[cfg(feature = "dns")]
    if t.profile.server.trim().is_empty()
        && let Some(domain) = &t.profile.domain
    {
        let server = match &t.profile.dns_server {
            Some(s) => Some(s.parse().map_err(|_| {
                format!(
                    "profile {}: dns_server {s:?} is not IP:PORT",
                    t.profile_name
                )
            })?),
            None => None,
        };
        let dns = crate::dns::resolve::Dns::new(server).map_err(|e| e.to_string())?;
        let port = t.profile.mx_port.unwrap_or(25);
        let mut found =
            crate::commands::target::mx_targets(&dns, domain, &ctx.opts, port, false).await?;
        if found.is_empty() {
            return Err(format!("{domain}: no MX host"));
        }
        ctx.opts = found.remove(0).1;
    }
    Ok(ctx)
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
            s.phase().to_string()
        } else {
            "closed".into()
        },
        tls: conn.tls_info().cloned(),
        auth: s.authenticated().map(str::to_string),
        caps_before: caps(s.capabilities_before_tls()),
        caps_after: caps(s.capabilities_after_tls()),
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

struct Driver {
    scenario: Scenario,
    ctx: Context,
    sessions: Vec<Vec<Vec<crate::scenario::model::Step>>>,
    session: usize,
    stepper: Option<Stepper>,
    results: Vec<StepResult>,
    control: Option<Scenario>,
}

pub struct Worker {
    tx: Sink,
    driver: Option<Driver>,
    manual: Option<Connection>,
    export_dir: PathBuf,
}

impl Worker {
    pub fn new(tx: Sink, export_dir: PathBuf) -> Worker {
        Worker {
            tx,
            driver: None,
            manual: None,
            export_dir,
        }
    }

    fn send(&self, ev: NetEvent) {
        let _ = self.tx.send(ev);
    }

    /// Runs until the effect channel closes. An abort signal interrupts whatever is in flight.
    pub async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Effect>,
        mut abort: watch::Receiver<u64>,
    ) {
        while let Some(effect) = rx.recv().await {
            abort.borrow_and_update();
            if matches!(effect, Effect::Abort) {
                self.abort().await;
                continue;
            }
            tokio::select! {
                _ = self.handle(effect) => {}
                _ = abort.changed() => {
                    self.abort().await;
                    self.send(NetEvent::Info("aborted; the connection was closed".into()));
                }
            }
        }
    }

    async fn abort(&mut self) {
        self.driver = None;
        if let Some(mut c) = self.manual.take() {
            c.close().await;
        }
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
            Effect::Advance { edited } => self.advance(edited, false).await,
            Effect::Skip => self.advance(None, true).await,
            Effect::RunRest => {
                while self.driver.is_some() {
                    self.advance(None, false).await;
                }
            }
            Effect::Rset => {
                if let Some(st) = self.driver.as_mut().and_then(|d| d.stepper.as_mut()) {
                    if let Err(e) = st.rset().await {
                        self.send(NetEvent::Error(e.to_string()));
                    }
                    let info = self
                        .driver
                        .as_ref()
                        .and_then(|d| d.stepper.as_ref())
                        .map(|s| conn_info(s.connection()));
                    if let Some(i) = info {
                        self.send(NetEvent::Conn(i));
                    }
                }
                self.send(NetEvent::Idle);
            }
            Effect::Reconnect { target } => {
                self.driver = None;
                if let Some(mut c) = self.manual.take() {
                    c.close().await;
                }
                if let Err(e) = self.manual_conn(&target).await {
                    self.send(NetEvent::Error(e));
                }
                self.send(NetEvent::Idle);
            }
            Effect::Abort => self.abort().await,
            Effect::Manual { target, bytes } => {
                if let Err(e) = self.manual_send(&target, bytes).await {
                    self.send(NetEvent::Error(e));
                }
                self.send(NetEvent::Idle);
            }
            Effect::ManualAuth { target, mechanism } => {
                let result = async {
                    let ctx = context(&target)?;
                    let auth = target
                        .profile
                        .auth
                        .as_ref()
                        .ok_or("the profile has no [auth] username: press e to edit it")?;
                    let secret = match &target.password {
                        Some(p) => p.clone(),
                        None => crate::profile::resolve_password(auth)?,
                    };
                    let _ = ctx;
                    let conn = self.manual_conn(&target).await?;
                    let creds = Credentials {
                        username: auth.username.clone(),
                        secret,
                        authzid: None,
                    };
                    conn.authenticate(mechanism, creds, true)
                        .await
                        .map_err(|e| e.to_string())?;
                    Ok::<(), String>(())
                }
                .await;
                if let Err(e) = result {
                    self.send(NetEvent::Error(e));
                }
                if let Some(c) = &self.manual {
                    self.send(NetEvent::Conn(conn_info(c)));
                }
                self.send(NetEvent::Idle);
            }
            Effect::Export { json, contents } => self.export(json, &contents),
            Effect::SaveProfile { name, text } => {
                let result = (|| {
                    let store = ProfileStore::from_env().map_err(|e| e.to_string())?;
                    let path = store.path(&name).map_err(|e| e.to_string())?;
                    let profile = Profile::parse(&text, &path).map_err(|e| e.to_string())?;
                    let path = store.save(&name, &profile).map_err(|e| e.to_string())?;
                    Ok::<_, String>((path, profile))
                })();
                match result {
                    Ok((path, profile)) => self.send(NetEvent::ProfileSaved {
                        name,
                        path,
                        profile: Box::new(profile),
                    }),
                    Err(e) => self.send(NetEvent::Error(e)),
                }
            }
            Effect::DeleteProfile { name } => {
                let result = ProfileStore::from_env()
                    .and_then(|s| s.path(&name))
                    .map_err(|e| e.to_string())
                    .and_then(|p| {
                        std::fs::remove_file(&p)
                            .map_err(|e| format!("cannot delete {}: {e}", p.display()))
                    });
                match result {
                    Ok(()) => self.send(NetEvent::ProfileDeleted { name }),
                    Err(e) => self.send(NetEvent::Error(e)),
                }
            }
        }
    }

    async fn manual_conn(&mut self, target: &Target) -> Result<&mut Connection, String> {
        let open = self.manual.as_ref().is_some_and(Connection::is_open);
        if !open {
            let ctx = context_resolved(target).await?;
            let mut conn = Connection::new(ctx.opts, live_transcript(&self.tx));
            let opened = conn.open().await;
            self.send(NetEvent::Conn(conn_info(&conn)));
            opened.map_err(|e| e.to_string())?;
            self.manual = Some(conn);
        }
        self.manual
            .as_mut()
            .ok_or_else(|| "no connection".to_string())
    }

    async fn manual_send(&mut self, target: &Target, bytes: Vec<u8>) -> Result<(), String> {
        self.driver = None;
        let conn = self.manual_conn(target).await?;
        let is_starttls = bytes.eq_ignore_ascii_case(b"STARTTLS\r\n");
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
        result.map_err(|e| e.to_string())
    }

    async fn start(
        &mut self,
        target: &Target,
        scenario: Scenario,
        control: Option<Scenario>,
        run_all: bool,
    ) {
        self.driver = None;
        if let Some(mut c) = self.manual.take() {
            c.close().await;
        }
        let ctx = match context_resolved(target).await {
            Ok(c) => c,
            Err(e) => {
                self.send(NetEvent::Error(e));
                return;
            }
        };
        if let Some(why) = crate::scenario::runner::unmet_requirement(&scenario, &ctx) {
            self.send(NetEvent::Done {
                verdict: crate::scenario::Verdict::Skipped,
                reason: why,
            });
            return;
        }
        let sessions = sessions(&scenario);
        self.driver = Some(Driver {
            scenario,
            ctx,
            sessions,
            session: 0,
            stepper: None,
            results: Vec::new(),
            control,
        });
        self.open_session().await;
        if run_all {
            while self.driver.is_some() {
                self.advance(None, false).await;
            }
        }
    }

    /// Opens the driver's current session and previews its first step; finishes the scenario
    /// when no sessions remain.
    async fn open_session(&mut self) {
        loop {
            let Some(d) = self.driver.as_mut() else {
                return;
            };
            if d.session >= d.sessions.len() {
                let (verdict, reason) = aggregate(&d.results);
                let (verdict, reason) = match d.control.take() {
                    Some(control) if verdict == crate::scenario::Verdict::Pass => {
                        let _ = self
                            .tx
                            .send(NetEvent::Info("running the local-delivery control…".into()));
                        crate::scenario::runner::with_control(
                            verdict,
                            reason,
                            control,
                            d.ctx.clone(),
                        )
                        .await
                    }
                    _ => (verdict, reason),
                };
                self.send(NetEvent::Done { verdict, reason });
                self.driver = None;
                return;
            }
            let units = d.sessions[d.session].clone();
            let mut st = Stepper::new(
                d.scenario.clone(),
                d.ctx.clone(),
                units,
                live_transcript(&self.tx),
            );
            let opened = st.open().await;
            let info = conn_info(st.connection());
            let base = d.results.len();
            if let Err(why) = opened {
                for (i, r) in st.results().iter().enumerate() {
                    let _ = self.tx.send(NetEvent::Step {
                        index: base + i,
                        result: r.clone(),
                    });
                }
                d.results.extend(st.results().iter().cloned());
                let _ = self.tx.send(NetEvent::Conn(info));
                let _ = self
                    .tx
                    .send(NetEvent::Info(format!("session could not start: {why}")));
                d.session += 1;
                continue;
            }
            let preview = st.preview();
            d.stepper = Some(st);
            let _ = self.tx.send(NetEvent::Conn(info));
            if let Some(text) = preview {
                let _ = self.tx.send(NetEvent::Preview { index: base, text });
            }
            return;
        }
    }

    async fn advance(&mut self, edited: Option<String>, skip: bool) {
        let Some(d) = self.driver.as_mut() else {
            self.send(NetEvent::Idle);
            return;
        };
        let Some(st) = d.stepper.as_mut() else {
            self.send(NetEvent::Idle);
            return;
        };
        let before = st.results().len();
        let _ = if skip {
            st.skip().await
        } else {
            st.advance(edited).await
        };
        let base = d.results.len();
        let new: Vec<StepResult> = st.results()[before..].to_vec();
        let info = conn_info(st.connection());
        let done = st.current().is_none();
        let preview = st.preview();
        for (i, r) in new.iter().enumerate() {
            let _ = self.tx.send(NetEvent::Step {
                index: base + before + i,
                result: r.clone(),
            });
        }
        let _ = self.tx.send(NetEvent::Conn(info));
        if done {
            if let Some(st) = d.stepper.take() {
                let mut closed = conn_info(st.connection());
                let run = st.finish().await;
                d.results.extend(run.steps);
                closed.phase = "closed (session complete)".into();
                let _ = self.tx.send(NetEvent::Conn(closed));
            }
            d.session += 1;
            self.open_session().await;
        } else if let Some(text) = preview {
            let index = base + st_len(d);
            let _ = self.tx.send(NetEvent::Preview { index, text });
        }
    }

    fn export(&self, json: bool, contents: &str) {
        let stamp = jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S").to_string();
        let ext = if json { "json" } else { "txt" };
        let path = self
            .export_dir
            .join(format!("smtpscope-transcript-{stamp}.{ext}"));
        match std::fs::write(&path, contents) {
            Ok(()) => self.send(NetEvent::Exported(path)),
            Err(e) => self.send(NetEvent::Error(format!(
                "cannot write {}: {e}",
                path.display()
            ))),
        }
    }
}

/// Steps recorded so far in the current session.
fn st_len(d: &Driver) -> usize {
    d.stepper.as_ref().map_or(0, |s| s.results().len())
}
