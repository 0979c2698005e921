package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type secretConfig struct {
	DatabaseURL string `env:"DATABASE_URL" required:"" doc:"the database"`
}

// TestASecretMayComeFromAFile: a variable's value may be kept in a file named by its _FILE
// variable, as a mounted Kubernetes or compose secret is; giving both is refused.
func TestASecretMayComeFromAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "database-url")
	if err := os.WriteFile(path, []byte("postgres://kirjaamo:s3cret@db/kirjaamo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_DATABASE_URL", "")
	t.Setenv("TEST_DATABASE_URL_FILE", path)
	var cfg secretConfig
	if err := Load("TEST_", &cfg); err != nil || cfg.DatabaseURL != "postgres://kirjaamo:s3cret@db/kirjaamo" {
		t.Fatalf("from a file: %q, %v", cfg.DatabaseURL, err)
	}
	t.Setenv("TEST_DATABASE_URL", "postgres://other")
	if err := Load("TEST_", &cfg); err == nil || !strings.Contains(err.Error(), "both set") {
		t.Errorf("both set: %v", err)
	}
	t.Setenv("TEST_DATABASE_URL", "")
	t.Setenv("TEST_DATABASE_URL_FILE", filepath.Join(t.TempDir(), "missing"))
	if err := Load("TEST_", &cfg); err == nil || !strings.Contains(err.Error(), "TEST_DATABASE_URL_FILE") {
		t.Errorf("a missing file: %v", err)
	}
}
