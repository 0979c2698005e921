package sqladapter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"kirjaamo.dev/contracts"
)

// Config is the configuration file of a register served by the SQL adapter. It is JSON, read
// strictly: an unknown field, a value of the wrong type or a name that is not a plain SQL identifier
// is refused at load, with its path in the file. See the package documentation for an example.
type Config struct {
	// Database says where the register's PostgreSQL database is. Optional when the caller passes a
	// pool (Load, New); the command needs it.
	Database Database `json:"database"`
	// Declaration is the register's declaration inline; DeclarationFile is a path to it, relative to
	// the configuration file. Exactly one is given.
	Declaration     json.RawMessage `json:"declaration,omitempty"`
	DeclarationFile string          `json:"declaration_file,omitempty"`
	// AppliedTasks is where the adapter records the task id of every effect it applies, in the same
	// transaction as the effect. Required when any table configures an effect.
	AppliedTasks *AppliedTasks `json:"applied_tasks,omitempty"`
	// Tables are the tables that hold the subject's data.
	Tables []Table `json:"tables"`
	// ProcessingLog maps the register's log table to processing events, which the adapter publishes
	// as rows are added (processing.go); nil for a register that publishes none.
	ProcessingLog *ProcessingLog `json:"processing_log,omitempty"`

	decl contracts.Declaration
}

// Database is the database URL, given directly or as the name of an environment variable.
type Database struct {
	URL    string `json:"url,omitempty"`
	URLEnv string `json:"url_env,omitempty"`
}

// AppliedTasks names the table of applied task ids; it is created at start if missing.
type AppliedTasks struct {
	Schema string `json:"schema"`
	// Table defaults to "applied_tasks".
	Table string `json:"table,omitempty"`
}

// Table is one table of the register and what each operation does on it.
type Table struct {
	// Table is schema-qualified: "schema.table".
	Table string `json:"table"`
	// Identifiers are the columns by which the subject's rows are found; a row matches if any matches.
	Identifiers []IdentifierColumn `json:"identifiers"`
	Lookup      *Lookup            `json:"lookup,omitempty"`
	Erase       *Erase             `json:"erase,omitempty"`
	Rectify     *Rectify           `json:"rectify,omitempty"`
	Restrict    *Restrict          `json:"restrict,omitempty"`
	Object      *Mark              `json:"object,omitempty"`
	Recipients  *Recipients        `json:"recipients,omitempty"`
}

// IdentifierColumn is a column holding an identifier type, as the plain normalized value or its
// unsalted SHA-256 (contracts.HashSHA256).
type IdentifierColumn struct {
	Type   contracts.IdentifierType `json:"type"`
	Column string                   `json:"column"`
	Form   contracts.IdentifierForm `json:"form"`
}

// Lookup returns the columns of every matching row as a record of the category.
type Lookup struct {
	Category string   `json:"category"`
	Columns  []string `json:"columns"`
	OrderBy  []string `json:"order_by,omitempty"`
}

// Erase actions.
const (
	EraseDelete  = "delete"
	EraseSetNull = "set_null"
	EraseMark    = "mark"
)

// Erase is what erasure does to the matching rows: delete them, set Columns to null, or mark them
// (set Column to Value).
type Erase struct {
	Action  string   `json:"action"`
	Columns []string `json:"columns,omitempty"`
	Column  string   `json:"column,omitempty"`
	Value   any      `json:"value,omitempty"`
}

// Rectify lists the columns a correction may change; a correction's field is a column name.
type Rectify struct {
	Columns []string `json:"columns"`
}

// Restrict names a boolean column set true on restriction and false when it is lifted.
type Restrict struct {
	Column string `json:"column"`
}

// Mark sets Column to Value (a JSON string, number or boolean, cast to the column's type).
type Mark struct {
	Column string `json:"column"`
	Value  any    `json:"value"`
}

// Recipients are the recipients named when the subject has any row in the table.
type Recipients struct {
	Names []string `json:"names"`
}

// Problem is one thing wrong with a configuration, at a path in the file such as
// "tables[0].identifiers[1].type".
type Problem struct {
	Path    string
	Message string
}

// ConfigError lists every problem found in a configuration.
type ConfigError struct {
	File     string
	Problems []Problem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sqladapter: %s:", e.File)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n\t%s: %s", p.Path, p.Message)
	}
	return b.String()
}

