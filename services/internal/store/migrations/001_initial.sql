-- Cases: one row per request, written by the request workflow's first activity.
CREATE TABLE cases (
    request_id      uuid PRIMARY KEY,
    received_at     timestamptz NOT NULL,
    channel         text        NOT NULL,
    right_invoked   text        NOT NULL,
    language        text        NOT NULL,
    subject_id      text        NOT NULL,
    subject_name    text        NOT NULL,
    identity_method text        NOT NULL,
    identity_level  text        NOT NULL,
    identifiers     jsonb       NOT NULL,
    contact_email   text,
    details         text        NOT NULL DEFAULT '',
    rectification   jsonb,
    status          text        NOT NULL,
    deadline        date        NOT NULL,
    internal_target date        NOT NULL,
    replied_at      timestamptz,
    replied_by      text,
    extended_at     timestamptz,
    extended_by     text,
    extension_reasons text,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_by_subject ON cases (subject_id, received_at DESC);
CREATE INDEX cases_by_deadline ON cases (status, deadline);

-- What the rules said, and what each register answered, per case.
CREATE TABLE case_registers (
    request_id         uuid NOT NULL REFERENCES cases ON DELETE CASCADE,
    register_id        text NOT NULL,
    declaration_digest text NOT NULL,
    plan               jsonb NOT NULL,
    -- awaited: a task goes to this register, and the case waits for its answer.
    awaited            boolean NOT NULL DEFAULT false,
    dispatched_at      timestamptz,
    result_status      text,
    result_at          timestamptz,
    result             jsonb,
    outcome            jsonb,
    PRIMARY KEY (request_id, register_id)
);

-- Every version of every register's declaration; a version is in force from its approval on.
CREATE TABLE register_declarations (
    register_id   text        NOT NULL,
    digest        text        NOT NULL,
    version       text        NOT NULL,
    declaration   jsonb       NOT NULL,
    capabilities  jsonb       NOT NULL,
    announced_at  timestamptz NOT NULL DEFAULT now(),
    approved_by   text,
    approved_at   timestamptz,
    PRIMARY KEY (register_id, digest)
);
CREATE INDEX register_declarations_in_force ON register_declarations (register_id, approved_at DESC) WHERE approved_at IS NOT NULL;

CREATE TABLE register_liveness (
    register_id text PRIMARY KEY,
    instance    text        NOT NULL,
    digest      text        NOT NULL,
    last_seen   timestamptz NOT NULL
);

-- The record: append-only and hash-chained, so that an edit or a deletion shows.
CREATE TABLE audit_log (
    seq        bigserial PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text        NOT NULL,
    actor_role text        NOT NULL,
    action     text        NOT NULL,
    request_id uuid,
    purpose    text        NOT NULL DEFAULT '',
    detail     jsonb       NOT NULL DEFAULT '{}',
    prev_hash  bytea       NOT NULL,
    hash       bytea       NOT NULL
);
CREATE INDEX audit_log_by_request ON audit_log (request_id, seq);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Messages to send, written in the same transaction as the decision that causes them.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    dedup_key  text        NOT NULL UNIQUE,
    kind       text        NOT NULL,
    request_id uuid,
    recipient  text        NOT NULL,
    language   text        NOT NULL,
    payload    jsonb       NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    attempts   int         NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;

-- Messages the dev notifier captured instead of sending, for a person to read.
CREATE TABLE dev_mailbox (
    id         bigserial PRIMARY KEY,
    outbox_id  bigint      NOT NULL UNIQUE REFERENCES outbox,
    channel    text        NOT NULL,
    recipient  text        NOT NULL,
    subject    text        NOT NULL,
    body       text        NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT now()
);

-- Server-side sessions: the only cookie the sites set is the session id, whose hash keys this table.
CREATE TABLE sessions (
    id_hash    bytea PRIMARY KEY,
    site       text        NOT NULL,
    data       jsonb       NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
