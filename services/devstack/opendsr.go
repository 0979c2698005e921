package devstack

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"kirjaamo.dev/adapters/opendsr/devcerts"
	"kirjaamo.dev/rules"
	"kirjaamo.dev/services/opendsr"
)

// DemoControllerID is the controller the dev stack lets send requests to the platform's OpenDSR
// endpoints: another organisation passing on requests people made of it.
const DemoControllerID = "demo-controller"

// DemoControllerName is how the office and the record name it, as the requests' requester.
const DemoControllerName = "Demo controller (make dev)"

// openDSRDomain is the platform's OpenDSR domain in the dev stack, which its certificate names.
const openDSRDomain = "localhost"

// OpenDSREndpoint is where a controller reaches the platform as an OpenDSR processor in the dev
// stack, and with what.
type OpenDSREndpoint struct {
	// URL is the service's address; the endpoints are below URL + opendsr.Base.
	URL string
	// Token is the demo controller's bearer token.
	Token string
	// CA is the file of the CA that issued the platform's OpenDSR certificate, which a controller
	// checks the certificate against.
	CA string
}

// setUpOpenDSR makes the platform's OpenDSR key and certificate (from a CA of the data directory,
// apart from the demo vendor's) and the demo controller with a token kept there, and returns the
// service's configuration.
func (s *Stack) setUpOpenDSR(cfg Config) (opendsr.Config, error) {
	dir := filepath.Join(cfg.DataDir, "opendsr")
	certs, err := devcerts.Ensure(dir, openDSRDomain)
	if err != nil {
		return opendsr.Config{}, fmt.Errorf("devstack: opendsr: %w", err)
	}
	token, err := keptSecret(filepath.Join(dir, "controller-token"))
	if err != nil {
		return opendsr.Config{}, err
	}
	sum := sha256.Sum256([]byte(token))
	controllers, err := json.Marshal([]opendsr.Controller{{ID: DemoControllerID, Name: DemoControllerName, TokenSHA256: hex.EncodeToString(sum[:]),
		IdentityLevel: rules.IdentitySubstantial, Language: "fi"}})
	if err != nil {
		return opendsr.Config{}, err
	}
	file := filepath.Join(dir, "controllers.json")
	if err := os.WriteFile(file, controllers, 0o600); err != nil {
		return opendsr.Config{}, err
	}
	// The service listens itself: the port is probed, then released just before it does.
	ln, err := net.Listen("tcp", fmt.Sprintf("%s:%d", cfg.Host, cfg.OpenDSRPort))
	if err != nil {
		return opendsr.Config{}, fmt.Errorf("devstack: listen on port %d: %w", cfg.OpenDSRPort, err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	_ = ln.Close()
	s.OpenDSR = OpenDSREndpoint{URL: fmt.Sprintf("http://%s:%d", openDSRDomain, addr.Port), Token: token, CA: certs.CA}
	c := opendsr.Config{Addr: addr.String(), URL: s.OpenDSR.URL, SigningKeyFile: certs.Key, CertificateFile: certs.Cert,
		ControllersFile: file, CallbackEvery: time.Second}
	return c, c.Check()
}
