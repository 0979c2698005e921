// Package sqladapter is the generic SQL adapter: a register owner whose data sits in PostgreSQL
// plugs the register into Kirjaamo with a configuration file and no code.
//
// The configuration is JSON (no dependency beyond the standard library), read strictly: an unknown
// field, a value of the wrong type, an identifier type the platform does not know or the declaration
// does not name, or a table or column name that is not a plain SQL identifier is refused at load,
// every problem with its path in the file ("tables[0].identifiers[1].type: ..."). SQL is built only
// from checked names, each quoted with pgx.Identifier.Sanitize; values travel as parameters. At
// start (Register.Setup) every table and column is looked up in information_schema, again reported
// by path, and the applied-tasks table is created if it is missing.
//
//	{
//	  "database": {"url_env": "KIRJAAMO_REGISTERS_DATABASE_URL"},   // or {"url": "postgres://..."}
//	  "declaration_file": "clinic.declaration.json",                 // or "declaration": {...} inline
//	  "applied_tasks": {"schema": "clinic", "table": "applied_tasks"}, // needed with any effect
//	  "tables": [{
//	    "table": "clinic.invitations",                               // schema.table
//	    "identifiers": [{"type": "email", "column": "email_sha256", "form": "sha256"},
//	                    {"type": "phone", "column": "phone", "form": "plain"}],
//	    "lookup": {"category": "event invitations", "columns": ["event", "invited_at"], "order_by": ["invited_at"]},
//	    "erase": {"action": "delete"},          // or {"action": "set_null", "columns": [...]}
//	                                            // or {"action": "mark", "column": "erased", "value": true}
//	    "rectify": {"columns": ["event"]},      // a correction's field is a column name
//	    "restrict": {"column": "restricted"},   // boolean: true on restrict, false on lift_restriction
//	    "object": {"column": "opted_out", "value": true},
//	    "recipients": {"names": ["E-mail delivery provider (processor, EU)"]} // named if any row matches
//	  }]
//	}
//
// (The comments are for this page only: the file is plain JSON.) A row matches if any of its
// identifier columns equals the task's identifier of that type, normalized (plain) or as
// contracts.HashSHA256 of it (sha256). A lookup returns each matching row as a record of the
// category, one field per column, timestamps in RFC 3339 and everything else as PostgreSQL's text.
// The rows are streamed as they are read (the lookup is an sdk.Operations Export handler), so a
// person with more rows than travel inline gets a sealed package, and memory does not grow with the
// rows.
//
// A register whose declaration declares processing events (contracts/PROTOCOL.md, "Processing
// events") may map its existing log table to them with "processing_log" (ProcessingLog, in
// processing.go): the adapter publishes the table's rows as events from the first on, then as rows
// are added, and notes in a progress table how far it has delivered.
//
// The declaration's operations must be exactly those configured (restrict brings lift_restriction).
// Register.Operations has the handlers of those operations only. Every effect runs in one
// transaction with an insert of the task id into the applied-tasks table: a redelivered task gets
// the first count back and changes nothing.
//
// Run it with `kirjaamo-sql-adapter -config FILE` (cmd/kirjaamo-sql-adapter), or in Go:
//
//	reg, err := sqladapter.Load(ctx, "register.json", pool)
//	...
//	err = sdk.Run(ctx, reg, cfg)
package sqladapter

import "embed"

// Examples holds example configurations: examples/kanta-processing-log.json serves the demo Kanta
// processing log (adapters/demo) from its table kanta_log.entries.
//
//go:embed examples/*.json
var Examples embed.FS
