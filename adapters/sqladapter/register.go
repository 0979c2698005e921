package sqladapter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// Register is a register served from a configuration: an sdk.Register whose operations are exactly
// those the configuration configures, run by sdk.Run once Setup has checked its database.
type Register struct {
	cfg    *Config
	db     *pgxpool.Pool
	before func(context.Context) error
	// columns holds, after Setup, each configured table's columns: name to type.
	columns map[string]map[string]column
	// logID is, after Setup, the type of the processing log's id column, for casts.
	logID string
}

type column struct {
	dataType string // information_schema data_type, e.g. "boolean"
	sqlType  string // the type, quoted, for casts: "pg_catalog"."int4"
}

// New makes a register of a configuration over a database. It does no I/O: call Setup (or use
// Load) before serving.
func New(cfg *Config, db *pgxpool.Pool) *Register { return &Register{cfg: cfg, db: db} }

// Load reads a configuration file, makes its register over db and sets it up: it checks that every
// configured table and column exists, and creates the applied-tasks table if missing.
func Load(ctx context.Context, path string, db *pgxpool.Pool) (*Register, error) {
	cfg, err := ReadConfig(path)
	if err != nil {
		return nil, err
	}
	r := New(cfg, db)
	return r, r.Setup(ctx)
}

// LoadFS is Load with the configuration read from fsys, such as Examples.
func LoadFS(ctx context.Context, fsys fs.FS, path string, db *pgxpool.Pool) (*Register, error) {
	cfg, err := ReadConfigFS(fsys, path)
	if err != nil {
		return nil, err
	}
	r := New(cfg, db)
	return r, r.Setup(ctx)
}

// BeforeSetup makes Setup run f first, e.g. a dev stack's creation and seeding of the tables.
func (r *Register) BeforeSetup(f func(context.Context) error) *Register {
	r.before = f
	return r
}

// Declaration is the register's declaration.
func (r *Register) Declaration() contracts.Declaration { return r.cfg.decl }

// Operations are the handlers of the operations the configuration configures, and no others. A
// lookup streams its rows (Export), so that a person with more rows than travel inline gets a
// sealed package and memory does not grow with the rows.
func (r *Register) Operations() sdk.Operations {
	var ops sdk.Operations
	for _, op := range r.cfg.Operations() {
		switch op {
		case contracts.OpLookup:
			ops.Export = r.export
		case contracts.OpRectify:
			ops.Rectify = r.rectify
		case contracts.OpErase:
			ops.Erase = r.erase
		case contracts.OpRestrict:
			ops.Restrict = func(ctx context.Context, q sdk.Query) (int, error) { return r.restrict(ctx, q, true) }
		case contracts.OpLiftRestriction:
			ops.LiftRestriction = func(ctx context.Context, q sdk.Query) (int, error) { return r.restrict(ctx, q, false) }
		case contracts.OpListRecipients:
			ops.Recipients = r.recipients
		case contracts.OpObject:
			ops.Object = r.object
		}
	}
	return ops
}

// Config is the register's configuration.
func (r *Register) Config() *Config { return r.cfg }

