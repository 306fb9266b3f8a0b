package recorder

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

var env *envtest.Env

func TestMain(m *testing.M) { envtest.Main(m, func(e *envtest.Env) { env = e }) }

// configMap creates a ConfigMap for events to be about.
func configMap(t *testing.T, ns, name string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := env.Client.Create(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

// start runs r's writers until the test ends.
func start(t *testing.T, r *Recorder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitEvents waits until ns holds n events and returns them. The API server lists them by name,
// which ends in the event's time (hexadecimal nanoseconds): for events about one object, oldest
// first.
func waitEvents(t *testing.T, ns string, n int) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		return len(list.Items) >= n, nil
	})
	if err != nil {
		t.Fatalf("waiting for %d events in %s: %v; found %d", n, ns, err, len(list.Items))
	}
	return list.Items
}

func TestEventsReachTheAPIServer(t *testing.T) {
	ns := env.Namespace(t)
	cm, other := configMap(t, ns, "subject"), configMap(t, ns, "other")
	r := New(env.Client, env.Scheme, "test-controller")
	start(t, r)

	r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready at %s", "generation 1")
	// A note over the limit is cut, at a character's start.
	r.Eventf(cm, other, corev1.EventTypeWarning, "Stalled", "Rollout", "%s", "xx"+strings.Repeat("é", maxNote))

	type summary struct {
		Type, Reason, Action, Note, Controller     string
		Kind, Name, Namespace, UID, Related, Space string
	}
	var got []summary
	for _, ev := range waitEvents(t, ns, 2) {
		s := summary{
			Type: ev.Type, Reason: ev.Reason, Action: ev.Action, Note: ev.Note, Controller: ev.ReportingController,
			Kind: ev.Regarding.Kind, Name: ev.Regarding.Name, Namespace: ev.Regarding.Namespace, UID: string(ev.Regarding.UID),
			Space: ev.Namespace,
		}
		if ev.Related != nil {
			s.Related = ev.Related.Name
		}
		if !strings.HasPrefix(ev.ReportingInstance, "test-controller-") {
			t.Errorf("reporting instance %q does not name the controller", ev.ReportingInstance)
		}
		got = append(got, s)
	}
	want := []summary{
		{Type: "Normal", Reason: "Ready", Action: "Rollout", Note: "ready at generation 1", Controller: "test-controller",
			Kind: "ConfigMap", Name: "subject", Namespace: ns, UID: string(cm.UID), Space: ns},
		{Type: "Warning", Reason: "Stalled", Action: "Rollout", Note: "xx" + strings.Repeat("é", (maxNote-3-2)/2) + "...", Controller: "test-controller",
			Kind: "ConfigMap", Name: "subject", Namespace: ns, UID: string(cm.UID), Related: "other", Space: ns},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestUnknownEventTypeIsNotQueued(t *testing.T) {
	r := New(env.Client, env.Scheme, "test-controller")
	r.Eventf(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "x"}}, nil, "Info", "Ready", "Rollout", "ready")
	if n := len(r.queue); n != 0 {
		t.Errorf("%d events queued, want none", n)
	}
}

// A burst larger than the queue neither blocks the caller nor grows the queue; what was queued is
// written once the writers run.
func TestFullQueueDropsAndDrains(t *testing.T) {
	ns := env.Namespace(t)
	cm := configMap(t, ns, "subject")
	r := New(env.Client, env.Scheme, "test-controller")
	const size, extra = 100, 3
	r.queue = make(chan *series, size)

	before := testutil.ToFloat64(droppedEvents)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range size + extra {
			r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready at generation %d", i)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Eventf blocked on a full queue")
	}
	if got := r.Dropped(); got != extra {
		t.Errorf("dropped %d events, want %d", got, extra)
	}
	if got := testutil.ToFloat64(droppedEvents) - before; got != extra {
		t.Errorf("hourglass_controller_events_dropped_total grew by %v, want %d", got, extra)
	}
	// The manager's metrics endpoint serves controller-runtime's registry.
	if n, err := testutil.GatherAndCount(metrics.Registry, "hourglass_controller_events_dropped_total"); err != nil || n != 1 {
		t.Errorf("controller-runtime's metrics registry holds %d hourglass_controller_events_dropped_total (%v), want 1", n, err)
	}
	start(t, r)
	if got := len(waitEvents(t, ns, size)); got != size {
		t.Errorf("%d events written, want %d", got, size)
	}
}

