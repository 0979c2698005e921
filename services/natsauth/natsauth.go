// Package natsauth issues the platform's NATS credentials and the server configuration that checks
// them, so that every register's adapter reaches its own subjects and nothing else.
//
// It uses NATS decentralized authentication (an operator, accounts and user JWTs) rather than NKey
// users listed in the server configuration, because:
//
//   - the SDK and the platform connect with a .creds file (nats.UserCredentials), which carries a
//     user JWT: NKey users would need a different client option everywhere;
//   - a register's permissions are one template in the account JWT, a scoped signing key whose
//     users get exactly the template with their name, the register id, filled in. A register's
//     credentials cannot carry more, and issuing them for a new register changes nothing on the
//     servers;
//   - the same text configures the embedded dev server and the three-node cluster (a MEMORY
//     resolver with the account JWTs preloaded; no account server to run).
//
// One account, KIRJAAMO, holds the streams, so the platform and the registers share them without
// imports. The platform's user may do anything in it. A register's user may publish its results,
// heartbeats and processing events, send its announcement, create, read and pull its own task consumer and ack its tasks,
// read and write its own effect record and listen on its subjects (how the SDK sees a cancellation
// at once), put packages into its own package bucket, and subscribe to replies under its own inbox
// prefix _INBOX_<id>, so that no adapter reads another's replies, which carry tasks and
// acknowledgements.
//
// NATS does not check a message's reply subject against the sender's permissions: inside one
// account, a register can have a server or platform reply (an acknowledgement, an announce reply,
// its own tasks) sent to any subject. It cannot choose what such a reply says, which is why a
// register gets no direct get (that would send back a value it wrote), no stream creation or
// update (a stream can capture another register's subjects or mirror the task stream), no consumer
// on its effect record or package bucket (a push consumer delivers the values it wrote to any
// subject it names, another register's results among them), and why the platform validates
// everything it receives.
package natsauth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
)

const (
	// Account is the account of the platform and the registers.
	Account = "KIRJAAMO"
	// RegisterRole is the role of the scoped signing key that issues registers' credentials.
	RegisterRole = "register"
	// PlatformUser is the name of the platform services' user.
	PlatformUser = "platform"

	operatorName      = "kirjaamo"
	systemAccountName = "SYS"
	// nameTemplate is what the server replaces with the user's name, the register id, in the
	// register role's permissions.
	nameTemplate = "{{name()}}"
)

// The seed files of the authority, in its directory. Whoever holds them can issue credentials.
const (
	operatorSeedFile       = "operator.nk"
	systemAccountSeedFile  = "system-account.nk"
	accountSeedFile        = "account.nk"
	registerSignerSeedFile = "register-signer.nk"
)

// InboxPrefix is where a register's adapter receives replies; its credentials allow it to subscribe
// there and nowhere else. The SDK uses it unless told otherwise.
func InboxPrefix(registerID string) string { return "_INBOX_" + registerID }

// RegisterPermissions are what register registerID's user may do. The account's register role holds
// them with registerID = "{{name()}}", which the server fills in from the user's JWT.
func RegisterPermissions(registerID string) jwt.Permissions {
	consumer := contracts.TaskConsumer(registerID)
	bucket := contracts.DoneBucket(registerID)
	kvStream := "KV_" + bucket
	packages := contracts.PackageBucket(registerID)
	objStream := "OBJ_" + packages
	var p jwt.Permissions
	p.Pub.Allow = jwt.StringList{
		contracts.ResultSubject(registerID),
		contracts.HeartbeatSubject(registerID),
		contracts.AnnounceSubject(registerID),
		// Its processing events and its events for the record: on its own subjects only, so that no
		// register speaks for another.
		contracts.ProcessingSubject(registerID),
		contracts.EventSubject(registerID),
		// Create (or update) its consumer, with its own task subject as the filter: the server refuses
		// a body whose filter differs from the one in the subject.
		"$JS.API.CONSUMER.CREATE." + contracts.TasksStream + "." + consumer + "." + contracts.TaskSubject(registerID),
		"$JS.API.CONSUMER.INFO." + contracts.TasksStream + "." + consumer,
		"$JS.API.CONSUMER.MSG.NEXT." + contracts.TasksStream + "." + consumer,
		"$JS.ACK." + contracts.TasksStream + "." + consumer + ".>",
		// The effect record: bind, read (no direct get, see the package comment) and write.
		"$JS.API.STREAM.INFO." + kvStream,
		"$JS.API.STREAM.MSG.GET." + kvStream,
		"$KV." + bucket + ".>",
		// The package bucket: bind, publish chunks and the object's description, read an object's
		// description before replacing it, and purge the chunks of the package it replaces or of one
		// that failed half-way; what the object store's Put needs, and no more. Packages are sealed
		// to the case's key, so even its own bucket tells the register nothing it did not write.
		"$JS.API.STREAM.INFO." + objStream,
		"$JS.API.STREAM.MSG.GET." + objStream,
		"$JS.API.STREAM.PURGE." + objStream,
		"$O." + packages + ".>",
	}
	p.Sub.Allow = jwt.StringList{InboxPrefix(registerID) + ".>", "$KV." + bucket + ".>"}
	return p
}