// Setup checks the database against the configuration, in information_schema: every table and
// column must exist, and a restriction column must be boolean. Each problem is reported with its
// path in the configuration. It then creates the applied-tasks schema and table if they are missing.
func (r *Register) Setup(ctx context.Context) error {
	if r.before != nil {
		if err := r.before(ctx); err != nil {
			return err
		}
	}
	if r.db == nil {
		return errors.New("sqladapter: no database")
	}
	cols := map[string]map[string]column{}
	for _, t := range r.cfg.Tables {
		schema, table, _ := tableName(t.Table)
		m, err := r.describe(ctx, schema, table)
		if err != nil {
			return err
		}
		cols[t.Table] = m
	}
	ce := &ConfigError{File: "configuration of " + r.cfg.decl.RegisterID + " against the database"}
	for i, t := range r.cfg.Tables {
		at := fmt.Sprintf("tables[%d]", i)
		m := cols[t.Table]
		if len(m) == 0 {
			ce.add(at+".table", "table %s does not exist (or this role may read none of its columns)", t.Table)
			continue
		}
		need := func(path, name string) {
			if _, ok := m[name]; !ok {
				ce.add(path, "column %q does not exist in %s", name, t.Table)
			}
		}
		needAll := func(path string, names []string) {
			for j, n := range names {
				need(fmt.Sprintf("%s[%d]", path, j), n)
			}
		}
		for j, id := range t.Identifiers {
			need(fmt.Sprintf("%s.identifiers[%d].column", at, j), id.Column)
		}
		if l := t.Lookup; l != nil {
			needAll(at+".lookup.columns", l.Columns)
			needAll(at+".lookup.order_by", l.OrderBy)
		}
		if e := t.Erase; e != nil {
			needAll(at+".erase.columns", e.Columns)
			if e.Column != "" {
				need(at+".erase.column", e.Column)
			}
		}
		if rc := t.Rectify; rc != nil {
			needAll(at+".rectify.columns", rc.Columns)
		}
		if rs := t.Restrict; rs != nil {
			if c, ok := m[rs.Column]; !ok {
				need(at+".restrict.column", rs.Column)
			} else if c.dataType != "boolean" {
				ce.add(at+".restrict.column", "column %q of %s is %s, not boolean", rs.Column, t.Table, c.dataType)
			}
		}
		if o := t.Object; o != nil {
			need(at+".object.column", o.Column)
		}
	}
	if r.cfg.ProcessingLog != nil {
		if err := r.setupLog(ctx, ce); err != nil {
			return err
		}
	}
	if err := ce.orNil(); err != nil {
		return err
	}
	r.columns = cols
	if a := r.cfg.AppliedTasks; a != nil {
		return r.createAppliedTasks(ctx, a)
	}
	return nil
}

// describe reads a table's columns from information_schema: name to type, none if the table is
// missing or this role may read none of its columns.
func (r *Register) describe(ctx context.Context, schema, table string) (map[string]column, error) {
	rows, err := r.db.Query(ctx, `SELECT column_name, data_type, udt_schema, udt_name FROM information_schema.columns
		WHERE table_schema = $1 AND table_name = $2`, schema, table)
	if err != nil {
		return nil, fmt.Errorf("sqladapter: check %s.%s: %w", schema, table, err)
	}
	defer rows.Close()
	m := map[string]column{}
	for rows.Next() {
		var name, dataType, udtSchema, udtName string
		if err := rows.Scan(&name, &dataType, &udtSchema, &udtName); err != nil {
			return nil, fmt.Errorf("sqladapter: check %s.%s: %w", schema, table, err)
		}
		m[name] = column{dataType: dataType, sqlType: pgx.Identifier{udtSchema, udtName}.Sanitize()}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqladapter: check %s.%s: %w", schema, table, err)
	}
	return m, nil
}

func (r *Register) appliedTasks() string {
	a := r.cfg.AppliedTasks
	table := a.Table
	if table == "" {
		table = "applied_tasks"
	}
	return pgx.Identifier{a.Schema, table}.Sanitize()
}

