package sealed

import (
	"bytes"
	"crypto/ecdh"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/vector.json")

// vector is the worked example that adapters in other languages check themselves against.
type vector struct {
	Comment            string `json:"comment"`
	CasePrivateKey     string `json:"case_private_key"`
	CasePublicKey      string `json:"case_public_key"`
	EphemeralPrivate   string `json:"ephemeral_private_key"`
	EphemeralPublicKey string `json:"ephemeral_public_key"`
	Object             string `json:"object"`
	ChunkSize          int    `json:"chunk_size"`
	Plaintext          string `json:"plaintext"`
	Sealed             string `json:"sealed"`
}

func fixedKey(t *testing.T, label string) *ecdh.PrivateKey {
	sum := sha256.Sum256([]byte(label))
	k, err := ecdh.X25519().NewPrivateKey(sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func seal(t *testing.T, to *ecdh.PublicKey, eph *ecdh.PrivateKey, object string, chunk int, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	var w *Writer
	var err error
	if eph == nil {
		w, err = NewWriter(&out, to, object, chunk)
	} else {
		w, err = newWriter(&out, to, eph, object, chunk)
	}
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes, so that chunk boundaries fall inside writes.
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 333)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func open(caseKey *ecdh.PrivateKey, eph []byte, object string, chunk int, sealed []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(sealed), caseKey, eph, object, chunk)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

func TestVector(t *testing.T) {
	caseKey, eph := fixedKey(t, "kirjaamo case key"), fixedKey(t, "kirjaamo ephemeral key")
	plain := make([]byte, 2500)
	for i := range plain {
		plain[i] = byte(i % 251)
	}
	v := vector{
		Comment:        "protocol v1 package sealing; keys are raw X25519 keys and every value is standard base64",
		CasePrivateKey: base64.StdEncoding.EncodeToString(caseKey.Bytes()), CasePublicKey: base64.StdEncoding.EncodeToString(caseKey.PublicKey().Bytes()),
		EphemeralPrivate: base64.StdEncoding.EncodeToString(eph.Bytes()), EphemeralPublicKey: base64.StdEncoding.EncodeToString(eph.PublicKey().Bytes()),
		Object: "7f6d1c1e-3f5a-4b8e-9c2d-0a1b2c3d4e5f/kanta-processing-log", ChunkSize: 1024,
		Plaintext: base64.StdEncoding.EncodeToString(plain),
	}
	sealed := seal(t, caseKey.PublicKey(), eph, v.Object, v.ChunkSize, plain)
	if want := 3*Overhead + len(plain); len(sealed) != want {
		t.Fatalf("sealed %d bytes, want %d: three chunks, each with its tag", len(sealed), want)
	}
	v.Sealed = base64.StdEncoding.EncodeToString(sealed)
	if *update {
		b, _ := json.MarshalIndent(v, "", "  ")
		if err := os.WriteFile("testdata/vector.json", append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("testdata/vector.json")
	if err != nil {
		t.Fatal(err)
	}
	var saved vector
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	if saved != v {
		t.Fatal("the sealing no longer matches testdata/vector.json: adapters in other languages would break")
	}
	got, err := open(caseKey, eph.PublicKey().Bytes(), v.Object, v.ChunkSize, sealed)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %v, equal %v", err, bytes.Equal(got, plain))
	}
}

func TestRoundTripSizes(t *testing.T) {
	caseKey, _ := NewKey()
	for _, size := range []int{0, 1, 1023, 1024, 1025, 2048, 10_000} {
		plain := make([]byte, size)
		for i := range plain {
			plain[i] = byte(i * 7)
		}
		var out bytes.Buffer
		w, err := NewWriter(&out, caseKey.PublicKey(), "o", 1024)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(plain); err != nil || w.Close() != nil {
			t.Fatal(err)
		}
		got, err := open(caseKey, w.EphemeralKey(), "o", 1024, out.Bytes())
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("size %d: %v, round trip equal %v", size, err, bytes.Equal(got, plain))
		}
	}
}

func TestTamperingIsDetected(t *testing.T) {
	caseKey, eph := fixedKey(t, "case"), fixedKey(t, "ephemeral")
	plain := bytes.Repeat([]byte("0123456789"), 300) // three chunks of 1024: 1024, 1024, 952
	sealed := seal(t, caseKey.PublicKey(), eph, "task-1", 1024, plain)
	full := 1024 + Overhead
	other, _ := NewKey()
	cases := map[string]func() (*ecdh.PrivateKey, string, []byte){
		"another case's key": func() (*ecdh.PrivateKey, string, []byte) { return other, "task-1", sealed },
		"another object":     func() (*ecdh.PrivateKey, string, []byte) { return caseKey, "task-2", sealed },
		"last chunk dropped": func() (*ecdh.PrivateKey, string, []byte) { return caseKey, "task-1", sealed[:2*full] },
		"cut mid-chunk":      func() (*ecdh.PrivateKey, string, []byte) { return caseKey, "task-1", sealed[:full+100] },
		"chunks reordered": func() (*ecdh.PrivateKey, string, []byte) {
			b := append(append(append([]byte{}, sealed[full:2*full]...), sealed[:full]...), sealed[2*full:]...)
			return caseKey, "task-1", b
		},
		"a bit flipped": func() (*ecdh.PrivateKey, string, []byte) {
			b := bytes.Clone(sealed)
			b[full+5] ^= 1
			return caseKey, "task-1", b
		},
		"a chunk appended": func() (*ecdh.PrivateKey, string, []byte) {
			return caseKey, "task-1", append(bytes.Clone(sealed), sealed[:full]...)
		},
		"empty": func() (*ecdh.PrivateKey, string, []byte) { return caseKey, "task-1", nil },
	}
	for name, tamper := range cases {
		key, object, b := tamper()
		if _, err := open(key, eph.PublicKey().Bytes(), object, 1024, b); !errors.Is(err, ErrTampered) {
			t.Errorf("%s: got %v, want ErrTampered", name, err)
		}
	}
	if got, err := open(caseKey, eph.PublicKey().Bytes(), "task-1", 1024, sealed); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("the untampered package must open: %v", err)
	}
}
