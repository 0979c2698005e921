package opendsr

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Signatures (specification 4.2, 7.3, 8.6): a processor signs the body of each answer and callback,
// as sent, with the key of the certificate its discovery names, and gives the signature in the
// X-OpenGDPR-Signature header. The specification names the digest (SHA-256) and FIPS 186-4, not
// the padding; this package, like the implementations in use, signs and verifies RSA PKCS #1 v1.5
// over the SHA-256 of the body, and gives the signature in standard base64. A header folded over
// several lines, as the specification's examples show it, is read with its white space removed.

// Signer signs a processor's answers and callbacks with its key, and publishes its certificate.
type Signer struct {
	key   *rsa.PrivateKey
	chain []*x509.Certificate
	pem   []byte
}

// LoadSigner reads a processor's RSA private key (PKCS #8 or PKCS #1 PEM) and its certificate chain
// (PEM, the leaf first), and checks that the key is the leaf's.
func LoadSigner(keyFile, certFile string) (*Signer, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("opendsr: signing key: %w", err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("opendsr: certificate: %w", err)
	}
	return NewSigner(keyPEM, certPEM)
}

// NewSigner is LoadSigner on PEM already read.
func NewSigner(keyPEM, certPEM []byte) (*Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("opendsr: signing key: no PEM block")
	}
	var key *rsa.PrivateKey
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("opendsr: signing key: not an RSA key")
		}
		key = rk
	} else if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		key = k
	} else {
		return nil, errors.New("opendsr: signing key: neither PKCS #8 nor PKCS #1")
	}
	if key.N.BitLen() < 2048 {
		return nil, errors.New("opendsr: signing key: an RSA key of at least 2048 bits is needed")
	}
	chain, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	if pub, ok := chain[0].PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("opendsr: the signing key is not the certificate's")
	}
	return &Signer{key: key, chain: chain, pem: certPEM}, nil
}

// Sign returns the signature of body for the X-OpenGDPR-Signature header.
func (s *Signer) Sign(body []byte) string {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		panic("opendsr: signing with a checked RSA key failed: " + err.Error())
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// CertificatePEM is the certificate chain, as published for discovery's processor_certificate.
func (s *Signer) CertificatePEM() []byte { return s.pem }

// Certificate is the signing certificate.
func (s *Signer) Certificate() *x509.Certificate { return s.chain[0] }

// ParseCertificates reads a PEM certificate chain, the leaf first.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("opendsr: certificate: %w", err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("opendsr: no certificate in the PEM")
	}
	return chain, nil
}

// Errors of verification, told apart because the callback endpoint answers them differently.
var (
	// ErrUntrustedCertificate: the certificate is not one to take signatures from.
	ErrUntrustedCertificate = errors.New("opendsr: the certificate is not trusted for this processor")
	// ErrBadSignature: there is no signature, or it is not the certificate key's over this body.
	ErrBadSignature = errors.New("opendsr: the signature does not verify")
)

// CheckCertificate checks that a processor's certificate chain may sign for domain (security
// guidelines, "Callback validation", 2): issued by one of roots through the chain's intermediates,
// valid at the time, for the domain (in its subject alternative names), with the digital signature
// key usage, an RSA key, and not self-signed (specification 4.1). It returns the leaf.
func CheckCertificate(chain []*x509.Certificate, roots *x509.CertPool, domain string, at time.Time) (*x509.Certificate, error) {
	if len(chain) == 0 {
		return nil, fmt.Errorf("%w: no certificate", ErrUntrustedCertificate)
	}
	leaf := chain[0]
	if leaf.CheckSignatureFrom(leaf) == nil {
		return nil, fmt.Errorf("%w: it is self-signed", ErrUntrustedCertificate)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: domain, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUntrustedCertificate, err)
	}
	if leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return nil, fmt.Errorf("%w: it lacks the digital signature key usage", ErrUntrustedCertificate)
	}
	if _, ok := leaf.PublicKey.(*rsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: its key is not RSA", ErrUntrustedCertificate)
	}
	return leaf, nil
}

// Verify checks a signature header's value against the body, as received, and the certificate.
func Verify(cert *x509.Certificate, body []byte, signature string) error {
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: the certificate's key is not RSA", ErrBadSignature)
	}
	compact := strings.Join(strings.Fields(signature), "")
	if compact == "" {
		return fmt.Errorf("%w: unsigned", ErrBadSignature)
	}
	sig, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		return fmt.Errorf("%w: not base64", ErrBadSignature)
	}
	sum := sha256.Sum256(body)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return ErrBadSignature
	}
	return nil
}
