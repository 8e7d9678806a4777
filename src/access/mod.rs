//! Authorization: who may do what. Policy documents (IAM's JSON language) are
//! checked and compiled once, then evaluated against an action, a resource and
//! the request's condition keys. Pure domain: no HTTP, no SQL.
//!
//! ```
//! use twofold::access::{CompiledPolicy, ConditionKey, Context, Decision, Request, decide};
//!
//! let policy = CompiledPolicy::compile("grafana", r#"{"Version": "2026-12-01",
//!     "Statement": {"Effect": "Allow", "Action": "http:GET",
//!                   "Resource": "https://grafana.example.com/*"}}"#).unwrap();
//! let context = Context::new().with(ConditionKey::Username, "alice");
//! let request = Request::new("http:GET", "https://grafana.example.com/d/1", &context);
//! assert_eq!(decide([&policy], &request).0, Decision::Allow);
//! ```

pub mod admin_actions;
pub mod authorizer;
pub mod context;
pub mod document;
pub mod engine;
pub mod index;
pub mod management;
pub mod pattern;
pub mod roles;
pub mod snapshot;

pub use admin_actions::{ADMIN_ENDPOINTS, AdminAction, AdminEndpoint, AdminResource};
pub use authorizer::Authorizer;
pub use context::{ConditionKey, Context};
pub use document::{Effect, InvalidPolicy, PolicyDocument, Problem};
pub use engine::{
    CompiledPolicy, Decision, Evaluation, Matched, Request, decide, decide_among, evaluate,
    evaluate_among,
};
pub use pattern::Pattern;
pub use snapshot::{
    Access, Asker, OIDC_AUTHORIZE, SecondFactor, Simulated, Simulation, Snapshot, StatementRef,
    StepUp,
};
