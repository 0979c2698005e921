package demo

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

//go:embed declarations/*.json
var declarations embed.FS

// Declaration returns a demo register's declaration as its owner wrote it, in declarations/.
func Declaration(registerID string) (contracts.Declaration, error) {
	var d contracts.Declaration
	data, err := declarations.ReadFile("declarations/" + registerID + ".json")
	if err != nil {
		return d, fmt.Errorf("demo: declaration %s: %w", registerID, err)
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return d, fmt.Errorf("demo: declaration %s: %w", registerID, err)
	}
	return d, nil
}

func mustDeclaration(registerID string) contracts.Declaration {
	d, err := Declaration(registerID)
	if err != nil {
		panic(err) // the declarations are embedded: a broken one is caught by the package's tests
	}
	return d
}

// Register is a demo register: an adapter plus the tables it runs on.
type Register interface {
	sdk.Register
	// Setup creates the register's schema and fills it with the demo people, once.
	Setup(ctx context.Context) error
}

// Registers returns the five demo registers over one database, each in its own schema.
func Registers(db *pgxpool.Pool) []Register {
	return []Register{
		KantaClientRegister{DB: db},
		KantaProcessingLog{DB: db},
		Koronavilkku{DB: db},
		KelaWebStatistics{DB: db},
		ClinicInvitations{DB: db},
	}
}

// setup creates a schema with its tables and, if the schema was new, seeds it in the same
// transaction: a second start, or two starting at once, changes nothing.
func setup(ctx context.Context, db *pgxpool.Pool, schema, ddl string, seed func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, schema); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return nil
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+schema+`; `+ddl+appliedTasksDDL(schema)); err != nil {
			return fmt.Errorf("demo: create %s: %w", schema, err)
		}
		if err := seed(tx); err != nil {
			return fmt.Errorf("demo: seed %s: %w", schema, err)
		}
		return nil
	})
}

// records turns rows into records of a category, one field per column, dates as ISO 8601.
func records(rows pgx.Rows, category string) ([]contracts.Record, error) {
	defer rows.Close()
	var out []contracts.Record
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return nil, err
		}
		fields := make(map[string]string, len(values))
		for i, fd := range rows.FieldDescriptions() {
			switch v := values[i].(type) {
			case nil:
				fields[fd.Name] = ""
			case time.Time:
				fields[fd.Name] = v.Format(time.RFC3339)
			default:
				fields[fd.Name] = fmt.Sprint(v)
			}
		}
		out = append(out, contracts.Record{Category: category, Fields: fields})
	}
	return out, rows.Err()
}

// correctable reports whether the register declares field correctable (Art 16).
func correctable(d contracts.Declaration, field string) bool {
	return slices.ContainsFunc(d.Correctable(), func(f contracts.RecordField) bool { return f.Name == field })
}
