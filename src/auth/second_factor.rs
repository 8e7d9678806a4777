//! One second-factor step for every proof and every intent: find the user
//! (from a pending login, a session or an enrolment), charge the throttle,
//! check the proof, then let the intent say what success opens (a session, a
//! fresh step-up, a confirmed device) and what a failure costs. A passkey
//! names its own user, so with it a sign-in needs no pending login. As Kanidm's
//! `AuthIntent` shares one verifier between sign-in and re-authentication,
//! a new kind of proof is one arm here, not another copy of the flow.

use webauthn_rs::prelude::PublicKeyCredential;

use super::audit::{AuditEvent, log_event};
use super::devices::{Confirmed, HARDWARE_WINDOW_STEPS};
use super::login::{GivenFactor, MAX_SECOND_FACTOR_FAILURES, Method, SignedIn, voided_detail};
use super::session::{MAX_SESSIONS_PER_USER, Token};
use super::throttle::{Charge, Ticket};
use super::totp;
use super::{Account, Auth, AuthError, AuthResult, Client, Enroller};
use crate::store::{
    DeviceKind, DeviceRecord, NewFactor, PendingRecord, SecondFactorStep, StepPassed, StepRefused,
    StepVerdict, TokenHash, TotpCandidate, UserRecord,
};

/// Why a second factor is being given.
#[derive(Debug, Clone, Copy)]
pub enum Intent<'a> {
    /// The second step of a sign-in, after the password (`pending` is the
    /// pending-login cookie's token).
    Login {
        pending: Option<&'a Token>,
        remember_browser: bool,
    },
    /// Confirming a newly enrolled TOTP device with its first code (a
    /// hardware token: with the next code too); a first-login enroller is
    /// then signed in.
    Enrol {
        enroller: &'a Enroller,
        device_id: &'a str,
        next_code: Option<&'a str>,
    },
    /// A signed-in user passing a second factor again.
    StepUp(&'a Account),
    /// A script asking for a temporary credential with MFA: the access
    /// key's owner gives a TOTP code.
    Programmatic(&'a UserRecord),
}

/// What the person gave. A security key answers a challenge begun for the
/// pending login or the session; a passkey one begun for the session or, at
/// sign-in, under its own `ceremony` cookie.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
    SecurityKey(&'a PublicKeyCredential),
    Passkey {
        credential: &'a PublicKeyCredential,
        ceremony: Option<&'a Token>,
    },
}

impl Proof<'_> {
    pub fn method(&self) -> Method {
        match self {
            Proof::Totp(_) => Method::Totp,
            Proof::RecoveryCode(_) => Method::RecoveryCode,
            Proof::SecurityKey(_) => Method::SecurityKey,
            Proof::Passkey { .. } => Method::Passkey,
        }
    }

    /// How a wrong answer of this kind is refused.
    fn refusal(&self) -> AuthError {
        match self {
            Proof::SecurityKey(_) | Proof::Passkey { .. } => AuthError::InvalidAssertion,
            _ => AuthError::InvalidCode,
        }
    }
}

/// What a passed second factor opened, by intent.
#[derive(Debug)]
pub enum Passed {
    SignedIn(SignedIn),
    /// The session's new token (the old one no longer works).
    SteppedUp(Token),
    Enrolled(Confirmed),
    /// A temporary credential may carry MFA.
    Proven,
}

/// What an authenticator code turned out to be.
#[derive(Debug)]
pub(crate) enum CodeCheck {
    /// Right, and its time step is now used.
    Accepted(DeviceRecord),
    /// Right for a step already used (often the same code sent twice at
    /// once): refused, but no guess, so no throttle or failure counter pays.
    Replayed,
    Wrong,
}

/// The user an intent is about, and what the intent holds.
struct Subject<'a> {
    user: UserRecord,
    devices: Vec<DeviceRecord>,
    /// The token a WebAuthn challenge was begun for.
    owner: TokenHash,
    /// The passkey a passkey proof names.
    passkey: Option<DeviceRecord>,
    stage: Stage<'a>,
}

