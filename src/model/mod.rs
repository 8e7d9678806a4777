//! Plain vocabulary below both the domain (`auth`) and storage (`store`):
//! time as whole Unix seconds and the throttle's counters and rules. It
//! imports neither, so the arrows between the layers run one way.

pub mod access;
pub mod throttle;

/// Unix time in whole seconds.
pub type Timestamp = i64;
