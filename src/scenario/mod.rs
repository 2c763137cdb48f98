//! Relay-policy scenarios as data: the file format, the catalogue, variables, verdicts and the
//! runner that both `check` and the TUI drive.

pub mod catalogue;
pub mod model;
pub mod runner;
pub mod teaching;
pub mod vars;
pub mod verdict;

pub use catalogue::Catalogue;
pub use model::Scenario;
pub use runner::{Context, ScenarioResult, StepResult};
pub use verdict::Verdict;
