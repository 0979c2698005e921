package oidclogin

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/go-jose/go-jose/v4"
)

// ClientKeys are the relying party's own private keys, for providers such as
// Suomi.fi e-Identification that authenticate clients by private_key_jwt and
// encrypt the ID tokens they issue. Each list may hold several keys so they
// can be rotated: the first signing key signs every client assertion, and
// every encryption key is published and can decrypt, the first listed first,
// so that tokens encrypted to a key being phased in or out still decrypt.
//
// A ClientKeys is also the http.Handler of the client's JWKS, which the
// provider fetches to verify assertions and to pick the key it encrypts to.
type ClientKeys struct {
	signing    []jose.JSONWebKey // private, with kid, alg and use "sig"
	encryption []jose.JSONWebKey // private, with kid, alg and use "enc"
	jwks       []byte            // the public JSON Web Key Set, marshalled once
}

// NewClientKeys checks and labels the keys: signing keys may be RSA (RS256,
// at least 2048 bits) or ECDSA P-256 (ES256); encryption keys must be RSA
// (RSA-OAEP-256), the algorithm family Suomi.fi encrypts ID tokens with.
func NewClientKeys(signing, encryption []crypto.PrivateKey) (*ClientKeys, error) {
	k := &ClientKeys{}
	for i, key := range signing {
		alg, err := signingAlg(key)
		if err != nil {
			return nil, fmt.Errorf("oidclogin: client keys: signing key %d: %w", i+1, err)
		}
		jwk, err := labelled(key, string(alg), "sig")
		if err != nil {
			return nil, fmt.Errorf("oidclogin: client keys: signing key %d: %w", i+1, err)
		}
		k.signing = append(k.signing, jwk)
	}
	for i, key := range encryption {
		rk, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("oidclogin: client keys: encryption key %d: want an RSA key, got %T", i+1, key)
		}
		if rk.N.BitLen() < 2048 {
			return nil, fmt.Errorf("oidclogin: client keys: encryption key %d: RSA keys must have at least 2048 bits", i+1)
		}
		jwk, err := labelled(key, string(jose.RSA_OAEP_256), "enc")
		if err != nil {
			return nil, fmt.Errorf("oidclogin: client keys: encryption key %d: %w", i+1, err)
		}
		k.encryption = append(k.encryption, jwk)
	}
	if len(k.signing) == 0 && len(k.encryption) == 0 {
		return nil, errors.New("oidclogin: client keys: no keys given")
	}
	var set jose.JSONWebKeySet
	for _, jwk := range append(k.signing[:len(k.signing):len(k.signing)], k.encryption...) {
		set.Keys = append(set.Keys, jwk.Public())
	}
	var err error
	if k.jwks, err = json.Marshal(set); err != nil {
		return nil, fmt.Errorf("oidclogin: client keys: marshal JWKS: %w", err)
	}
	return k, nil
}

// LoadClientKeys reads the signing and the encryption keys from PEM files
// (PKCS#8, PKCS#1 or SEC 1 blocks, several to a file for rotation, in order).
// An empty path means no keys of that use.
func LoadClientKeys(signingFile, encryptionFile string) (*ClientKeys, error) {
	signing, err := readKeyFile(signingFile)
	if err != nil {
		return nil, fmt.Errorf("oidclogin: load client keys: %w", err)
	}
	encryption, err := readKeyFile(encryptionFile)
	if err != nil {
		return nil, fmt.Errorf("oidclogin: load client keys: %w", err)
	}
	return NewClientKeys(signing, encryption)
}

func readKeyFile(path string) ([]crypto.PrivateKey, error) {
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	keys, err := ParsePrivateKeysPEM(data)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return keys, nil
}

// ParsePrivateKeysPEM parses every private key block in data, in order.
// Blocks of other types (certificates, for instance) are skipped so that a
// key file may carry its certificate too.
func ParsePrivateKeysPEM(data []byte) ([]crypto.PrivateKey, error) {
	var keys []crypto.PrivateKey
	for n := 1; ; n++ {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		var (
			key any
			err error
		)
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			// The error never quotes the key material, only the block number.
			return nil, fmt.Errorf("PEM block %d (%s): %w", n, block.Type, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, errors.New("no private key PEM block")
	}
	return keys, nil
}

func signingAlg(key crypto.PrivateKey) (jose.SignatureAlgorithm, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("RSA keys must have at least 2048 bits")
		}
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", errors.New("ECDSA keys must be on P-256 (ES256)")
		}
		return jose.ES256, nil
	default:
		return "", fmt.Errorf("unsupported signing key type %T", key)
	}
}

// labelled wraps a private key as a JWK whose kid is the RFC 7638 thumbprint
// of its public half: stable across restarts and distinct for every key, so
// the provider can name the key it encrypted to and we the key we signed with.
func labelled(key crypto.PrivateKey, alg, use string) (jose.JSONWebKey, error) {
	jwk := jose.JSONWebKey{Key: key, Algorithm: alg, Use: use}
	if !jwk.Valid() {
		return jose.JSONWebKey{}, errors.New("invalid key")
	}
	pub := jwk.Public()
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("key thumbprint: %w", err)
	}
	// A key used for both signing and encryption would get the same
	// thumbprint under both uses; the suffix keeps kids unique in the set.
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp) + "-" + use
	return jwk, nil
}

// PublicJWKS returns the public keys as published: signing keys first, then
// encryption keys, each list in rotation order.
func (k *ClientKeys) PublicJWKS() jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	_ = json.Unmarshal(k.jwks, &set) // our own marshalled output
	return set
}

// HasSigningKey reports whether the keys can authenticate the client by
// private_key_jwt.
func (k *ClientKeys) HasSigningKey() bool { return k != nil && len(k.signing) > 0 }

// HasEncryptionKey reports whether the keys can decrypt ID tokens.
func (k *ClientKeys) HasEncryptionKey() bool { return k != nil && len(k.encryption) > 0 }

// ServeHTTP serves the public JWKS, e.g. at /.well-known/jwks.json. It may be
// cached briefly: a rotation publishes the new key well before it is used.
func (k *ClientKeys) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(k.jwks)
}
