-- Nothing in clear that need not be (README, "Nothing in clear"). A case's subject — the name, the
-- identifiers, the contact address, what the subject wrote and the identifiers supplied later — is
-- kept sealed in `subject` (AES-256-GCM under a key derived from the payload keys, bound to the
-- case), and found by keyed blind indexes (HMAC): the subject at sign-in, the personal identity code
-- (a person's requests, Art 12(5)'s earlier ones, the office's search) and the name (the office's
-- search). The services seal the rows kept in clear before this (cases.SealInClear) when they start;
-- the clear columns are then empty.
ALTER TABLE cases ADD COLUMN subject jsonb;
ALTER TABLE cases ADD COLUMN subject_key bytea;
ALTER TABLE cases ADD COLUMN identity_code_key bytea;
ALTER TABLE cases ADD COLUMN name_key bytea;
ALTER TABLE cases ALTER COLUMN subject_id DROP NOT NULL;
ALTER TABLE cases ALTER COLUMN subject_name DROP NOT NULL;
ALTER TABLE cases ALTER COLUMN identifiers DROP NOT NULL;
ALTER TABLE cases ALTER COLUMN details DROP NOT NULL;
ALTER TABLE cases ALTER COLUMN supplied_identifiers DROP NOT NULL;
DROP INDEX cases_by_subject;
CREATE INDEX cases_by_subject ON cases (subject_key, received_at DESC);
CREATE INDEX cases_by_identity_code ON cases (identity_code_key);
CREATE INDEX cases_by_name ON cases (name_key);

-- One-time codes: the code is kept as an HMAC under a server-side key, so that a copy of the table
-- does not give it away to a million guesses; the identifier it confirms is kept sealed while the
-- challenge is open, and found by its blind index; the subject, by theirs. Codes made before are
-- spent (a new one is a click away), and their values erased.
UPDATE identifier_challenges SET spent_at = coalesce(spent_at, now()), value = NULL WHERE used_at IS NULL OR value IS NOT NULL;
ALTER TABLE identifier_challenges ADD COLUMN value_sealed jsonb;
ALTER TABLE identifier_challenges ADD COLUMN value_key bytea;
ALTER TABLE identifier_challenges ADD COLUMN subject_key bytea;
ALTER TABLE identifier_challenges ALTER COLUMN code_salt DROP NOT NULL;
UPDATE identifier_challenges SET subject_id = NULL;
DROP INDEX identifier_challenges_by_subject;
CREATE INDEX identifier_challenges_by_subject ON identifier_challenges (subject_key, created_at);
DROP INDEX identifier_challenges_unerased;
CREATE INDEX identifier_challenges_unerased ON identifier_challenges (expires_at) WHERE value_sealed IS NOT NULL;

-- Messages: the recipient and the contents are sealed with the message; the dev mailbox likewise.
ALTER TABLE outbox ADD COLUMN sealed jsonb;
ALTER TABLE dev_mailbox ADD COLUMN sealed jsonb;
UPDATE outbox SET recipient = '', payload = '{}' WHERE sent_at IS NOT NULL;
DELETE FROM dev_mailbox;

-- Sessions keep their data sealed; those kept in clear end here (people sign in again).
DELETE FROM sessions;

-- The record's chain is keyed (README, "A record that proves itself"): each entry's link is an
-- HMAC, under the key key_id names, of the link before it and the entry in canonical form. Entries
-- written before have no key_id: they stay as they were, and the first keyed entry links to them.
ALTER TABLE audit_log ADD COLUMN key_id text;
CREATE INDEX audit_log_by_actor ON audit_log (actor, seq);

-- Rate limits: a count of calls per key (a blind index of the subject or the address) and window.
CREATE TABLE rate_counts (
    key          bytea       NOT NULL,
    window_start timestamptz NOT NULL,
    count        int         NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counts_by_window ON rate_counts (window_start);