enum Stage<'a> {
    /// A sign-in: after a password (`pending`), or a passwordless one.
    Login {
        pending: Option<PendingRecord>,
        remember_browser: bool,
    },
    Enrol {
        enroller: &'a Enroller,
        device: DeviceRecord,
        next_code: Option<&'a str>,
    },
    StepUp(&'a Account),
    Programmatic,
}

/// The verdict on a proof.
enum Verdict {
    /// Accepted: the device that answered (if one did), and for an
    /// enrolment the factor to confirm.
    Accepted {
        device: Option<String>,
        factor: Option<NewFactor>,
    },
    /// A right code already used: refused, uncounted.
    Replayed,
    /// Refused, with why when known (for the audit trail only).
    Refused(Option<String>),
}

impl Auth {
    /// Verifies `proof` for `intent`: the one flow behind a sign-in's second
    /// step, a TOTP enrolment's confirmation and a step-up.
    #[tracing::instrument(skip_all, fields(ip = client.ip_str(), method = proof.method().as_str()))]
    pub async fn verify_second_factor(
        &self,
        intent: Intent<'_>,
        proof: Proof<'_>,
        client: &Client,
    ) -> AuthResult<Passed> {
        // A passwordless sign-in knows no account before the answer is
        // checked: it is charged to the client's address first, so unknown
        // credentials count too.
        let passwordless = matches!(
            (intent, proof),
            (Intent::Login { .. }, Proof::Passkey { .. })
        );
        let early = if passwordless {
            let charges = self.passkey_ip_charges(client);
            Some(self.charge_attempt(charges, "", client).await?)
        } else {
            None
        };
        let subject = match self.subject(intent, proof).await {
            Ok(subject) => subject,
            Err(AuthError::InvalidAssertion) => {
                self.audit_anonymous(
                    AuditEvent::LoginSecondFactorFailed,
                    None,
                    client,
                    "method=passkey refused: no passkey of an active user has this credential",
                    None,
                )
                .await;
                return Err(AuthError::InvalidAssertion);
            }
            Err(e) => return Err(e),
        };
        if let (
            Proof::Totp(code),
            Stage::Login {
                pending: Some(_), ..
            },
        ) = (proof, &subject.stage)
        {
            return self.sign_in_with_totp(subject, code, client).await;
        }
        let ticket = match early {
            Some(ticket) => ticket,
            None => self.charge_second_factor(&subject, proof, client).await?,
        };
        match self.check_proof(&subject, proof, client).await? {
            Verdict::Accepted { device, factor } => {
                // Independent writes sent together share one commit (and one
                // wait for it) instead of waiting in turn.
                let ((), passed) = tokio::join!(
                    self.refund_attempt(ticket, None),
                    self.second_factor_passed(subject, proof, device, factor, client)
                );
                passed
            }
            Verdict::Replayed => {
                self.refund_attempt(ticket, None).await;
                // Told apart from a wrong code: "wait for the next one".
                Err(AuthError::CodeJustUsed)
            }
            Verdict::Refused(reason) => {
                drop(ticket);
                self.second_factor_refused(&subject, proof, reason, client)
                    .await
            }
        }
    }

