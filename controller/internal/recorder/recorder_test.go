package recorder

import (
	"context"
	"errors"
	"strings"
	"sync"
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
	r.queue = make(chan *eventsv1.Event, size)

	before := testutil.ToFloat64(droppedEvents)

	done := make(chan struct{})
	go func() {
		defer close(done)
		for range size + extra {
			r.Eventf(cm, nil, corev1.EventTypeNormal, "Ready", "Rollout", "ready")
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
