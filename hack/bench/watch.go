package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/status"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// The bench tells when a phase is done from watches, not from lists: a list of every object of
// the phase every 200 ms loads the API server that both sides share, and the raw bound's polls
// began only once its senders returned, near the end of its burst, while the controller's began
// as soon as its Performers were created.
var (
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	performersGVR  = v1alpha1.GroupVersion.WithResource("performers")
)

// watchClient is the bench's own client for its watches (user agent hourglass-bench-driver).
var watchClient dynamic.Interface

// counter keeps, from one watch, which objects meet a condition, and the first moment n do.
type counter struct {
	meets   func(*unstructured.Unstructured) bool
	n       int
	mu      sync.Mutex
	met     map[string]bool
	at      time.Time
	reached chan struct{}
}

func newCounter(n int, meets func(*unstructured.Unstructured) bool) *counter {
	return &counter{meets: meets, n: n, met: map[string]bool{}, reached: make(chan struct{})}
}

func (c *counter) set(obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted || !c.meets(u) {
		delete(c.met, u.GetName())
	} else {
		c.met[u.GetName()] = true
	}
	if len(c.met) >= c.n && c.at.IsZero() {
		c.at = time.Now()
		close(c.reached)
	}
}

func (c *counter) OnAdd(obj any, _ bool) { c.set(obj, false) }
func (c *counter) OnUpdate(_, obj any)   { c.set(obj, false) }
func (c *counter) OnDelete(obj any)      { c.set(obj, true) }
func (c *counter) when() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at, !c.at.IsZero()
}

// watchUntil watches resource in namespace ns (selected by labels, if any) until n objects meet
// the condition, and returns that moment.
func watchUntil(ns string, gvr schema.GroupVersionResource, labels string, n int, meets func(*unstructured.Unstructured) bool) (*counter, func(), error) {
	f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(watchClient, 0, ns, func(o *metav1.ListOptions) {
		o.LabelSelector = labels
	})
	c := newCounter(n, meets)
	inf := f.ForResource(gvr).Informer()
	if _, err := inf.AddEventHandler(c); err != nil {
		return nil, nil, err
	}
	stop := make(chan struct{})
	f.Start(stop)
	return c, func() { close(stop); f.Shutdown() }, nil
}

// podReadyWith says whether a pod runs image, is Ready and is not being deleted.
func podReadyWith(image string) func(*unstructured.Unstructured) bool {
	return func(u *unstructured.Unstructured) bool {
		var p corev1.Pod
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &p); err != nil {
			return false
		}
		if p.DeletionTimestamp != nil || len(p.Spec.Containers) == 0 || p.Spec.Containers[0].Image != image {
			return false
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				return cond.Status == corev1.ConditionTrue
			}
		}
		return false
	}
}

// isCurrent says whether kstatus, as Flux's health checks compute it, says Current.
func isCurrent(u *unstructured.Unstructured) bool {
	res, err := status.Compute(u)
	return err == nil && res.Status == status.CurrentStatus
}

// waitBoth waits until all n pods of image are Ready and all n objects of resource current are
// Current, and returns the time from start to each: the moment the bench's watch delivered the
// change that made the count whole.
func waitBoth(ctx context.Context, start time.Time, ns, image string, n int, current schema.GroupVersionResource) (pods, cur time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	podCount, stopPods, err := watchUntil(ns, podsGVR, v1alpha1.AppLabel+"="+v1alpha1.AppName, n, podReadyWith(image))
	if err != nil {
		return 0, 0, err
	}
	defer stopPods()
	curCount, stopCur, err := watchUntil(ns, current, "", n, isCurrent)
	if err != nil {
		return 0, 0, err
	}
	defer stopCur()
	for _, c := range []*counter{podCount, curCount} {
		select {
		case <-c.reached:
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("waiting for %d of %s in %s: %w", n, ns, current.Resource, ctx.Err())
		}
	}
	p, _ := podCount.when()
	c, _ := curCount.when()
	return p.Sub(start), c.Sub(start), nil
}
