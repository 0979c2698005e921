-- The clinic's invitations as its owner's database holds them before the adapter starts: the table
-- that clinic-event-invitations.json maps, with the test's people. E-mail addresses and phone numbers
-- are kept only as the hex SHA-256 of the normalized identifier (contracts.HashSHA256). Aino
-- (aino.virtanen@example.fi, +358401110001) has two invitations, Matti (matti.korhonen@example.fi,
-- +358401110002) one.
CREATE SCHEMA clinic;
CREATE TABLE clinic.invitations (
	id bigserial PRIMARY KEY,
	email_sha256 text,
	phone_sha256 text,
	event text NOT NULL,
	invited_at timestamptz NOT NULL,
	opted_out boolean NOT NULL DEFAULT false,
	restricted boolean NOT NULL DEFAULT false
);
INSERT INTO clinic.invitations (email_sha256, phone_sha256, event, invited_at)
SELECT encode(sha256(convert_to(email, 'UTF8')), 'hex'), encode(sha256(convert_to(phone, 'UTF8')), 'hex'), event, invited_at::timestamptz
FROM (VALUES
	('aino.virtanen@example.fi', '+358401110001', 'Webinar: sleep and recovery', '2026-09-14 12:00+03'),
	('aino.virtanen@example.fi', NULL, 'Webinar: healthy heart', '2026-10-20 12:00+03'),
	('matti.korhonen@example.fi', '+358401110002', 'Webinar: sleep and recovery', '2026-09-14 12:00+03')
) AS invited (email, phone, event, invited_at);
