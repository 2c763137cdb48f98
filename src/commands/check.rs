//! `smtpscope check`: scenarios headless, with a report and an exit code for CI.

use std::path::PathBuf;
use std::time::Instant;

use super::{catalogue, target};
use crate::cli::{CheckArgs, CheckFormat};
use crate::exit::CheckExit;
use crate::history::{self, History, RunRecord};
use crate::net::{ConnectOptions, TlsMode};
use crate::report::{self, Summary, TargetInfo};
use crate::run::{Plan, PlanError};
use crate::scenario::runner::ScenarioResult;
use crate::scenario::{Scenario, Verdict};
use crate::target::{RunOptions, TargetError};

/// Why `check` stopped before or after running: each kind has its exit code.
#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot render the report: {0}")]
    Render(String),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("--baseline {0}")]
    Baseline(#[from] crate::history::RunReadError),
    #[error("--output {}: {source}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: crate::private_write::TargetError,
    },
}

impl CheckError {
    fn exit(&self) -> CheckExit {
        match self {
            CheckError::Target(e) => CheckExit::of_target(e),
            CheckError::Plan(_) | CheckError::Baseline(_) | CheckError::Output { .. } => {
                CheckExit::Usage
            }
            CheckError::Runtime(_) | CheckError::Render(_) | CheckError::Write { .. } => {
                CheckExit::Internal
            }
        }
    }
}

pub fn run(args: CheckArgs) -> u8 {
    crate::exit::exit_130_on_ctrl_c("check");
    let code = match run_inner(&args) {
        Ok(exit) => exit.code(),
        Err(e) => {
            crate::errln!("smtpscope check: {e}");
            e.exit().code()
        }
    };
    // A reader that went away (`| head`) ends the run as a broken pipe does, quietly.
    crate::terminal_text::exit_status(code)
}

/// Every scenario INCONCLUSIVE for one reason: nothing could be tested.
fn untested(scenarios: &[Scenario], reason: &str) -> Vec<ScenarioResult> {
    scenarios
        .iter()
        .map(|s| ScenarioResult {
            verdict: Verdict::Inconclusive,
            ..ScenarioResult::skipped(s, reason.to_string())
        })
        .collect()
}