// Authority is the platform's trust chain on NATS: the operator, the system account, the KIRJAAMO
// account and the account's signing key for registers.
type Authority struct {
	operator, system, account, registers nkeys.KeyPair
}

// NewAuthority makes fresh keys.
func NewAuthority() (*Authority, error) {
	a := &Authority{}
	var err error
	if a.operator, err = nkeys.CreateOperator(); err != nil {
		return nil, fmt.Errorf("natsauth: operator key: %w", err)
	}
	for _, kp := range []*nkeys.KeyPair{&a.system, &a.account, &a.registers} {
		if *kp, err = nkeys.CreateAccount(); err != nil {
			return nil, fmt.Errorf("natsauth: account key: %w", err)
		}
	}
	return a, nil
}

// LoadOrCreateAuthority reads the authority's seeds from dir, or creates them there (0600) if dir
// has none yet. A directory with only some of them is an error, not a new authority: replacing an
// account key would orphan the account's streams.
func LoadOrCreateAuthority(dir string) (*Authority, error) {
	files := []string{operatorSeedFile, systemAccountSeedFile, accountSeedFile, registerSignerSeedFile}
	var present int
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			present++
		}
	}
	if present == 0 {
		a, err := NewAuthority()
		if err != nil {
			return nil, err
		}
		for i, kp := range a.keys() {
			seed, err := kp.Seed()
			if err != nil {
				return nil, fmt.Errorf("natsauth: seed: %w", err)
			}
			if err := WriteSecret(filepath.Join(dir, files[i]), append(seed, '\n')); err != nil {
				return nil, err
			}
		}
		return a, nil
	}
	if present != len(files) {
		return nil, fmt.Errorf("natsauth: %s holds only some of the authority's seeds (%s)", dir, strings.Join(files, ", "))
	}
	a := &Authority{}
	valid := []func(string) bool{nkeys.IsValidPublicOperatorKey, nkeys.IsValidPublicAccountKey, nkeys.IsValidPublicAccountKey, nkeys.IsValidPublicAccountKey}
	for i, kp := range []*nkeys.KeyPair{&a.operator, &a.system, &a.account, &a.registers} {
		seed, err := os.ReadFile(filepath.Join(dir, files[i]))
		if err != nil {
			return nil, fmt.Errorf("natsauth: read seed: %w", err)
		}
		if *kp, err = nkeys.FromSeed([]byte(strings.TrimSpace(string(seed)))); err != nil {
			return nil, fmt.Errorf("natsauth: %s: %w", files[i], err)
		}
		if pub, _ := (*kp).PublicKey(); !valid[i](pub) {
			return nil, fmt.Errorf("natsauth: %s is not a seed of the right kind", files[i])
		}
	}
	return a, nil
}

func (a *Authority) keys() []nkeys.KeyPair {
	return []nkeys.KeyPair{a.operator, a.system, a.account, a.registers}
}

