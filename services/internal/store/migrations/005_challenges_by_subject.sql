-- Codes are also counted per data subject: a subject who opens request after request could
-- otherwise have codes texted to a stranger's number without end.
ALTER TABLE identifier_challenges ADD COLUMN subject_id text;
CREATE INDEX identifier_challenges_by_subject ON identifier_challenges (subject_id, created_at);
