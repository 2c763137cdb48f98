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
    // "posture" is not an SMTP scenario: it is asked for by name or comes with --all and a
    // domain.
    let names: Vec<String> = args
        .scenarios
        .iter()
        .filter(|n| !n.eq_ignore_ascii_case("posture"))
        .cloned()
        .collect();
    let asked_posture = args
        .scenarios
        .iter()
        .any(|n| n.eq_ignore_ascii_case("posture"));
    #[cfg_attr(not(feature = "dns"), allow(unused_variables))]
    let want_posture =
        resolved.domain.is_some() && (args.scenarios.is_empty() || args.all || asked_posture);
    let scenarios = if names.is_empty() && asked_posture && !args.all {
        Vec::new()
    } else {
        select(
            &cat,
            &CheckArgs {
                scenarios: names,
                ..args.clone()
            },
        )?
    };
    let control = cat.find("local-delivery").cloned();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| UsageError(format!("cannot start the async runtime: {e}")))?;
    let started = Instant::now();
    let mut results = Vec::new();
    #[cfg_attr(not(feature = "dns"), allow(unused_mut))]
    let mut targets = vec![(resolved.opts.target.to_string(), resolved.opts.clone())];
    if resolved.domain.is_some() {
        #[cfg(feature = "dns")]
        {
            let domain = resolved.domain.clone().unwrap_or_default();
            let dns = crate::dns::resolve::Dns::new(args.target.dns_server)
                .map_err(|e| UsageError(e.to_string()))?;
            if want_posture {
                let (posture, _) = runtime.block_on(crate::dns::posture::all(
                    &dns,
                    &domain,
                    args.dkim_selector.as_deref(),
                ));
                results.extend(posture);
            }
            if let Some(d) = &resolved.mx_domain {
                match runtime.block_on(target::mx_targets(
                    &dns,
                    d,
                    &resolved.opts,
                    args.target.mx_port,
                    args.all_mx,
                )) {
                    Ok(t) => targets = t,
                    Err(e) => {
                        eprintln!("smtpscope check: no SMTP target: {e}");
                        targets.clear();
                    }
                }
            }
        }
        #[cfg(not(feature = "dns"))]
        return Err(UsageError(
            "--domain needs smtpscope built with the `dns` feature".into(),
        ));
    }
    let info = TargetInfo {
        server: if targets.is_empty() {
            resolved.domain.clone().unwrap_or_default()
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
        profile: resolved.profile.as_ref().map(|(n, _)| n.clone()),
        helo: resolved.helo.clone(),
        auth_user: user,
    };
    let several = targets.len() > 1;
    for (host, opts) in targets {
        if scenarios.is_empty() {
            break;
        }
        let ctx = Context {
            opts,
            helo: resolved.helo.clone(),
            credentials: credentials.clone(),
            vars: vars.clone(),
            send_data: args.send_data,
            keep_transcripts: args.transcripts,
            concurrency: usize::from(args.concurrency),
        };
        let mut batch = runtime.block_on(runner::run(scenarios.clone(), control.clone(), ctx));
        if several {
            for r in &mut batch {
                r.title = format!("{} [{host}]", r.title);
            }
        }
        results.extend(batch);
    }
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