// flakyClient fails the first creates as an unreachable API server does, then passes them on.
type flakyClient struct {
	client.Client
	mu       sync.Mutex
	failures int
	creates  map[string]int // by event reason
}

func (c *flakyClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.mu.Lock()
	ev := obj.(*eventsv1.Event)
	c.creates[ev.Reason]++
	fail := c.failures > 0
	if fail {
		c.failures--
	}
	c.mu.Unlock()
	if fail {
		return errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")
	}
	return c.Client.Create(ctx, obj, opts...)
}

func TestRetriesUntilTheAPIServerAnswersButNotAfterARejection(t *testing.T) {
	ns := env.Namespace(t)
	cm := configMap(t, ns, "subject")
	flaky := &flakyClient{Client: env.Client, failures: 2, creates: map[string]int{}}
	r := New(flaky, env.Scheme, "test-controller")
	r.retryDelay = 10 * time.Millisecond

	r.Eventf(cm, nil, corev1.EventTypeNormal, "Unreachable", "Rollout", "written on the third try")
	// The API server refuses an action longer than 128 characters.
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Rejected", strings.Repeat("a", 129), "never written")
	r.Eventf(cm, nil, corev1.EventTypeNormal, "After", "Rollout", "written after the rejection")
	// One writer, so that the rejected event is behind the first and before the last.
	r.writers = 1
	start(t, r)

	var reasons []string
	for _, ev := range waitEvents(t, ns, 2) {
		reasons = append(reasons, ev.Reason)
	}
	if diff := cmp.Diff([]string{"Unreachable", "After"}, reasons); diff != "" {
		t.Errorf("events written (-want +got):\n%s", diff)
	}
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if diff := cmp.Diff(map[string]int{"Unreachable": 3, "Rejected": 1, "After": 1}, flaky.creates); diff != "" {
		t.Errorf("creates by reason (-want +got):\n%s", diff)
	}
}

// An object name near the limit leaves no room for the time: the event gets another valid name.
func TestEventAboutALongNamedObject(t *testing.T) {
	ns := env.Namespace(t)
	cm := configMap(t, ns, strings.Repeat("n", 250))
	r := New(env.Client, env.Scheme, "test-controller")
	start(t, r)

	r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready")
	if got := waitEvents(t, ns, 1)[0].Regarding.Name; got != cm.Name {
		t.Errorf("the event is about %q, want %q", got, cm.Name)
	}
}

// countingClient counts the writes that reach the API server.
type countingClient struct {
	client.Client
	creates, patches atomic.Int32
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.creates.Add(1)
	return c.Client.Create(ctx, obj, opts...)
}

func (c *countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	c.patches.Add(1)
	return c.Client.Patch(ctx, obj, patch, opts...)
}

// waitSeries waits until ns holds n events that count as want says (note, and the related
// object's name in brackets when there is one: series counts, 1 for an event without a series),
// and returns them.
func waitSeries(t *testing.T, ns string, n int, want map[string]int32) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	var got map[string]int32
	err := wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if err := env.Client.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return false, err
		}
		got = map[string]int32{}
		for _, ev := range list.Items {
			n := int32(1)
			if ev.Series != nil {
				n = ev.Series.Count
			}
			key := ev.Note
			if ev.Related != nil {
				key += " (" + ev.Related.Name + ")"
			}
			got[key] += n
		}
		if len(list.Items) > n {
			return false, fmt.Errorf("%d events, want %d", len(list.Items), n)
		}
		return len(list.Items) == n && cmp.Equal(want, got), nil
	})
	if err != nil {
		t.Fatalf("events in %s (-want +got):\n%s\n%v", ns, cmp.Diff(want, got), err)
	}
	return list.Items
}

