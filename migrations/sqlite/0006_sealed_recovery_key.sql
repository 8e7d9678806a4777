-- The key recovery codes are hashed with, sealed with the secrets key: stored
-- when the secrets key is first rotated, so the codes' hashes outlive the key
-- they were first derived from.
CREATE TABLE sealed_recovery_key (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    sealed BLOB    NOT NULL
);
