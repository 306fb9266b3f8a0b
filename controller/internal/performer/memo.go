// Package performer holds the Performer reconciler: it applies each Performer's Deployment and
// Service with server-side apply and reports the rollout in the Performer status, with the Flux
// conditions that kstatus, Flux health checks and Argo CD understand.
package performer

import (
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// patchLog tells a cached Performer that predates the controller's own last status patch: a
// reconcile that read it would compute the status from before that patch and send one the API
// server must refuse (the optimistic lock). Such a reconcile waits for the cache instead.
type patchLog struct {
	mu   sync.Mutex
	from map[types.NamespacedName]string
}

// stale reports whether p is the version the last status patch of p started from, and forgets
// that patch once the cache has moved past it.
func (l *patchLog) stale(p *v1alpha1.Performer) bool {
	key := client.ObjectKeyFromObject(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	from, ok := l.from[key]
	if ok && from == p.ResourceVersion {
		return true
	}
	delete(l.from, key)
	return false
}

func (l *patchLog) record(key types.NamespacedName, from string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.from == nil {
		l.from = map[types.NamespacedName]string{}
	}
	l.from[key] = from
}

func (l *patchLog) forget(key types.NamespacedName) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.from, key)
}