func (r *Register) createAppliedTasks(ctx context.Context, a *AppliedTasks) error {
	table := a.Table
	if table == "" {
		table = "applied_tasks"
	}
	var exists bool
	if err := r.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2)`,
		a.Schema, table).Scan(&exists); err != nil {
		return fmt.Errorf("sqladapter: applied_tasks: %w", err)
	}
	if exists {
		return nil
	}
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "sqladapter "+a.Schema); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{a.Schema}.Sanitize()+`;
			CREATE TABLE IF NOT EXISTS `+r.appliedTasks()+` (task_id text PRIMARY KEY, affected int NOT NULL DEFAULT 0,
			applied_at timestamptz NOT NULL DEFAULT now())`)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqladapter: create applied_tasks: %w", err)
	}
	return nil
}

func (r *Register) ready() error {
	if r.columns == nil {
		return contracts.NewError(contracts.ErrInternal, "sqladapter: the register was not set up")
	}
	return nil
}

// match is the WHERE condition on a table for the identifiers the task carries, from $first on.
// ok is false when the task carries none of the table's identifiers.
func match(t *Table, q sdk.Query, first int) (cond string, args []any, ok bool) {
	var parts []string
	for _, id := range t.Identifiers {
		v, has := q.Identifier(id.Type)
		if !has || v == "" {
			continue
		}
		if id.Form == contracts.FormSHA256 {
			v = contracts.HashSHA256(id.Type, v)
		}
		args = append(args, v)
		parts = append(parts, fmt.Sprintf("%s = $%d", pgx.Identifier{id.Column}.Sanitize(), first+len(args)-1))
	}
	if len(parts) == 0 {
		return "", nil, false
	}
	return "(" + strings.Join(parts, " OR ") + ")", args, true
}

func quoteTable(name string) string {
	schema, table, _ := tableName(name)
	return pgx.Identifier{schema, table}.Sanitize()
}

// export streams each matching row to w as it is read: a register may hold more on one person than
// fits in memory, and the SDK seals what does not travel inline into a package as it goes.
func (r *Register) export(ctx context.Context, q sdk.Query, w sdk.RecordWriter) error {
	if err := r.ready(); err != nil {
		return err
	}
	for i := range r.cfg.Tables {
		t := &r.cfg.Tables[i]
		if t.Lookup == nil {
			continue
		}
		where, args, ok := match(t, q, 1)
		if !ok {
			continue
		}
		cols := r.columns[t.Table]
		sel := make([]string, len(t.Lookup.Columns))
		for j, c := range t.Lookup.Columns {
			id := pgx.Identifier{c}.Sanitize()
			switch cols[c].dataType {
			case "timestamp with time zone", "timestamp without time zone":
				sel[j] = id
			default:
				sel[j] = id + "::text"
			}
		}
		stmt := `SELECT ` + strings.Join(sel, ", ") + ` FROM ` + quoteTable(t.Table) + ` WHERE ` + where
		if len(t.Lookup.OrderBy) > 0 {
			order := make([]string, len(t.Lookup.OrderBy))
			for j, c := range t.Lookup.OrderBy {
				order[j] = pgx.Identifier{c}.Sanitize()
			}
			stmt += ` ORDER BY ` + strings.Join(order, ", ")
		}
		if err := exportRows(ctx, r.db, stmt, args, t.Lookup, w); err != nil {
			return err
		}
	}
	return nil
}

// exportRows writes the rows of one table's query as records. A failure of the database is passing
// (the task is retried); the writer's own error is returned as it is, since it says what to do.
func exportRows(ctx context.Context, db *pgxpool.Pool, stmt string, args []any, l *Lookup, w sdk.RecordWriter) error {
	rows, err := db.Query(ctx, stmt, args...)
	if err != nil {
		return sdk.Unavailable(fmt.Errorf("sqladapter: lookup: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return sdk.Unavailable(fmt.Errorf("sqladapter: lookup: %w", err))
		}
		fields := make(map[string]string, len(values))
		for j, c := range l.Columns {
			switch v := values[j].(type) {
			case nil:
				fields[c] = ""
			case time.Time:
				fields[c] = v.Format(time.RFC3339)
			case string:
				fields[c] = v
			default:
				fields[c] = fmt.Sprint(v)
			}
		}
		if err := w.Write(contracts.Record{Category: l.Category, Fields: fields}); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return sdk.Unavailable(fmt.Errorf("sqladapter: lookup: %w", err))
	}
	return nil
}

func (r *Register) recipients(ctx context.Context, q sdk.Query) ([]string, error) {
	if err := r.ready(); err != nil {
		return nil, err
	}
	var out []string
	for i := range r.cfg.Tables {
		t := &r.cfg.Tables[i]
		if t.Recipients == nil {
			continue
		}
		where, args, ok := match(t, q, 1)
		if !ok {
			continue
		}
		var held bool
		if err := r.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+quoteTable(t.Table)+` WHERE `+where+`)`, args...).Scan(&held); err != nil {
			return nil, sdk.Unavailable(err)
		}
		if held {
			for _, n := range t.Recipients.Names {
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out, nil
}

// statement builds the effect of op on a table, with its arguments before the identifiers'; ""
// when the table does not configure op.
type statement func(t *Table, cols map[string]column) (sql string, args []any)

func (r *Register) cast(cols map[string]column, col string, n int) string {
	return fmt.Sprintf("CAST($%d::text AS %s)", n, cols[col].sqlType)
}

// apply runs an effect on every table that configures it, in one transaction with the record of the
// task id: a task seen again gets its first count back and changes nothing.
func (r *Register) apply(ctx context.Context, q sdk.Query, build statement) (int, error) {
	if err := r.ready(); err != nil {
		return 0, err
	}
	applied := r.appliedTasks()
	var affected int
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO `+applied+` (task_id) VALUES ($1) ON CONFLICT (task_id) DO NOTHING RETURNING 0`,
			q.TaskID).Scan(&affected)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT affected FROM `+applied+` WHERE task_id = $1`, q.TaskID).Scan(&affected)
		}
		if err != nil {
			return err
		}
		for i := range r.cfg.Tables {
			t := &r.cfg.Tables[i]
			stmt, args := build(t, r.columns[t.Table])
			if stmt == "" {
				continue
			}
			where, idArgs, ok := match(t, q, len(args)+1)
			if !ok {
				continue
			}
			tag, err := tx.Exec(ctx, stmt+` WHERE `+where, append(args, idArgs...)...)
			if err != nil {
				return err
			}
			affected += int(tag.RowsAffected())
		}
		_, err = tx.Exec(ctx, `UPDATE `+applied+` SET affected = $2 WHERE task_id = $1`, q.TaskID, affected)
		return err
	})
	if err != nil {
		var wire *contracts.Error
		if errors.As(err, &wire) {
			return 0, err
		}
		// A value the column's type refuses (class 22, data exception), such as a correction that is
		// not a date, cannot succeed on a retry.
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
			return 0, contracts.NewError(contracts.ErrInvalidMessage, "%s: the database refused a value: %s", q.TaskID, pgErr.Message)
		}
		return 0, sdk.Unavailable(fmt.Errorf("sqladapter: apply %s: %w", q.TaskID, err))
	}
	return affected, nil
}

func (r *Register) erase(ctx context.Context, q sdk.Query) (int, error) {
	return r.apply(ctx, q, func(t *Table, cols map[string]column) (string, []any) {
		e := t.Erase
		if e == nil {
			return "", nil
		}
		switch e.Action {
		case EraseDelete:
			return `DELETE FROM ` + quoteTable(t.Table), nil
		case EraseSetNull:
			set := make([]string, len(e.Columns))
			for i, c := range e.Columns {
				set[i] = pgx.Identifier{c}.Sanitize() + " = NULL"
			}
			return `UPDATE ` + quoteTable(t.Table) + ` SET ` + strings.Join(set, ", "), nil
		default: // mark
			return `UPDATE ` + quoteTable(t.Table) + ` SET ` + pgx.Identifier{e.Column}.Sanitize() + ` = ` + r.cast(cols, e.Column, 1),
				[]any{markText(e.Value)}
		}
	})
}

func (r *Register) object(ctx context.Context, q sdk.Query) (int, error) {
	return r.apply(ctx, q, func(t *Table, cols map[string]column) (string, []any) {
		if t.Object == nil {
			return "", nil
		}
		return `UPDATE ` + quoteTable(t.Table) + ` SET ` + pgx.Identifier{t.Object.Column}.Sanitize() + ` = ` + r.cast(cols, t.Object.Column, 1),
			[]any{markText(t.Object.Value)}
	})
}

func (r *Register) restrict(ctx context.Context, q sdk.Query, on bool) (int, error) {
	return r.apply(ctx, q, func(t *Table, _ map[string]column) (string, []any) {
		if t.Restrict == nil {
			return "", nil
		}
		return `UPDATE ` + quoteTable(t.Table) + ` SET ` + pgx.Identifier{t.Restrict.Column}.Sanitize() + ` = $1`, []any{on}
	})
}

func (r *Register) rectify(ctx context.Context, q sdk.Query, corrections []contracts.Correction) (int, error) {
	for _, c := range corrections {
		if !slices.ContainsFunc(r.cfg.Tables, func(t Table) bool { return t.Rectify != nil && slices.Contains(t.Rectify.Columns, c.Field) }) {
			return 0, sdk.Refuse("field_not_correctable", contracts.Text{
				FI: "Rekisterissä ei ole tietoa, jota pyydetty korjaus koskisi, tai sitä ei voi korjata tätä kautta.",
				SV: "Registret innehåller ingen uppgift som den begärda rättelsen gäller, eller så kan den inte rättas på detta sätt.",
				EN: "The register holds no item of data that the correction asked for concerns, or it cannot be corrected this way."},
				"GDPR Art 16")
		}
	}
	return r.apply(ctx, q, func(t *Table, cols map[string]column) (string, []any) {
		if t.Rectify == nil {
			return "", nil
		}
		var set []string
		var args []any
		for _, c := range corrections {
			if slices.Contains(t.Rectify.Columns, c.Field) {
				args = append(args, c.NewValue)
				set = append(set, pgx.Identifier{c.Field}.Sanitize()+" = "+r.cast(cols, c.Field, len(args)))
			}
		}
		if len(set) == 0 {
			return "", nil
		}
		return `UPDATE ` + quoteTable(t.Table) + ` SET ` + strings.Join(set, ", "), args
	})
}