    /// Resolves the intent to its user; refuses what cannot go on at all.
    async fn subject<'a>(&self, intent: Intent<'a>, proof: Proof<'a>) -> AuthResult<Subject<'a>> {
        let passkey = match proof {
            Proof::Passkey { credential, .. } => self.passkey_named_by(credential).await?,
            _ => None,
        };
        match intent {
            Intent::Login { .. } if matches!(proof, Proof::Passkey { .. }) => {
                let (
                    Some(named),
                    Proof::Passkey {
                        ceremony: Some(ceremony),
                        ..
                    },
                ) = (passkey, proof)
                else {
                    return Err(AuthError::InvalidAssertion);
                };
                let devices = self.store.devices_of(named.user.id).await?;
                Ok(Subject {
                    user: named.user,
                    devices,
                    owner: ceremony.hash(),
                    passkey: Some(named.device),
                    stage: Stage::Login {
                        pending: None,
                        remember_browser: false,
                    },
                })
            }
            Intent::Login {
                pending,
                remember_browser,
            } => {
                let pending = self.pending_login(pending).await?;
                let (user, devices) = tokio::join!(
                    self.user(pending.user_id),
                    self.store.devices_of(pending.user_id)
                );
                let (user, devices) = (user?, devices?);
                Ok(Subject {
                    user,
                    devices,
                    owner: pending.token_hash,
                    passkey: None,
                    stage: Stage::Login {
                        pending: Some(pending),
                        remember_browser,
                    },
                })
            }
            Intent::StepUp(account) => Ok(Subject {
                user: account.user.clone(),
                devices: self.store.devices_of(account.user.id).await?,
                owner: account.session.token_hash,
                // Another user's passkey answers nothing here.
                passkey: passkey.map(|named| named.device),
                stage: Stage::StepUp(account),
            }),
            Intent::Programmatic(user) => Ok(Subject {
                user: user.clone(),
                devices: self.store.devices_of(user.id).await?,
                // No WebAuthn challenge is ever begun for it.
                owner: [0; 32],
                passkey: None,
                stage: Stage::Programmatic,
            }),
            Intent::Enrol {
                enroller,
                device_id,
                next_code,
            } => {
                let user = enroller.user().clone();
                let devices = self.store.devices_of(user.id).await?;
                let device = devices
                    .iter()
                    .find(|d| d.id == device_id && d.kind == DeviceKind::Totp)
                    .cloned()
                    .ok_or(AuthError::NotFound("device"))?;
                if device.confirmed {
                    return Err(AuthError::InvalidRequest(
                        "this device is already confirmed".into(),
                    ));
                }
                self.ensure_room_for_device(user.id).await?;
                if device.hardware && next_code.is_none() {
                    return Err(AuthError::InvalidRequest(
                        "a hardware token is confirmed with two consecutive codes: code and next_code"
                            .into(),
                    ));
                }
                let owner = match enroller {
                    Enroller::SignedIn(account) => account.session.token_hash,
                    Enroller::FirstFactor { pending, .. } => pending.token_hash,
                };
                Ok(Subject {
                    user,
                    devices,
                    owner,
                    passkey: None,
                    stage: Stage::Enrol {
                        enroller,
                        device,
                        next_code,
                    },
                })
            }
        }
    }

    /// The throttle counters this attempt pays before it is judged: codes
    /// per TOTP device (so fresh passwords don't buy fresh guesses), a
    /// step-up per user too.
    async fn charge_second_factor(
        &self,
        subject: &Subject<'_>,
        proof: Proof<'_>,
        client: &Client,
    ) -> AuthResult<Ticket> {
        let mut charges: Vec<Charge> = Vec::new();
        if let Stage::StepUp(_) = subject.stage {
            charges.push(Charge {
                key: format!("step_up:user:{}", subject.user.id),
                rule: self.throttle_rules().account_ip,
                set_lock: 0,
            });
        }
        if matches!(proof, Proof::Totp(_)) && !matches!(subject.stage, Stage::Enrol { .. }) {
            charges.extend(self.totp_device_charges(&subject.devices));
        }
        self.charge_attempt(charges, &subject.user.username, client)
            .await
    }

