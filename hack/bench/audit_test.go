package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Three audit events as kube-apiserver writes them (Metadata level, trimmed), one per window
// and client kind, and one outside both windows.
const auditSample = `{"kind":"Event","verb":"get","requestURI":"/apis/apps/v1/namespaces/a/deployments/p","userAgent":"kube-controller-manager/v0.0.0 (linux/amd64) kubernetes/$Format/system:serviceaccount:kube-system:generic-garbage-collector","user":{"username":"system:serviceaccount:kube-system:generic-garbage-collector"},"objectRef":{"resource":"deployments","namespace":"a","name":"p"},"requestReceivedTimestamp":"2026-12-07T10:00:01.000000Z"}
{"kind":"Event","verb":"patch","requestURI":"/apis/hourglass.eigenlayer.io/v1alpha1/namespaces/a/performers/p/status","userAgent":"hourglass-controller","user":{"username":"kubernetes-admin"},"objectRef":{"resource":"performers","subresource":"status"},"requestReceivedTimestamp":"2026-12-07T10:00:02.000000Z"}
{"kind":"Event","verb":"delete","requestURI":"/api/v1/namespaces/a/pods/p-1","userAgent":"kwok/v0.8.0 (linux/amd64)","user":{"username":"kubernetes-admin"},"objectRef":{"resource":"pods"},"requestReceivedTimestamp":"2026-12-07T10:00:05.000000Z"}
{"kind":"Event","verb":"get","requestURI":"/api/v1/namespaces/a/pods","userAgent":"kube-scheduler/v0.0.0 (linux/amd64)","user":{"username":"system:kube-scheduler"},"objectRef":{"resource":"pods"},"requestReceivedTimestamp":"2026-12-07T10:00:09.000000Z"}
`

func TestAuditClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(auditSample), 0o600); err != nil {
		t.Fatal(err)
	}
	at := func(s int) time.Time { return time.Date(2026, 12, 7, 10, 0, s, 0, time.UTC) }
	got, err := auditClients(path, []window{{"create", at(0), at(5)}, {"delete", at(5), at(8)}})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]int{
		{"generic-garbage-collector": 1, "hourglass-controller": 1},
		{"kwok": 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by client per window (-want +got):\n%s", diff)
	}

	ctl, err := auditWindows(path, controllerAgent, []window{{"create", at(0), at(9)}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]map[string]int{{"patch performers/status": 1}}, ctl); diff != "" {
		t.Errorf("the controller's requests (-want +got):\n%s", diff)
	}
}
