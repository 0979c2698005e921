package web

import "net/http"

// Mux is a ServeMux that remembers the patterns it was given, so that a test can hold a site's
// routes against the API description (TestEveryRouteIsDescribedAndEveryPathServed).
type Mux struct {
	*http.ServeMux
	patterns []string
}

// NewMux makes an empty Mux.
func NewMux() *Mux { return &Mux{ServeMux: http.NewServeMux()} }

// Handle registers a handler for a pattern.
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// HandleFunc registers a handler function for a pattern.
func (m *Mux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, h)
}

// Patterns are the patterns registered, in order.
func (m *Mux) Patterns() []string { return append([]string(nil), m.patterns...) }
