//! A sign-in's second step with an authenticator-app code as one writer job:
//! the throttle, the code's time step, the pending login becoming a session
//! and the step's side writes commit together, in one commit shared with
//! whatever else is queued (one disk sync for many steps).

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::throttle::{counter, extend_known_client, insert_known_client, save};
use super::{
    SecondFactorStep, SecondFactorStore, SqliteStore, StepPassed, StepVerdict, StoreResult,
    TokenHash, UserId,
};
use crate::model::Timestamp;
use crate::model::throttle::{Charged, plan_charges};

/// Whether the pending login of `user` is still live at `now`.
fn pending_is_live(
    conn: &Connection,
    pending: TokenHash,
    user: UserId,
    now: Timestamp,
) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT 1 FROM pending_logins WHERE token_hash = ?1 AND user_id = ?2 AND expires_at > ?3",
    )?
    .query_row(params![pending, user, now], |_| Ok(()))
    .optional()
    .map(|found| found.is_some())
}

/// Checks, then writes: the writer runs one job at a time, so nothing
/// changes between this job's reads and its writes.
fn complete(tx: &Connection, step: SecondFactorStep) -> rusqlite::Result<StepVerdict> {
    let stored = step
        .charges
        .iter()
        .map(|charge| counter(tx, &charge.key))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let planned = match plan_charges(step.charges, &stored, step.now) {
        Ok(planned) => planned,
        Err(Charged::Locked {
            retry_after_secs,
            key,
        }) => {
            return Ok(StepVerdict::Locked {
                retry_after_secs,
                key,
            });
        }
        Err(Charged::Charged(_)) => unreachable!("plan_charges refuses only with Locked"),
    };
    if !step.candidates.is_empty() && !pending_is_live(tx, step.pending, step.user, step.now)? {
        return Ok(StepVerdict::PendingGone);
    }
    for candidate in step.candidates.iter() {
        if super::devices::accept_totp_step(
            tx,
            &candidate.device_id,
            candidate.step,
            step.now,
            None,
        )? {
            let new_known_client = passed(tx, step.pending, step.user, step.now, &step.passed)?;
            // After a remembered browser's event, as the events happened.
            super::audit::append(tx, &candidate.passed_event)?;
            return Ok(StepVerdict::Passed {
                device_id: candidate.device_id.clone(),
                new_known_client,
            });
        }
    }
    if !step.candidates.is_empty() {
        return Ok(StepVerdict::Replayed);
    }
    // A wrong code: it pays every charge and counts against the pending login.
    for (charge, next) in &planned {
        save(tx, &charge.key, next, charge.rule.forget_at(next))?;
    }
    let failures = super::sessions::count_pending_failure(tx, step.pending)?;
    let voided = failures >= step.refused.max_failures;
    if voided {
        super::sessions::delete_pending(tx, step.pending)?;
    }
    let event = if voided {
        &step.refused.voided_event
    } else {
        &step.refused.event
    };
    super::audit::append(tx, event)?;
    Ok(StepVerdict::Refused { voided })
}

/// What an accepted step writes; whether a new known-client token was stored.
fn passed(
    tx: &Connection,
    pending: TokenHash,
    user: UserId,
    now: Timestamp,
    passed: &StepPassed,
) -> rusqlite::Result<bool> {
    super::sessions::delete_pending(tx, pending)?;
    super::sessions::insert_session(tx, &passed.session, passed.keep_sessions)?;
    super::admin::record_sign_in(tx, user, now)?;
    let known = &passed.known_client;
    let extended = match known.current {
        Some(current) => extend_known_client(tx, current, user, now, known.expires_at)?,
        None => false,
    };
    if !extended {
        insert_known_client(tx, known.new, user, now, known.expires_at)?;
    }
    if let Some(remember) = &passed.remember {
        super::remembered_browsers::insert(tx, &remember.browser, remember.keep_at_most)?;
        super::audit::append(tx, &remember.event)?;
    }
    Ok(!extended)
}

#[async_trait]
impl SecondFactorStore for SqliteStore {
    async fn complete_second_factor(&self, step: SecondFactorStep) -> StoreResult<StepVerdict> {
        self.write(move |tx| complete(tx, step)).await
    }
}