    async fn check_proof(
        &self,
        subject: &Subject<'_>,
        proof: Proof<'_>,
        client: &Client,
    ) -> AuthResult<Verdict> {
        let user = &subject.user;
        let accepted = |device: Option<String>| Verdict::Accepted {
            device,
            factor: None,
        };
        Ok(match (proof, &subject.stage) {
            (
                Proof::Totp(code),
                Stage::Enrol {
                    device, next_code, ..
                },
            ) => match self.check_new_totp_device(device, code, *next_code)? {
                Some(factor) => Verdict::Accepted {
                    device: Some(device.name.clone()),
                    factor: Some(factor),
                },
                None => Verdict::Refused(None),
            },
            (_, Stage::Enrol { .. }) => {
                return Err(AuthError::InvalidRequest(
                    "a new device is confirmed with its own first code".into(),
                ));
            }
            (proof, Stage::Programmatic) if !matches!(proof, Proof::Totp(_)) => {
                Verdict::Refused(Some("only a TOTP code is taken".into()))
            }
            (Proof::Totp(code), _) => match self.accept_totp_code(&subject.devices, code).await? {
                CodeCheck::Accepted(device) => accepted(Some(device.name)),
                CodeCheck::Replayed => Verdict::Replayed,
                CodeCheck::Wrong => Verdict::Refused(None),
            },
            // Recovery codes don't replace enrolling a first second factor.
            (
                Proof::RecoveryCode(_),
                Stage::Login {
                    pending: Some(pending),
                    ..
                },
            ) if pending.enrolment_only => Verdict::Refused(None),
            (Proof::RecoveryCode(code), _) => {
                if self
                    .use_recovery_code(user.id, &user.username, code, client)
                    .await?
                {
                    accepted(None)
                } else {
                    Verdict::Refused(None)
                }
            }
            (Proof::SecurityKey(credential), _) => {
                match self
                    .accept_assertion(subject.owner, user, credential)
                    .await?
                {
                    Ok(device) => accepted(Some(device.name)),
                    Err(reason) => Verdict::Refused(Some(reason)),
                }
            }
            (Proof::Passkey { credential, .. }, stage) => {
                let passkey = subject.passkey.as_ref().filter(|d| d.user_id == user.id);
                let Some(passkey) = passkey else {
                    return Ok(Verdict::Refused(Some("not a passkey of this user".into())));
                };
                // A passwordless challenge was begun before anyone was known.
                let begun_for = match stage {
                    Stage::StepUp(_) => Some(user.id),
                    _ => None,
                };
                match self
                    .accept_passkey_assertion(subject.owner, begun_for, passkey, credential)
                    .await?
                {
                    Ok(device) => accepted(Some(device.name)),
                    Err(reason) => Verdict::Refused(Some(reason)),
                }
            }
        })
    }

    /// A new TOTP device's first code (a hardware token: two consecutive
    /// ones, which also measure its drift): the factor to confirm, if right.
    fn check_new_totp_device(
        &self,
        device: &DeviceRecord,
        code: &str,
        next_code: Option<&str>,
    ) -> AuthResult<Option<NewFactor>> {
        let seed = self
            .device_seed(device)?
            .ok_or(AuthError::NotFound("device"))?;
        let now = self.clock.now();
        let matched = match next_code.filter(|_| device.hardware) {
            Some(next_code) => {
                totp::find_consecutive(&seed, code, next_code, now, HARDWARE_WINDOW_STEPS)
                    .map(|step| (step, step - totp::step_at(now)))
            }
            None => totp::verify(&seed, code, now, 0, None).map(|step| (step, 0)),
        };
        Ok(matched.map(|(step, offset_steps)| NewFactor::Totp {
            device_id: device.id.clone(),
            step,
            offset_steps,
            at: now,
        }))
    }

    /// What success opens, by intent.
    async fn second_factor_passed(
        &self,
        subject: Subject<'_>,
        proof: Proof<'_>,
        device: Option<String>,
        factor: Option<NewFactor>,
        client: &Client,
    ) -> AuthResult<Passed> {
        let method = proof.method();
        let device_part = device
            .as_deref()
            .map(|name| format!(" device={name}"))
            .unwrap_or_default();
        let user = &subject.user;
        match subject.stage {
            Stage::Login {
                pending,
                remember_browser,
            } => {
                let detail = format!("method={}{device_part}", method.as_str());
                // A lost device is no time to remember a browser.
                let factor = GivenFactor {
                    method,
                    remember_browser: remember_browser && method != Method::RecoveryCode,
                };
                let signed_in = self
                    .complete_login(pending.as_ref(), user, client, factor, &detail)
                    .await?;
                Ok(Passed::SignedIn(signed_in))
            }
            Stage::StepUp(account) => {
                let token = Token::generate();
                if !self
                    .store
                    .rotate_session(
                        account.session.token_hash,
                        token.hash(),
                        self.clock.now(),
                        method.as_str(),
                    )
                    .await?
                {
                    return Err(AuthError::Unauthenticated);
                }
                let detail = format!("step_up method={}{device_part}", method.as_str());
                self.audit(
                    AuditEvent::LoginSecondFactorOk,
                    Some(&user.username),
                    client,
                    &detail,
                )
                .await;
                Ok(Passed::SteppedUp(token))
            }
            Stage::Programmatic => Ok(Passed::Proven),
            Stage::Enrol {
                enroller, device, ..
            } => {
                let factor = factor.expect("an accepted enrolment carries its factor");
                let kind = if device.hardware {
                    "hardware_totp"
                } else {
                    "totp"
                };
                let detail = format!("kind={kind} device={}", device.name);
                let signed_in = self
                    .confirm_factor(enroller, factor, client, &detail, &detail)
                    .await?;
                Ok(Passed::Enrolled(Confirmed {
                    device_id: device.id,
                    signed_in,
                }))
            }
        }
    }

