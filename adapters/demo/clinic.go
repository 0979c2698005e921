package demo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// ClinicInvitations is a private clinic's list of people invited to its video-meeting events (seed
// 004, the IMY decision on Kry). It stores e-mail addresses and phone numbers only as unsalted
// SHA-256 hashes: recomputable from the verified identifier, so personal data, and linkable.
type ClinicInvitations struct{ DB *pgxpool.Pool }

func (ClinicInvitations) Declaration() contracts.Declaration {
	return mustDeclaration("clinic-event-invitations")
}

func (r ClinicInvitations) Setup(ctx context.Context) error {
	return setup(ctx, r.DB, "clinic", `CREATE TABLE clinic.invitations (id bigserial PRIMARY KEY, email_sha256 text,
		phone_sha256 text, event text NOT NULL, invited_at timestamptz NOT NULL, opted_out boolean NOT NULL DEFAULT false,
		restricted boolean NOT NULL DEFAULT false);
		-- erasures keeps one row per erasure carried out, for the count of effects in the crash test.
		CREATE TABLE clinic.erasures (task_id text NOT NULL, erased int NOT NULL, at timestamptz NOT NULL DEFAULT now());`,
		func(tx pgx.Tx) error {
			aino, matti := People[0], People[1]
			_, err := tx.Exec(context.Background(), `INSERT INTO clinic.invitations (email_sha256, phone_sha256, event, invited_at) VALUES
				($1, $2, 'Webinar: sleep and recovery', '2026-09-14 12:00+03'),
				($1, NULL, 'Webinar: healthy heart', '2026-10-20 12:00+03'),
				($3, $4, 'Webinar: sleep and recovery', '2026-09-14 12:00+03')`,
				contracts.HashSHA256(contracts.IdentifierEmail, aino.Email), contracts.HashSHA256(contracts.IdentifierPhone, aino.Phone),
				contracts.HashSHA256(contracts.IdentifierEmail, matti.Email), contracts.HashSHA256(contracts.IdentifierPhone, matti.Phone))
			return err
		})
}

// match hashes the verified identifiers, as the register stores them, and searches by the hashes.
func (ClinicInvitations) match(q sdk.Query) (string, []any) {
	email, _ := q.SHA256(contracts.IdentifierEmail)
	phone, _ := q.SHA256(contracts.IdentifierPhone)
	return `(($1 <> '' AND email_sha256 = $1) OR ($2 <> '' AND phone_sha256 = $2))`, []any{email, phone}
}

// Operations: all but rectification. An objection stops invitations: direct marketing ends on
// objection, absolutely (Art 21(3)).
func (r ClinicInvitations) Operations() sdk.Operations {
	set := func(statement string) func(context.Context, sdk.Query) (int, error) {
		return func(ctx context.Context, q sdk.Query) (int, error) { return r.apply(ctx, q, statement) }
	}
	return sdk.Operations{Lookup: r.lookup, Erase: r.erase, Recipients: r.recipients,
		Object:          set(`UPDATE clinic.invitations SET opted_out = true WHERE `),
		Restrict:        set(`UPDATE clinic.invitations SET restricted = true WHERE `),
		LiftRestriction: set(`UPDATE clinic.invitations SET restricted = false WHERE `)}
}

func (r ClinicInvitations) lookup(ctx context.Context, q sdk.Query) ([]contracts.Record, error) {
	where, args := r.match(q)
	rows, err := r.DB.Query(ctx, `SELECT email_sha256, phone_sha256, event, invited_at, opted_out, restricted
		FROM clinic.invitations WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return records(rows, "event invitations")
}

func (r ClinicInvitations) erase(ctx context.Context, q sdk.Query) (int, error) {
	where, args := r.match(q)
	return applyOnce(ctx, r.DB, "clinic", q.TaskID, func(tx pgx.Tx) (int, error) {
		tag, err := tx.Exec(ctx, `DELETE FROM clinic.invitations WHERE `+where, args...)
		if err != nil {
			return 0, err
		}
		_, err = tx.Exec(ctx, `INSERT INTO clinic.erasures (task_id, erased) VALUES ($1, $2)`, q.TaskID, tag.RowsAffected())
		return int(tag.RowsAffected()), err
	})
}

// recipients names the delivery provider that sent the subject's invitations, if any were sent.
func (r ClinicInvitations) recipients(ctx context.Context, q sdk.Query) ([]string, error) {
	where, args := r.match(q)
	rows, _ := r.DB.Query(ctx, `SELECT DISTINCT 'E-mail and SMS delivery provider (processor, EU)' FROM clinic.invitations WHERE `+where, args...)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return names, nil
}

func (r ClinicInvitations) apply(ctx context.Context, q sdk.Query, statement string) (int, error) {
	where, args := r.match(q)
	return applyOnce(ctx, r.DB, "clinic", q.TaskID, func(tx pgx.Tx) (int, error) {
		tag, err := tx.Exec(ctx, statement+where, args...)
		return int(tag.RowsAffected()), err
	})
}
