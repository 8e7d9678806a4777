-- Authorization: groups (no nesting), named policy documents, members and
-- what each policy is attached to. Names are case-sensitive. Deleting a
-- group, a policy or a user takes its memberships and attachments with it
-- (foreign keys cascade).
CREATE TABLE access_groups (
    id   BIGSERIAL PRIMARY KEY,
    name TEXT      NOT NULL UNIQUE
);

CREATE TABLE access_policies (
    id         BIGSERIAL PRIMARY KEY,
    name       TEXT      NOT NULL UNIQUE,
    -- The JSON document exactly as it was accepted.
    document   TEXT      NOT NULL,
    updated_at BIGINT    NOT NULL
);

CREATE TABLE access_group_members (
    group_id BIGINT NOT NULL REFERENCES access_groups(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX access_group_members_by_user ON access_group_members(user_id);

-- A policy attached to exactly one group or one user.
CREATE TABLE access_attachments (
    policy_id BIGINT NOT NULL REFERENCES access_policies(id) ON DELETE CASCADE,
    group_id  BIGINT REFERENCES access_groups(id) ON DELETE CASCADE,
    user_id   BIGINT REFERENCES users(id) ON DELETE CASCADE,
    CHECK ((group_id IS NULL) <> (user_id IS NULL))
);
CREATE UNIQUE INDEX access_attachments_to_group
    ON access_attachments(group_id, policy_id) WHERE group_id IS NOT NULL;
CREATE UNIQUE INDEX access_attachments_to_user
    ON access_attachments(user_id, policy_id) WHERE user_id IS NOT NULL;
CREATE INDEX access_attachments_by_policy ON access_attachments(policy_id);

-- Bumped in the same transaction as every change above (its row lock also
-- serialises access changes across instances, so a limit is never overrun).
CREATE TABLE access_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO access_version (id, version) VALUES (1, 0);
