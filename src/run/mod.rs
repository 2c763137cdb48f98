//! The run layer between the front ends and the scenarios: a [`plan::Plan`] of checks
//! (catalogue scenarios and the domain checks alike) and one scenario run
//! ([`scenario_run::ScenarioRun`]: sessions → steps → one verdict) that reports events as it
//! goes. `check` drives runs to the end ([`execute`]); the explorer drives one step per Enter.
//! Neither has a session loop of its own.

pub mod domain;
pub mod event;
pub mod execute;
pub mod plan;
pub mod scenario_run;

pub use event::{RunEvent, Sink};
pub use plan::{Check, DomainCheck, Plan, PlanError};
pub use scenario_run::{Input, ScenarioRun};
