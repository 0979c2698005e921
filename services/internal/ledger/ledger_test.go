package ledger

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kirjaamo.dev/devkit/natstest"
)

func TestCanonicalSurvivesWhatJSONBDoesToAValue(t *testing.T) {
	type inner struct {
		Zeta  string  `json:"zeta"`
		Alpha float64 `json:"alpha"`
	}
	written, err := Canonical(map[string]any{"b": inner{Zeta: "ä<>&", Alpha: 1e21}, "a": []any{1.5, "x"}})
	if err != nil {
		t.Fatal(err)
	}
	// As PostgreSQL gives it back: keys by length then bytes, white space, numbers rewritten.
	stored := `{"a": [1.50, "x"], "b": {"zeta": "\u00e4<>&", "alpha": 1000000000000000000000}}`
	read, err := CanonicalJSON([]byte(stored))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(written, read) {
		t.Fatalf("written %s, read back %s", written, read)
	}
	if want := `{"a":[3/2,"x"],"b":{"alpha":1000000000000000000000,"zeta":"ä<>&"}}`; string(written) != want {
		t.Errorf("canonical form %s, want %s", written, want)
	}
	if other, _ := CanonicalJSON([]byte(`{"a":[1.5,"x"],"b":{"alpha":1e21,"zeta":"ä<>&!"}}`)); bytes.Equal(other, written) {
		t.Error("a changed string encodes the same")
	}
	if _, err := CanonicalJSON([]byte(`{} {}`)); err == nil {
		t.Error("two values taken as one")
	}
}

func testKeys(t *testing.T) (*Keys, *Signer) {
	t.Helper()
	secret, seed := make([]byte, 32), make([]byte, 32)
	_, _ = rand.Read(secret)
	_, _ = rand.Read(seed)
	keys, err := NewKeys("k1", map[string][]byte{"k1": secret})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewSigner("k1", map[string][]byte{"k1": seed})
	if err != nil {
		t.Fatal(err)
	}
	return keys, signer
}

// chain makes n linked entries, with sequence numbers 10, 20, ... (gaps are normal: a rolled-back
// transaction uses a number up).
func chain(t *testing.T, keys *Keys, n int) []Link {
	t.Helper()
	prev := Genesis
	var out []Link
	for i := 1; i <= n; i++ {
		body, _ := Canonical(map[string]any{"n": i, "action": "viewed"})
		hash, err := keys.Link(keys.Active(), prev, body)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, Link{Seq: int64(10 * i), KeyID: keys.Active(), Prev: prev, Hash: hash, Body: body})
		prev = hash
	}
	return out
}

func each(links []Link) iter.Seq2[Link, error] {
	return func(yield func(Link, error) bool) {
		for _, l := range links {
			if !yield(l, nil) {
				return
			}
		}
	}
}

func checkpointAt(signer *Signer, l Link) Checkpoint {
	c := Checkpoint{Log: "record", Seq: l.Seq, Head: l.Hash, At: time.Now()}
	signer.Sign(&c)
	return c
}

func TestVerifyNamesTheFirstEntryNotAsWritten(t *testing.T) {
	keys, signer := testKeys(t)
	links := chain(t, keys, 6)
	checkpoints := []Checkpoint{checkpointAt(signer, links[2]), checkpointAt(signer, links[4])}

	rep, err := Verify(keys, signer.Public(), checkpoints, each(links))
	if err != nil || rep.Broken != nil || rep.Entries != 6 || rep.Last != 60 || rep.Unanchored != 1 || rep.Latest.Seq != 50 {
		t.Fatalf("an intact log: %+v, %v", rep, err)
	}

	edited := append([]Link(nil), links...)
	edited[1].Body = bytes.Replace(edited[1].Body, []byte("viewed"), []byte("nothing"), 1)
	rehashed := append([]Link(nil), edited...) // and its link recomputed, as someone without the key would
	// whoever edits cannot make an HMAC without the key; recomputing with another key does not help
	other, _ := testKeys(t)
	rehashed[1].Hash, _ = other.Link("k1", rehashed[1].Prev, rehashed[1].Body)

	removed := append(append([]Link(nil), links[:3]...), links[4:]...)
	for _, c := range []struct {
		name  string
		links []Link
		seq   int64
		says  string
	}{
		{"edited", edited, 20, "was changed"},
		{"edited and relinked without the key", rehashed, 20, "was changed"},
		{"an entry removed", removed, 50, "does not follow entry 30"},
		{"the tail cut off", links[:4], 50, "cut off its end"},
		{"the checkpointed entry removed with everything after it", links[:2], 30, "cut off its end"},
	} {
		rep, err := Verify(keys, signer.Public(), checkpoints, each(c.links))
		if err != nil || rep.Broken == nil || rep.Broken.Seq != c.seq || !strings.Contains(rep.Broken.Reason, c.says) {
			t.Errorf("%s: %+v, %v; want entry %d named: %q", c.name, rep.Broken, err, c.seq, c.says)
		}
	}
}

