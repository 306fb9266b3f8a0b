// Package recorder writes the controller's Kubernetes events (events.k8s.io/v1) from a bounded
// queue with a fixed number of writers.
//
// client-go's events broadcaster starts goroutines for every event, sends them all at once, and
// keeps each event for six minutes to count its repeats as a series. With a thousand Performers
// (make bench) its events cost about 9 MiB at the controller's peak, sent while the API server was
// busy rolling the workloads out. The controller emits an event only when a Performer's status
// changes, so repeats are rare and a series buys little. Like client-go's core/v1 broadcaster, this
// recorder drops events when its queue is full rather than grow without bound.
package recorder

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/record/util"
	"k8s.io/client-go/tools/reference"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

const (
	// QueueSize is how many events wait for a writer before new ones are dropped. An image change
	// of 1000 Performers at once (make bench, on two cores) overflowed a queue of 1000 by 223
	// events; an event takes about 1 KB.
	QueueSize = 4096
	// defaultWriters send events at once: two wrote a full queue in 3 s against the test API
	// server, and take little from the reconcilers' writes in a burst.
	defaultWriters = 2
	// maxTries and retryDelay, as in client-go: an event waits out about two minutes of an API
	// server that cannot be reached.
	maxTries   = 12
	retryDelay = 10 * time.Second
	// maxNote is the API server's limit on an event's note, in bytes.
	maxNote = 1024
	// dropLogEvery bounds the log lines about dropped events to one a minute.
	dropLogEvery = time.Minute
)

// droppedEvents lets an alert catch what the log line a minute only counts.
var droppedEvents = prometheus.NewCounter(prometheus.CounterOpts{
	Name: "hourglass_controller_events_dropped_total",
	Help: "Events not written because the event queue was full.",
})

func init() { metrics.Registry.MustRegister(droppedEvents) }

// Recorder is an events.EventRecorder; the manager runs its writers (Start).
type Recorder struct {
	client     client.Client
	scheme     *runtime.Scheme
	controller string
	instance   string
	queue      chan *eventsv1.Event
	log        logr.Logger
	writers    int
	retryDelay time.Duration

	dropped     atomic.Int64
	lastDropLog atomic.Int64 // unix nanoseconds
}

var _ events.EventRecorder = (*Recorder)(nil)

// New returns a recorder that reports events as controller (reportingController) from this host,
// and writes them with c, whose scheme must know events.k8s.io/v1.
func New(c client.Client, scheme *runtime.Scheme, controller string) *Recorder {
	// As client-go names the reporting instance: in a cluster the hostname is the pod's name.
	hostname, _ := os.Hostname()
	return &Recorder{
		client:     c,
		scheme:     scheme,
		controller: controller,
		instance:   controller + "-" + hostname,
		queue:      make(chan *eventsv1.Event, QueueSize),
		log:        logf.Log.WithName("events"),
		writers:    defaultWriters,
		retryDelay: retryDelay,
	}
}

// Eventf queues an event about regarding (and related, which may be nil). It never blocks: a
// reconciler must not wait for an event.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	ev, err := r.event(time.Now(), regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.log.Error(err, "not recording an event", "reason", reason)
		return
	}
	select {
	case r.queue <- ev:
	default:
		r.drop(ev)
	}
}

func (r *Recorder) event(now time.Time, regarding, related runtime.Object, eventtype, reason, action, note string) (*eventsv1.Event, error) {
	if !util.ValidateEventType(eventtype) {
		return nil, fmt.Errorf("event type %q is neither Normal nor Warning", eventtype)
	}
	ref, err := reference.GetReference(r.scheme, regarding)
	if err != nil {
		return nil, fmt.Errorf("referring to the object of the event: %w", err)
	}
	var relatedRef *corev1.ObjectReference
	if related != nil {
		if relatedRef, err = reference.GetReference(r.scheme, related); err != nil {
			return nil, fmt.Errorf("referring to the related object of the event: %w", err)
		}
	}
	ns := ref.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	if len(note) > maxNote {
		cut := maxNote - 3
		for cut > 0 && !utf8.RuneStart(note[cut]) {
			cut--
		}
		note = note[:cut] + "..."
	}
	return &eventsv1.Event{
		// The object's name and the time in hexadecimal nanoseconds, or a UUID where that is no
		// valid name.
		ObjectMeta:          metav1.ObjectMeta{Name: util.GenerateEventName(ref.Name, now.UnixNano()), Namespace: ns},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: r.controller,
		ReportingInstance:   r.instance,
		Action:              action,
		Reason:              reason,
		Regarding:           *ref,
		Related:             relatedRef,
		Note:                note,
		Type:                eventtype,
	}, nil
}

// drop counts an event that found the queue full, and says so at most once a minute.
func (r *Recorder) drop(ev *eventsv1.Event) {
	n := r.dropped.Add(1)
	droppedEvents.Inc()
	now := time.Now().UnixNano()
	last := r.lastDropLog.Load()
	if now-last >= int64(dropLogEvery) && r.lastDropLog.CompareAndSwap(last, now) {
		r.log.Info("the event queue is full: dropping events", "dropped", n, "queue", cap(r.queue),
			"reason", ev.Reason, "regarding", regarding(ev))
	}
}

func regarding(ev *eventsv1.Event) string { return ev.Regarding.Namespace + "/" + ev.Regarding.Name }

// Dropped is how many events found the queue full since the recorder started.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Start writes queued events until ctx ends.
func (r *Recorder) Start(ctx context.Context) error {
	var wg sync.WaitGroup
	for range r.writers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-r.queue:
					r.write(ctx, ev)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// NeedLeaderElection is false: the writers run in every replica, and only the leader's
// reconcilers have events to write.
func (r *Recorder) NeedLeaderElection() bool { return false }

// write creates ev, trying again while the API server cannot be reached or is overloaded. An
// event the API server rejects is dropped: it would be rejected again.
func (r *Recorder) write(ctx context.Context, ev *eventsv1.Event) {
	for try := 1; ; try++ {
		err := r.client.Create(ctx, ev)
		switch {
		case err == nil, apierrors.IsAlreadyExists(err), ctx.Err() != nil:
			return
		case !retriable(err):
			r.log.Error(err, "the API server rejected an event", "reason", ev.Reason, "regarding", regarding(ev))
			return
		case try == maxTries:
			r.log.Error(err, "giving up on an event", "tries", try, "reason", ev.Reason, "regarding", regarding(ev))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.retryDelay):
		}
	}
}

// retriable tells the errors that another try may overcome: no answer (any error without an API
// status, as client-go reads them), or an API server that is overloaded, starting or failing inside.
func retriable(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return true
	}
	return apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsServerTimeout(err) ||
		apierrors.IsTimeout(err) || apierrors.IsInternalError(err)
}
