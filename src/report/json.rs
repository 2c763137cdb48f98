//! One JSON document: target, results with their steps, summary. Secrets were redacted when
//! the transcripts were recorded.

use serde_json::{Value, json};

use super::{Summary, TargetInfo};
use crate::scenario::ScenarioResult;

pub fn render(target: &TargetInfo, results: &[ScenarioResult], elapsed_ms: u64) -> Value {
    json!({
        "target": target,
        "results": results,
        "summary": Summary::of(results),
        "elapsed_ms": elapsed_ms,
    })
}
