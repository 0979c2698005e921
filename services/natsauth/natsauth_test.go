package natsauth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"kirjaamo.dev/adapters/demo"
	"kirjaamo.dev/adapters/sdk"
	"kirjaamo.dev/contracts"
	"kirjaamo.dev/contracts/sealed"
	"kirjaamo.dev/devkit/logbuf"
	"kirjaamo.dev/devkit/natsdev"
	"kirjaamo.dev/services/internal/bus"
	"kirjaamo.dev/services/natsauth"
)

// Register A is the one whose credentials are tried; B is its neighbour.
const (
	regA = "kanta-client-register"
	regB = "kanta-processing-log"
)

// syncBuffer collects the server's log from its goroutines.
type syncBuffer = logbuf.Buffer // what the code under test logged

type env struct {
	url      string
	issued   *natsauth.Issued
	dir      string
	platform *nats.Conn
	js       jetstream.JetStream
	logs     *syncBuffer
}

// start runs an embedded NATS server with the authority's configuration, and sets up the streams
// and the registers' effect records as the platform does.
func start(t *testing.T) *env {
	if testing.Short() {
		t.Skip("needs a NATS server; skipped by -short (make test-short)")
	}
	t.Helper()
	dir := t.TempDir()
	issued, err := natsauth.Issue(filepath.Join(dir, "auth"), []string{regA, regB})
	if err != nil {
		t.Fatal(err)
	}
	configure, err := natsauth.ServerOptions(issued.ServerConfig)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv, err := natsdev.Start(natsdev.Options{StoreDir: filepath.Join(dir, "nats"), Configure: configure,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	ctx := t.Context()
	nc, js, err := bus.Connect(ctx, bus.Config{URL: srv.ClientURL(), CredentialsFile: issued.PlatformCreds}, "test-platform", slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if err := bus.EnsureStreams(ctx, js, 1, slog.Default()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{regA, regB} {
		if err := natsauth.ProvisionRegister(ctx, js, id, 1); err != nil {
			t.Fatal(err)
		}
	}
	return &env{url: srv.ClientURL(), issued: issued, dir: dir, platform: nc, js: js, logs: logs}
}

// asRegister connects with a register's credentials as its adapter would, and collects the
// server's asynchronous errors (permission violations).
func (e *env) asRegister(t *testing.T, id string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 100)
	nc, err := nats.Connect(e.url, nats.UserCredentials(e.issued.RegisterCreds[id]), nats.CustomInboxPrefix(natsauth.InboxPrefix(id)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, errs
}

// violation waits for the server to report a permission violation that names the subject.
func violation(t *testing.T, errs chan error, kind, subject string) {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for %s to %q", kind, subject)
	deadline := time.After(3 * time.Second)
	for {
		select {
		case err := <-errs:
			if strings.Contains(err.Error(), want) {
				return
			}
		case <-deadline:
			t.Errorf("no %q", want)
			return
		}
	}
}

func TestARegisterCannotReachAnotherRegister(t *testing.T) {
	e := start(t)
	ctx := t.Context()

	// The platform listens on everything of B's, to see that nothing of A's arrives there.
	leaked, err := e.platform.SubscribeSync(contracts.TaskSubject(regB)[:len(contracts.TaskSubject(regB))-len("task")] + ">")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.platform.Flush(); err != nil {
		t.Fatal(err)
	}

	a, errs := e.asRegister(t, regA)
	// A control: what is A's own draws no violation, so the ones below are not the server refusing
	// everything.
	if _, err := a.Subscribe(natsauth.InboxPrefix(regA)+".control", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Subscribe("$KV.register-"+regA+"-done.>", func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(contracts.HeartbeatSubject(regA), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.Publish(contracts.ProcessingSubject(regA), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("A's own inbox, heartbeat and processing events: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	packagesB := "register-" + regB + "-packages"
	for _, subject := range []string{
		contracts.TaskSubject(regB), contracts.ResultSubject(regB), contracts.AnnounceSubject(regB), contracts.HeartbeatSubject(regB),
		contracts.ProcessingSubject(regB), contracts.ProcessingSubject(regA),
		// A's own tasks come through its consumer, not as plain messages.
		contracts.TaskSubject(regA),
		contracts.AllTasksSubject, contracts.AllResultsSubject, "kirjaamo.v1.register.>", ">",
		// Other inboxes carry other clients' replies: B's tasks, acknowledgements and announce replies.
		"_INBOX.>", natsauth.InboxPrefix(regB) + ".>", "_INBOX_*.>",
		"$KV.register-" + regB + "-done.>", "$JS.ACK.KIRJAAMO_TASKS.register-" + regB + ".>",
		// B's packages are sealed, but not even their chunks pass by A; nor need A's own.
		"$O." + packagesB + ".>", "$O.register-" + regA + "-packages.>",
	} {
		if _, err := a.Subscribe(subject, func(*nats.Msg) { t.Errorf("A received a message on %s", subject) }); err != nil {
			t.Fatal(err)
		}
		_ = a.Flush()
		violation(t, errs, "Subscription", subject)
	}

	consumerB := "KIRJAAMO_TASKS.register-" + regB
	for _, subject := range []string{
		contracts.TaskSubject(regB), contracts.ResultSubject(regB), contracts.AnnounceSubject(regB), contracts.HeartbeatSubject(regB),
		// No register speaks for another's processing, nor reads anyone's.
		contracts.ProcessingSubject(regB), contracts.AllProcessingSubject, "$JS.API.STREAM.MSG.GET." + contracts.ProcessingStream,
		contracts.TaskSubject(regA), // only the platform gives tasks
		"$JS.API.CONSUMER.CREATE." + consumerB + "." + contracts.TaskSubject(regB),
		"$JS.API.CONSUMER.CREATE.KIRJAAMO_TASKS.register-" + regA + "." + contracts.TaskSubject(regB), // its name, B's tasks
		"$JS.API.CONSUMER.CREATE.KIRJAAMO_TASKS.register-" + regA,                                     // no filter: every task
		"$JS.API.CONSUMER.CREATE.KIRJAAMO_TASKS.sneaky." + contracts.TaskSubject(regA),
		"$JS.API.CONSUMER.DURABLE.CREATE." + consumerB,
		"$JS.API.CONSUMER.INFO." + consumerB,
		"$JS.API.CONSUMER.MSG.NEXT." + consumerB,
		"$JS.API.CONSUMER.DELETE." + consumerB,
		"$JS.API.CONSUMER.DELETE.KIRJAAMO_TASKS.register-" + regA,
		"$JS.ACK." + consumerB + ".1.1.1.1700000000000000000.0",
		"$KV.register-" + regB + "-done.x",
		"$JS.API.STREAM.INFO.KV_register-" + regB + "-done",
		"$JS.API.STREAM.MSG.GET.KV_register-" + regB + "-done",
		"$JS.API.DIRECT.GET.KV_register-" + regB + "-done",
		"$O." + packagesB + ".C.x", "$O." + packagesB + ".M.eA",
		"$JS.API.STREAM.INFO.OBJ_" + packagesB,
		"$JS.API.STREAM.MSG.GET.OBJ_" + packagesB,
		"$JS.API.STREAM.PURGE.OBJ_" + packagesB,
		"$JS.API.DIRECT.GET.OBJ_" + packagesB,
		// Nor consumers on its own record or bucket: a push consumer would deliver what A wrote to
		// any subject A names, B's results among them.
		"$JS.API.CONSUMER.CREATE.KV_register-" + regA + "-done",
		"$JS.API.CONSUMER.CREATE.KV_register-" + regA + "-done.x.$KV.register-" + regA + "-done.>",
		"$JS.API.CONSUMER.CREATE.OBJ_register-" + regA + "-packages.x.$O.register-" + regA + "-packages.>",
		"$JS.API.DIRECT.GET.OBJ_register-" + regA + "-packages",
		"$JS.API.STREAM.DELETE.OBJ_register-" + regA + "-packages",
		// Its own record answers no direct get, and no register creates or changes streams: a stream
		// could capture B's announcements or mirror everyone's tasks.
		"$JS.API.DIRECT.GET.KV_register-" + regA + "-done.$KV.register-" + regA + "-done.x",
		"$JS.API.STREAM.CREATE.MIRROR",
		"$JS.API.STREAM.UPDATE.KV_register-" + regA + "-done",
		"$JS.API.STREAM.DELETE.KV_register-" + regA + "-done",
		"$JS.API.STREAM.PURGE.KV_register-" + regA + "-done",
		"$JS.API.STREAM.INFO.KIRJAAMO_TASKS", "$JS.API.STREAM.MSG.GET.KIRJAAMO_TASKS", "$JS.API.STREAM.NAMES", "$JS.API.INFO",
		natsauth.InboxPrefix(regB) + ".x.y", "_INBOX.x.y",
	} {
		if err := a.PublishRequest(subject, a.NewRespInbox(), []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		_ = a.Flush()
		violation(t, errs, "Publish", subject)
	}

	// The same through the JetStream client: none of B's consumer, record or streams are in reach.
	jsA, err := jetstream.New(a)
	if err != nil {
		t.Fatal(err)
	}
	short := func() context.Context {
		c, cancel := context.WithTimeout(ctx, time.Second)
		t.Cleanup(cancel)
		return c
	}
	if _, err := jsA.CreateOrUpdateConsumer(short(), contracts.TasksStream, jetstream.ConsumerConfig{Durable: contracts.TaskConsumer(regB),
		FilterSubject: contracts.TaskSubject(regB), AckPolicy: jetstream.AckExplicitPolicy}); err == nil {
		t.Error("A created B's task consumer")
	}
	if _, err := jsA.KeyValue(short(), "register-"+regB+"-done"); err == nil {
		t.Error("A opened B's effect record")
	}
	if _, err := jsA.ObjectStore(short(), packagesB); err == nil {
		t.Error("A opened B's package bucket")
	}
	if _, err := jsA.CreateObjectStore(short(), jetstream.ObjectStoreConfig{Bucket: "register-" + regA + "-more"}); err == nil {
		t.Error("A created a bucket")
	}
	if _, err := jsA.CreateStream(short(), jetstream.StreamConfig{Name: "MIRROR", Mirror: &jetstream.StreamSource{Name: contracts.TasksStream}}); err == nil {
		t.Error("A created a stream mirroring the tasks")
	}
	// The subject of A's own consumer is allowed, but the server holds the filter in the request to
	// the one in the subject.
	body, _ := json.Marshal(map[string]any{"stream_name": contracts.TasksStream, "config": map[string]any{
		"durable_name": contracts.TaskConsumer(regA), "filter_subject": contracts.TaskSubject(regB), "ack_policy": "explicit"}})
	reply, err := a.Request("$JS.API.CONSUMER.CREATE.KIRJAAMO_TASKS."+contracts.TaskConsumer(regA)+"."+contracts.TaskSubject(regA), body, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reply.Data), `"error"`) {
		t.Errorf("A's consumer took B's tasks as its filter: %s", reply.Data)
	}

	if _, err := e.js.Consumer(ctx, contracts.TasksStream, contracts.TaskConsumer(regB)); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("B's consumer exists after A's attempts: %v", err)
	}
	if kv, err := e.js.KeyValue(ctx, "register-"+regB+"-done"); err != nil {
		t.Fatal(err)
	} else if st, err := kv.Status(ctx); err != nil || st.Values() != 0 {
		t.Errorf("B's effect record has %d values after A's attempts (%v)", st.Values(), err)
	}
	if info, err := e.js.Stream(ctx, "OBJ_"+packagesB); err != nil {
		t.Fatal(err)
	} else if n := info.CachedInfo().State.Msgs; n != 0 {
		t.Errorf("B's package bucket holds %d messages after A's attempts", n)
	}
	if msg, err := leaked.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("A's message reached B's subject %s", msg.Subject)
	}
	if _, err := e.js.Stream(ctx, "MIRROR"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("A's mirror stream exists: %v", err)
	}
}

func TestCredentialsThatAreNotIssuedAreRefused(t *testing.T) {
	e := start(t)
	if nc, err := nats.Connect(e.url); err == nil {
		nc.Close()
		t.Error("an anonymous connection was accepted")
	}

	// A key of the register role signing a user with permissions of its own: the role's template
	// is all a register gets.
	seed, err := os.ReadFile(filepath.Join(e.dir, "auth", "register-signer.nk"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := nkeys.FromSeed(bytes.TrimSpace(seed))
	if err != nil {
		t.Fatal(err)
	}
	accSeed, _ := os.ReadFile(filepath.Join(e.dir, "auth", "account.nk"))
	account, _ := nkeys.FromSeed(bytes.TrimSpace(accSeed))
	accPub, _ := account.PublicKey()
	greedy := userCreds(t, signer, func(uc *jwt.UserClaims) {
		uc.Name = regA
		uc.IssuerAccount = accPub
		uc.Pub.Allow.Add(">")
		uc.Sub.Allow.Add(">")
	})
	if nc, err := nats.Connect(e.url, nats.UserCredentials(greedy)); err == nil {
		nc.Close()
		t.Error("a scoped user with permissions of its own was accepted")
	}

	// A user signed by an account the operator never signed.
	stranger, _ := nkeys.CreateAccount()
	if nc, err := nats.Connect(e.url, nats.UserCredentials(userCreds(t, stranger, func(*jwt.UserClaims) {}))); err == nil {
		nc.Close()
		t.Error("a user of an unknown account was accepted")
	}
}

func userCreds(t *testing.T, signer nkeys.KeyPair, edit func(*jwt.UserClaims)) string {
	t.Helper()
	user, _ := nkeys.CreateUser()
	pub, _ := user.PublicKey()
	userSeed, _ := user.Seed()
	uc := jwt.NewUserClaims(pub)
	edit(uc)
	token, err := uc.Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := jwt.FormatUserConfig(token, userSeed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "user.creds")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testRegister finds two records on anyone, and applies every effect to one record.
type testRegister struct{ decl contracts.Declaration }

func (r testRegister) Declaration() contracts.Declaration { return r.decl }
func (testRegister) Operations() sdk.Operations {
	affectOne := func(context.Context, sdk.Query) (int, error) { return 1, nil }
	return sdk.Operations{
		Lookup: func(context.Context, sdk.Query) ([]contracts.Record, error) {
			return []contracts.Record{{Category: "client details", Fields: map[string]string{"municipality": "Esimerkkilä"}},
				{Category: "client details", Fields: map[string]string{"language": "fi"}}}, nil
		},
		Rectify:         func(context.Context, sdk.Query, []contracts.Correction) (int, error) { return 1, nil },
		Restrict:        affectOne,
		LiftRestriction: affectOne,
		Recipients:      func(context.Context, sdk.Query) ([]string, error) { return nil, nil },
	}
}

// TestARegisterPublishesItsProcessingEventsWithItsOwnCredentials: the SDK's events reach the
// platform's stream as register B, whose credentials allow its own processing subject (and the
// acknowledgements in its own inbox), so that the permissions above do not stop the real thing.
func TestARegisterPublishesItsProcessingEventsWithItsOwnCredentials(t *testing.T) {
	e := start(t)
	decl, err := demo.Declaration(regB)
	if err != nil {
		t.Fatal(err)
	}
	events, err := sdk.OpenEvents(t.Context(), decl, sdk.Config{NATSURL: e.url, CredentialsFile: e.issued.RegisterCreds[regB]})
	if err != nil {
		t.Fatal(err)
	}
	ev := contracts.ProcessingEvent{EventID: "kanta-1", At: time.Now().Add(-time.Minute),
		Subject: []contracts.SubjectIdentifier{{Type: contracts.IdentifierPersonalIdentityCode, Form: contracts.FormPlain, Value: demo.People[0].PersonalIdentityCode}},
		Actor:   contracts.Actor{Organisation: "Esimerkkilän terveyskeskus", Role: "nurse"}, Purpose: "care",
		LegalBasis: contracts.BasisLegalObligation, DataCategories: []string{"patient-records"}, Operation: contracts.ProcessingView}
	if err := events.Processing(t.Context(), ev); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := events.Close(ctx); err != nil {
		t.Fatalf("B's events were not delivered: %v", err)
	}
	stream, err := e.js.Stream(t.Context(), contracts.ProcessingStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := stream.GetLastMsgForSubject(t.Context(), contracts.ProcessingSubject(regB))
	if err != nil || !strings.Contains(string(m.Data), `"event_id":"kanta-1"`) {
		t.Errorf("B's event in the stream: %v", err)
	}
}

// TestARegisterDoesItsWorkWithItsOwnCredentials runs the SDK's adapter with register A's
// credentials against the platform's side of the protocol: it announces, sends heartbeats, takes
// tasks from its consumer, puts a package into its bucket, answers a cancelled task, claims and
// records an effect and answers from the record on a redelivery, without once touching the edge of
// its permissions.
func TestARegisterDoesItsWorkWithItsOwnCredentials(t *testing.T) {
	e := start(t)
	ctx := t.Context()
	decl, err := demo.Declaration(regA)
	if err != nil {
		t.Fatal(err)
	}

	// The catalogue's part, as the platform's user.
	announced := make(chan contracts.Announcement, 1)
	if _, err := e.platform.Subscribe(contracts.AnnounceSubject(regA), func(m *nats.Msg) {
		var a contracts.Announcement
		_ = json.Unmarshal(m.Data, &a)
		select {
		case announced <- a:
		default:
		}
		reply, _ := json.Marshal(contracts.AnnounceReply{Accepted: true, Status: contracts.DeclarationInForce, Digest: a.Declaration.Digest()})
		_ = m.Respond(reply)
	}); err != nil {
		t.Fatal(err)
	}
	heartbeats, err := e.platform.SubscribeSync(contracts.HeartbeatSubject(regA))
	if err != nil {
		t.Fatal(err)
	}
	results, err := e.js.CreateOrUpdateConsumer(ctx, contracts.ResultsStream, jetstream.ConsumerConfig{
		Durable: "test-results", FilterSubject: contracts.ResultSubject(regA), AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}

	adapterLogs := &syncBuffer{}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- sdk.Run(runCtx, testRegister{decl}, sdk.Config{NATSURL: e.url, CredentialsFile: e.issued.RegisterCreds[regA],
			AckWait: 3 * time.Second, HeartbeatEvery: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(adapterLogs, nil))})
	}()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the adapter: %v", err)
		}
	})

	select {
	case a := <-announced:
		if a.Declaration.RegisterID != regA {
			t.Errorf("announced %s", a.Declaration.RegisterID)
		}
	case err := <-done:
		t.Fatalf("the adapter stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no announcement")
	}
	if _, err := heartbeats.NextMsg(5 * time.Second); err != nil {
		t.Fatalf("no heartbeat: %v", err)
	}

	aino := demo.People[0]
	ask := func(op contracts.Operation, right contracts.Right, requestID, msgID string, pkg ...*contracts.PackageTarget) contracts.Result {
		t.Helper()
		task := contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(requestID, regA), RequestID: requestID,
			RegisterID: regA, Operation: op, Right: right, ReceivedAt: time.Now().UTC(), Deadline: time.Now().Add(30 * 24 * time.Hour),
			Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: aino.PersonalIdentityCode}}}
		if len(pkg) > 0 {
			task.Package = pkg[0]
		}
		data, _ := json.Marshal(task)
		if _, err := e.js.Publish(ctx, contracts.TaskSubject(regA), data, jetstream.WithMsgID(msgID)); err != nil {
			t.Fatal(err)
		}
		msg, err := results.Next(jetstream.FetchMaxWait(15 * time.Second))
		if err != nil {
			t.Fatalf("no result for %s: %v", op, err)
		}
		_ = msg.Ack()
		var res contracts.Result
		if err := json.Unmarshal(msg.Data(), &res); err != nil {
			t.Fatal(err)
		}
		if res.TaskID != task.TaskID {
			t.Fatalf("result for %s, want %s", res.TaskID, task.TaskID)
		}
		return res
	}

	if res := ask(contracts.OpLookup, contracts.RightAccess, "0195d5c8-8d3e-7c1a-9f00-00000000b001", "t1"); res.Status != contracts.StatusFound || len(res.Records) != 2 {
		t.Errorf("lookup: %s with %d records %+v", res.Status, len(res.Records), res.Error)
	}
	// The same records above an inline limit of 1 byte: a package, put with A's own credentials.
	caseKey, err := sealed.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	target := &contracts.PackageTarget{Key: base64.StdEncoding.EncodeToString(caseKey.PublicKey().Bytes()), InlineLimit: 1}
	res := ask(contracts.OpLookup, contracts.RightAccess, "0195d5c8-8d3e-7c1a-9f00-00000000b003", "t3", target)
	if res.Status != contracts.StatusFound || res.Package == nil || res.Package.Records != 2 {
		t.Fatalf("lookup with a package: %s, package %+v, error %+v", res.Status, res.Package, res.Error)
	}
	obs, err := e.js.ObjectStore(ctx, res.Package.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := obs.Get(ctx, res.Package.Object)
	if err != nil {
		t.Fatal(err)
	}
	ephemeral, _ := base64.StdEncoding.DecodeString(res.Package.Sealing.EphemeralKey)
	opened, err := sealed.NewReader(stored, caseKey, ephemeral, res.Package.Object, res.Package.Sealing.ChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := io.ReadAll(opened); err != nil || int64(len(plain)) != res.Package.Size || bytes.Count(plain, []byte("\n")) != 2 {
		t.Errorf("the package opens to %d bytes (%v), want %d in 2 lines", len(plain), err, res.Package.Size)
	}
	// The same lookup again, as a redelivery: the new package replaces the old, whose chunks A purges.
	again := contracts.Task{Protocol: contracts.TaskProtocol, TaskID: res.TaskID, RequestID: res.RequestID, RegisterID: regA,
		Operation: contracts.OpLookup, Right: contracts.RightAccess, ReceivedAt: time.Now().UTC(), Deadline: time.Now().Add(30 * 24 * time.Hour),
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: aino.PersonalIdentityCode}}, Package: target}
	data, _ := json.Marshal(again)
	if _, err := e.js.Publish(ctx, contracts.TaskSubject(regA), data); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		// One object of one chunk: its chunk and its description.
		tasks, err1 := e.js.Stream(ctx, contracts.TasksStream)
		objects, err2 := e.js.Stream(ctx, "OBJ_"+res.Package.Bucket)
		if err1 == nil && err2 == nil && tasks.CachedInfo().State.Msgs == 0 && objects.CachedInfo().State.Msgs == 2 &&
			objects.CachedInfo().State.LastSeq == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redelivered lookup did not replace its package: %v %v", err1, err2)
		}
	}

	// A task the platform cancelled is answered with the cancellation.
	cancelled := "0195d5c8-8d3e-7c1a-9f00-00000000b004"
	if ok, err := sdk.CancelTask(ctx, e.js, regA, contracts.TaskID(cancelled, regA), "withdrawn"); err != nil || !ok {
		t.Fatalf("CancelTask = %t, %v", ok, err)
	}
	if res := ask(contracts.OpRestrict, contracts.RightRestriction, cancelled, "t4"); res.Status != contracts.StatusFailed ||
		res.Error == nil || res.Error.Code != contracts.ErrCancelled {
		t.Errorf("a cancelled task: %s %+v", res.Status, res.Error)
	}
	restrictID := "0195d5c8-8d3e-7c1a-9f00-00000000b002"
	if res := ask(contracts.OpRestrict, contracts.RightRestriction, restrictID, "t2"); res.Status != contracts.StatusApplied || res.Affected != 1 {
		t.Errorf("restrict: %s %d %+v", res.Status, res.Affected, res.Error)
	}
	kv, err := e.js.KeyValue(ctx, "register-"+regA+"-done")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, contracts.TaskID(restrictID, regA)); err != nil {
		t.Errorf("the effect was not recorded: %v", err)
	}
	// The same task again, as a redelivery past the duplicate window: the adapter reads its record
	// and answers from it (a result the results stream drops as a duplicate), and acks the task.
	task := contracts.Task{Protocol: contracts.TaskProtocol, TaskID: contracts.TaskID(restrictID, regA), RequestID: restrictID,
		RegisterID: regA, Operation: contracts.OpRestrict, Right: contracts.RightRestriction, ReceivedAt: time.Now().UTC(),
		Deadline:    time.Now().Add(30 * 24 * time.Hour),
		Identifiers: []contracts.Identifier{{Type: contracts.IdentifierPersonalIdentityCode, Value: aino.PersonalIdentityCode}}}
	data, _ = json.Marshal(task)
	if _, err := e.js.Publish(ctx, contracts.TaskSubject(regA), data, jetstream.WithMsgID("t2-again")); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := e.js.Stream(ctx, contracts.TasksStream)
		if err == nil && info.CachedInfo().State.Msgs == 0 && strings.Contains(adapterLogs.String(), "task seen before") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the redelivered task was not answered from the record and acked:\n%s", adapterLogs)
		}
	}

	if logs := e.logs.String(); strings.Contains(logs, "Permissions Violation") || strings.Contains(logs, "Authorization Violation") {
		t.Errorf("the adapter hit the edge of its permissions:\n%s", logs)
	}
}

