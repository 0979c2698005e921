package sqladapter

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

// ProcessingLog maps a register's existing log table to processing events (contracts/PROTOCOL.md,
// "Processing events"), with configuration only:
//
//	"processing_log": {
//	  "table": "kanta_log.entries",
//	  "id": "id",                                   // unique and growing: the event id, and the place in the table
//	  "subject": [{"type": "personal_identity_code", "column": "personal_identity_code"}],
//	  "at": "processed_at",
//	  "organisation": {"column": "organisation"},
//	  "role": {"column": "role"},
//	  "person": {"column": "professional"},         // only where the declaration has actor_names
//	  "purpose": {"column": "purpose", "map": {"care relationship: appointment": "care"}},
//	  "data_categories": {"column": "purpose", "map": {"care relationship: appointment": "patient-records"}},
//	  "operation": {"value": "view"},               // a fixed value, or a column
//	  "recipient": {"column": "recipient"},
//	  "embargo_until": "embargo_until",             // only where the declaration has embargo
//	  "progress": {"schema": "sqladapter"},         // where the adapter notes the last row delivered
//	  "batch": 1000, "every": "1s"
//	}
//
// The adapter reads the table in the order of id from the first row on, and then as rows are added
// (every "every", "batch" rows at a time): each row becomes an event, published through the SDK, and
// once a batch is stored by the platform the adapter notes its last id in the progress table, so that
// a restart goes on from there and a crash sends a batch again at most (which the platform stores
// once). A field comes from a column, through a map if one is given, or is a fixed value; the legal
// basis is the purpose's, and the subject's identifiers are in the forms the declaration declares.
// A row that does not make an event the declaration allows (a value the map does not know, an
// undeclared purpose) is skipped and counted in the log, with the fields at fault and never their
// values.
type ProcessingLog struct {
	Table          string        `json:"table"`
	ID             string        `json:"id"`
	Subject        []LogSubject  `json:"subject"`
	At             string        `json:"at"`
	Organisation   Value         `json:"organisation"`
	OrganisationID *Value        `json:"organisation_id,omitempty"`
	Role           Value         `json:"role"`
	Person         *Value        `json:"person,omitempty"`
	Purpose        Value         `json:"purpose"`
	DataCategories Value         `json:"data_categories"`
	Operation      Value         `json:"operation"`
	Recipient      *Value        `json:"recipient,omitempty"`
	EmbargoUntil   string        `json:"embargo_until,omitempty"`
	Progress       *AppliedTasks `json:"progress"`
	Batch          int           `json:"batch,omitempty"`
	Every          string        `json:"every,omitempty"`

	every time.Duration
}

// LogSubject is a column that holds an identifier of the person, in the form the declaration says
// the register stores the type in.
type LogSubject struct {
	Type   contracts.IdentifierType `json:"type"`
	Column string                   `json:"column"`
}

// Value is where a field of an event comes from: a column's text, through Map if one is given (a
// value the map does not hold is kept as it is, for the declaration's check to refuse), or the fixed
// value. Data categories are a comma-separated list.
type Value struct {
	Column string            `json:"column,omitempty"`
	Map    map[string]string `json:"map,omitempty"`
	Fixed  string            `json:"value,omitempty"`
}

const (
	defaultLogBatch = 1000
	defaultLogEvery = time.Second
	// progressTable is the progress table's name when none is given.
	progressTable = "processing_progress"
)

