package codec

import (
	"bytes"
	"strings"
	"testing"
)

func TestRoundTripAndNoClearText(t *testing.T) {
	c, err := ParseKeys(NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	secret := "Aino Virtanen 010190-900P"
	p, err := c.DataConverter().ToPayload(secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("Virtanen")) {
		t.Fatal("encrypted payload holds the clear text")
	}
	var back string
	if err := c.DataConverter().FromPayload(p, &back); err != nil || back != secret {
		t.Fatalf("round trip = %q, %v", back, err)
	}
}

func TestRotationDecryptsWithOldKey(t *testing.T) {
	old := NewKey("k1")
	c1, _ := ParseKeys(old)
	p, _ := c1.DataConverter().ToPayload("x")
	c2, err := ParseKeys(NewKey("k2") + "," + old)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := c2.DataConverter().FromPayload(p, &s); err != nil || s != "x" {
		t.Fatalf("a payload of the old key does not decrypt after rotation: %q %v", s, err)
	}
	p2, _ := c2.DataConverter().ToPayload("y")
	if string(p2.Metadata[metadataKeyID]) != "k2" {
		t.Fatal("rotation does not encrypt with the new key")
	}
	c3, _ := ParseKeys(NewKey("k3"))
	if err := c3.DataConverter().FromPayload(p, &s); err == nil {
		t.Fatal("a payload decrypts without its key")
	}
}

func TestTamperingIsDetected(t *testing.T) {
	c, _ := ParseKeys(NewKey("k1"))
	p, _ := c.DataConverter().ToPayload("x")
	p.Data[len(p.Data)-1] ^= 1
	var s string
	if err := c.DataConverter().FromPayload(p, &s); err == nil {
		t.Fatal("a tampered payload decrypts")
	}
}

func TestBadKeys(t *testing.T) {
	for _, spec := range []string{"", "k1", "k1:notbase64!", "k1:AAAA", NewKey("a") + "," + NewKey("a")} {
		if _, err := ParseKeys(spec); err == nil {
			t.Errorf("ParseKeys(%q) accepted", strings.SplitN(spec, ":", 2)[0])
		}
	}
}

func TestDerivedKeysAreOwnKeysAndRotate(t *testing.T) {
	k1 := NewKey("k1")
	old, _ := ParseKeys(k1)
	rotated, _ := ParseKeys(NewKey("k2") + "," + k1)
	wrapOld, err := old.Derive("case keys")
	if err != nil {
		t.Fatal(err)
	}
	id, sealed, err := wrapOld.Seal([]byte("private"), []byte("request-1"))
	if err != nil || id != "k1" {
		t.Fatalf("seal: %v, id %q", err, id)
	}
	if _, err := old.Open(id, sealed, []byte("request-1")); err == nil {
		t.Fatal("the payload key itself opens what its derived key sealed: the purposes share a key")
	}
	if _, err := wrapOld.Open(id, sealed, []byte("request-2")); err == nil {
		t.Fatal("opened with another request's binding")
	}
	wrapRotated, _ := rotated.Derive("case keys")
	if plain, err := wrapRotated.Open(id, sealed, []byte("request-1")); err != nil || string(plain) != "private" {
		t.Fatalf("after rotation the old key's derived key must still open: %v", err)
	}
	if id, _, _ := wrapRotated.Seal([]byte("x"), nil); id != "k2" {
		t.Fatalf("after rotation the new key seals, got %q", id)
	}
}

func TestDerivedSecretsArePerPurposeAndKeepTheirIDs(t *testing.T) {
	k1 := NewKey("k1")
	rotated, _ := ParseKeys(NewKey("k2") + "," + k1)
	old, _ := ParseKeys(k1)
	active, secrets, err := rotated.DeriveSecrets("record chain")
	if err != nil || active != "k2" || len(secrets) != 2 || len(secrets["k1"]) != 32 {
		t.Fatalf("active %q, %d secrets, %v", active, len(secrets), err)
	}
	_, before, _ := old.DeriveSecrets("record chain")
	if string(before["k1"]) != string(secrets["k1"]) {
		t.Fatal("k1's secret changed when k2 was added: what it keyed no longer checks after a rotation")
	}
	_, other, _ := rotated.DeriveSecrets("blind index")
	if string(other["k1"]) == string(secrets["k1"]) || string(secrets["k1"]) == string(secrets["k2"]) {
		t.Fatal("two purposes, or two keys, share a secret")
	}
}
