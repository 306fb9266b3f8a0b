package faults

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

var performersGVR = schema.GroupVersionResource{Group: "hourglass.eigenlayer.io", Version: "v1alpha1", Resource: "performers"}

// statusWatch watches every Performer of a namespace for the whole test and records status
// regressions: observedGeneration going down, and (when readyIsFinal) Ready leaving True.
type statusWatch struct {
	readyIsFinal bool

	mu         sync.Mutex
	maxObs     map[string]int64
	generation map[string]int64
	readyAt    map[string]time.Time
	isReady    map[string]bool
	violations []string
	stop       chan struct{}
}

func watchStatus(t *testing.T, namespace string, readyIsFinal bool) *statusWatch {
	t.Helper()
	dyn, err := dynamic.NewForConfig(suite.cluster.Config)
	if err != nil {
		t.Fatal(err)
	}
	w := &statusWatch{readyIsFinal: readyIsFinal, maxObs: map[string]int64{}, generation: map[string]int64{},
		readyAt: map[string]time.Time{}, isReady: map[string]bool{}, stop: make(chan struct{})}
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, nil)
	inf := f.ForResource(performersGVR).Informer()
	on := func(obj any) {
		if u, ok := obj.(*unstructured.Unstructured); ok {
			w.observe(u)
		}
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: on, UpdateFunc: func(_, obj any) { on(obj) },
	}); err != nil {
		t.Fatal(err)
	}
	f.Start(w.stop)
	f.WaitForCacheSync(w.stop)
	t.Cleanup(func() { close(w.stop) })
	return w
}

func (w *statusWatch) observe(u *unstructured.Unstructured) {
	name := u.GetName()
	obs, found, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if !found {
		obs = -1
	}
	ready := ""
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Ready" {
			ready, _ = m["status"].(string)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.generation[name] = u.GetGeneration()
	if prev, seen := w.maxObs[name]; seen && obs < prev {
		w.violations = append(w.violations, fmt.Sprintf("%s: observedGeneration went down from %d to %d (resourceVersion %s)", name, prev, obs, u.GetResourceVersion()))
	} else {
		w.maxObs[name] = obs
	}
	if w.readyIsFinal && w.isReady[name] && ready != "True" {
		w.violations = append(w.violations, fmt.Sprintf("%s: Ready went from True to %q (resourceVersion %s)", name, ready, u.GetResourceVersion()))
	}
	if ready == "True" && obs == u.GetGeneration() {
		if !w.isReady[name] {
			w.readyAt[name] = time.Now()
		}
		w.isReady[name] = true
	} else if !w.readyIsFinal {
		w.isReady[name] = false
	}
}

// counts returns how many Performers the controller has seen at their current generation, and
// how many of them are Ready at it.
func (w *statusWatch) counts() (observed, ready int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for name, g := range w.generation {
		if w.maxObs[name] == g {
			observed++
			if w.isReady[name] {
				ready++
			}
		}
	}
	return observed, ready
}

