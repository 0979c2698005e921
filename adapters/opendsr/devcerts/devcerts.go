// Package devcerts makes the certificates OpenDSR needs in development and tests: a certificate
// authority of its own, and for each domain an RSA key and a certificate the authority issued,
// usable to sign OpenDSR answers and to serve TLS. The specification forbids self-signed
// certificates (4.1), so even the dev stack's demo processor has one issued by a CA the adapter is
// told to trust. Files are kept in a directory and made once, so that a restarted dev stack is the
// same processor as before.
package devcerts

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Files are the paths of the CA's certificate and of a domain's certificate and key.
type Files struct {
	CA, Cert, Key string
}

// Ensure returns a domain's files in dir, making the CA and the domain's key and certificate if
// they are not there yet.
func Ensure(dir, domain string) (Files, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Files{}, fmt.Errorf("devcerts: %w", err)
	}
	caCertFile, caKeyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	if !exists(caCertFile) {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return Files{}, err
		}
		tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "kirjaamo dev OpenDSR CA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return Files{}, err
		}
		if err := write(caKeyFile, "PRIVATE KEY", pkcs8(key)); err != nil {
			return Files{}, err
		}
		if err := write(caCertFile, "CERTIFICATE", der); err != nil {
			return Files{}, err
		}
	}
	f := Files{CA: caCertFile, Cert: filepath.Join(dir, domain+".pem"), Key: filepath.Join(dir, domain+"-key.pem")}
	if exists(f.Cert) && exists(f.Key) {
		return f, nil
	}
	ca, caKey, err := load(caCertFile, caKeyFile)
	if err != nil {
		return Files{}, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return Files{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(2, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return Files{}, err
	}
	if err := write(f.Key, "PRIVATE KEY", pkcs8(key)); err != nil {
		return Files{}, err
	}
	return f, write(f.Cert, "CERTIFICATE", der)
}

func load(certFile, keyFile string) (*x509.Certificate, *rsa.PrivateKey, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return nil, nil, err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, nil, err
	}
	cblock, _ := pem.Decode(cb)
	kblock, _ := pem.Decode(kb)
	if cblock == nil || kblock == nil {
		return nil, nil, errors.New("devcerts: the CA's files are not PEM")
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, errors.New("devcerts: the CA's key is not RSA")
	}
	return cert, key, nil
}

func pkcs8(key *rsa.PrivateKey) []byte {
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	return der
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func write(path, kind string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600)
}