func (l *ProcessingLog) validate(ce *ConfigError, d *contracts.Declaration, declOK bool) {
	const at = "processing_log"
	if _, _, ok := tableName(l.Table); !ok {
		ce.add(at+".table", "%q is not a schema-qualified table name (schema.table, each a plain SQL identifier)", l.Table)
	}
	checkIdent(ce, at+".id", l.ID)
	checkIdent(ce, at+".at", l.At)
	if len(l.Subject) == 0 {
		ce.add(at+".subject", "at least one identifier column is required: an event is about a person")
	}
	for i, s := range l.Subject {
		p := fmt.Sprintf("%s.subject[%d]", at, i)
		checkIdent(ce, p+".column", s.Column)
		switch _, declared := d.StoredForm(s.Type); {
		case !s.Type.Valid():
			ce.add(p+".type", "unknown identifier type %q (known: personal_identity_code, email, phone)", s.Type)
		case declOK && !declared:
			ce.add(p+".type", "the declaration does not name %s among its identifiers", s.Type)
		}
	}
	for name, v := range map[string]*Value{"organisation": &l.Organisation, "organisation_id": l.OrganisationID, "role": &l.Role,
		"person": l.Person, "purpose": &l.Purpose, "data_categories": &l.DataCategories, "operation": &l.Operation, "recipient": l.Recipient} {
		if v != nil {
			v.validate(ce, at+"."+name)
		}
	}
	if l.EmbargoUntil != "" {
		checkIdent(ce, at+".embargo_until", l.EmbargoUntil)
	}
	for _, op := range l.Operation.values() {
		if !contracts.ProcessingOperation(op).Valid() {
			ce.add(at+".operation", "%q is not an operation of an event (%s)", op, contracts.MustBeOneOf(contracts.ProcessingOperations))
		}
	}
	if l.Progress == nil {
		ce.add(at+".progress", "required: the table where the adapter notes the last row it delivered, so that a restart goes on from there")
	} else {
		checkIdent(ce, at+".progress.schema", l.Progress.Schema)
		if l.Progress.Table != "" {
			checkIdent(ce, at+".progress.table", l.Progress.Table)
		}
	}
	if l.Batch < 0 || l.Batch > 10000 {
		ce.add(at+".batch", "must be 1 to 10000 rows")
	}
	l.every = defaultLogEvery
	if l.Every != "" {
		every, err := time.ParseDuration(l.Every)
		if err != nil || every < 10*time.Millisecond {
			ce.add(at+".every", "%q is not a duration of at least 10ms, such as 1s", l.Every)
		}
		l.every = every
	}
	if !declOK {
		return
	}
	p := d.Processing
	if p == nil {
		ce.add(at, "the declaration declares no processing events (declaration.processing): declare their purposes and retention first")
		return
	}
	for _, id := range l.Purpose.values() {
		if _, ok := p.Purpose(id); !ok {
			ce.add(at+".purpose", "%q is not a purpose the declaration declares for its events", id)
		}
	}
	if l.Person != nil && p.ActorNames == nil {
		ce.add(at+".person", "the declaration does not declare a person's name essential (declaration.processing.actor_names)")
	}
	if l.EmbargoUntil != "" && p.Embargo == nil {
		ce.add(at+".embargo_until", "the declaration declares no law that lets the register hold events back (declaration.processing.embargo)")
	}
}

func (v *Value) validate(ce *ConfigError, at string) {
	switch {
	case v.Column == "" && v.Fixed == "":
		ce.add(at, "give a column or a value")
	case v.Column != "" && v.Fixed != "":
		ce.add(at, "give a column or a value, not both")
	case v.Column != "":
		checkIdent(ce, at+".column", v.Column)
	case len(v.Map) > 0:
		ce.add(at+".map", "maps a column's values: give it with a column")
	}
}

