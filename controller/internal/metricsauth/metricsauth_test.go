package metricsauth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
)

// countingClient counts the reviews sent to the API server.
type countingClient struct {
	client.Client
	reviews atomic.Int32
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	c.reviews.Add(1)
	return c.Client.Create(ctx, obj, opts...)
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func status(h http.Handler, r *http.Request) int {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code
}

func TestReviewsAgainstTheAPIServer(t *testing.T) {
	env := envtest.Start(t)
	ctx := context.Background()
	reader := env.MetricsToken(t, "default", "reader", true)
	other := env.MetricsToken(t, "default", "other", false)

	counting := &countingClient{Client: env.Client}
	clk := newClock()
	filter, err := New(counting, clk.now)(logr.Discard(), http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("metrics"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	get := func(path, authorization string) int {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		return status(filter, req)
	}

	got := map[string]int{
		"no token":               get("/metrics", ""),
		"basic auth":             get("/metrics", "Basic dXNlcjpwYXNz"),
		"unknown token":          get("/metrics", "Bearer not-a-token"),
		"token not allowed":      get("/metrics", "Bearer "+other),
		"allowed token":          get("/metrics", "Bearer "+reader),
		"allowed token, lower":   get("/metrics", "bearer "+reader),
		"allowed token, no rule": get("/debug/pprof/", "Bearer "+reader),
	}
	want := map[string]int{
		"no token":               http.StatusUnauthorized,
		"basic auth":             http.StatusUnauthorized,
		"unknown token":          http.StatusUnauthorized,
		"token not allowed":      http.StatusForbidden,
		"allowed token":          http.StatusOK,
		"allowed token, lower":   http.StatusOK,
		"allowed token, no rule": http.StatusForbidden,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}

	// Answers are reused for TTL: a scraper costs no review per scrape, and a revoked grant stops
	// working once the TTL has passed.
	before := counting.reviews.Load()
	for i := 0; i < 5; i++ {
		if code := get("/metrics", "Bearer "+reader); code != http.StatusOK {
			t.Fatalf("scrape %d answered %d", i, code)
		}
	}
	if n := counting.reviews.Load() - before; n != 0 {
		t.Errorf("5 scrapes within the TTL sent %d reviews, want 0", n)
	}
	if err := env.Client.Delete(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: envtest.MetricsReaderName("default", "reader")}}); err != nil {
		t.Fatal(err)
	}
	if code := get("/metrics", "Bearer "+reader); code != http.StatusOK {
		t.Errorf("within the TTL a revoked grant answered %d, want the cached 200", code)
	}
	clk.add(TTL)
	deadline := time.Now().Add(30 * time.Second)
	for code := get("/metrics", "Bearer "+reader); code != http.StatusForbidden; code = get("/metrics", "Bearer "+reader) {
		// The authorizer's own RBAC cache follows the deletion shortly.
		if time.Now().After(deadline) {
			t.Fatalf("after the TTL a revoked grant still answers %d, want 403", code)
		}
		clk.add(TTL)
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCacheIsBounded(t *testing.T) {
	a := &authorizer{now: newClock().now, cache: map[[32]byte]answer{}}
	for i := 0; i < 3*maxCached; i++ {
		a.remember([32]byte{byte(i), byte(i >> 8)}, http.StatusOK)
		if len(a.cache) > maxCached {
			t.Fatalf("the cache holds %d answers, more than %d", len(a.cache), maxCached)
		}
	}
}
