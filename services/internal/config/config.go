// Package config loads a service's configuration from the environment into its Config struct, in
// one place and checked at start, and describes every variable from the same struct tags, so that
// the README's table of variables cannot drift from the code (TestTheREADMEListsEveryVariable).
//
// A field is read from the environment when it has an env tag:
//
//	PublicURL string `env:"URL" required:"" doc:"where people reach the site"`
//
// The variable's name is the prefix given to Load followed by the tag. default:"…" is the value when
// the variable is unset; required:"" makes an unset variable an error that names it. Nested structs
// without an env tag are read with the same prefix, so that a part shared by several services
// (NATS, Temporal, a site's sign-in) is declared once. Supported kinds are string, bool, int and
// time.Duration; a type with UnmarshalText is parsed by it. After loading, a Config with a
// Check() error method is checked.
//
// A secret is better kept in a file than in the environment (a Kubernetes secret mounted as a
// volume, a compose secret): every variable may instead name a file with the suffix _FILE, e.g.
// KIRJAAMO_DATABASE_URL_FILE=/run/secrets/database-url, whose content, less a final line break, is
// the value. Setting both is an error.
package config

import (
	"encoding"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Var is one environment variable as a Config declares it.
type Var struct {
	Name     string
	Default  string
	Required bool
	Doc      string
}

// Checker is a configuration that checks itself once loaded, across its fields. A message names a
// variable without the prefix as _NAME; Load completes it.
type Checker interface {
	Check() error
}

// Load fills cfg, a pointer to a struct, from the environment, and checks it. Every problem is
// reported, each naming its variable.
func Load(prefix string, cfg any) error {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Load takes a pointer to a struct, not %T", cfg)
	}
	var errs []error
	walk(prefix, v.Elem(), func(name string, f reflect.StructField, field reflect.Value) {
		raw, set := os.LookupEnv(name)
		if file := os.Getenv(name + "_FILE"); file != "" {
			if set && raw != "" {
				errs = append(errs, fmt.Errorf("%s and %s_FILE are both set: give one", name, name))
				return
			}
			data, err := os.ReadFile(file)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s_FILE: %w", name, err))
				return
			}
			raw, set = strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r"), true
		}
		if !set || raw == "" {
			if _, required := f.Tag.Lookup("required"); required {
				errs = append(errs, fmt.Errorf("%s is required: %s", name, f.Tag.Get("doc")))
				return
			}
			def, ok := f.Tag.Lookup("default")
			if !ok {
				return
			}
			raw = def
		}
		if err := parseInto(field, raw); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	})
	if len(errs) == 0 {
		errs = check(prefix, v)
	}
	return errors.Join(errs...)
}

// check runs the Check of every struct that has one, the nested ones first; a nested struct's
// errors are prefixed, since they name their variables without it.
func check(prefix string, v reflect.Value) []error {
	var errs []error
	s := v.Elem()
	for i := range s.NumField() {
		f := s.Type().Field(i)
		if _, tagged := f.Tag.Lookup("env"); !tagged && f.IsExported() && f.Type.Kind() == reflect.Struct {
			for _, err := range check(prefix, s.Field(i).Addr()) {
				errs = append(errs, err)
			}
		}
	}
	if c, ok := v.Interface().(Checker); ok {
		if err := c.Check(); err != nil {
			errs = append(errs, prefixed(prefix, err))
		}
	}
	return errs
}

// prefixed completes the variable names an error gives as _NAME with the prefix.
func prefixed(prefix string, err error) error {
	msg := err.Error()
	if !strings.Contains(msg, "_") {
		return err
	}
	return errors.New(strings.ReplaceAll(" "+msg, " _", " "+strings.TrimSuffix(prefix, "_")+"_")[1:])
}

// Describe lists the variables a Config reads, in the order of its fields. A field set in cfg
// and without a default tag is described with its value as the default: that is what Load leaves
// in it when its variable is unset.
func Describe(prefix string, cfg any) []Var {
	var out []Var
	walk(prefix, reflect.ValueOf(cfg), func(name string, f reflect.StructField, field reflect.Value) {
		_, required := f.Tag.Lookup("required")
		def, ok := f.Tag.Lookup("default")
		if !ok && !field.IsZero() {
			def = fmt.Sprint(field.Interface())
		}
		out = append(out, Var{Name: name, Default: def, Required: required, Doc: f.Tag.Get("doc")})
	})
	return out
}

// walk calls visit for every field with an env tag, depth first.
func walk(prefix string, v reflect.Value, visit func(name string, f reflect.StructField, field reflect.Value)) {
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, ok := f.Tag.Lookup("env")
		switch {
		case ok:
			visit(prefix+name, f, v.Field(i))
		case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}):
			walk(prefix, v.Field(i), visit)
		}
	}
}

var textUnmarshaler = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()

// parseInto parses raw into a field by the field's type.
func parseInto(field reflect.Value, raw string) error {
	if field.CanAddr() && field.Addr().Type().Implements(textUnmarshaler) {
		return field.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(raw))
	}
	switch {
	case field.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration such as 2s or 5m, not %q", raw)
		}
		field.SetInt(int64(d))
	case field.Kind() == reflect.String:
		field.SetString(raw)
	case field.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, not %q", raw)
		}
		field.SetBool(b)
	case field.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		if err != nil {
			return fmt.Errorf("want a whole number, not %q", raw)
		}
		field.SetInt(int64(n))
	default:
		return fmt.Errorf("config: cannot read a %s", field.Type())
	}
	return nil
}

// Table is the variables as a Markdown table, for the README: name, who reads it, and what it
// means, with its default or that it is required.
func Table(rows []Row) string {
	var b strings.Builder
	b.WriteString("| variable | used by | meaning |\n|---|---|---|\n")
	for _, r := range rows {
		doc := r.Doc
		switch {
		case r.Required:
			doc += " (required)"
		case r.Default != "":
			doc += " (default `" + r.Default + "`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Name, strings.Join(r.UsedBy, ", "), strings.ReplaceAll(doc, "|", `\|`))
	}
	return b.String()
}

// Row is a variable and the services that read it.
type Row struct {
	Var
	UsedBy []string
}

// Service is the variables one service reads.
type Service struct {
	Name string
	Vars []Var
}

// Rows merges the variables of several services, in the order first seen.
func Rows(services []Service) []Row {
	var out []Row
	index := map[string]int{}
	for _, s := range services {
		for _, v := range s.Vars {
			if i, ok := index[v.Name]; ok {
				out[i].UsedBy = append(out[i].UsedBy, s.Name)
				continue
			}
			index[v.Name] = len(out)
			out = append(out, Row{Var: v, UsedBy: []string{s.Name}})
		}
	}
	return out
}