    /// What a refusal costs, by intent: a sign-in counts it against the
    /// pending login, a step-up records it; an enrolment code is simply wrong.
    async fn second_factor_refused(
        &self,
        subject: &Subject<'_>,
        proof: Proof<'_>,
        reason: Option<String>,
        client: &Client,
    ) -> AuthResult<Passed> {
        let reason = reason
            .map(|reason| format!(" refused: {reason}"))
            .unwrap_or_default();
        let method = proof.method().as_str();
        match &subject.stage {
            Stage::Login { pending, .. } => {
                let detail = format!("method={method}{reason}");
                match pending {
                    Some(pending) => {
                        self.second_factor_failed(pending, &subject.user, client, &detail)
                            .await
                    }
                    None => {
                        self.audit(
                            AuditEvent::LoginSecondFactorFailed,
                            Some(&subject.user.username),
                            client,
                            &detail,
                        )
                        .await
                    }
                }
            }
            Stage::StepUp(_) | Stage::Programmatic => {
                let intent = match subject.stage {
                    Stage::Programmatic => "session_token",
                    _ => "step_up",
                };
                let detail = format!("{intent} method={method}{reason}");
                self.audit(
                    AuditEvent::LoginSecondFactorFailed,
                    Some(&subject.user.username),
                    client,
                    &detail,
                )
                .await;
            }
            Stage::Enrol { .. } => return Err(AuthError::InvalidEnrolmentCode),
        }
        Err(proof.refusal())
    }