func (w *statusWatch) problems() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.violations...)
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	t0 := time.Now()
	var last string
	for {
		ok, state := cond()
		if ok {
			return time.Since(t0)
		}
		last = state
		if time.Since(t0) > timeout {
			t.Fatalf("%s: not after %s (%s)", what, timeout, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// checkWorkloads asserts that namespace holds exactly one Deployment, one Service, one
// ReplicaSet and one live pod per Performer, each owned by the right object, and nothing else
// labelled as a performer workload.
func checkWorkloads(t *testing.T, ctx context.Context, namespace string, wantImage func(p *v1alpha1.Performer) string) {
	t.Helper()
	cl := suite.cl
	in := client.InNamespace(namespace)
	var ps v1alpha1.PerformerList
	if err := cl.List(ctx, &ps, in); err != nil {
		t.Fatal(err)
	}
	uid := map[string]string{} // Performer name -> UID
	byUID := map[string]*v1alpha1.Performer{}
	for i := range ps.Items {
		uid[ps.Items[i].Name] = string(ps.Items[i].UID)
		byUID[string(ps.Items[i].UID)] = &ps.Items[i]
	}
	sel := client.MatchingLabels{v1alpha1.AppLabel: v1alpha1.AppName}
	var problems []string
	controllerOf := func(o metav1.Object) string {
		for _, r := range o.GetOwnerReferences() {
			if r.Controller != nil && *r.Controller {
				return string(r.UID)
			}
		}
		return ""
	}

	var deps appsv1.DeploymentList
	if err := cl.List(ctx, &deps, in, sel); err != nil {
		t.Fatal(err)
	}
	depUID := map[string]string{}
	seen := map[string]int{}
	for _, d := range deps.Items {
		p := byUID[controllerOf(&d)]
		switch {
		case p == nil:
			problems = append(problems, "orphaned Deployment "+d.Name)
		case d.Name != v1alpha1.WorkloadName(p.Name):
			problems = append(problems, fmt.Sprintf("Deployment %s owned by Performer %s", d.Name, p.Name))
		default:
			seen[p.Name]++
			depUID[string(d.UID)] = p.Name
			if wantImage != nil && d.Spec.Template.Spec.Containers[0].Image != wantImage(p) {
				problems = append(problems, fmt.Sprintf("Deployment %s runs %s, want %s", d.Name, d.Spec.Template.Spec.Containers[0].Image, wantImage(p)))
			}
		}
	}
	var svcs corev1.ServiceList
	if err := cl.List(ctx, &svcs, in, sel); err != nil {
		t.Fatal(err)
	}
	seenSvc := map[string]int{}
	for _, s := range svcs.Items {
		p := byUID[controllerOf(&s)]
		if p == nil || s.Name != v1alpha1.WorkloadName(p.Name) {
			problems = append(problems, "orphaned or misnamed Service "+s.Name)
			continue
		}
		seenSvc[p.Name]++
	}
	var rss appsv1.ReplicaSetList
	if err := cl.List(ctx, &rss, in, sel); err != nil {
		t.Fatal(err)
	}
	rsOwner := map[string]string{} // ReplicaSet UID -> Performer name
	liveRS := map[string]int{}
	for _, rs := range rss.Items {
		name, ok := depUID[controllerOf(&rs)]
		if !ok {
			problems = append(problems, "orphaned ReplicaSet "+rs.Name)
			continue
		}
		rsOwner[string(rs.UID)] = name
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0 {
			liveRS[name]++
		}
	}
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, in, sel); err != nil {
		t.Fatal(err)
	}
	livePods := map[string]int{}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		name, ok := rsOwner[controllerOf(&p)]
		if !ok {
			problems = append(problems, "orphaned pod "+p.Name)
			continue
		}
		livePods[name]++
	}
	for name := range uid {
		for what, n := range map[string]int{"Deployment": seen[name], "Service": seenSvc[name], "scaled-up ReplicaSet": liveRS[name], "live pod": livePods[name]} {
			if n != 1 {
				problems = append(problems, fmt.Sprintf("Performer %s has %d %s(s), want 1", name, n, what))
			}
		}
	}
	sort.Strings(problems)
	if len(problems) > 0 {
		if len(problems) > 30 {
			problems = append(problems[:30], fmt.Sprintf("... and %d more", len(problems)-30))
		}
		t.Errorf("workloads of namespace %s:\n  %s", namespace, strings.Join(problems, "\n  "))
	}
	t.Logf("%s: %d Performers, %d Deployments, %d Services, %d ReplicaSets, %d pods", namespace, len(ps.Items), len(deps.Items), len(svcs.Items), len(rss.Items), len(pods.Items))
}

func createNamespace(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := suite.cl.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func performer(namespace, name string) *v1alpha1.Performer {
	return &v1alpha1.Performer{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.PerformerSpec{
			AVSAddress: "0x1234567890abcdef1234567890abcdef12345678",
			Image:      "ghcr.io/example/performer",
			Version:    "v1.0.0",
		},
	}
}

// percentile of durations (p in 0..100).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s) - 1) * p / 100
	return s[i]
}
