package argocd_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const healthKey = "resource.customizations.health.hourglass.eigenlayer.io_Performer"

// healthScript reads the Lua health check out of the argocd-cm manifest users apply, so the test
// runs exactly what ships.
func healthScript(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	if err := yaml.UnmarshalStrict(raw, &cm); err != nil {
		t.Fatalf("argocd-cm.yaml: %v", err)
	}
	script, ok := cm.Data[healthKey]
	if !ok || script == "" {
		t.Fatalf("argocd-cm.yaml has no %s", healthKey)
	}
	// Exec functions in Argo CD's own kustomize would run whatever a commit names, for every
	// Application: the shipped settings leave them off, and the plugin renders declarations.
	if got, ok := cm.Data["kustomize.buildOptions"]; ok {
		t.Errorf("kustomize.buildOptions = %q: the shipped argocd-cm must not let kustomize run exec functions", got)
	}
	return script
}

type health struct {
	Status  string
	Message string
}

// runHealth evaluates script the way Argo CD does for a custom health check: a fresh state with
// only the base, table and package libraries, the object as the global table `obj` (integers as
// numbers, lists as 1-based tables), a one-second budget, and a returned table whose status must
// be one of Argo CD's health codes.
func runHealth(t *testing.T, script string, obj *unstructured.Unstructured) health {
	t.Helper()
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for name, open := range map[string]lua.LGFunction{
		lua.LoadLibName: lua.OpenPackage,
		lua.BaseLibName: lua.OpenBase,
		lua.TabLibName:  lua.OpenTable,
	} {
		if err := l.CallByParam(lua.P{Fn: l.NewFunction(open), Protect: true}, lua.LString(name)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		t.Fatalf("health script failed: %v", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("health script returned %s, want a table", l.Get(-1).Type())
	}
	h := health{Status: lua.LVAsString(ret.RawGetString("status")), Message: lua.LVAsString(ret.RawGetString("message"))}
	switch h.Status {
	case "Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown":
	default:
		t.Fatalf("health script returned status %q, which Argo CD turns into Unknown", h.Status)
	}
	return h
}

func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []any:
		tbl := l.CreateTable(len(v), 0)
		for _, item := range v {
			tbl.Append(toLua(l, item))
		}
		return tbl
	case map[string]any:
		tbl := l.CreateTable(0, len(v))
		for k, item := range v {
			tbl.RawSetString(k, toLua(l, item))
		}
		return tbl
	}
	panic("unexpected value in object")
}

func performer(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil { // integers become int64, as in Argo CD's cache
		t.Fatal(err)
	}
	return u
}

// doc is a Performer at generation 2; metadata and spec take extra indented lines.
func doc(metadata, spec, status string) string {
	return `apiVersion: hourglass.eigenlayer.io/v1alpha1
kind: Performer
metadata:
  name: my-avs
  namespace: my-avs-project
  generation: 2
` + metadata + `spec:
  avsAddress: "0x1234567890abcdef1234567890abcdef12345678"
  image: my-org/my-avs-performer:v1.0.0
` + spec + status
}

func TestPerformerHealth(t *testing.T) {
	script := healthScript(t)
	cases := []struct {
		name string
		doc  string
		want health
	}{
		{
			name: "no status",
			doc:  doc("", "", ""),
			want: health{"Progressing", "Waiting for the controller to observe the Performer"},
		},
		{
			name: "just created, observedGeneration defaulted to -1",
			doc: doc("", "", `status:
  observedGeneration: -1
`),
			want: health{"Progressing", "Waiting for the controller to observe the Performer"},
		},
		{
			name: "rolling out",
			doc: doc("", "", `status:
  observedGeneration: 2
  conditions:
  - {type: Reconciling, status: "True", reason: Progressing, message: "rolling out my-org/my-avs-performer:v1.0.0"}
  - {type: Ready, status: "False", reason: Progressing, message: "rollout in progress"}
`),
			want: health{"Progressing", "Progressing: rolling out my-org/my-avs-performer:v1.0.0"},
		},
		{
			name: "ready",
			doc: doc("", "", `status:
  observedGeneration: 2
  phase: Running
  conditions:
  - {type: Ready, status: "True", reason: Succeeded, message: "performer-my-avs is ready"}
`),
			want: health{"Healthy", "Succeeded: performer-my-avs is ready"},
		},
		{
			name: "stalled",
			doc: doc("", "", `status:
  observedGeneration: 2
  conditions:
  - {type: Stalled, status: "True", reason: ImagePullFailed, message: "cannot pull my-org/my-avs-performer:v1.0.0"}
  - {type: Ready, status: "False", reason: ImagePullFailed, message: "cannot pull my-org/my-avs-performer:v1.0.0"}
`),
			want: health{"Degraded", "ImagePullFailed: cannot pull my-org/my-avs-performer:v1.0.0"},
		},
		{
			name: "suspended wins over a ready status",
			doc: doc("", "  suspend: true\n", `status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: Succeeded, message: ready}
`),
			want: health{"Suspended", "Reconciliation is suspended (spec.suspend is true)"},
		},
		{
			name: "stale observedGeneration with an old Ready",
			doc: doc("", "", `status:
  observedGeneration: 1
  conditions:
  - {type: Ready, status: "True", reason: Succeeded, message: ready}
`),
			want: health{"Progressing", "Waiting for the controller to observe generation 2 (observed 1)"},
		},
		{
			name: "not ready without a stall",
			doc: doc("", "", `status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "False", reason: Progressing, message: "waiting for the pod to become ready"}
`),
			want: health{"Progressing", "Progressing: waiting for the pod to become ready"},
		},
		{
			name: "observed but no Ready condition yet",
			doc: doc("", "", `status:
  observedGeneration: 2
`),
			want: health{"Progressing", "Waiting for the Ready condition"},
		},
		{
			name: "being deleted",
			doc: doc("  deletionTimestamp: \"2025-01-01T00:00:00Z\"\n", "", `status:
  observedGeneration: 2
  conditions:
  - {type: Ready, status: "True", reason: Succeeded, message: ready}
`),
			want: health{"Progressing", "Performer is being deleted"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := runHealth(t, script, performer(t, tc.doc))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("health (-want +got):\n%s", diff)
			}
		})
	}
}
