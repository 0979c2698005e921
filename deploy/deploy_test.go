// Package deploy checks the production deployment files with the parsers of the tools that read
// them, since no Docker engine or NATS cluster runs where the tests do.
package deploy

import (
	"context"
	"crypto/tls"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/conf"
	"github.com/nats-io/nats-server/v2/server"

	"kirjaamo.dev/devkit/testpki"
)

// required are the variables compose.yaml insists on; the check sets placeholders for them.
var required = []string{"POSTGRES_PASSWORD", "POSTGRES_OWNER_PASSWORD", "POSTGRES_APP_PASSWORD", "KIRJAAMO_PAYLOAD_KEYS", "PORTAL_URL", "CITIZEN_OIDC_ISSUER",
	"PORTAL_OIDC_CLIENT_ID", "PORTAL_OIDC_CLIENT_KEY", "PORTAL_OIDC_ENCRYPTION_KEY", "OFFICE_URL", "STAFF_OIDC_ISSUER", "OFFICE_OIDC_CLIENT_SECRET", "SMTP_ADDR", "SMS_URL", "OFFICE_EMAIL", "NATS_PLATFORM_CREDS",
	"NATS_TLS_CA", "NATS_TLS_CERT", "NATS_TLS_KEY"}

func TestComposeFileIsValid(t *testing.T) {
	for _, v := range required {
		t.Setenv(v, "placeholder")
	}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithOsEnv, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	names := project.ServiceNames()
	for _, want := range []string{"portal", "office", "orchestrator", "catalogue", "notifier", "postgres", "temporal", "nats-1", "nats-2", "nats-3"} {
		if !slices.Contains(names, want) {
			t.Errorf("compose.yaml has no service %s", want)
		}
	}
	// The services connect as a role that owns no table, once the tables' owner has migrated them.
	if v := project.Services["migrate"].Environment["KIRJAAMO_MIGRATE_DATABASE_URL"]; v == nil || !strings.HasPrefix(*v, "postgres://kirjaamo_owner:") ||
		!slices.Equal(project.Services["migrate"].Command, types.ShellCommand{"migrate"}) {
		t.Errorf("the migrate service does not migrate as the tables' owner: %v", v)
	}
	for _, svc := range []string{"portal", "office", "orchestrator", "catalogue", "notifier"} {
		env := project.Services[svc].Environment
		if v := env["KIRJAAMO_DATABASE_URL"]; v == nil || !strings.HasPrefix(*v, "postgres://kirjaamo_app:") {
			t.Errorf("%s connects to PostgreSQL as %v, not as the role that owns nothing", svc, v)
		}
		if d, ok := project.Services[svc].DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s may start before the schema is migrated", svc)
		}
		if v := env["KIRJAAMO_NATS_REPLICAS"]; v == nil || *v != "3" {
			t.Errorf("%s does not run with JetStream replicas 3", svc)
		}
		if v := env["KIRJAAMO_NATS_CREDENTIALS"]; v == nil || *v != "/run/secrets/nats-platform-creds" ||
			!slices.ContainsFunc(project.Services[svc].Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == "nats-platform-creds" }) {
			t.Errorf("%s does not connect to NATS with the platform's credentials", svc)
		}
		if v := env["KIRJAAMO_NATS_URL"]; v == nil || strings.Contains(*v, "nats://") || !strings.HasPrefix(*v, "tls://") {
			t.Errorf("%s does not reach NATS over TLS: %v", svc, v)
		}
		if v := env["KIRJAAMO_NATS_CA"]; v == nil || *v != "/run/secrets/nats-tls-ca" {
			t.Errorf("%s does not verify the NATS servers against the cluster's CA", svc)
		}
	}
	portal := project.Services["portal"].Environment
	if v := portal["KIRJAAMO_PORTAL_OIDC_CLIENT_SECRET"]; v != nil {
		t.Error("the portal signs in citizens with a client secret; Suomi.fi takes private_key_jwt")
	}
	for _, key := range []string{"KIRJAAMO_PORTAL_OIDC_CLIENT_KEY_FILE", "KIRJAAMO_PORTAL_OIDC_ENCRYPTION_KEY_FILE"} {
		v := portal[key]
		if v == nil || !strings.HasPrefix(*v, "/run/secrets/") || !slices.ContainsFunc(project.Services["portal"].Secrets,
			func(s types.ServiceSecretConfig) bool { return "/run/secrets/"+s.Source == *v }) {
			t.Errorf("the portal's %s is not one of its compose secrets: %v", key, v)
		}
	}
	for _, node := range []string{"nats-1", "nats-2", "nats-3"} {
		env := project.Services[node].Environment
		if v := env["NATS_SERVER_NAME"]; v == nil || *v != node {
			t.Errorf("%s is named %v", node, v)
		}
		for _, secret := range []string{"nats-tls-cert", "nats-tls-key", "nats-tls-ca"} {
			if !slices.ContainsFunc(project.Services[node].Secrets, func(s types.ServiceSecretConfig) bool { return s.Source == secret }) {
				t.Errorf("%s lacks the secret %s", node, secret)
			}
		}
	}
}

