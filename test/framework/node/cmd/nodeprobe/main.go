// Command nodeprobe is the workload of the real-node test: one static binary, three roles.
//
//	nodeprobe sidecar -marker FILE             write FILE, then wait for SIGTERM (a native sidecar)
//	nodeprobe check -marker FILE               exit 0 when FILE exists (the sidecar's startup probe)
//	nodeprobe serve -addr :8080 -marker FILE -data DIR
//	                                           report, over HTTP, what the container saw when it
//	                                           started: its UID, whether the root filesystem is
//	                                           read-only, whether the sidecar had started, and
//	                                           whether DIR (a PVC) kept what it wrote
//	nodeprobe get -url URL [-sa]               GET URL (retrying for a minute) and write the body to
//	                                           /dev/termination-log, so the pod's status carries it;
//	                                           -sa: over TLS with the pod's ServiceAccount token and
//	                                           CA, as in-cluster clients reach the API server
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hourglass-gitops/hourglass-gitops/test/framework/node/probe"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: nodeprobe sidecar|check|serve|get [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	marker := fs.String("marker", "/shared/sidecar-started", "file the sidecar writes when it starts")
	addr := fs.String("addr", ":8080", "listen address")
	data := fs.String("data", "/data", "folder on the PVC")
	url := fs.String("url", "", "URL to GET")
	sa := fs.Bool("sa", false, "authenticate with the pod's ServiceAccount token, trusting its CA")
	_ = fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "sidecar":
		err = sidecar(*marker)
	case "serve":
		err = serve(*addr, *marker, *data)
	case "check":
		_, err = os.Stat(*marker)
	case "get":
		err = get(*url, *sa)
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nodeprobe:", err)
		os.Exit(1)
	}
}

func sidecar(marker string) error {
	if err := os.WriteFile(marker, []byte(time.Now().UTC().Format(time.RFC3339Nano)), 0o644); err != nil {
		return err
	}
	fmt.Println("sidecar started")
	waitForTerm()
	return nil
}

func waitForTerm() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	<-sigs
}

func serve(addr, marker, data string) error {
	r := probe.Report{UID: os.Getuid()}
	r.Hostname, _ = os.Hostname()
	_, err := os.Stat(marker)
	r.SidecarFirst = err == nil
	if err := os.WriteFile("/nodeprobe-write-test", []byte("x"), 0o644); err != nil {
		r.RootReadOnly = errors.Is(err, syscall.EROFS)
		r.RootWriteError = err.Error()
	}
	want := []byte("written by " + r.Hostname)
	f := filepath.Join(data, "probe.txt")
	if err := os.WriteFile(f, want, 0o644); err != nil {
		r.VolumeError = err.Error()
	} else if got, err := os.ReadFile(f); err != nil {
		r.VolumeError = err.Error()
	} else {
		r.VolumeRoundTrip = string(got) == string(want)
	}
	body, _ := json.Marshal(r)
	fmt.Println(string(body))
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
	go func() { waitForTerm(); _ = srv.Close() }()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func get(url string, sa bool) error {
	client := &http.Client{Timeout: 5 * time.Second}
	var token string
	if sa {
		ca, err := os.ReadFile(filepath.Join(saDir, "ca.crt"))
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return errors.New("no certificate in the ServiceAccount's ca.crt")
		}
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
		b, err := os.ReadFile(filepath.Join(saDir, "token"))
		if err != nil {
			return err
		}
		token = strings.TrimSpace(string(b))
	}
	deadline := time.Now().Add(time.Minute)
	for {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				fmt.Println(string(body))
				return os.WriteFile("/dev/termination-log", body, 0o644)
			}
			err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
		}
		if time.Now().After(deadline) {
			msg := fmt.Sprintf("GET %s: %v", url, err)
			_ = os.WriteFile("/dev/termination-log", []byte(msg), 0o644)
			return errors.New(msg)
		}
		time.Sleep(time.Second)
	}
}
