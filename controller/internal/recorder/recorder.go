// Package recorder writes the controller's Kubernetes events (events.k8s.io/v1) from a bounded
// queue with a fixed number of writers.
//
// client-go's events broadcaster starts goroutines for every event and sends them all at once:
// with a thousand Performers (make bench) its events cost about 9 MiB at the controller's peak,
// sent while the API server was busy rolling the workloads out. Like client-go's core/v1
// broadcaster, this recorder drops events when its queue is full rather than grow without bound.
//
// Repeats make a series, as events.k8s.io/v1 means them: an event like one recorded less than six
// minutes before (same regarding and related objects, type, reason, action and note) increments
// the first Event's series.count and moves its series.lastObservedTime, by a PATCH, instead of
// creating another Event. A Performer whose readiness flaps thus makes one Event per state, not
// one per flap. Unlike client-go, the note is part of what must match (the controller's notes
// tell states apart, such as generations), and the count is written as soon as a writer is free,
// one PATCH for all the repeats queued meanwhile, not six minutes after the last repeat.
package recorder

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
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
	"k8s.io/apimachinery/pkg/types"
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
	// seriesWindow is how long after an event a like one joins its series, as in client-go.
	seriesWindow = 6 * time.Minute
	// maxSeries bounds the events remembered for their repeats; the least recently seen is
	// forgotten first, and its next repeat starts a new Event.
	maxSeries = QueueSize
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
	queue      chan *series
	log        logr.Logger
	writers    int
	retryDelay time.Duration
	window     time.Duration
	maxSeries  int

	mu     sync.Mutex
	series map[[sha256.Size]byte]*series
	recent *list.List // of *series, least recently seen first

	dropped     atomic.Int64
	lastDropLog atomic.Int64 // unix nanoseconds
}

// series is an event and its repeats. The fields after event are guarded by Recorder.mu.
type series struct {
	key   [sha256.Size]byte
	event *eventsv1.Event // as first seen: its name is the Event the repeats are written to
	elem  *list.Element

	count   int32     // times seen
	last    time.Time // last seen
	written int32     // count the API server has; 0 before the Event is created
	queued  bool      // in the queue or being written: a repeat only counts
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
		queue:      make(chan *series, QueueSize),
		log:        logf.Log.WithName("events"),
		writers:    defaultWriters,
		retryDelay: retryDelay,
		window:     seriesWindow,
		maxSeries:  maxSeries,
		series:     map[[sha256.Size]byte]*series{},
		recent:     list.New(),
	}
}

// Eventf queues an event about regarding (and related, which may be nil), or counts it in the
// series of a like event. It never blocks: a reconciler must not wait for an event.
func (r *Recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	now := time.Now()
	ev, err := r.event(now, regarding, related, eventtype, reason, action, fmt.Sprintf(note, args...))
	if err != nil {
		r.log.Error(err, "not recording an event", "reason", reason)
		return
	}
	s := r.observe(ev, now)
	if s == nil {
		return // a writer has the series in hand and writes this repeat's count too
	}
	select {
	case r.queue <- s:
	default:
		r.mu.Lock()
		s.queued = false
		if s.written == 0 && s.count == 1 {
			r.forget(s)
		}
		r.mu.Unlock()
		r.drop(ev)
	}
}

// observe counts ev in its series, starting one when there is none within the window, and
// returns the series to queue, or nil when it is queued already.
func (r *Recorder) observe(ev *eventsv1.Event, now time.Time) *series {
	key := seriesKey(ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.series[key]
	if s != nil && now.Sub(s.last) < r.window {
		s.count++
		s.last = now
		r.recent.MoveToBack(s.elem)
		if s.queued {
			return nil
		}
	} else {
		if s != nil {
			r.forget(s)
		}
		s = &series{key: key, event: ev, count: 1, last: now}
		s.elem = r.recent.PushBack(s)
		r.series[key] = s
		for r.recent.Len() > r.maxSeries {
			r.forget(r.recent.Front().Value.(*series))
		}
	}
	s.queued = true
	return s
}

// forget drops s from the series remembered; a writer holding it still finishes its writes.
func (r *Recorder) forget(s *series) {
	if r.series[s.key] == s {
		delete(r.series, s.key)
	}
	r.recent.Remove(s.elem)
}

// seriesKey is what like events share: all that an Event says but its time, hashed so that the
// index does not hold a second copy of every note.
func seriesKey(ev *eventsv1.Event) [sha256.Size]byte {
	ref := func(o *corev1.ObjectReference) string {
		if o == nil {
			return ""
		}
		return strings.Join([]string{o.APIVersion, o.Kind, o.Namespace, o.Name, string(o.UID), o.FieldPath}, "\x00")
	}
	return sha256.Sum256([]byte(strings.Join([]string{ev.Type, ev.Reason, ev.Action, ev.Note, ref(&ev.Regarding), ref(ev.Related)}, "\x01")))
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
				case s := <-r.queue:
					r.write(ctx, s)
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

// write brings the API server up to s's count: it creates the Event, or patches its series with
// the count of every repeat seen since the last write, until no repeat is left to write.
func (r *Recorder) write(ctx context.Context, s *series) {
	for {
		r.mu.Lock()
		count, last, written := s.count, s.last, s.written
		if count == written || ctx.Err() != nil {
			s.queued = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		r.send(ctx, s.event, count, last, written)
		// Written or given up: either way these repeats are done with.
		r.mu.Lock()
		s.written = count
		r.mu.Unlock()
	}
}

// send writes one state of a series: the Event, with its series once there are repeats, or a
// PATCH of the series of the Event written before (created again if it is gone, as client-go does).
func (r *Recorder) send(ctx context.Context, ev *eventsv1.Event, count int32, last time.Time, written int32) {
	var s *eventsv1.EventSeries
	if count > 1 {
		s = &eventsv1.EventSeries{Count: count, LastObservedTime: metav1.NewMicroTime(last)}
	}
	if written > 0 {
		patch, err := json.Marshal(map[string]any{"series": s})
		if err != nil {
			r.log.Error(err, "not recording an event", "reason", ev.Reason, "regarding", regarding(ev))
			return
		}
		target := &eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ev.Namespace, Name: ev.Name}}
		err = r.retry(ctx, ev, func() error { return r.client.Patch(ctx, target, client.RawPatch(types.MergePatchType, patch)) })
		if !apierrors.IsNotFound(err) {
			return
		}
	}
	create := ev.DeepCopy()
	create.Series = s
	if err := r.retry(ctx, ev, func() error { return r.client.Create(ctx, create) }); err != nil {
		r.log.Error(err, "the API server rejected an event", "reason", ev.Reason, "regarding", regarding(ev))
	}
}

// retry calls write, trying again while the API server cannot be reached or is overloaded. An
// event the API server rejects is dropped: it would be rejected again. It returns a NotFound error
// for the caller to handle, and nil once the event is written or given up.
func (r *Recorder) retry(ctx context.Context, ev *eventsv1.Event, write func() error) error {
	for try := 1; ; try++ {
		err := write()
		switch {
		case err == nil, apierrors.IsAlreadyExists(err), ctx.Err() != nil:
			return nil
		case apierrors.IsNotFound(err):
			return err
		case !retriable(err):
			r.log.Error(err, "the API server rejected an event", "reason", ev.Reason, "regarding", regarding(ev))
			return nil
		case try == maxTries:
			r.log.Error(err, "giving up on an event", "tries", try, "reason", ev.Reason, "regarding", regarding(ev))
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
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
