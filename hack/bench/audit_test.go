package main

import (
	"fmt"
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
	ctl := side{controllerAgent, []window{{"create", at(0), at(5)}, {"delete", at(5), at(8)}}}
	whole := side{controllerAgent, []window{{"create", at(0), at(9)}}}
	own, byClient, err := auditSides(path, []side{ctl, whole})
	if err != nil {
		t.Fatal(err)
	}
	want := []map[string]int{
		{"generic-garbage-collector": 1, "hourglass-controller": 1},
		{"kwok": 1},
	}
	if diff := cmp.Diff(want, byClient[0]); diff != "" {
		t.Errorf("requests by client per window (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]map[string]int{{"patch performers/status": 1}}, own[1]); diff != "" {
		t.Errorf("the controller's requests (-want +got):\n%s", diff)
	}
}

// One rollout of Performer p1 as the audit log shows it: the controller applies its Deployment,
// kube-controller-manager and KWOK make their steps, and the controller writes the status once.
// The requests of the bench, of another namespace and of another rollout's pods do not count.
func TestRolloutPauses(t *testing.T) {
	line := func(sec int, agent, verb, resource, sub, ns, name string) string {
		at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).Add(time.Duration(sec) * time.Second)
		return fmt.Sprintf(`{"verb":%q,"requestURI":"/x","userAgent":%q,"user":{"username":"u"},`+
			`"objectRef":{"resource":%q,"subresource":%q,"namespace":%q,"name":%q},"requestReceivedTimestamp":%q}`,
			verb, agent, resource, sub, ns, name, at.Format(time.RFC3339Nano)) + "\n"
	}
	const kcm = "kube-controller-manager/v0.0.0 (linux/amd64) kubernetes/$Format/system:serviceaccount:kube-system:deployment-controller"
	log := line(1, "hourglass-bench-driver", "patch", "performers", "", "ns", "p1") +
		line(2, controllerAgent, "patch", "deployments", "", "ns", "performer-p1") +
		line(3, kcm, "update", "deployments", "status", "ns", "performer-p1") +
		line(4, "kube-scheduler/v0.0.0", "create", "pods", "binding", "ns", "performer-p1-5d4f8-x2k9q") +
		line(20, "kwok/v0.8.0", "get", "pods", "", "ns", "performer-p1-5d4f8-x2k9q") +
		line(30, "kwok/v0.8.0", "patch", "pods", "status", "other", "performer-p1-5d4f8-x2k9q") +
		line(40, "kwok/v0.8.0", "patch", "pods", "status", "ns", "performer-p10-5d4f8-x2k9q") +
		line(70, "kwok/v0.8.0", "patch", "pods", "status", "ns", "performer-p1-5d4f8-x2k9q") +
		line(75, kcm, "update", "deployments", "status", "ns", "performer-p1") +
		line(80, controllerAgent, "patch", "performers", "status", "ns", "p1") +
		line(95, kcm, "update", "deployments", "status", "ns", "performer-p1")
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	ws := []window{{"create", base.Add(-time.Minute), base}, {"image change", base, base.Add(2 * time.Minute)}}
	pauses, err := rolloutPauses(path, "ns", ws)
	if err != nil {
		t.Fatal(err)
	}
	if len(pauses[0]) != 0 {
		t.Errorf("rollouts in a window without requests: %v", pauses[0])
	}
	got := pauses[1]
	// The steps: 2 (apply), 3, 4, 70, 75, 80 (status): the longest pause is from 4 to 70.
	if diff := cmp.Diff([]time.Duration{66 * time.Second}, got); diff != "" {
		t.Errorf("longest pauses (-want +got):\n%s", diff)
	}
	if row, want := pauseRow("image change", got), "| image change | 1 | 66.0 s | 66.0 s | 66.0 s | 100 % | 0 % |"; row != want {
		t.Errorf("pauseRow = %q, want %q", row, want)
	}
}
