package demo

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// KantaClientRegister is Kela's Kanta Services client register (seed 003): the contact persons of
// the organisations that use Kanta. Access, rectification and restriction apply; erasure and
// portability do not, so its operations have no erasure.
type KantaClientRegister struct{ DB *pgxpool.Pool }

func (KantaClientRegister) Declaration() contracts.Declaration {
	return mustDeclaration("kanta-client-register")
}

func (r KantaClientRegister) Setup(ctx context.Context) error {
	return setup(ctx, r.DB, "kanta_client", `CREATE TABLE kanta_client.contacts (id serial PRIMARY KEY, personal_identity_code text,
		email text, name text NOT NULL, phone text, organisation text NOT NULL, role text NOT NULL, client_since date NOT NULL, restricted boolean NOT NULL DEFAULT false);`,
		func(tx pgx.Tx) error {
			aino, matti := People[0], People[1]
			_, err := tx.Exec(context.Background(), `INSERT INTO kanta_client.contacts
				(personal_identity_code, email, name, phone, organisation, role, client_since) VALUES
				($1, $2, $3, $4, 'Esimerkkilän terveyskeskus', 'fault notification contact', '2021-03-01'),
				($5, $6, $7, $8, 'Apteekki Esimerkki', 'invoicing contact', '2019-10-15')`,
				aino.PersonalIdentityCode, aino.Email, aino.Name(), aino.Phone,
				matti.PersonalIdentityCode, matti.Email, matti.Name(), matti.Phone)
			return err
		})
}

func (r KantaClientRegister) Operations() sdk.Operations {
	return sdk.Operations{Lookup: r.lookup, Rectify: r.rectify, Recipients: r.recipients,
		Restrict:        func(ctx context.Context, q sdk.Query) (int, error) { return r.setRestricted(ctx, q, true) },
		LiftRestriction: func(ctx context.Context, q sdk.Query) (int, error) { return r.setRestricted(ctx, q, false) }}
}

const kantaClientMatch = `(personal_identity_code = $1 OR ($2 <> '' AND lower(email) = $2))`

func (r KantaClientRegister) lookup(ctx context.Context, q sdk.Query) ([]contracts.Record, error) {
	rows, err := r.DB.Query(ctx, `SELECT name, email, phone, organisation, role, client_since, restricted
		FROM kanta_client.contacts WHERE `+kantaClientMatch+` ORDER BY id`, r.who(q)...)
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return records(rows, "contact details")
}

func (r KantaClientRegister) rectify(ctx context.Context, q sdk.Query, fixes []contracts.Correction) (int, error) {
	for _, f := range fixes {
		if !correctable(r.Declaration(), f.Field) {
			return 0, sdk.Refuse("field_not_correctable", contracts.Text{FI: "Rekisterissä voi korjata vain nimen, sähköpostiosoitteen ja puhelinnumeron.",
				SV: "I registret kan endast namn, e-postadress och telefonnummer rättas.", EN: "Only the name, e-mail address and phone number can be corrected in the register."}, "GDPR Art 16")
		}
	}
	return applyOnce(ctx, r.DB, "kanta_client", q.TaskID, func(tx pgx.Tx) (int, error) {
		n := 0
		for _, f := range fixes {
			tag, err := tx.Exec(ctx, `UPDATE kanta_client.contacts SET `+f.Field+` = $3 WHERE `+kantaClientMatch, append(r.who(q), f.NewValue)...)
			if err != nil {
				return 0, err
			}
			n = max(n, int(tag.RowsAffected()))
		}
		return n, nil
	})
}

// recipients names who received a contact's data: invoicing contacts go to Kela's sales invoice register.
func (r KantaClientRegister) recipients(ctx context.Context, q sdk.Query) ([]string, error) {
	rows, _ := r.DB.Query(ctx, `SELECT DISTINCT CASE WHEN role = 'invoicing contact'
		THEN 'Kela''s client data register for sales invoices' ELSE 'Kanta Services customer communications' END
		FROM kanta_client.contacts WHERE `+kantaClientMatch, r.who(q)...)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, sdk.Unavailable(err)
	}
	return names, nil
}

func (r KantaClientRegister) setRestricted(ctx context.Context, q sdk.Query, on bool) (int, error) {
	return applyOnce(ctx, r.DB, "kanta_client", q.TaskID, func(tx pgx.Tx) (int, error) {
		tag, err := tx.Exec(ctx, `UPDATE kanta_client.contacts SET restricted = $3 WHERE `+kantaClientMatch, append(r.who(q), on)...)
		return int(tag.RowsAffected()), err
	})
}

// who is the subject's identity code and e-mail address, the arguments of kantaClientMatch.
func (KantaClientRegister) who(q sdk.Query) []any {
	hetu, _ := q.Identifier(contracts.IdentifierPersonalIdentityCode)
	email, _ := q.Identifier(contracts.IdentifierEmail)
	return []any{hetu, email}
}