func (e *ConfigError) add(path, format string, args ...any) {
	e.Problems = append(e.Problems, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

func (e *ConfigError) orNil() error {
	if len(e.Problems) == 0 {
		return nil
	}
	return e
}

// ReadConfig reads and validates a configuration file; a declaration_file is read relative to it.
func ReadConfig(file string) (*Config, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("sqladapter: %w", err)
	}
	return ParseConfig(data, file, func(name string) ([]byte, error) {
		if !filepath.IsAbs(name) {
			name = filepath.Join(filepath.Dir(file), name)
		}
		return os.ReadFile(name)
	})
}

// ReadConfigFS reads and validates a configuration file from fsys, such as the embedded Examples.
func ReadConfigFS(fsys fs.FS, file string) (*Config, error) {
	data, err := fs.ReadFile(fsys, file)
	if err != nil {
		return nil, fmt.Errorf("sqladapter: %w", err)
	}
	return ParseConfig(data, file, func(name string) ([]byte, error) {
		return fs.ReadFile(fsys, path.Join(path.Dir(file), name))
	})
}

// ParseConfig validates a configuration. readFile reads a declaration_file (nil: none may be given);
// name is used in errors.
func ParseConfig(data []byte, name string, readFile func(string) ([]byte, error)) (*Config, error) {
	ce := &ConfigError{File: name}
	var raw any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		ce.add("(file)", "not valid JSON: %v", err)
		return nil, ce
	}
	if dec.More() {
		ce.add("(file)", "more than one JSON value")
		return nil, ce
	}
	checkShape(ce, raw, reflect.TypeFor[Config](), "")
	if err := ce.orNil(); err != nil {
		return nil, err
	}
	var cfg Config
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		ce.add("(file)", "%v", err)
		return nil, ce
	}
	cfg.validate(ce, readFile)
	if err := ce.orNil(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// checkShape walks the decoded JSON against the Go type, so that an unknown field or a value of the
// wrong kind is reported with its path (encoding/json names neither precisely).
func checkShape(ce *ConfigError, v any, t reflect.Type, at string) {
	if t == reflect.TypeFor[json.RawMessage]() || t.Kind() == reflect.Interface {
		return
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	where := at
	if where == "" {
		where = "(top level)"
	}
	// The kinds a configuration file's JSON decodes into; the others cannot occur.
	//exhaustive:ignore
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			ce.add(where, "must be an object")
			return
		}
		fields := map[string]reflect.StructField{}
		for i := range t.NumField() {
			f := t.Field(i)
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" && f.IsExported() {
				fields[tag] = f
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if at != "" {
				p = at + "." + k
			}
			f, ok := fields[k]
			if !ok {
				known := make([]string, 0, len(fields))
				for name := range fields {
					known = append(known, name)
				}
				slices.Sort(known)
				ce.add(p, "unknown field (known: %s)", strings.Join(known, ", "))
				continue
			}
			checkShape(ce, obj[k], f.Type, p)
		}
	case reflect.Slice:
		arr, ok := v.([]any)
		if !ok {
			ce.add(where, "must be an array")
			return
		}
		for i, e := range arr {
			checkShape(ce, e, t.Elem(), fmt.Sprintf("%s[%d]", at, i))
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			ce.add(where, "must be a string")
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			ce.add(where, "must be true or false")
		}
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			ce.add(where, "must be an object")
			return
		}
		for k, e := range obj {
			checkShape(ce, e, t.Elem(), at+"."+k)
		}
	case reflect.Int:
		if n, ok := v.(json.Number); !ok {
			ce.add(where, "must be a whole number")
		} else if _, err := n.Int64(); err != nil {
			ce.add(where, "must be a whole number")
		}
	}
}

