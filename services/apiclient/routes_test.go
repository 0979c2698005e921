package apiclient_test

import (
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"kirjaamo.dev/contracts"
	"kirjaamo.dev/services/office"
	"kirjaamo.dev/services/opendsr"
	"kirjaamo.dev/services/portal"
)

// apiPrefixes are where the servers' machine interfaces are; everything else they serve is pages.
var apiPrefixes = []string{"/api/", "/opendsr/"}

// TestEveryRouteIsDescribedAndEveryPathServed walks every route the portal, the office and the
// OpenDSR service register
// and fails on an API route that contracts/openapi.yaml lacks, and on an operation of the
// description that no server serves: the description cannot drift from the handlers.
func TestEveryRouteIsDescribedAndEveryPathServed(t *testing.T) {
	var spec struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(contracts.OpenAPI, &spec); err != nil {
		t.Fatal(err)
	}
	described := map[string]bool{}
	for path, item := range spec.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				described[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	served := map[string]string{}
	for site, patterns := range map[string][]string{"portal": portal.Patterns(), "office": office.Patterns(), "opendsr": opendsr.Patterns()} {
		for _, p := range patterns {
			method, path, ok := strings.Cut(p, " ")
			if !ok {
				continue // a route for every method: the API's catch-all "not found"
			}
			if !slices.ContainsFunc(apiPrefixes, func(prefix string) bool { return strings.HasPrefix(path, prefix) }) {
				continue
			}
			served[method+" "+path] = site
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d API routes found: the sites' patterns are not being listed (%v)", len(served), served)
	}
	var undescribed, unserved []string
	for route, site := range served {
		if !described[route] {
			undescribed = append(undescribed, route+" ("+site+")")
		}
	}
	for route := range described {
		if _, ok := served[route]; !ok {
			unserved = append(unserved, route)
		}
	}
	sort.Strings(undescribed)
	sort.Strings(unserved)
	for _, r := range undescribed {
		t.Errorf("served but not in contracts/openapi.yaml: %s", r)
	}
	for _, r := range unserved {
		t.Errorf("in contracts/openapi.yaml but served by no site: %s", r)
	}
}
