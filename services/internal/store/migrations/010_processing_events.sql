-- Processing events: who has used a person's data, as each register tells it (contracts/PROTOCOL.md,
-- "Processing events"; services/internal/store/events). Each register's events are a log of their
-- own: stored in blocks, one per batch, each block a leaf-hash Merkle tree over its events, linked
-- to the block before it and signed (ledger), so that a person can check an event shown to them, and
-- the platform the whole log.
CREATE TABLE processing_logs (
    id          smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    register_id text NOT NULL UNIQUE
);

-- A block: the events of one register stored in one transaction. What its link covers is its
-- header (log, seq, at, count, root, first_at, last_at) in the ledger's canonical form; signature is
-- the platform's signed checkpoint of the block (ledger.Checkpoint: the log, seq, link and at).
CREATE TABLE processing_blocks (
    log        smallint    NOT NULL REFERENCES processing_logs,
    seq        bigint      NOT NULL,
    at         timestamptz NOT NULL,
    count      int         NOT NULL,
    root       bytea       NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    prev       bytea       NOT NULL,
    link       bytea       NOT NULL,
    key_id     text        NOT NULL,
    signed_by  text        NOT NULL,
    signature  bytea       NOT NULL,
    PRIMARY KEY (log, seq)
);

-- The events, append-only and partitioned by the month of the processing (processing_partition
-- makes a month's partition when the first event of it comes). In clear only what a person's page
-- filters and sorts on; everything else is sealed, bound to the row's clear columns, so that an
-- edited column or payload does not open. A person's events are found by the keyed blind index of
-- their identifier (subject); an event id is stored once per register (event_key).
CREATE TABLE processing_events (
    log           smallint    NOT NULL,
    at            timestamptz NOT NULL,
    event_key     bytea       NOT NULL,
    subject       bytea       NOT NULL,
    operation     text        NOT NULL,
    purpose       text        NOT NULL,
    embargo_until timestamptz,
    block         bigint      NOT NULL,
    position      int         NOT NULL,
    key_id        text        NOT NULL,
    sealed        bytea       NOT NULL,
    PRIMARY KEY (log, event_key, at)
) PARTITION BY RANGE (at);
CREATE INDEX processing_events_by_subject ON processing_events (subject, at DESC);
CREATE INDEX processing_events_by_block ON processing_events (log, block);
CREATE INDEX processing_events_embargoed ON processing_events (log, embargo_until) WHERE embargo_until IS NOT NULL;

-- What the services' role may not do to the events itself, the owner's functions do for it: make a
-- month's partition, and delete what a register's retention no longer allows to be kept.
-- A month is a month of UTC, whatever the session's time zone.
CREATE FUNCTION processing_partition(month date) RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
DECLARE
    first date := date_trunc('month', month)::date;
    name text := 'processing_events_' || to_char(first, 'YYYY_MM');
BEGIN
    PERFORM pg_advisory_xact_lock(7412121);
    IF to_regclass(name) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF processing_events FOR VALUES FROM (%L) TO (%L)', name,
            first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    END IF;
END $$;

CREATE FUNCTION processing_expire(expired_log smallint, before timestamptz) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM processing_events WHERE log = expired_log AND at < before;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;

-- The checkpoints published of each log (ledger.Checkpoints on JetStream holds them for good); kept
-- here too, as published, so that a page can say which published checkpoint covers an event.
CREATE TABLE processing_checkpoints (
    log        smallint NOT NULL REFERENCES processing_logs,
    seq        bigint   NOT NULL,
    checkpoint jsonb    NOT NULL,
    PRIMARY KEY (log, seq)
);

-- People who asked to be told by e-mail of a new disclosure of their data: the address sealed, found
-- by the blind indexes of their identifiers; and the notices due, when a disclosure becomes visible
-- to them (at once, or when its embargo ends).
CREATE TABLE processing_subscribers (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person   bytea       NOT NULL UNIQUE,
    address  bytea       NOT NULL,
    key_id   text        NOT NULL,
    language text        NOT NULL,
    since    timestamptz NOT NULL
);
CREATE TABLE processing_subscriber_keys (
    subject    bytea  PRIMARY KEY,
    subscriber bigint NOT NULL REFERENCES processing_subscribers ON DELETE CASCADE
);
CREATE TABLE processing_notices_due (
    subscriber bigint      NOT NULL REFERENCES processing_subscribers ON DELETE CASCADE,
    log        smallint    NOT NULL,
    event_key  bytea       NOT NULL,
    due        timestamptz NOT NULL,
    PRIMARY KEY (subscriber, log, event_key)
);
CREATE INDEX processing_notices_due_by_time ON processing_notices_due (due);
