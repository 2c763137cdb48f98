//! One JSON document: target, results with their steps, summary. Secrets were redacted when
//! the transcripts were recorded.

use serde_json::{Value, json};

use super::{Summary, TargetInfo};
use crate::oneshot::RecordHeader;
use crate::scenario::ScenarioResult;

pub fn render(target: &TargetInfo, results: &[ScenarioResult], elapsed_ms: u64) -> Value {
    json!({
        "target": target,
        "results": results,
        "summary": Summary::of(results),
        "elapsed_ms": elapsed_ms,
    })
}

/// [`render`] with the run's header (`record`: tool, version, profile, server, start, TLS), as
/// `check` prints it and the run history keeps it.
pub fn render_run(
    header: &RecordHeader,
    target: &TargetInfo,
    results: &[ScenarioResult],
    elapsed_ms: u64,
) -> Value {
    let mut doc = render(target, results, elapsed_ms);
    if let Value::Object(m) = &mut doc {
        m.insert("record".into(), json!(header));
    }
    doc
}

/// The header of a run on `target` that started at `started`.
pub fn run_header(target: &TargetInfo, started: jiff::Timestamp) -> RecordHeader {
    RecordHeader {
        tool: "smtpscope".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        profile: target.profile.clone(),
        server: target.server.clone(),
        started_at: started.to_string(),
        tls: target.tls.clone(),
    }
}
