package store

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5"
)

// Roles are the two PostgreSQL roles of the platform's database. Owner owns every table and is the
// only role Migrate connects as; App is the role the services connect as: it owns nothing, so it
// cannot alter a table or drop the record's append-only trigger, and its grants let it only insert
// into and read the record. In production a database administrator makes them
// (deploy/postgres/roles.sh); the dev stack and the tests make them with SetUpRoles.
type Roles struct {
	Owner, App string
}

// DefaultRoles are the roles' names unless configured otherwise.
var DefaultRoles = Roles{Owner: "kirjaamo_owner", App: "kirjaamo_app"}

// SetUpRoles makes the roles on a server, as its superuser (superuserURL names the database to use),
// with the given passwords, makes Owner own that database and everything already in its public
// schema (a database used before the roles were split was the superuser's), and returns the
// database's URL for each role. It may be run again.
func SetUpRoles(ctx context.Context, superuserURL string, r Roles, ownerPassword, appPassword string) (ownerURL, appURL string, err error) {
	conn, err := pgx.Connect(ctx, superuserURL)
	if err != nil {
		return "", "", fmt.Errorf("store: roles: %w", err)
	}
	defer conn.Close(context.Background())
	database := conn.Config().Database
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		// Roles are the cluster's: several databases set up at once must not race to create them.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(7412120)`); err != nil {
			return err
		}
		for _, role := range []struct{ name, password string }{{r.Owner, ownerPassword}, {r.App, appPassword}} {
			id := pgx.Identifier{role.name}.Sanitize()
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role.name).Scan(&exists); err != nil {
				return err
			}
			verb := "CREATE"
			if exists {
				verb = "ALTER"
			}
			// A password is not a parameter a utility statement takes: it is quoted as a literal.
			if _, err := tx.Exec(ctx, verb+` ROLE `+id+` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD `+quote(role.password)); err != nil {
				return err
			}
		}
		owner := pgx.Identifier{r.Owner}.Sanitize()
		if _, err := tx.Exec(ctx, `ALTER DATABASE `+pgx.Identifier{database}.Sanitize()+` OWNER TO `+owner); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `ALTER SCHEMA public OWNER TO `+owner); err != nil {
			return err
		}
		// Whatever a superuser made here before goes to the owner.
		rows, err := tx.Query(ctx, `SELECT format('ALTER TABLE %I OWNER TO %I', c.relname, $1::text) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
			AND pg_get_userbyid(c.relowner) <> $1
			UNION ALL SELECT format('ALTER FUNCTION %I.%I OWNER TO %I', n.nspname, p.proname, $1::text) FROM pg_proc p
			JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> $1`, r.Owner)
		if err != nil {
			return err
		}
		stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		for _, stmt := range stmts {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return "", "", fmt.Errorf("store: roles: %w", err)
	}
	u, err := url.Parse(superuserURL)
	if err != nil {
		return "", "", fmt.Errorf("store: roles: %w", err)
	}
	u.User = url.UserPassword(r.Owner, ownerPassword)
	ownerURL = u.String()
	u.User = url.UserPassword(r.App, appPassword)
	return ownerURL, u.String(), nil
}

func quote(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
