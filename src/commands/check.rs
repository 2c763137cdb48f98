//! `smtpscope check`: scenarios headless, with a report and an exit code for CI.

use std::time::Instant;

use super::target::{self, UsageError};
use crate::cli::{CheckArgs, CheckFormat};
use crate::net::TlsMode;
use crate::profile::config_dir;
use crate::report::{self, Summary, TargetInfo};
use crate::scenario::runner;
use crate::scenario::vars::Vars;
use crate::scenario::{Catalogue, Context, Scenario};

pub const USAGE_EXIT: u8 = 2;

pub fn run(args: CheckArgs) -> u8 {
    match run_inner(&args) {
        Ok(code) => code,
        Err(UsageError(msg)) => {
            eprintln!("smtpscope check: {msg}");
            USAGE_EXIT
        }
    }
}

/// The user's catalogue; broken user files are reported on stderr and skipped.
pub fn catalogue() -> Catalogue {
    let cat = match config_dir() {
        Ok(dir) => Catalogue::with_user_dir(&dir.join("scenarios")),
        Err(_) => Catalogue::built_in(),
    };
    for e in &cat.errors {
        eprintln!("smtpscope: warning: scenario not loaded: {e}");
    }
    cat
}

fn select(cat: &Catalogue, args: &CheckArgs) -> Result<Vec<Scenario>, UsageError> {
    if args.scenarios.is_empty() || args.all {
        let mut chosen: Vec<Scenario> = cat.defaults().into_iter().cloned().collect();
        for name in &args.scenarios {
            add(cat, name, &mut chosen)?;
        }
        return Ok(chosen);
    }
    let mut chosen = Vec::new();
    for name in &args.scenarios {
        add(cat, name, &mut chosen)?;
    }
    Ok(chosen)
}

fn add(cat: &Catalogue, name: &str, chosen: &mut Vec<Scenario>) -> Result<(), UsageError> {
    let s = cat.find(name).ok_or_else(|| {
        UsageError(format!(
            "no scenario {name:?}; known: {} (aliases A, B, C)",
            cat.ids().join(", ")
        ))
    })?;
    if !chosen.iter().any(|c| c.id == s.id) {
        chosen.push(s.clone());
    }
    Ok(())
}

fn run_inner(args: &CheckArgs) -> Result<u8, UsageError> {
    let resolved = target::resolve(&args.target, args.auth.allow_cleartext_auth)?;
    let profile = resolved.profile.as_ref().map(|(_, p)| p);
    let credentials = target::credentials(&args.auth, profile, false)?;
    let relay = target::relay_addresses(&args.relay, profile);
    let user = credentials.as_ref().map(|(_, c)| c.username.clone());
    let vars = Vars::new(&resolved.helo, &relay, user.as_deref());
    let cat = catalogue();
    let scenarios = select(&cat, args)?;
    let control = cat.find("local-delivery").cloned();
    let info = TargetInfo {
        server: resolved.opts.target.to_string(),
        tls: match resolved.opts.tls_mode {
            TlsMode::None => "none",
            TlsMode::Starttls => "starttls",
            TlsMode::Implicit => "implicit",
        }
        .to_string(),
        profile: resolved.profile.as_ref().map(|(n, _)| n.clone()),
        helo: resolved.helo.clone(),
        auth_user: user,
    };
    let ctx = Context {
        opts: resolved.opts,
        helo: resolved.helo,
        credentials,
        vars,
        send_data: args.send_data,
        keep_transcripts: args.transcripts,
        concurrency: usize::from(args.concurrency),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))?;
    let started = Instant::now();
    let results = runtime.block_on(runner::run(scenarios, control, ctx));
    let elapsed = started.elapsed();
    let text = match args.format {
        CheckFormat::Human => report::human::render(&info, &results, elapsed, args.verbose),
        CheckFormat::Json => {
            let doc = report::json::render(&info, &results, elapsed.as_millis() as u64);
            serde_json::to_string_pretty(&doc)
                .map_err(|e| UsageError(format!("cannot render JSON: {e}")))?
        }
        CheckFormat::Junit => report::junit::render(&info, &results).map_err(UsageError)?,
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, text.as_bytes())
                .map_err(|e| UsageError(format!("cannot write {}: {e}", path.display())))?;
            let s = Summary::of(&results);
            eprintln!(
                "smtpscope check: report written to {} ({} pass, {} fail, {} warn, {} inconclusive, {} skipped)",
                path.display(),
                s.pass,
                s.fail,
                s.warn,
                s.inconclusive,
                s.skipped
            );
        }
        None => print!("{text}"),
    }
    Ok(Summary::of(&results).exit_code())
}
