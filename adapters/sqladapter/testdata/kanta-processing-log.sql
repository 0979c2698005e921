-- The Kanta processing log as its owner's database holds it before the adapter starts: the table that
-- examples/kanta-processing-log.json maps, with the test's people. Aino (150385-9013) has two entries,
-- Liisa (311260-9039) two; Erik (081001A904M) none.
CREATE SCHEMA kanta_log;
CREATE TABLE kanta_log.entries (
	id bigserial PRIMARY KEY,
	personal_identity_code text NOT NULL,
	processed_at timestamptz NOT NULL,
	organisation text NOT NULL,
	purpose text NOT NULL,
	service text NOT NULL,
	role text NOT NULL,
	professional text,
	operation text NOT NULL DEFAULT 'view',
	recipient text,
	embargo_until timestamptz
);
INSERT INTO kanta_log.entries (personal_identity_code, processed_at, organisation, purpose, service, role, professional) VALUES
	('150385-9013', '2026-02-03 09:14+02', 'Esimerkkilän terveyskeskus', 'care relationship: appointment', 'Patient Data Repository', 'physician', 'Laura Lääkäri'),
	('150385-9013', '2026-02-03 09:20+02', 'Apteekki Esimerkki', 'dispensing a prescription', 'Prescription Centre', 'pharmacist', 'Pekka Proviisori'),
	('311260-9039', '2025-11-21 14:02+02', 'Esimerkkilän sosiaalitoimi', 'social welfare client relationship', 'Client Data Repository for Social Welfare', 'social worker', 'Sanna Sosiaalityöntekijä'),
	('311260-9039', '2026-01-08 10:45+02', 'Kela', 'fault investigation requested by the client', 'Kanta Services maintenance', 'service maintenance', NULL);
