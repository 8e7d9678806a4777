-- Programmatic access, as AWS's access keys and STS: long-lived access keys
-- (at most two a user, the secret kept only as a keyed hash), roles an admin
-- defines (who may assume them, their policies, how long), and temporary
-- credentials (tokens kept only as their SHA-256). Deleting a user, a key or
-- a role takes what hangs on it with it (foreign keys cascade).
CREATE TABLE access_keys (
    id           TEXT    PRIMARY KEY,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- HMAC-SHA256 of the secret under a key derived from the secrets key.
    secret_hash  BLOB    NOT NULL,
    active       INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER
);
CREATE INDEX access_keys_by_user ON access_keys(user_id);

CREATE TABLE access_roles (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL UNIQUE,
    max_duration_secs INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE TABLE access_role_policies (
    role_id   INTEGER NOT NULL REFERENCES access_roles(id) ON DELETE CASCADE,
    policy_id INTEGER NOT NULL REFERENCES access_policies(id) ON DELETE CASCADE,
    PRIMARY KEY (role_id, policy_id)
);

-- Who may assume a role: exactly one group or one user a row.
CREATE TABLE access_role_trust (
    role_id  INTEGER NOT NULL REFERENCES access_roles(id) ON DELETE CASCADE,
    group_id INTEGER REFERENCES access_groups(id) ON DELETE CASCADE,
    user_id  INTEGER REFERENCES users(id) ON DELETE CASCADE,
    CHECK ((group_id IS NULL) <> (user_id IS NULL))
);
CREATE INDEX access_role_trust_by_role ON access_role_trust(role_id);

CREATE TABLE temporary_credentials (
    token_hash    BLOB    PRIMARY KEY,
    id            TEXT    NOT NULL UNIQUE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- The key it was made from (directly, or through the credential a role
    -- was assumed with): deleting the key ends it.
    access_key_id TEXT    REFERENCES access_keys(id) ON DELETE CASCADE,
    role_id       INTEGER REFERENCES access_roles(id) ON DELETE CASCADE,
    -- The second factor behind it, when one was given.
    mfa_method    TEXT,
    mfa_at        INTEGER,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX temporary_credentials_by_user ON temporary_credentials(user_id);
CREATE INDEX temporary_credentials_by_key ON temporary_credentials(access_key_id);
CREATE INDEX temporary_credentials_by_role ON temporary_credentials(role_id);
