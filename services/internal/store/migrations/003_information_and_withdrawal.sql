-- Identifiers the subject supplied after sending the request, so that registers which could not
-- identify them can be searched (Art 11(2), 12(6)). Each entry keeps its type, value, channel and
-- time, and is marked unverified: nobody confirmed that the identifier is the subject's.
ALTER TABLE cases ADD COLUMN supplied_identifiers jsonb NOT NULL DEFAULT '[]';
-- The subject's withdrawal of the request, before the reply.
ALTER TABLE cases ADD COLUMN withdrawn_at timestamptz;
-- When the rules were evaluated again for a register, with an identifier the subject supplied.
ALTER TABLE case_registers ADD COLUMN replanned_at timestamptz;
-- When the register's task was cancelled through its effect record, before any instance claimed it.
ALTER TABLE case_registers ADD COLUMN cancelled_at timestamptz;
