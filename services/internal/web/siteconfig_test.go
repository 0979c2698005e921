package web

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kirjaamo.dev/services/auth/oidclogin"
	"kirjaamo.dev/services/internal/config"
)

// loadSite loads a site's configuration under the prefix KIRJAAMO_T_, as the sites load theirs.
func loadSite() (SiteConfig, error) {
	cfg := SiteConfig{Addr: "127.0.0.1:0", ClientID: "c"}
	return cfg, config.Load("KIRJAAMO_T_", &cfg)
}

func TestASiteNeedsItsURLAndASecretOrAKey(t *testing.T) {
	t.Setenv("KIRJAAMO_T_OIDC_ISSUER", "https://login.example.test")
	if _, err := loadSite(); err == nil || !strings.Contains(err.Error(), "KIRJAAMO_T_URL is required") {
		t.Fatalf("no public URL: got %v", err)
	}
	t.Setenv("KIRJAAMO_T_URL", "https://kirjaamo.example.test")
	_, err := loadSite()
	if err == nil || !strings.Contains(err.Error(), "KIRJAAMO_T_OIDC_CLIENT_SECRET or KIRJAAMO_T_OIDC_CLIENT_KEY_FILE is required") {
		t.Fatalf("neither secret nor key: got %v", err)
	}

	t.Setenv("KIRJAAMO_T_OIDC_CLIENT_SECRET", "s")
	cfg, err := loadSite()
	if err != nil || cfg.Keys != nil || cfg.OIDC().ClientSecret != "s" {
		t.Fatalf("secret only: %v", err)
	}
	mux := http.NewServeMux()
	cfg.MountJWKS(mux)
	if rec := serve(mux, JWKSPath); rec.Code != http.StatusNotFound {
		t.Errorf("JWKS without keys: %d, want 404", rec.Code)
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KIRJAAMO_T_OIDC_CLIENT_KEY_FILE", path)
	if _, err := loadSite(); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("secret and key: got %v", err)
	}

	t.Setenv("KIRJAAMO_T_OIDC_CLIENT_SECRET", "")
	t.Setenv("KIRJAAMO_T_OIDC_ENCRYPTION_KEY_FILE", path)
	t.Setenv("KIRJAAMO_T_OIDC_IDENTITY_CODE_CLAIM", "urn:oid:1.2.246.21")
	cfg, err = loadSite()
	if err != nil || !cfg.Keys.HasSigningKey() || !cfg.Keys.HasEncryptionKey() {
		t.Fatalf("keys: %v", err)
	}
	if oc := cfg.OIDC("openid"); oc.Keys != cfg.Keys || oc.ClientSecret != "" || oc.IdentityCodeClaim != "urn:oid:1.2.246.21" || oc.Userinfo != oidclogin.UserinfoWhenMissing {
		t.Errorf("OIDC config does not carry the keys, claim and userinfo policy")
	}
	t.Setenv("KIRJAAMO_T_OIDC_USERINFO", "always")
	if cfg, err := loadSite(); err != nil || cfg.OIDC().Userinfo != oidclogin.UserinfoAlways {
		t.Errorf("userinfo always: %v", err)
	}
	t.Setenv("KIRJAAMO_T_OIDC_USERINFO", "sometimes")
	if _, err := loadSite(); err == nil || !strings.Contains(err.Error(), "KIRJAAMO_T_OIDC_USERINFO") {
		t.Errorf("unknown userinfo policy: got %v", err)
	}
	t.Setenv("KIRJAAMO_T_OIDC_USERINFO", "")
	mux = http.NewServeMux()
	cfg.MountJWKS(mux)
	rec := serve(mux, JWKSPath)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"use":"enc"`) || strings.Contains(rec.Body.String(), `"d":`) {
		t.Errorf("JWKS: %d %s", rec.Code, rec.Body)
	}

	t.Setenv("KIRJAAMO_T_OIDC_CLIENT_KEY_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	if _, err := loadSite(); err == nil {
		t.Fatal("a missing key file was accepted")
	}
}

func serve(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}
