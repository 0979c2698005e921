-- A case's status is one of the request's statuses (workflows/request/status.go, Statuses); a test
-- checks this list against them.
ALTER TABLE cases ADD CONSTRAINT cases_status_known CHECK (status IN ('awaiting_identity', 'received',
    'awaiting_information', 'dispatched', 'in_review', 'replied', 'restricted', 'lift_notice_sent', 'lifted',
    'withdrawn', 'identity_not_verified'));

-- A step of the request's life that failed for good waits for a clerk: which step, what kind of
-- trouble (request.Trouble: the store refused the data, or a server stayed unavailable), since when.
ALTER TABLE cases ADD COLUMN attention_step text;
ALTER TABLE cases ADD COLUMN attention_trouble text;
ALTER TABLE cases ADD COLUMN attention_since timestamptz;
CREATE INDEX cases_needing_attention ON cases (attention_since) WHERE attention_step IS NOT NULL;
