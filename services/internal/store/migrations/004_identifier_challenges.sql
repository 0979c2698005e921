-- One-time codes that confirm an identifier the subject supplies (a phone number or an e-mail
-- address) is theirs before any register is searched with it (Art 5(1)(f), 12(6), 32). The code is
-- kept only as a salted hash. The value is kept while the challenge is open, because the subject
-- sends only the code back; it is erased as soon as the challenge ends (used, spent or replaced) and
-- from expired challenges whenever a new one is made. request_id has no foreign key: a phone number
-- given with the request is challenged before the request's case is recorded.
CREATE TABLE identifier_challenges (
    id              uuid PRIMARY KEY,
    request_id      uuid        NOT NULL,
    identifier_type text        NOT NULL,
    value           text,
    channel         text        NOT NULL,
    code_salt       bytea       NOT NULL,
    code_hash       bytea       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    attempts        int         NOT NULL DEFAULT 0,
    max_attempts    int         NOT NULL,
    -- verified_at: the right code was given; used_at: the identifier then went to the request.
    verified_at     timestamptz,
    used_at         timestamptz,
    -- spent_at: too many wrong codes, expired, or replaced by a newer challenge.
    spent_at        timestamptz
);
-- One open challenge per request and identifier type: a new one replaces the old.
CREATE UNIQUE INDEX identifier_challenges_open ON identifier_challenges (request_id, identifier_type)
    WHERE used_at IS NULL AND spent_at IS NULL;
CREATE INDEX identifier_challenges_unerased ON identifier_challenges (expires_at) WHERE value IS NOT NULL;