func TestComposeRefusesMissingSecrets(t *testing.T) {
	for _, v := range required {
		os.Unsetenv(v)
	}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opts.LoadProject(context.Background()); err == nil {
		t.Fatal("compose.yaml loads without its secrets; they must be required")
	}
}

func TestNATSConfigIsValid(t *testing.T) {
	t.Setenv("NATS_SERVER_NAME", "nats-1")
	pki := testpki.New(t, "nats-1", "nats-2", "nats-3")
	t.Setenv("NATS_TLS_CERT", pki.Cert)
	t.Setenv("NATS_TLS_KEY", pki.Key)
	t.Setenv("NATS_TLS_CA", pki.CA)
	opts, err := server.ProcessConfigFile(filepath.Join("nats", "nats.conf"))
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	if !opts.JetStream {
		t.Error("nats.conf does not enable JetStream")
	}
	if len(opts.Routes) != 3 || opts.Cluster.Name != "kirjaamo" {
		t.Errorf("nats.conf is not a three-node cluster named kirjaamo: routes %v, name %q", opts.Routes, opts.Cluster.Name)
	}
	if len(opts.TrustedOperators) != 1 || opts.SystemAccount == "" || opts.NoAuthUser != "" || len(opts.Users) > 0 || len(opts.Nkeys) > 0 {
		t.Errorf("nats.conf does not authenticate every client with an operator-signed user JWT: operators %d, system account %q, no_auth_user %q, users %d, nkeys %d",
			len(opts.TrustedOperators), opts.SystemAccount, opts.NoAuthUser, len(opts.Users), len(opts.Nkeys))
	}
	if opts.TLSConfig == nil || opts.AllowNonTLS {
		t.Error("nats.conf lets clients connect without TLS")
	}
	if tc := opts.Cluster.TLSConfig; tc == nil || tc.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Error("nats.conf lets a node join the cluster without a certificate of the cluster's CA")
	}
	if _, ok := opts.AccountResolver.(*server.MemAccResolver); !ok {
		t.Errorf("nats.conf's account resolver is %T, want the MEMORY resolver with the accounts preloaded", opts.AccountResolver)
	}
	// The server's own checks of the whole configuration (trust chain, accounts, cluster), short of
	// listening.
	opts.StoreDir = t.TempDir()
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats.conf: %v", err)
	}
	srv.Shutdown()
}

