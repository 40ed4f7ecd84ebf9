package azuretest

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// azurite is one running Azurite blob service.
type azurite struct {
	cmd    *exec.Cmd
	port   int
	dir    string
	exited chan struct{}
}

// FindAzurite looks for node_modules/.bin/azurite-SERVICE in the module root
// (the directory holding go.mod), walking up from the working directory,
// because that is where `npm ci` installs the pinned version.
func FindAzurite(service string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			bin := filepath.Join(dir, "node_modules", ".bin", "azurite-"+service)
			if _, err := os.Stat(bin); err != nil {
				return "", fmt.Errorf("azurite is not installed: run `npm ci` in %s (it installs the version pinned in package-lock.json)", dir)
			}
			return bin, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod found above the working directory")
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startAzurite starts an HTTPS Azurite with OAuth on a free loopback port and
// waits until it answers. One instance serves shared key, SAS, bearer tokens
// and user delegation SAS.
func startAzurite(cert *serverCert) (*azurite, error) { return startAzuriteService(cert, "blob") }

// startAzuriteService starts one Azurite service ("blob" or "queue") with
// the same certificate and OAuth settings.
func startAzuriteService(cert *serverCert, service string) (*azurite, error) {
	bin, err := FindAzurite(service)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "azurite-")
	if err != nil {
		return nil, err
	}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, cert.certPEM, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, cert.keyPEM, 0o600); err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(bin, "--"+service+"Host", "127.0.0.1", "--"+service+"Port", strconv.Itoa(port),
			"--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry",
			"--silent", "--oauth", "basic", "--cert", certFile, "--key", keyFile)
		cmd.Dir = dir
		cmd.SysProcAttr = azuriteProcAttr()
		logf, _ := os.Create(filepath.Join(dir, "azurite.log"))
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("starting azurite: %w", err)
		}
		a := &azurite{cmd: cmd, port: port, dir: dir, exited: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(a.exited) }()
		// A lost port race ends the process at once (wait sees it exit);
		// a slow start is only slow: a first start after npm ci on a
		// loaded machine took over 30 s, and starting again from scratch
		// would not be faster.
		if lastErr = a.wait(cert, 2*time.Minute); lastErr == nil {
			return a, nil
		}
		a.stop()
	}
	log, _ := os.ReadFile(filepath.Join(dir, "azurite.log"))
	return nil, fmt.Errorf("azurite did not start: %v\n%s", lastErr, log)
}

func (a *azurite) wait(cert *serverCert, limit time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-a.exited:
			return errors.New("azurite exited")
		default:
		}
		resp, err := c.Get(fmt.Sprintf("https://127.0.0.1:%d/devstoreaccount1?comp=list", a.port))
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("timed out waiting for azurite")
}

// stop kills Azurite's whole process group (npm's shim may have spawned node).
func (a *azurite) stop() {
	if a.cmd.Process != nil {
		_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-a.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-a.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}
