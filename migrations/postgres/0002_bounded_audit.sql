-- What a client without an account can add to the audit trail is bounded:
-- events that repeat (a throttled attempt during one lockout, the events of
-- one address beyond its budget for a minute) update one row, found by its
-- merge key, and count the repeats instead of appending a row each.
ALTER TABLE audit_events ADD COLUMN merge_key TEXT;
ALTER TABLE audit_events ADD COLUMN repeats BIGINT NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX audit_events_by_merge_key ON audit_events(merge_key)
    WHERE merge_key IS NOT NULL;