    /// A sign-in's second step with an authenticator-app code, as one store
    /// transaction: the code is matched here (the seeds are sealed), and the
    /// store judges the throttle, the time step and the pending login, then
    /// writes what passing or failing writes, all committed together. A
    /// right code is never charged, so it is never "in flight"; a lock held
    /// only by attempts other paths are judging is waited for, as
    /// `charge_attempt` waits.
    async fn sign_in_with_totp(
        &self,
        subject: Subject<'_>,
        code: &str,
        client: &Client,
    ) -> AuthResult<Passed> {
        let Stage::Login {
            pending: Some(pending),
            remember_browser,
        } = &subject.stage
        else {
            return Err(AuthError::Unauthenticated);
        };
        let user = &subject.user;
        let now = self.clock.now();
        let event =
            |event, detail: &str| self.unlogged_record(event, Some(&user.username), client, detail);
        let mut candidates = Vec::new();
        for device in &subject.devices {
            if device.kind != DeviceKind::Totp || !device.confirmed {
                continue;
            }
            let Some(seed) = self.device_seed(device)? else {
                continue;
            };
            // The newest step the code matches: the store takes it only if
            // it is newer than the device's last one.
            if let Some(step) = totp::verify(&seed, code, now, device.totp_offset_steps, None) {
                candidates.push(TotpCandidate {
                    device_id: device.id.clone(),
                    step,
                    passed_event: event(
                        AuditEvent::LoginSecondFactorOk,
                        &format!("method=totp device={}", device.name),
                    ),
                });
            }
        }
        let charges = if self.settings.throttle.enabled {
            self.totp_device_charges(&subject.devices)
        } else {
            Vec::new()
        };
        let (token, session) = self.new_session(user.id, Method::Totp, client);
        let (known_client, known_client_renewal) = self.known_client_renewal(client);
        let remembered = remember_browser
            .then(|| self.browser_to_remember(user, Method::Totp, client))
            .flatten();
        let failed = |detail: &str| event(AuditEvent::LoginSecondFactorFailed, detail);
        let step = SecondFactorStep {
            user: user.id,
            now,
            charges,
            candidates,
            pending: pending.token_hash,
            passed: StepPassed {
                session,
                keep_sessions: MAX_SESSIONS_PER_USER,
                known_client: known_client_renewal,
                remember: remembered.as_ref().map(|(_, remember)| remember.clone()),
            },
            refused: StepRefused {
                max_failures: MAX_SECOND_FACTOR_FAILURES,
                event: failed("method=totp"),
                voided_event: failed(&voided_detail("method=totp")),
            },
        };
        let give_up_at = Self::judging_deadline();
        loop {
            let judged = self.in_flight.judged.notified();
            tokio::pin!(judged);
            judged.as_mut().enable();
            match self.store.complete_second_factor(step.clone()).await? {
                StepVerdict::Locked {
                    retry_after_secs,
                    key,
                } => {
                    if self.judged_meanwhile(&key, judged, give_up_at).await {
                        continue;
                    }
                    return Err(self
                        .refuse_throttled(&key, retry_after_secs, now, &user.username, client)
                        .await);
                }
                StepVerdict::Passed {
                    device_id,
                    new_known_client,
                } => {
                    if let Some(accepted) =
                        step.candidates.iter().find(|c| c.device_id == device_id)
                    {
                        log_event(&accepted.passed_event);
                    }
                    let remembered_browser = remembered.map(|(token, remember)| {
                        log_event(&remember.event);
                        token
                    });
                    return Ok(Passed::SignedIn(SignedIn {
                        token,
                        username: user.username.clone(),
                        known_client: new_known_client.then_some(known_client),
                        remembered_browser,
                    }));
                }
                // Told apart from a wrong code: "wait for the next one".
                StepVerdict::Replayed => return Err(AuthError::CodeJustUsed),
                StepVerdict::Refused { voided } => {
                    let refused = &step.refused;
                    log_event(if voided {
                        &refused.voided_event
                    } else {
                        &refused.event
                    });
                    return Err(AuthError::InvalidCode);
                }
                StepVerdict::PendingGone => return Err(AuthError::Unauthenticated),
            }
        }
    }

    /// Checks `code` against the confirmed TOTP devices and records the time
    /// step as used (a code works once).
    pub(crate) async fn accept_totp_code(
        &self,
        devices: &[DeviceRecord],
        code: &str,
    ) -> AuthResult<CodeCheck> {
        let now = self.clock.now();
        let mut replayed = false;
        for device in devices {
            if device.kind != DeviceKind::Totp || !device.confirmed {
                continue;
            }
            let Some(seed) = self.device_seed(device)? else {
                continue;
            };
            let offset = device.totp_offset_steps;
            match totp::verify(&seed, code, now, offset, device.totp_last_step) {
                // The conditional update fails when a parallel request used
                // this step first.
                Some(step)
                    if self
                        .store
                        .accept_totp_step(&device.id, step, now, None)
                        .await? =>
                {
                    return Ok(CodeCheck::Accepted(device.clone()));
                }
                Some(_) => replayed = true,
                None => replayed |= totp::verify(&seed, code, now, offset, None).is_some(),
            }
        }
        Ok(if replayed {
            CodeCheck::Replayed
        } else {
            CodeCheck::Wrong
        })
    }
}

impl Passed {
    /// The session a sign-in or a first-login enrolment opened.
    pub(crate) fn into_signed_in(self) -> AuthResult<SignedIn> {
        match self {
            Passed::SignedIn(signed_in) => Ok(signed_in),
            Passed::Enrolled(Confirmed {
                signed_in: Some(signed_in),
                ..
            }) => Ok(signed_in),
            _ => Err(AuthError::Unexpected(anyhow::anyhow!(
                "a sign-in's second factor opened no session"
            ))),
        }
    }
}
