package oidclogin

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// clientAssertionType is the client_assertion_type of RFC 7523 section 2.2.
const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionTTL is short because an assertion is used once, right away; the
// provider keeps its jti only this long to refuse a replay.
const assertionTTL = 60 * time.Second

// Accepted ID token and userinfo encryption: RSA-OAEP(-256) key wrapping, which Suomi.fi
// uses, and the AES content encryptions it may choose. Anything else, and
// above all "dir" or password-based algorithms, is refused before decryption.
var (
	idTokenKeyAlgs = []jose.KeyAlgorithm{jose.RSA_OAEP_256, jose.RSA_OAEP}
	idTokenEncs    = []jose.ContentEncryption{jose.A256GCM, jose.A128GCM, jose.A128CBC_HS256, jose.A256CBC_HS512}
)

func (k *ClientKeys) assertionSigner() (jose.Signer, error) {
	key := k.signing[0]
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), key.KeyID)
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key.Key}, opts)
	if err != nil {
		return nil, fmt.Errorf("assertion signer: %w", err)
	}
	return s, nil
}

// clientAssertion is a fresh private_key_jwt assertion (RFC 7523 section 3,
// OIDC Core section 9) for one token request: a new jti every time, so the
// provider's replay check never trips on a retry of ours.
func (c *Client) clientAssertion() (string, error) {
	now := time.Now()
	payload, err := json.Marshal(struct {
		Issuer   string `json:"iss"`
		Subject  string `json:"sub"`
		Audience string `json:"aud"`
		JTI      string `json:"jti"`
		IssuedAt int64  `json:"iat"`
		Expiry   int64  `json:"exp"`
	}{c.oauth.ClientID, c.oauth.ClientID, c.tokenURL, rand.Text(), now.Unix(), now.Add(assertionTTL).Unix()})
	if err != nil {
		return "", fmt.Errorf("client assertion: %w", err)
	}
	jws, err := c.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("client assertion: sign: %w", err)
	}
	return jws.CompactSerialize()
}

// decryptJWT returns the signed JWT inside an encrypted one: an ID token, or
// a userinfo response, named by what in errors. With no encryption key
// configured the JWT must be a plain JWS and is returned as it is; with one,
// it must be encrypted: a client registered for encrypted tokens getting a
// plain one means the provider is not configured as agreed, and personal
// data travelled less protected than promised.
func (k *ClientKeys) decryptJWT(raw, what string) (string, error) {
	encrypted := strings.Count(raw, ".") == 4
	if !k.HasEncryptionKey() {
		if encrypted {
			return "", fmt.Errorf("the %s is encrypted, but no encryption key is configured", what)
		}
		return raw, nil
	}
	if !encrypted {
		return "", fmt.Errorf("the %s is not encrypted", what)
	}
	jwe, err := jose.ParseEncryptedCompact(raw, idTokenKeyAlgs, idTokenEncs)
	if err != nil {
		return "", fmt.Errorf("parse JWE: %w", err)
	}
	inner, err := k.decrypt(jwe)
	if err != nil {
		return "", err
	}
	return string(inner), nil
}

// decrypt uses the key the JWE names, or else tries each of ours in turn,
// since a provider need not send a kid.
func (k *ClientKeys) decrypt(jwe *jose.JSONWebEncryption) ([]byte, error) {
	if kid := jwe.Header.KeyID; kid != "" {
		for _, key := range k.encryption {
			if key.KeyID == kid {
				out, err := jwe.Decrypt(key.Key)
				if err != nil {
					return nil, fmt.Errorf("decrypt JWE: %w", err)
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("decrypt JWE: encrypted to key %q, which is not ours", kid)
	}
	for _, key := range k.encryption {
		if out, err := jwe.Decrypt(key.Key); err == nil {
			return out, nil
		}
	}
	return nil, errors.New("decrypt JWE: no encryption key of ours decrypts it")
}
