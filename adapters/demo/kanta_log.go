package demo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// LongLogEntries is how many generated entries Liisa's processing log holds besides her two own.
const LongLogEntries = 3000

// KantaProcessingLog is the Kanta Services log of who processed a person's data and why (seed 001).
// An access request returns the organisations, dates and purposes. Log data is protected against
// editing and deletion, so lookup is its only operation. Each entry is also a processing event, which
// the dev stack publishes from the table with the generic SQL adapter's processing_log
// (adapters/sqladapter/examples/kanta-processing-log.json), and LiveViews adds made-up entries as
// time goes on.
type KantaProcessingLog struct{ DB *pgxpool.Pool }

func (KantaProcessingLog) Declaration() contracts.Declaration {
	return mustDeclaration("kanta-processing-log")
}

// logColumns are the entries' columns besides those of the first version of the table: who acted
// (role, and the professional's name, which Act 703/2023 makes the client's to know), what was done,
// to whom data was disclosed, and until when an entry is held back. A table made before they were
// added gets them at start.
const logColumns = `ALTER TABLE kanta_log.entries
	ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'physician',
	ADD COLUMN IF NOT EXISTS professional text,
	ADD COLUMN IF NOT EXISTS operation text NOT NULL DEFAULT 'view',
	ADD COLUMN IF NOT EXISTS recipient text,
	ADD COLUMN IF NOT EXISTS embargo_until timestamptz`

func (r KantaProcessingLog) Setup(ctx context.Context) error {
	err := setup(ctx, r.DB, "kanta_log", `CREATE TABLE kanta_log.entries (id bigserial PRIMARY KEY,
		personal_identity_code text NOT NULL, processed_at timestamptz NOT NULL, organisation text NOT NULL,
		purpose text NOT NULL, service text NOT NULL); `+logColumns+`;`,
		func(tx pgx.Tx) error {
			aino, liisa := People[0].PersonalIdentityCode, People[2].PersonalIdentityCode
			_, err := tx.Exec(context.Background(), `INSERT INTO kanta_log.entries
				(personal_identity_code, processed_at, organisation, purpose, service, role, professional) VALUES
				($1, '2026-02-03 09:14+02', 'Esimerkkilän terveyskeskus', 'care relationship: appointment', 'Patient Data Repository', 'physician', 'Laura Lääkäri'),
				($1, '2026-02-03 09:20+02', 'Apteekki Esimerkki', 'dispensing a prescription', 'Prescription Centre', 'pharmacist', 'Pekka Proviisori'),
				($2, '2025-11-21 14:02+02', 'Esimerkkilän sosiaalitoimi', 'social welfare client relationship', 'Client Data Repository for Social Welfare', 'social worker', 'Sanna Sosiaalityöntekijä'),
				($2, '2026-01-08 10:45+02', 'Kela', 'fault investigation requested by the client', 'Kanta Services maintenance', 'service maintenance', NULL)`,
				aino, liisa)
			if err != nil {
				return err
			}
			// Years of home care: Liisa's log is too long to travel inline, so her access package
			// shows the large-result path (a sealed package) in the dev stack.
			_, err = tx.Exec(context.Background(), `INSERT INTO kanta_log.entries
				(personal_identity_code, processed_at, organisation, purpose, service, role)
				SELECT $1, timestamptz '2021-01-04 08:00+02' + n * interval '13 hours 7 minutes',
					(ARRAY['Esimerkkilän kotihoito', 'Esimerkkilän terveyskeskus', 'Apteekki Esimerkki'])[n % 3 + 1],
					(ARRAY['care relationship: home care visit', 'care relationship: nurse consultation', 'dispensing a prescription'])[n % 3 + 1],
					(ARRAY['Patient Data Repository', 'Patient Data Repository', 'Prescription Centre'])[n % 3 + 1],
					(ARRAY['practical nurse', 'nurse', 'pharmacist'])[n % 3 + 1]
				FROM generate_series(1, $2) n`, liisa, LongLogEntries)
			return err
		})
	if err != nil {
		return err
	}
	_, err = r.DB.Exec(ctx, logColumns)
	return err
}

func (r KantaProcessingLog) Operations() sdk.Operations { return sdk.Operations{Lookup: r.lookup} }

func (r KantaProcessingLog) lookup(ctx context.Context, q sdk.Query) ([]contracts.Record, error) {
	hetu, _ := q.Identifier(contracts.IdentifierPersonalIdentityCode)
	rows, err := r.DB.Query(ctx, `SELECT processed_at, organisation, purpose, service FROM kanta_log.entries
		WHERE personal_identity_code = $1 ORDER BY processed_at`, hetu)
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return records(rows, "processing log")
}