fn run_inner(args: &CheckArgs) -> Result<CheckExit, CheckError> {
    let resolved = target::resolve(&args.target, &args.auth, &args.relay, false)?;
    // Read before anything runs: a baseline that cannot be read is a usage error, not a
    // surprise after a long run.
    let baseline = match &args.baseline {
        Some(path) => Some((path, RunRecord::load(path)?)),
        None => None,
    };
    // Likewise a report that could not be written where asked (a FIFO would also hang us).
    if let Some(path) = &args.output {
        crate::private_write::check_replaceable(path).map_err(|source| CheckError::Output {
            path: path.clone(),
            source,
        })?;
    }
    let started_at = jiff::Timestamp::now();
    let cat = catalogue();
    let plan = Plan::select(&cat, &args.scenarios, args.all, resolved.domain.is_some())?;
    let scenarios = plan.scenarios();
    // Read once for the whole run, and only when a scenario logs in: every connection that
    // authenticates uses the same secret, and an unset variable stops nothing else.
    let credentials = if scenarios.iter().any(Scenario::needs_auth) {
        resolved.read_credentials()?
    } else {
        None
    };
    let control = cat.find("local-delivery").cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(CheckError::Runtime)?;
    let started = Instant::now();
    let mut domain = runtime.block_on(crate::run::domain::run(
        &plan.domain_checks(),
        &resolved,
        args.dkim_selector.as_deref(),
    ))?;
    let mut results = std::mem::take(&mut domain.results);
    let targets: Vec<(String, ConnectOptions)> = if scenarios.is_empty() {
        Vec::new()
    } else {
        match runtime.block_on(resolved.endpoints(args.all_mx)) {
            Ok(t) => t,
            Err(e) if e.is_lookup() => {
                // Said in the report too, so a CI log shows why nothing ran.
                crate::errln!("smtpscope check: no SMTP target: {e}");
                results.extend(untested(&scenarios, &format!("no SMTP target: {e}")));
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        }
    };
    let info = TargetInfo {
        server: if let crate::net::Route::Pipe(command) = &resolved.opts.route {
            // The program is what was tested; the server name only names it (TLS, reports).
            format!("pipe: {command} (as {})", resolved.opts.target.host)
        } else if targets.is_empty() {
            resolved
                .domain
                .clone()
                .unwrap_or_else(|| resolved.opts.target.to_string())
        } else {
            targets
                .iter()
                .map(|(h, o)| {
                    if *h == o.target.to_string() {
                        h.clone()
                    } else {
                        format!("{h} ({})", o.target)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
        tls: match resolved.opts.tls_mode {
            TlsMode::None => "none",
            TlsMode::Starttls => "starttls",
            TlsMode::Implicit => "implicit",
        }
        .to_string(),
        profile: resolved.profile_name.clone(),
        helo: resolved.helo.clone(),
        auth_user: resolved.credentials.as_ref().map(|c| c.username.clone()),
    };
    let run = RunOptions {
        send_data: args.send_data,
        keep_transcripts: args.transcripts,
        concurrency: usize::from(args.concurrency),
        pipelining: !args.no_pipelining,
    };
    let several = targets.len() > 1;
    for (host, mut opts) in targets {
        // An MX with validated DANE-EE records is reached as a DANE sender reaches it.
        opts.tls.dane_ee = domain.dane_ee_for(&host);
        let ctx = resolved.context(opts, credentials.clone(), run);
        let mut batch = runtime.block_on(crate::run::execute::scenarios(
            scenarios.clone(),
            control.clone(),
            ctx,
        ));
        if several {
            for r in &mut batch {
                r.title = format!("{} [{host}]", r.title);
            }
        }
        results.extend(batch);
    }
    let elapsed = started.elapsed();
    let header = report::json::run_header(&info, started_at);
    let doc = report::json::render_run(&header, &info, &results, elapsed.as_millis() as u64);
    let text = match args.format {
        CheckFormat::Human => report::human::render(&info, &results, elapsed, args.verbose),
        CheckFormat::Json => crate::terminal_text::json_text(
            &serde_json::to_string_pretty(&doc).map_err(|e| CheckError::Render(e.to_string()))?,
        )
        .into_owned(),
        CheckFormat::Junit => crate::terminal_text::xml_text(
            &report::junit::render(&info, &results)
                .map_err(|e| CheckError::Render(e.to_string()))?,
        )
        .into_owned(),
    };
    let summary = Summary::of(&results);
    match &args.output {
        Some(path) => {
            // Whole or not at all, 0600, and a symlink at `path` is replaced, not followed.
            crate::private_write::replace(path, text.as_bytes()).map_err(|source| {
                CheckError::Write {
                    path: path.clone(),
                    source,
                }
            })?;
            crate::errln!(
                "smtpscope check: report written to {} ({} pass, {} fail, {} warn, {} inconclusive, {} skipped)",
                path.display(),
                summary.pass,
                summary.fail,
                summary.warn,
                summary.inconclusive,
                summary.skipped
            );
        }
        None => crate::out!("{text}"),
    }
    if args.history
        && let Some(profile) = &resolved.profile_name
    {
        // The run is done and reported; a history that cannot be written only warns.
        match History::in_data_dir() {
            Ok(h) => match h.save(profile, started_at, &doc) {
                Ok(path) => crate::errln!("smtpscope check: run kept in {}", path.display()),
                Err(e) => crate::errln!("smtpscope check: warning: run history not kept: {e}"),
            },
            Err(e) => crate::errln!("smtpscope check: warning: run history not kept: {e}"),
        }
    }
    let mut exit = CheckExit::of_summary(&summary);
    if let Some((path, before)) = baseline {
        let now = RunRecord::from_value(doc).map_err(|e| CheckError::Render(e.to_string()))?;
        let d = history::diff(&before, &now);
        let said = format!(
            "compared with the baseline {} (run at {}):\n{}",
            path.display(),
            before.when(),
            d.render()
        );
        // Beside a human report on standard output; on standard error when the report is
        // JSON or JUnit (or a file), so what a program reads stays one document.
        if args.format == CheckFormat::Human && args.output.is_none() {
            crate::out!("\n{said}");
        } else {
            crate::err!("smtpscope check: {said}");
        }
        if d.has_regression() {
            exit = CheckExit::Regressed;
        }
    }
    Ok(exit)
}