// ServerConfig is the NATS server configuration of the trust chain: the operator, the system
// account and the account JWTs, preloaded in a MEMORY resolver. It holds public keys and signed
// claims only, never a seed, so it may be committed and shown.
func (a *Authority) ServerConfig() (string, error) {
	opPub, _ := a.operator.PublicKey()
	sysPub, _ := a.system.PublicKey()
	accPub, _ := a.account.PublicKey()
	regPub, _ := a.registers.PublicKey()

	op := jwt.NewOperatorClaims(opPub)
	op.Name = operatorName
	op.SystemAccount = sysPub
	opJWT, err := op.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("natsauth: operator JWT: %w", err)
	}

	sys := jwt.NewAccountClaims(sysPub)
	sys.Name = systemAccountName
	sysJWT, err := sys.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("natsauth: system account JWT: %w", err)
	}

	acc := jwt.NewAccountClaims(accPub)
	acc.Name = Account
	// JetStream without account limits: the streams' own limits bound what they hold.
	acc.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: jwt.NoLimit, DiskStorage: jwt.NoLimit,
		Streams: jwt.NoLimit, Consumer: jwt.NoLimit, MaxAckPending: jwt.NoLimit}
	scope := jwt.NewUserScope()
	scope.Key = regPub
	scope.Role = RegisterRole
	scope.Description = "a register's adapter: its own subjects, task consumer, effect record, package bucket and inbox"
	scope.Template.Permissions = RegisterPermissions(nameTemplate)
	scope.Template.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeStandard}
	acc.SigningKeys.AddScopedSigner(scope)
	accJWT, err := acc.Encode(a.operator)
	if err != nil {
		return "", fmt.Errorf("natsauth: account JWT: %w", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# The NATS trust chain of Kirjaamo: operator %s and account %s, as public keys and signed claims.\n", operatorName, Account)
	b.WriteString("# The platform's user may do anything in the account. A register's user, signed by the register role's\n")
	fmt.Fprintf(&b, "# key, gets the role's permissions from the account JWT, %s being its name, the register id:\n", nameTemplate)
	perms := RegisterPermissions(nameTemplate)
	for _, subject := range perms.Pub.Allow {
		fmt.Fprintf(&b, "#   publish   %s\n", subject)
	}
	for _, subject := range perms.Sub.Allow {
		fmt.Fprintf(&b, "#   subscribe %s\n", subject)
	}
	fmt.Fprintf(&b, "operator: %s\n", opJWT)
	fmt.Fprintf(&b, "system_account: %s\n", sysPub)
	b.WriteString("resolver: MEMORY\n")
	b.WriteString("resolver_preload: {\n")
	fmt.Fprintf(&b, "  # %s\n  %s: %s\n", systemAccountName, sysPub, sysJWT)
	fmt.Fprintf(&b, "  # %s\n  %s: %s\n", Account, accPub, accJWT)
	b.WriteString("}\n")
	return b.String(), nil
}

// PlatformCreds are new credentials for the platform's services: a fresh user key, signed by the
// account itself, without restrictions in the account.
func (a *Authority) PlatformCreds() ([]byte, error) {
	return a.userCreds(PlatformUser, a.account, nil)
}

// RegisterCreds are new credentials for a register's adapter: a fresh user key named after the
// register and signed by the register role's key, so the server gives it that role's permissions
// and nothing else.
func (a *Authority) RegisterCreds(registerID string) ([]byte, error) {
	if err := contracts.Validator().Var(registerID, "register_id"); err != nil {
		// The id becomes part of subjects: a dot or a wildcard in it would widen the permissions.
		return nil, fmt.Errorf("natsauth: %q is not a register id", registerID)
	}
	return a.userCreds(registerID, a.registers, a.registers)
}

func (a *Authority) userCreds(name string, signer, scoped nkeys.KeyPair) ([]byte, error) {
	user, err := nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("natsauth: user key: %w", err)
	}
	pub, _ := user.PublicKey()
	seed, err := user.Seed()
	if err != nil {
		return nil, fmt.Errorf("natsauth: user seed: %w", err)
	}
	accPub, _ := a.account.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = name
	if scoped != nil {
		// A scoped user carries no permissions of its own; the server applies the role's.
		uc.SetScoped(true)
		uc.IssuerAccount = accPub
	} else {
		uc.AllowedConnectionTypes = jwt.StringList{jwt.ConnectionTypeStandard}
	}
	userJWT, err := uc.Encode(signer)
	if err != nil {
		return nil, fmt.Errorf("natsauth: user JWT for %s: %w", name, err)
	}
	creds, err := jwt.FormatUserConfig(userJWT, seed)
	if err != nil {
		return nil, fmt.Errorf("natsauth: creds for %s: %w", name, err)
	}
	return creds, nil
}