// values are the event values the configuration can give: the fixed value, or those of the map.
func (v *Value) values() []string {
	if v.Fixed != "" {
		return []string{v.Fixed}
	}
	var out []string
	for _, m := range v.Map {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

func (l *ProcessingLog) batch() int {
	if l.Batch == 0 {
		return defaultLogBatch
	}
	return l.Batch
}

func (l *ProcessingLog) progress() string {
	table := l.Progress.Table
	if table == "" {
		table = progressTable
	}
	return pgx.Identifier{l.Progress.Schema, table}.Sanitize()
}

// logColumns are the columns the processing log reads, by their place in the query.
func (l *ProcessingLog) logColumns() []string {
	cols := []string{l.ID, l.At}
	for _, s := range l.Subject {
		cols = append(cols, s.Column)
	}
	for _, v := range l.values() {
		if v != nil && v.Column != "" {
			cols = append(cols, v.Column)
		}
	}
	if l.EmbargoUntil != "" {
		cols = append(cols, l.EmbargoUntil)
	}
	return cols
}

func (l *ProcessingLog) values() []*Value {
	return []*Value{&l.Organisation, l.OrganisationID, &l.Role, l.Person, &l.Purpose, &l.DataCategories, &l.Operation, l.Recipient}
}

// setupLog checks the log table's columns and creates the progress table if it is missing.
func (r *Register) setupLog(ctx context.Context, ce *ConfigError) error {
	l := r.cfg.ProcessingLog
	schema, table, _ := tableName(l.Table)
	cols, err := r.describe(ctx, schema, table)
	if err != nil {
		return err
	}
	if len(cols) == 0 {
		ce.add("processing_log.table", "table %s does not exist (or this role may read none of its columns)", l.Table)
		return nil
	}
	for _, c := range l.logColumns() {
		if _, ok := cols[c]; !ok {
			ce.add("processing_log", "column %q does not exist in %s", c, l.Table)
		}
	}
	for _, c := range []string{l.At, l.EmbargoUntil} {
		if t, ok := cols[c]; ok && !strings.HasPrefix(t.dataType, "timestamp") {
			ce.add("processing_log", "column %q of %s is %s, not a timestamp", c, l.Table, t.dataType)
		}
	}
	if len(ce.Problems) > 0 {
		return nil
	}
	r.logID = cols[l.ID].sqlType
	_, err = r.db.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+pgx.Identifier{l.Progress.Schema}.Sanitize()+`;
		CREATE TABLE IF NOT EXISTS `+l.progress()+` (log text PRIMARY KEY, last_id text NOT NULL, at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		return fmt.Errorf("sqladapter: create %s: %w", l.progress(), err)
	}
	return nil
}

// PublishProcessing publishes the log table's rows as processing events, from where the adapter left
// off, until ctx ends (sdk.ProcessingSource). A register without a processing log publishes nothing.
func (r *Register) PublishProcessing(ctx context.Context, events *sdk.Events) error {
	l := r.cfg.ProcessingLog
	if l == nil {
		return nil
	}
	if err := r.ready(); err != nil {
		return err
	}
	var last *string
	err := r.db.QueryRow(ctx, `SELECT last_id FROM `+l.progress()+` WHERE log = $1`, l.Table).Scan(&last)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("sqladapter: processing log progress: %w", err)
	}
	for {
		rows, next, err := r.readLog(ctx, last)
		if err != nil {
			return err
		}
		if len(rows) > 0 {
			rep, err := events.Backfill(ctx, each(rows))
			if err != nil {
				return fmt.Errorf("sqladapter: processing log: %w", err)
			}
			if rep.RefusedCount > 0 {
				first := rep.Refused[0]
				events.Logger().Warn("log rows that make no event the declaration allows were skipped", "rows", rep.RefusedCount,
					"first_row", first.EventID, "first_fields", fieldNames(first.Error))
			}
			if _, err := r.db.Exec(ctx, `INSERT INTO `+l.progress()+` (log, last_id) VALUES ($1, $2)
				ON CONFLICT (log) DO UPDATE SET last_id = excluded.last_id, at = now()`, l.Table, next); err != nil {
				return fmt.Errorf("sqladapter: processing log progress: %w", err)
			}
			last = &next
		}
		if len(rows) == l.batch() {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(l.every):
		}
	}
}

func fieldNames(e *contracts.Error) []string {
	var out []string
	for _, f := range e.Fields {
		out = append(out, f.Field)
	}
	return out
}

// readLog reads the next batch of rows after the id last (from the first without one) as events,
// and the id of the last row read.
func (r *Register) readLog(ctx context.Context, last *string) (out []contracts.ProcessingEvent, next string, err error) {
	l := r.cfg.ProcessingLog
	cols := l.logColumns()
	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = pgx.Identifier{c}.Sanitize()
		if i != 1 && c != l.EmbargoUntil {
			sel[i] += "::text"
		}
	}
	id := pgx.Identifier{l.ID}.Sanitize()
	rows, err := r.db.Query(ctx, `SELECT `+strings.Join(sel, ", ")+` FROM `+quoteTable(l.Table)+
		` WHERE $1::text IS NULL OR `+id+` > CAST($1::text AS `+r.logID+`) ORDER BY `+id+` LIMIT $2`, last, l.batch())
	if err != nil {
		return nil, "", fmt.Errorf("sqladapter: processing log: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		values, err := rows.Values()
		if err != nil {
			return nil, "", fmt.Errorf("sqladapter: processing log: %w", err)
		}
		ev, id := r.event(values)
		out = append(out, ev)
		next = id
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("sqladapter: processing log: %w", err)
	}
	return out, next, nil
}

// event makes a row's event: the values in the order of logColumns.
func (r *Register) event(values []any) (contracts.ProcessingEvent, string) {
	l := r.cfg.ProcessingLog
	text := func(v any) string { s, _ := v.(string); return s }
	id := text(values[0])
	ev := contracts.ProcessingEvent{EventID: id}
	if at, ok := values[1].(time.Time); ok {
		ev.At = at
	}
	i := 2
	for _, s := range l.Subject {
		v := text(values[i])
		i++
		if v == "" {
			continue
		}
		form, _ := r.cfg.decl.StoredForm(s.Type)
		if form == contracts.FormPlain {
			v = contracts.Normalize(s.Type, v)
		}
		ev.Subject = append(ev.Subject, contracts.SubjectIdentifier{Type: s.Type, Form: form, Value: v})
	}
	get := func(v *Value) string {
		if v == nil {
			return ""
		}
		if v.Column == "" {
			return v.Fixed
		}
		s := text(values[i])
		i++
		if mapped, ok := v.Map[s]; ok {
			return mapped
		}
		return s
	}
	ev.Actor.Organisation = get(&l.Organisation)
	ev.Actor.OrganisationID = get(l.OrganisationID)
	ev.Actor.Role = get(&l.Role)
	ev.Actor.Person = get(l.Person)
	ev.Purpose = get(&l.Purpose)
	for _, c := range strings.Split(get(&l.DataCategories), ",") {
		if c = strings.TrimSpace(c); c != "" {
			ev.DataCategories = append(ev.DataCategories, c)
		}
	}
	ev.Operation = contracts.ProcessingOperation(get(&l.Operation))
	ev.Recipient = get(l.Recipient)
	if l.EmbargoUntil != "" {
		if until, ok := values[i].(time.Time); ok {
			ev.EmbargoUntil = &until
		}
	}
	if p, ok := r.cfg.decl.Processing.Purpose(ev.Purpose); ok {
		ev.LegalBasis = p.LegalBasis
	}
	return ev, id
}

// each yields the events of a batch, for Backfill.
func each(events []contracts.ProcessingEvent) iter.Seq2[contracts.ProcessingEvent, error] {
	return func(yield func(contracts.ProcessingEvent, error) bool) {
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
		}
	}
}