// TestNATSPermissions checks the register role in the KIRJAAMO account: what a register's adapter may
// do, with {{name()}} its register id. It is written out here rather than taken from the generating
// code, so that a change to the permissions is a change to this test too.
func TestNATSPermissions(t *testing.T) {
	m, err := conf.ParseFile(filepath.Join("nats", "accounts.conf"))
	if err != nil {
		t.Fatalf("accounts.conf: %v", err)
	}
	preload, _ := m["resolver_preload"].(map[string]any)
	operator, err := jwt.DecodeOperatorClaims(fmt.Sprint(m["operator"]))
	if err != nil {
		t.Fatalf("accounts.conf: operator: %v", err)
	}
	var account *jwt.AccountClaims
	for pub, v := range preload {
		ac, err := jwt.DecodeAccountClaims(fmt.Sprint(v))
		if err != nil || ac.Subject != pub || ac.Issuer != operator.Subject {
			t.Errorf("accounts.conf: account %s is not one the operator signed (%v)", pub, err)
			continue
		}
		if ac.Name == "KIRJAAMO" {
			account = ac
		}
	}
	if account == nil {
		t.Fatal("accounts.conf has no KIRJAAMO account")
	}
	if account.Limits.JetStreamLimits.DiskStorage == 0 {
		t.Error("the KIRJAAMO account has no JetStream")
	}
	var role *jwt.UserScope
	for _, scope := range account.SigningKeys {
		if us, ok := scope.(*jwt.UserScope); ok && us.Role == "register" {
			role = us
		}
	}
	if role == nil {
		t.Fatal("the KIRJAAMO account has no register role: registers' credentials would carry their own permissions")
	}
	const id = "{{name()}}"
	wantPub := []string{
		"kirjaamo.v1.register." + id + ".result",
		"kirjaamo.v1.register." + id + ".heartbeat",
		"kirjaamo.v1.register." + id + ".announce",
		"kirjaamo.v1.register." + id + ".processing",
		"kirjaamo.v1.register." + id + ".event",
		"$JS.API.CONSUMER.CREATE.KIRJAAMO_TASKS.register-" + id + ".kirjaamo.v1.register." + id + ".task",
		"$JS.API.CONSUMER.INFO.KIRJAAMO_TASKS.register-" + id,
		"$JS.API.CONSUMER.MSG.NEXT.KIRJAAMO_TASKS.register-" + id,
		"$JS.ACK.KIRJAAMO_TASKS.register-" + id + ".>",
		"$JS.API.STREAM.INFO.KV_register-" + id + "-done",
		"$JS.API.STREAM.MSG.GET.KV_register-" + id + "-done",
		"$KV.register-" + id + "-done.>",
		"$JS.API.STREAM.INFO.OBJ_register-" + id + "-packages",
		"$JS.API.STREAM.MSG.GET.OBJ_register-" + id + "-packages",
		"$JS.API.STREAM.PURGE.OBJ_register-" + id + "-packages",
		"$O.register-" + id + "-packages.>",
	}
	perms := role.Template.Permissions
	if got := []string(perms.Pub.Allow); !slices.Equal(got, wantPub) {
		t.Errorf("a register may publish on\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantPub, "\n"))
	}
	if got := []string(perms.Sub.Allow); !slices.Equal(got, []string{"_INBOX_" + id + ".>", "$KV.register-" + id + "-done.>"}) {
		t.Errorf("a register may subscribe to %v, want its own inbox and effect record only", got)
	}
	if len(perms.Pub.Deny)+len(perms.Sub.Deny) > 0 || perms.Resp != nil {
		t.Errorf("the register role has deny lists or response permissions, which its allow lists make needless: %+v", perms)
	}
	if !slices.Equal([]string(role.Template.AllowedConnectionTypes), []string{jwt.ConnectionTypeStandard}) {
		t.Errorf("a register may connect as %v, want plain NATS clients only", role.Template.AllowedConnectionTypes)
	}
}

// TestOneVersionOfEachServer: compose runs the NATS server go.mod builds (the cluster and the tests
// run that one), and the Temporal server from the module version the devstack builds.
func TestOneVersionOfEachServer(t *testing.T) {
	for _, v := range required {
		t.Setenv(v, "placeholder")
	}
	opts, err := cli.NewProjectOptions([]string{"compose.yaml"}, cli.WithOsEnv, cli.WithWorkingDirectory("."))
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	natsVersion := moduleVersion(t, "go.mod", "github.com/nats-io/nats-server/v2")
	for _, node := range []string{"nats-1", "nats-2", "nats-3"} {
		if got := project.Services[node].Image; got != "nats:"+strings.TrimPrefix(natsVersion, "v") {
			t.Errorf("%s runs %s; go.mod builds nats-server %s", node, got, natsVersion)
		}
	}
	if moduleVersion(t, "../services/devstack/go.mod", "go.temporal.io/server") == "" {
		t.Fatal("the devstack does not build the Temporal server")
	}
	temporal := project.Services["temporal"]
	if temporal.Image != "" || temporal.Build == nil || temporal.Build.Dockerfile != "deploy/Dockerfile.temporal" {
		t.Errorf("compose runs Temporal from %q, not from the server go.mod builds (Dockerfile.temporal)", temporal.Image)
	}
}

// moduleVersion is the version a go.mod requires of a module.
func moduleVersion(t *testing.T, gomod, module string) string {
	t.Helper()
	content, err := os.ReadFile(gomod)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(content)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == module {
			return f[1]
		}
	}
	return ""
}