// Issued is where Issue left the credentials.
type Issued struct {
	// ServerConfig is the server configuration of the authority (see Authority.ServerConfig).
	ServerConfig string
	// PlatformCreds is the platform's .creds file.
	PlatformCreds string
	// RegisterCreds are the registers' .creds files, by register id.
	RegisterCreds map[string]string
}

// Issue loads or creates the authority in dir and writes the platform's and each register's
// credentials that are not there yet: dir/platform.creds and dir/registers/<id>.creds, 0600. A
// register keeps its credentials across runs, so that its user key stays the one to revoke.
func Issue(dir string, registerIDs []string) (*Issued, error) {
	a, err := LoadOrCreateAuthority(dir)
	if err != nil {
		return nil, err
	}
	conf, err := a.ServerConfig()
	if err != nil {
		return nil, err
	}
	out := &Issued{ServerConfig: conf, PlatformCreds: filepath.Join(dir, "platform.creds"), RegisterCreds: map[string]string{}}
	if err := issueOnce(out.PlatformCreds, a.PlatformCreds); err != nil {
		return nil, err
	}
	for _, id := range registerIDs {
		path := filepath.Join(dir, "registers", id+".creds")
		if err := issueOnce(path, func() ([]byte, error) { return a.RegisterCreds(id) }); err != nil {
			return nil, err
		}
		out.RegisterCreds[id] = path
	}
	return out, nil
}

func issueOnce(path string, issue func() ([]byte, error)) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	creds, err := issue()
	if err != nil {
		return err
	}
	return WriteSecret(path, creds)
}

// WriteSecret writes a file only its owner can read, in a directory only its owner can enter, and
// never leaves a partial file behind.
func WriteSecret(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("natsauth: secret dir: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("natsauth: write secret: %w", err)
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("natsauth: write secret: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("natsauth: write secret: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("natsauth: write secret: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("natsauth: write secret: %w", err)
	}
	return nil
}

// ServerOptions checks a server configuration (from ServerConfig) and returns the hook that applies
// it to an embedded server's options (natsdev.Options.Configure).
func ServerOptions(conf string) (func(*server.Options), error) {
	if err := (&server.Options{}).ProcessConfigString(conf); err != nil {
		return nil, fmt.Errorf("natsauth: server configuration: %w", err)
	}
	return func(o *server.Options) {
		if err := o.ProcessConfigString(conf); err != nil {
			// It parsed above, so this does not happen; if it did, the server must not start
			// without authentication. A no_auth_user is refused in operator mode and without users.
			o.NoAuthUser = "natsauth: the authorization configuration did not apply"
		}
	}, nil
}

// ProvisionRegister creates a register's effect record and package bucket if they are missing, as
// the platform: the register's own credentials may not create streams. Direct get is turned off on
// both, since a direct get answers with the stored value itself to any reply subject; registers
// read with STREAM.MSG.GET.
func ProvisionRegister(ctx context.Context, js jetstream.JetStream, registerID string, replicas int) error {
	done := sdk.DoneBucketConfig(registerID)
	done.Replicas = max(replicas, 1)
	_, err := js.KeyValue(ctx, done.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateKeyValue(ctx, done)
	}
	if err == nil {
		err = noDirectGet(ctx, js, "KV_"+done.Bucket)
	}
	if err != nil {
		return fmt.Errorf("natsauth: effect record of %s: %w", registerID, err)
	}
	packages := sdk.PackageBucketConfig(registerID)
	packages.Replicas = max(replicas, 1)
	_, err = js.ObjectStore(ctx, packages.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		_, err = js.CreateObjectStore(ctx, packages)
	}
	if err == nil {
		err = noDirectGet(ctx, js, "OBJ_"+packages.Bucket)
	}
	if err != nil {
		return fmt.Errorf("natsauth: package bucket of %s: %w", registerID, err)
	}
	return nil
}

func noDirectGet(ctx context.Context, js jetstream.JetStream, streamName string) error {
	stream, err := js.Stream(ctx, streamName)
	if err != nil {
		return err
	}
	if sc := stream.CachedInfo().Config; sc.AllowDirect {
		sc.AllowDirect = false
		if _, err := js.UpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("no direct get: %w", err)
		}
	}
	return nil
}