// A readiness that flaps sixty times makes one Event, whose series counts the sixty, written in
// far fewer requests than sixty.
func TestRepeatsMakeASeries(t *testing.T) {
	ns := env.Namespace(t)
	cm := configMap(t, ns, "subject")
	counting := &countingClient{Client: env.Client}
	r := New(counting, env.Scheme, "test-controller")
	start(t, r)

	const flaps = 60
	begin := time.Now()
	for range flaps {
		r.Eventf(cm, nil, corev1.EventTypeWarning, "NotReady", "Rollout", "the workload has no ready replica")
	}
	evs := waitSeries(t, ns, 1, map[string]int32{"the workload has no ready replica": flaps})
	t.Logf("%d repeats written in %s with %d create and %d patches", flaps, time.Since(begin).Round(time.Millisecond),
		counting.creates.Load(), counting.patches.Load())
	if w := counting.creates.Load() + counting.patches.Load(); w > flaps/2 {
		t.Errorf("%d writes for %d repeats, want them merged", w, flaps)
	}
	ev := evs[0]
	if ev.Series.LastObservedTime.Before(&ev.EventTime) || time.Since(ev.Series.LastObservedTime.Time) > time.Minute {
		t.Errorf("series last observed at %s, event time %s", ev.Series.LastObservedTime, ev.EventTime)
	}

	// Later repeats, a little apart, are patched into the same series.
	const later = 10
	for range later {
		time.Sleep(20 * time.Millisecond)
		r.Eventf(cm, nil, corev1.EventTypeWarning, "NotReady", "Rollout", "the workload has no ready replica")
	}
	if got := waitSeries(t, ns, 1, map[string]int32{"the workload has no ready replica": flaps + later})[0].Name; got != ev.Name {
		t.Errorf("the repeats went to Event %s, want %s", got, ev.Name)
	}
	t.Logf("then %d repeats 20 ms apart: %d patches", later, counting.patches.Load())
	if n := counting.creates.Load(); n != 1 {
		t.Errorf("%d creates, want 1", n)
	}
}

// Events that differ in anything but their time are distinct Events; a repeat after the window,
// or after its Event was deleted, starts a new Event.
func TestDistinctEventsAndTheWindow(t *testing.T) {
	ns := env.Namespace(t)
	cm, other := configMap(t, ns, "subject"), configMap(t, ns, "other")
	r := New(env.Client, env.Scheme, "test-controller")
	start(t, r)

	for range 2 {
		for i := range 3 {
			r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready at generation %d", i)
		}
		r.Eventf(cm, other, corev1.EventTypeNormal, "Ready", "Rollout", "related")
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "related")
	}
	evs := waitSeries(t, ns, 5, map[string]int32{"ready at generation 0": 2, "ready at generation 1": 2, "ready at generation 2": 2, "related": 2, "related (other)": 2})

	// Deleted: the next repeat creates the Event again, with the series so far.
	for _, ev := range evs {
		if ev.Note == "ready at generation 0" {
			if err := env.Client.Delete(context.Background(), &ev); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready at generation 0")
	waitSeries(t, ns, 5, map[string]int32{"ready at generation 0": 3, "ready at generation 1": 2, "ready at generation 2": 2, "related": 2, "related (other)": 2})

	// After the window, a repeat is a new Event.
	r.mu.Lock()
	r.window = 0
	r.mu.Unlock()
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready at generation 1")
	waitSeries(t, ns, 6, map[string]int32{"ready at generation 0": 3, "ready at generation 1": 3, "ready at generation 2": 2, "related": 2, "related (other)": 2})
}

// The events remembered for their repeats are bounded; the least recently seen go first.
func TestSeriesAreBounded(t *testing.T) {
	r := New(env.Client, env.Scheme, "test-controller")
	r.maxSeries = 3
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "x"}}
	for i := range 10 {
		r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "note %d", i)
	}
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "note 7") // seen again: kept
	r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "note 10")
	var notes []string
	for e := r.recent.Front(); e != nil; e = e.Next() {
		notes = append(notes, e.Value.(*series).event.Note)
	}
	if diff := cmp.Diff([]string{"note 9", "note 7", "note 10"}, notes); diff != "" || len(r.series) != 3 {
		t.Errorf("series remembered (%d in the index) (-want +got):\n%s", len(r.series), diff)
	}
}