func TestIssue(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	first, err := natsauth.Issue(dir, []string{regA})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("the directory is not 0700: %v %v", st.Mode(), err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	more, _ := filepath.Glob(filepath.Join(dir, "registers", "*"))
	for _, f := range append(files, more...) {
		if st, _ := os.Stat(f); !st.IsDir() && st.Mode().Perm() != 0o600 {
			t.Errorf("%s is %v, want 0600", f, st.Mode().Perm())
		}
	}
	credsA, _ := os.ReadFile(first.RegisterCreds[regA])
	platform, _ := os.ReadFile(first.PlatformCreds)

	second, err := natsauth.Issue(dir, []string{regA, regB})
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(second.RegisterCreds[regA]); !bytes.Equal(again, credsA) {
		t.Error("a second run replaced A's credentials")
	}
	if again, _ := os.ReadFile(second.PlatformCreds); !bytes.Equal(again, platform) {
		t.Error("a second run replaced the platform's credentials")
	}
	if _, err := os.Stat(second.RegisterCreds[regB]); err != nil {
		t.Errorf("no credentials for the new register: %v", err)
	}
	if a, b := accountOf(t, first.ServerConfig), accountOf(t, second.ServerConfig); a.Subject != b.Subject {
		t.Error("a second run made a new account")
	}
	// Seeds and public keys are both base32 words; only a seed decodes as one.
	for _, word := range regexp.MustCompile(`\b[A-Z2-7]{50,}\b`).FindAllString(second.ServerConfig, -1) {
		if _, err := nkeys.FromSeed([]byte(word)); err == nil {
			t.Error("the server configuration holds a seed")
		}
	}

	if _, err := natsauth.Issue(dir, []string{"b.>"}); err == nil {
		t.Error("a register id with a wildcard was issued credentials")
	}
	if err := os.Remove(filepath.Join(dir, "account.nk")); err != nil {
		t.Fatal(err)
	}
	if _, err := natsauth.Issue(dir, nil); err == nil {
		t.Error("an authority missing its account key was replaced, not refused")
	}
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// accountOf finds the KIRJAAMO account's claims in a server configuration.
func accountOf(t *testing.T, conf string) *jwt.AccountClaims {
	t.Helper()
	for _, token := range jwtRE.FindAllString(conf, -1) {
		if ac, err := jwt.DecodeAccountClaims(token); err == nil && ac.Name == natsauth.Account {
			return ac
		}
	}
	t.Fatal("no KIRJAAMO account in the configuration")
	return nil
}

// TestTheDeployedConfigurationIsCurrent checks that deploy/nats/accounts.conf, which is generated,
// gives registers the permissions this package gives them.
func TestTheDeployedConfigurationIsCurrent(t *testing.T) {
	conf, err := os.ReadFile(filepath.Join("..", "..", "deploy", "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ac := accountOf(t, string(conf))
	var role *jwt.UserScope
	for _, scope := range ac.SigningKeys {
		if us, ok := scope.(*jwt.UserScope); ok && us.Role == natsauth.RegisterRole {
			role = us
		}
	}
	if role == nil {
		t.Fatal("deploy/nats/accounts.conf has no register role")
	}
	want, _ := json.Marshal(natsauth.RegisterPermissions("{{name()}}"))
	if got, _ := json.Marshal(role.Template.Permissions); !bytes.Equal(got, want) {
		t.Errorf("deploy/nats/accounts.conf is out of date; regenerate it (see its header):\n got %s\nwant %s", got, want)
	}
}