func TestARewrittenLogDisagreesWithItsCheckpoints(t *testing.T) {
	keys, signer := testKeys(t)
	links := chain(t, keys, 5)
	checkpoints := []Checkpoint{checkpointAt(signer, links[3])}
	// Someone holding the link key rewrites entry 20 and relinks everything after it.
	rewritten := append([]Link(nil), links...)
	prev := rewritten[0].Hash
	for i := 1; i < len(rewritten); i++ {
		if i == 1 {
			rewritten[i].Body = []byte(`{"action":"nothing to see"}`)
		}
		rewritten[i].Prev = prev
		rewritten[i].Hash, _ = keys.Link("k1", prev, rewritten[i].Body)
		prev = rewritten[i].Hash
	}
	rep, _ := Verify(keys, signer.Public(), checkpoints, each(rewritten))
	if rep.Broken == nil || rep.Broken.Seq != 40 || !strings.Contains(rep.Broken.Reason, "rewritten") {
		t.Fatalf("a relinked log against the checkpoint before the rewrite: %+v", rep.Broken)
	}
	// A checkpoint not signed by the platform's key is not believed.
	_, stranger := testKeys(t)
	forged := checkpointAt(stranger, rewritten[3])
	if rep, _ := Verify(keys, signer.Public(), []Checkpoint{forged}, each(rewritten)); rep.Broken == nil || !strings.Contains(rep.Broken.Reason, "signature") {
		t.Fatalf("a forged checkpoint: %+v", rep.Broken)
	}
}

func TestEntriesFromBeforeTheKeyComeFirstOnly(t *testing.T) {
	keys, signer := testKeys(t)
	legacy := []Link{{Seq: 1, Prev: Genesis, Hash: bytes.Repeat([]byte{1}, 32)}, {Seq: 2, Prev: bytes.Repeat([]byte{1}, 32), Hash: bytes.Repeat([]byte{2}, 32)}}
	body := []byte(`{"n":3}`)
	hash, _ := keys.Link("k1", legacy[1].Hash, body)
	keyed := Link{Seq: 3, KeyID: "k1", Prev: legacy[1].Hash, Hash: hash, Body: body}
	rep, _ := Verify(keys, signer.Public(), nil, each(append(legacy, keyed)))
	if rep.Broken != nil || rep.Legacy != 2 || rep.Entries != 3 {
		t.Fatalf("legacy entries before keyed ones: %+v", rep)
	}
	late := Link{Seq: 4, Prev: hash, Hash: bytes.Repeat([]byte{4}, 32)}
	if rep, _ := Verify(keys, signer.Public(), nil, each(append(legacy, keyed, late))); rep.Broken == nil || rep.Broken.Seq != 4 {
		t.Fatalf("an unkeyed entry after keyed ones: %+v", rep.Broken)
	}
}

func TestCheckpointsArePublishedOnceAndCannotBeDeleted(t *testing.T) {
	srv := natstest.New(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if err := EnsureStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	keys, signer := testKeys(t)
	links := chain(t, keys, 3)
	head := 0
	cp := &Checkpointer{Log: "record", Signer: signer, Out: Checkpoints{JS: js}, Every: time.Hour,
		Head: func(context.Context) (int64, []byte, error) { return links[head].Seq, links[head].Hash, nil }}
	for _, h := range []int{0, 0, 2} {
		head = h
		if _, err := cp.Once(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Another process checkpoints the same entry: the first one's stands.
	again := &Checkpointer{Log: "record", Signer: signer, Out: Checkpoints{JS: js}, Head: cp.Head}
	if _, err := again.Once(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := Checkpoints{JS: js}.All(ctx, "record")
	if err != nil || len(all) != 2 || all[0].Seq != 10 || all[1].Seq != 30 {
		t.Fatalf("checkpoints %+v, %v; want entries 10 and 30, once each", all, err)
	}
	latest, err := Checkpoints{JS: js}.Latest(ctx, "record")
	if err != nil || latest.Seq != 30 || signer.Public().Check(*latest) != nil {
		t.Fatalf("latest %+v, %v", latest, err)
	}
	if none, err := (Checkpoints{JS: js}).Latest(ctx, "processing"); none != nil || err != nil {
		t.Fatalf("another log's latest: %+v, %v", none, err)
	}
	stream, _ := js.Stream(ctx, CheckpointStream)
	if err := stream.DeleteMsg(ctx, 1); err == nil {
		t.Error("a checkpoint was deleted")
	}
	if err := stream.Purge(ctx); err == nil {
		t.Error("the checkpoints were purged")
	}
	raw, _ := json.Marshal(all[1])
	if !strings.Contains(string(raw), `"seq":30`) {
		t.Errorf("a checkpoint as published: %s", raw)
	}
}
