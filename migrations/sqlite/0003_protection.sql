-- Account protection: throttle counters, known clients, and the canary that
-- proves the secrets key at startup. Times are Unix seconds (UTC).

-- One failure counter per key, e.g. `password:account_ip:alice|192.0.2.1`,
-- `password:account:alice`, `password:ip:192.0.2.1`, `totp:device:<id>`.
-- Kept in the store so limits survive a restart and hold across instances.
CREATE TABLE throttle_counters (
    key          TEXT    PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    locked_until INTEGER NOT NULL,
    -- When the counter no longer matters (swept after that).
    forget_at    INTEGER NOT NULL
);
CREATE INDEX throttle_counters_by_forget_at ON throttle_counters(forget_at);

-- Browsers that passed both factors for a user (a long-lived cookie; only its
-- SHA-256 is kept). The per-account password limit does not apply to them.
CREATE TABLE known_clients (
    token_hash BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX known_clients_by_user ON known_clients(user_id);

-- A fixed text sealed with the secrets key when the first key is adopted:
-- opening it at startup proves the configured key is the right one.
CREATE TABLE sealed_canary (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB    NOT NULL
);

CREATE UNIQUE INDEX recovery_codes_by_hash ON recovery_codes(user_id, code_hash);
