package demo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// Koronavilkku is THL's contact-tracing back end (seed 002). Its diagnosis keys are pseudonymous
// codes that THL cannot link to a person (Art 11), except through the phone number a person gave
// when the diagnosis was made. It is asked only when the subject supplies that number.
type Koronavilkku struct{ DB *pgxpool.Pool }

func (Koronavilkku) Declaration() contracts.Declaration { return mustDeclaration("koronavilkku") }

func (r Koronavilkku) Setup(ctx context.Context) error {
	return setup(ctx, r.DB, "koronavilkku", `CREATE TABLE koronavilkku.diagnosis_keys (id bigserial PRIMARY KEY,
		phone text, temporary_exposure_key text NOT NULL, rolling_start date NOT NULL, submitted_at timestamptz NOT NULL,
		restricted boolean NOT NULL DEFAULT false);`,
		func(tx pgx.Tx) error {
			_, err := tx.Exec(context.Background(), `INSERT INTO koronavilkku.diagnosis_keys
				(phone, temporary_exposure_key, rolling_start, submitted_at) VALUES
				($1, 'q5Pv0RwY3mB8s1bZ7tKc2A==', '2026-11-04', '2026-11-06 18:30+02'),
				($1, 'x1Jd9LmQ0eV4rT6uN2hG8w==', '2026-11-05', '2026-11-06 18:30+02'),
				(NULL, 'cT7kP2vB5nR9mW1zX3yQ6g==', '2026-11-07', '2026-11-09 08:10+02')`, People[0].Phone)
			return err
		})
}

// Operations: no erasure, which the declaration does not offer (the keys are deleted within 21 days of
// the notification of infection). An objection stops the use of the subject's keys, as a restriction
// does: they are kept only as long as the law requires.
func (r Koronavilkku) Operations() sdk.Operations {
	return sdk.Operations{Lookup: r.lookup, Rectify: r.rectify, Restrict: r.restrict, LiftRestriction: r.liftRestriction,
		Object: r.restrict}
}

func (r Koronavilkku) lookup(ctx context.Context, q sdk.Query) ([]contracts.Record, error) {
	phone, ok := q.Identifier(contracts.IdentifierPhone)
	if !ok {
		return nil, nil
	}
	rows, err := r.DB.Query(ctx, `SELECT temporary_exposure_key, rolling_start, submitted_at, restricted
		FROM koronavilkku.diagnosis_keys WHERE phone = $1 ORDER BY id`, phone)
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return records(rows, "diagnosis keys")
}

func (r Koronavilkku) restrict(ctx context.Context, q sdk.Query) (int, error) {
	return r.apply(ctx, q, `UPDATE koronavilkku.diagnosis_keys SET restricted = true WHERE phone = $1`)
}

func (r Koronavilkku) liftRestriction(ctx context.Context, q sdk.Query) (int, error) {
	return r.apply(ctx, q, `UPDATE koronavilkku.diagnosis_keys SET restricted = false WHERE phone = $1`)
}

// rectify refuses: the keys are random codes the app generated, with nothing in them to correct.
func (r Koronavilkku) rectify(ctx context.Context, q sdk.Query, _ []contracts.Correction) (int, error) {
	return 0, sdk.Refuse("nothing_to_correct", contracts.Text{
		FI: "Diagnoosiavaimet ovat sovelluksen luomia satunnaisia koodeja. Niissä ei ole tietoa, joka voisi olla virheellinen, joten korjattavaa ei ole.",
		SV: "Diagnosnycklarna är slumpmässiga koder som appen har skapat. De innehåller inga uppgifter som kan vara felaktiga, så det finns inget att rätta.",
		EN: "Diagnosis keys are random codes the app generated. They hold no information that could be inaccurate, so there is nothing to correct."},
		"GDPR Art 16; Act 1227/2016 s. 43c")
}

func (r Koronavilkku) apply(ctx context.Context, q sdk.Query, sql string) (int, error) {
	phone, ok := q.Identifier(contracts.IdentifierPhone)
	if !ok {
		return 0, nil
	}
	return applyOnce(ctx, r.DB, "koronavilkku", q.TaskID, func(tx pgx.Tx) (int, error) {
		tag, err := tx.Exec(ctx, sql, phone)
		return int(tag.RowsAffected()), err
	})
}
