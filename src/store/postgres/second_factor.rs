//! A sign-in's second step with an authenticator-app code in one
//! transaction: the throttle counters' advisory locks, then the user's and
//! the pending login's row locks, then the code's time step, the session and the step's
//! side writes, committed together (one WAL flush) or rolled back together.

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::throttle::{counter, extend_known_client, insert_known_client, lock_keys, save};
use super::{
    PostgresStore, SecondFactorStep, SecondFactorStore, StepPassed, StepVerdict, StoreResult,
    TokenHash, UserId,
};
use crate::model::Timestamp;
use crate::model::throttle::{Charged, plan_charges};

/// Whether the pending login of `user` is still live at `now`; a live one
/// stays locked until the transaction ends, so a parallel step of the same
/// pending login waits and then finds it gone.
async fn lock_live_pending(
    tx: &Transaction<'_>,
    pending: TokenHash,
    user: UserId,
    now: Timestamp,
) -> Result<bool, tokio_postgres::Error> {
    tx.query_opt(
        "SELECT 1 FROM pending_logins
          WHERE token_hash = $1 AND user_id = $2 AND expires_at > $3 FOR UPDATE",
        &[&&pending[..], &user, &now],
    )
    .await
    .map(|row| row.is_some())
}

/// Judges and writes; any early return drops the transaction, which rolls
/// back whatever it wrote.
async fn complete(
    tx: &Transaction<'_>,
    step: SecondFactorStep,
) -> StoreResult<(StepVerdict, bool)> {
    lock_keys(tx, &step.charges).await?;
    let mut stored = Vec::with_capacity(step.charges.len());
    for charge in &step.charges {
        stored.push(counter(tx, &charge.key).await?);
    }
    let planned = match plan_charges(step.charges, &stored, step.now) {
        Ok(planned) => planned,
        Err(Charged::Locked {
            retry_after_secs,
            key,
        }) => {
            let locked = StepVerdict::Locked {
                retry_after_secs,
                key,
            };
            return Ok((locked, false));
        }
        Err(Charged::Charged(_)) => unreachable!("plan_charges refuses only with Locked"),
    };
    if !step.candidates.is_empty() {
        // The user's row first, as every transaction that locks it and then
        // a device does (confirm_factor, delete_device): none deadlocks this.
        tx.execute(
            "SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE",
            &[&step.user],
        )
        .await?;
        if !lock_live_pending(tx, step.pending, step.user, step.now).await? {
            return Ok((StepVerdict::PendingGone, false));
        }
    }
    for candidate in &step.candidates {
        if super::devices::accept_totp_step(
            tx,
            &candidate.device_id,
            candidate.step,
            step.now,
            None,
        )
        .await?
        {
            let new_known_client =
                passed(tx, step.pending, step.user, step.now, &step.passed).await?;
            // After a remembered browser's event, as the events happened.
            super::audit::append(tx, &candidate.passed_event).await?;
            let verdict = StepVerdict::Passed {
                device_id: candidate.device_id.clone(),
                new_known_client,
            };
            return Ok((verdict, true));
        }
    }
    if !step.candidates.is_empty() {
        return Ok((StepVerdict::Replayed, false));
    }
    // A wrong code: it pays every charge and counts against the pending login.
    for (charge, next) in &planned {
        save(tx, &charge.key, next, charge.rule.forget_at(next)).await?;
    }
    let failures = super::sessions::count_pending_failure(tx, step.pending).await?;
    let voided = failures >= step.refused.max_failures;
    if voided {
        super::sessions::delete_pending(tx, step.pending).await?;
    }
    let event = if voided {
        &step.refused.voided_event
    } else {
        &step.refused.event
    };
    super::audit::append(tx, event).await?;
    Ok((StepVerdict::Refused { voided }, true))
}

/// What an accepted step writes; whether a new known-client token was stored.
async fn passed(
    tx: &Transaction<'_>,
    pending: TokenHash,
    user: UserId,
    now: Timestamp,
    passed: &StepPassed,
) -> Result<bool, tokio_postgres::Error> {
    super::sessions::delete_pending(tx, pending).await?;
    super::sessions::insert_session(tx, &passed.session, passed.keep_sessions).await?;
    super::admin::record_sign_in(tx, user, now).await?;
    let known = &passed.known_client;
    let extended = match known.current {
        Some(current) => extend_known_client(tx, current, user, now, known.expires_at).await?,
        None => false,
    };
    if !extended {
        insert_known_client(tx, known.new, user, now, known.expires_at).await?;
    }
    if let Some(remember) = &passed.remember {
        super::remembered_browsers::insert(tx, &remember.browser, remember.keep_at_most).await?;
        super::audit::append(tx, &remember.event).await?;
    }
    Ok(!extended)
}

#[async_trait]
impl SecondFactorStore for PostgresStore {
    async fn complete_second_factor(&self, step: SecondFactorStep) -> StoreResult<StepVerdict> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let (verdict, wrote) = complete(&tx, step).await?;
        if wrote {
            tx.commit().await?;
        }
        Ok(verdict)
    }
}
