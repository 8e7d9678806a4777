-- The two-step sign-in core: users, their second factors, pending logins,
-- sessions, recovery codes and the audit trail. Times are Unix seconds (UTC).

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    username              TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    password_hash         TEXT    NOT NULL,
    admin                 INTEGER NOT NULL DEFAULT 0,
    disabled              INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    password_changed_at   INTEGER NOT NULL,
    password_last_used_at INTEGER
);

-- One row per second factor: an authenticator app (or hardware TOTP token)
-- or a WebAuthn security key. A device counts only once confirmed.
CREATE TABLE devices (
    id                TEXT    PRIMARY KEY,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('totp', 'security_key')),
    name              TEXT    NOT NULL,
    confirmed         INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    last_used_at      INTEGER,
    -- TOTP: the seed, and the last accepted time step (a code works once).
    totp_secret       BLOB,
    totp_last_step    INTEGER,
    totp_offset_steps INTEGER NOT NULL DEFAULT 0,
    hardware          INTEGER NOT NULL DEFAULT 0,
    -- Security key: the webauthn-rs credential (JSON) and its id.
    credential        TEXT,
    credential_id     BLOB
);
CREATE INDEX devices_by_user ON devices(user_id);

-- After the password, before the second factor. Only a hash of the cookie's
-- random id is kept.
CREATE TABLE pending_logins (
    token_hash     BLOB    PRIMARY KEY,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    enrolment_only INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    failures       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX pending_logins_by_user ON pending_logins(user_id);

-- Signed-in sessions, after both factors. Only a SHA-256 of the token is kept.
CREATE TABLE sessions (
    token_hash       BLOB    PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at       INTEGER NOT NULL,
    last_seen_at     INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    second_factor_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE recovery_codes (
    id        INTEGER PRIMARY KEY,
    user_id   INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BLOB    NOT NULL,
    used_at   INTEGER
);
CREATE INDEX recovery_codes_by_user ON recovery_codes(user_id);

-- Append-only: who did what and when. Never a secret in it.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    username   TEXT,
    event      TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_time ON audit_events(at);
CREATE INDEX audit_events_by_user ON audit_events(username, at);
