-- The whole schema as SQLite's migrations 0001-0004 left it, in PostgreSQL's
-- dialect. Times are Unix seconds (UTC); hashes and seeds are bytea.
-- Usernames are unique case-insensitively (as SQLite's COLLATE NOCASE), and
-- `seq` columns keep insertion order where SQLite used its rowid.

CREATE TABLE users (
    id                    BIGSERIAL PRIMARY KEY,
    username              TEXT    NOT NULL,
    password_hash         TEXT    NOT NULL,
    admin                 BOOLEAN NOT NULL DEFAULT FALSE,
    disabled              BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            BIGINT  NOT NULL,
    password_changed_at   BIGINT  NOT NULL,
    password_last_used_at BIGINT,
    last_sign_in_at       BIGINT
);
CREATE UNIQUE INDEX users_by_lower_name ON users (lower(username));

CREATE TABLE devices (
    id                TEXT    PRIMARY KEY,
    seq               BIGSERIAL,
    user_id           BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL CHECK (kind IN ('totp', 'security_key')),
    name              TEXT    NOT NULL,
    confirmed         BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT  NOT NULL,
    last_used_at      BIGINT,
    totp_secret       BYTEA,
    totp_last_step    BIGINT,
    totp_offset_steps BIGINT  NOT NULL DEFAULT 0,
    hardware          BOOLEAN NOT NULL DEFAULT FALSE,
    credential        TEXT,
    credential_id     BYTEA,
    sign_count        BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX devices_by_user ON devices(user_id, created_at, seq);
CREATE UNIQUE INDEX devices_by_credential_id ON devices(credential_id)
    WHERE credential_id IS NOT NULL;

CREATE TABLE pending_logins (
    token_hash     BYTEA   PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    enrolment_only BOOLEAN NOT NULL,
    created_at     BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    failures       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX pending_logins_by_user ON pending_logins(user_id);
CREATE INDEX pending_logins_by_expiry ON pending_logins(expires_at);

CREATE TABLE sessions (
    token_hash       BYTEA  PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at       BIGINT NOT NULL,
    last_seen_at     BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    second_factor_at BIGINT NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(user_id);
CREATE INDEX sessions_by_expiry ON sessions(expires_at);

CREATE TABLE recovery_codes (
    id        BIGSERIAL PRIMARY KEY,
    user_id   BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash BYTEA  NOT NULL,
    used_at   BIGINT
);
CREATE UNIQUE INDEX recovery_codes_by_hash ON recovery_codes(user_id, code_hash);

CREATE TABLE audit_events (
    id         BIGSERIAL PRIMARY KEY,
    at         BIGINT NOT NULL,
    username   TEXT,
    event      TEXT   NOT NULL,
    ip         TEXT,
    user_agent TEXT,
    detail     TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_by_time ON audit_events(at);
CREATE INDEX audit_events_by_user ON audit_events(lower(username), at);

CREATE TABLE webauthn_ceremonies (
    owner_hash  BYTEA  NOT NULL,
    purpose     TEXT   NOT NULL CHECK (purpose IN ('registration', 'authentication')),
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_name TEXT,
    state       TEXT   NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (owner_hash, purpose)
);
CREATE INDEX webauthn_ceremonies_by_expiry ON webauthn_ceremonies(expires_at);

CREATE TABLE throttle_counters (
    key          TEXT   PRIMARY KEY,
    failures     BIGINT NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    forget_at    BIGINT NOT NULL
);
CREATE INDEX throttle_counters_by_forget_at ON throttle_counters(forget_at);

CREATE TABLE known_clients (
    token_hash BYTEA  PRIMARY KEY,
    seq        BIGSERIAL,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX known_clients_by_user ON known_clients(user_id);

CREATE TABLE sealed_canary (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BYTEA   NOT NULL
);