var (
	plainIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	envName         = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func checkIdent(ce *ConfigError, at, name string) {
	switch {
	case name == "":
		ce.add(at, "required")
	case !plainIdentifier.MatchString(name):
		ce.add(at, "%q is not a plain SQL identifier (letters, digits and _, not starting with a digit, at most 63)", name)
	}
}

// tableName splits "schema.table".
func tableName(s string) (schema, table string, ok bool) {
	schema, table, ok = strings.Cut(s, ".")
	return schema, table, ok && plainIdentifier.MatchString(schema) && plainIdentifier.MatchString(table)
}

func (c *Config) validate(ce *ConfigError, readFile func(string) ([]byte, error)) {
	if c.Database.URL != "" && c.Database.URLEnv != "" {
		ce.add("database", "give url or url_env, not both")
	}
	if c.Database.URLEnv != "" && !envName.MatchString(c.Database.URLEnv) {
		ce.add("database.url_env", "%q is not an environment variable name", c.Database.URLEnv)
	}
	declOK := c.readDeclaration(ce, readFile)

	effects := false
	for i := range c.Tables {
		t := &c.Tables[i]
		at := fmt.Sprintf("tables[%d]", i)
		if _, _, ok := tableName(t.Table); !ok {
			ce.add(at+".table", "%q is not a schema-qualified table name (schema.table, each a plain SQL identifier)", t.Table)
		}
		for j := range i {
			if c.Tables[j].Table == t.Table {
				ce.add(at+".table", "%s is configured twice (also tables[%d])", t.Table, j)
			}
		}
		if len(t.Identifiers) == 0 {
			ce.add(at+".identifiers", "at least one identifier column is required")
		}
		for j, id := range t.Identifiers {
			p := fmt.Sprintf("%s.identifiers[%d]", at, j)
			checkIdent(ce, p+".column", id.Column)
			if !id.Type.Valid() {
				ce.add(p+".type", "unknown identifier type %q (known: personal_identity_code, email, phone)", id.Type)
			} else if declOK {
				if form, ok := c.decl.StoredForm(id.Type); !ok {
					ce.add(p+".type", "the declaration does not name %s among its identifiers: the platform never sends it", id.Type)
				} else if id.Form.Valid() && id.Form != form {
					ce.add(p+".form", "%s, but the declaration says %s is stored as %s", id.Form, id.Type, form)
				}
			}
			if !id.Form.Valid() {
				ce.add(p+".form", "%q is not a form (plain or sha256)", id.Form)
			}
		}
		if l := t.Lookup; l != nil {
			if l.Category == "" || len(l.Category) > 100 {
				ce.add(at+".lookup.category", "required, at most 100 characters")
			}
			if len(l.Columns) == 0 {
				ce.add(at+".lookup.columns", "at least one column is required")
			}
			checkColumns(ce, at+".lookup.columns", l.Columns)
			checkColumns(ce, at+".lookup.order_by", l.OrderBy)
		}
		if e := t.Erase; e != nil {
			effects = true
			p := at + ".erase"
			switch e.Action {
			case EraseDelete:
				if len(e.Columns) > 0 || e.Column != "" || e.Value != nil {
					ce.add(p, "delete takes no columns, column or value")
				}
			case EraseSetNull:
				if len(e.Columns) == 0 {
					ce.add(p+".columns", "set_null needs the columns to set to null")
				}
				checkColumns(ce, p+".columns", e.Columns)
				if e.Column != "" || e.Value != nil {
					ce.add(p, "set_null takes columns, not column or value")
				}
			case EraseMark:
				checkMark(ce, p, Mark{Column: e.Column, Value: e.Value})
				if len(e.Columns) > 0 {
					ce.add(p+".columns", "mark takes column and value, not columns")
				}
			default:
				ce.add(p+".action", "%q is not an erase action (delete, set_null or mark)", e.Action)
			}
		}
		if r := t.Rectify; r != nil {
			effects = true
			if len(r.Columns) == 0 {
				ce.add(at+".rectify.columns", "at least one column is required")
			}
			checkColumns(ce, at+".rectify.columns", r.Columns)
		}
		if r := t.Restrict; r != nil {
			effects = true
			checkIdent(ce, at+".restrict.column", r.Column)
		}
		if o := t.Object; o != nil {
			effects = true
			checkMark(ce, at+".object", *o)
		}
		if r := t.Recipients; r != nil {
			if len(r.Names) == 0 {
				ce.add(at+".recipients.names", "at least one name is required")
			}
			for j, n := range r.Names {
				if n == "" || len(n) > 200 {
					ce.add(fmt.Sprintf("%s.recipients.names[%d]", at, j), "required, at most 200 characters")
				}
			}
		}
	}
	if len(c.Tables) == 0 {
		ce.add("tables", "at least one table is required")
	}
	if c.AppliedTasks != nil {
		checkIdent(ce, "applied_tasks.schema", c.AppliedTasks.Schema)
		if c.AppliedTasks.Table != "" {
			checkIdent(ce, "applied_tasks.table", c.AppliedTasks.Table)
		}
	} else if effects {
		ce.add("applied_tasks", "required when a table configures an effect (erase, rectify, restrict or object): "+
			"each effect is recorded by task id in the same transaction, so that a redelivered task is not applied twice")
	}
	if declOK {
		c.matchDeclaration(ce)
	}
	if c.ProcessingLog != nil {
		c.ProcessingLog.validate(ce, &c.decl, declOK)
	}
}

func checkColumns(ce *ConfigError, at string, cols []string) {
	for i, col := range cols {
		checkIdent(ce, fmt.Sprintf("%s[%d]", at, i), col)
		if slices.Index(cols, col) < i {
			ce.add(fmt.Sprintf("%s[%d]", at, i), "%s is listed twice", col)
		}
	}
}

func checkMark(ce *ConfigError, at string, m Mark) {
	checkIdent(ce, at+".column", m.Column)
	switch m.Value.(type) {
	case string, json.Number, bool:
	case nil:
		ce.add(at+".value", "required: a string, number or boolean")
	default:
		ce.add(at+".value", "must be a string, number or boolean")
	}
}

// markText is a mark's value as PostgreSQL text input, cast to the column's type.
func markText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

func (c *Config) readDeclaration(ce *ConfigError, readFile func(string) ([]byte, error)) bool {
	raw, at := []byte(c.Declaration), "declaration"
	switch {
	case len(raw) > 0 && c.DeclarationFile != "":
		ce.add("declaration", "give declaration or declaration_file, not both")
		return false
	case len(raw) == 0 && c.DeclarationFile == "":
		ce.add("declaration", "the register's declaration is required (declaration, inline, or declaration_file)")
		return false
	case c.DeclarationFile != "":
		at = "declaration_file"
		if readFile == nil {
			ce.add(at, "cannot be read here: give the declaration inline")
			return false
		}
		var err error
		if raw, err = readFile(c.DeclarationFile); err != nil {
			ce.add(at, "%v", err)
			return false
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c.decl); err != nil {
		ce.add(at, "not a declaration: %v", err)
		return false
	}
	if err := c.decl.Validate(); err != nil {
		ce.add(at, "the declaration is not valid: %v", err)
		return false
	}
	return true
}

// Operations lists the operations the configuration carries out, in the SDK's order.
func (c *Config) Operations() []contracts.Operation {
	var has [6]bool
	for _, t := range c.Tables {
		has[0] = has[0] || t.Lookup != nil
		has[1] = has[1] || t.Rectify != nil
		has[2] = has[2] || t.Erase != nil
		has[3] = has[3] || t.Restrict != nil
		has[4] = has[4] || t.Recipients != nil
		has[5] = has[5] || t.Object != nil
	}
	var ops []contracts.Operation
	for i, op := range [][]contracts.Operation{{contracts.OpLookup}, {contracts.OpRectify}, {contracts.OpErase},
		{contracts.OpRestrict, contracts.OpLiftRestriction}, {contracts.OpListRecipients}, {contracts.OpObject}} {
		if has[i] {
			ops = append(ops, op...)
		}
	}
	return ops
}

// configKey is where an operation is configured on a table, for messages.
var configKey = map[contracts.Operation]string{contracts.OpLookup: "lookup", contracts.OpRectify: "rectify",
	contracts.OpErase: "erase", contracts.OpRestrict: "restrict", contracts.OpLiftRestriction: "restrict",
	contracts.OpListRecipients: "recipients", contracts.OpObject: "object"}

// matchDeclaration checks that the declaration promises exactly what the tables carry out, and that
// every identifier it names is searched somewhere.
func (c *Config) matchDeclaration(ce *ConfigError) {
	ops := c.Operations()
	for i, op := range c.decl.Operations {
		if !slices.Contains(ops, op) {
			ce.add(fmt.Sprintf("declaration.operations[%d]", i), "declares %s, but no table configures %s", op, configKey[op])
		}
	}
	for _, op := range ops {
		if !c.decl.Supports(op) {
			ce.add("tables", "a table configures %s, but the declaration does not declare %s", configKey[op], op)
		}
	}
	for i, t := range c.decl.IdentifierTypes() {
		found := false
		for _, tab := range c.Tables {
			found = found || slices.ContainsFunc(tab.Identifiers, func(id IdentifierColumn) bool { return id.Type == t })
		}
		if !found {
			ce.add(fmt.Sprintf("declaration.identifiers (%d: %s)", i, t), "no table has a column for %s: a subject found only by it would be told no data is held", t)
		}
	}
	// The portal offers the declared correctable fields and no others, so the two lists are one.
	correctable := c.decl.Correctable()
	for _, f := range correctable {
		if !slices.ContainsFunc(c.Tables, func(t Table) bool { return t.Rectify != nil && slices.Contains(t.Rectify.Columns, f.Name) }) {
			ce.add("declaration.records", "declares %s correctable, but no table's rectify.columns has it: the subject would be offered a correction the register refuses", f.Name)
		}
	}
	for i, t := range c.Tables {
		if t.Rectify == nil {
			continue
		}
		for j, col := range t.Rectify.Columns {
			if !slices.ContainsFunc(correctable, func(f contracts.RecordField) bool { return f.Name == col }) {
				ce.add(fmt.Sprintf("tables[%d].rectify.columns[%d]", i, j), "%s is not declared correctable in the declaration's records: "+
					"declare it there, with its label in every language and its format, so that the portal can offer it", col)
			}
		}
	}
}

// RegisterDeclaration is the register's declaration as the configuration gives it.
func (c *Config) RegisterDeclaration() contracts.Declaration { return c.decl }

// DatabaseURL is the database URL the configuration gives, directly or from the environment.
func (c *Config) DatabaseURL() (string, error) {
	switch {
	case c.Database.URL != "":
		return c.Database.URL, nil
	case c.Database.URLEnv != "":
		if u := os.Getenv(c.Database.URLEnv); u != "" {
			return u, nil
		}
		return "", fmt.Errorf("sqladapter: database.url_env: %s is not set", c.Database.URLEnv)
	}
	return "", fmt.Errorf("sqladapter: database: the configuration gives no url or url_env")
}
