package argocd_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/test/e2erun"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/argocd"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/cluster"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/gitserver"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/poll"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/process"
)

// What examples/basic declares (the getting started guide's names).
const (
	example       = "basic"
	appName       = argocd.ExecutorApplication
	appNamespace  = "my-avs-project"
	performerName = "my-avs"
	executorName  = "my-avs-executor"
	syncWave      = "argocd.argoproj.io/sync-wave"
)

var (
	applicationGVK = schema.GroupVersionKind{Group: "argoproj.io", Version: "v1alpha1", Kind: "Application"}
	performerGVK   = schema.GroupVersionKind{Group: "hourglass.eigenlayer.io", Version: "v1alpha1", Kind: "Performer"}
)

type env struct {
	root    string
	c       *cluster.Cluster
	cl      client.Client
	argo    *argocd.ArgoCD
	repo    *gitserver.Repo
	example string // the example's folder in the Git repository's work tree
}

// TestArgoCD runs the real Argo CD with the plugin of examples/argocd against a local cluster and
// the project's controller: the Application of examples/argocd, pointed at examples/basic in a
// loopback Git repository, renders the declaration with the function, syncs in waves, turns
// Healthy only once the Performer is Ready, stays Synced, heals hand edits, reports a stalled
// Performer as Degraded and a bad declaration as the function's field error.
//
// It runs only with HOURGLASS_E2E=1 (make test-argocd). HOURGLASS_ARGOCD_DIR sets its state
// folder (default .local/argocd): the cluster's and Argo CD's logs stay there.
func TestArgoCD(t *testing.T) {
	e2erun.Gate(t, "Argo CD end-to-end test", "test-argocd", "kubectl", "git")
	r := e2erun.Begin(t, "HOURGLASS_ARGOCD_DIR", "argocd", 12*time.Minute)
	root, dir, out, ctx := r.Root, r.Dir, r.Out, r.Ctx
	clusterDir := filepath.Join(dir, "cluster")
	clock := e2erun.Start(t)
	phase := clock.Phase

	e := &env{root: root}
	var bins, kustomize string
	phase("build Argo CD, kustomize and the function", func() (err error) {
		if bins, err = process.CachedBins(ctx, root, "argocd-bins.sh", out); err != nil {
			return err
		}
		if kustomize, err = cluster.Kustomize(ctx, root); err != nil {
			return err
		}
		return cluster.BuildFunction(ctx, root, out)
	})
	r.DownAtEnd(t, clusterDir)
	phase("cluster up, base/ installed", func() (err error) {
		if err := cluster.Down(root, clusterDir, out); err != nil {
			return err
		}
		if e.c, err = cluster.Up(ctx, root, clusterDir, out); err != nil {
			return err
		}
		return e.c.InstallController(ctx)
	})
	t.Cleanup(e.c.StopController)
	var err error
	if e.cl, err = client.New(e.c.Config, client.Options{}); err != nil {
		t.Fatal(err)
	}

	opts := argocd.Options{
		Root: root, Bins: bins, Dir: dir,
		Kustomize: kustomize, Function: cluster.FunctionBinary(root), Out: out,
	}
	phase("Argo CD installed and started", func() (err error) {
		e.argo, err = argocd.Start(ctx, e.c, opts)
		return err
	})
	t.Cleanup(e.argo.Stop)

	gs, err := gitserver.Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gs.Close() })
	phase("Git repository with examples/"+example, func() (err error) {
		if e.repo, err = gs.NewRepo(ctx, "gitops", t.TempDir()); err != nil {
			return err
		}
		// The declarations only: Git holds no function binary and no rendered output.
		e.example = filepath.Join(e.repo.Work, "examples", example)
		if err := os.CopyFS(e.example, os.DirFS(filepath.Join(root, "examples", example))); err != nil {
			return err
		}
		_, err = e.repo.Commit(ctx, "examples/"+example)
		return err
	})
	phase("Application from examples/argocd", func() error { return e.applyApplication(ctx, gs.URL("gitops")) })

	ok := clock.Steps(ctx, []e2erun.Step{
		// Every later step needs the Application converged.
		{Name: "healthy only when every performer is ready", F: e.healthyWhenReady, Essential: true},
		{Name: "sync waves", F: e.waves},
		{Name: "stays synced after convergence", F: e.staysSynced},
		{Name: "self-heal reverts a hand edit", F: e.selfHeal},
		{Name: "a stalled performer is degraded", F: e.stalled},
		{Name: "a bad declaration applies nothing", F: e.badDeclaration},
		{Name: "a declaration naming another program runs nothing", F: e.otherProgram},
	})
	if !ok {
		t.Logf("logs: %s and %s", filepath.Join(dir, "logs"), filepath.Join(clusterDir, "logs"))
	}
}

// applyApplication applies the executor Application of examples/argocd/application.yaml with only
// its source pointed at the example in the loopback repository.
func (e *env) applyApplication(ctx context.Context, repoURL string) error {
	app, err := argocd.LoadExecutorApplication(e.root, repoURL, "examples/"+example)
	if err != nil {
		return err
	}
	return e.cl.Create(ctx, app)
}

// --- reading the Application ----------------------------------------------------------------

type appState struct {
	sync, health, healthMessage string
	revision                    string
	opPhase, opMessage          string
	opStarted                   string
	opPartial                   bool  // a sync of some resources only (what self-heal starts)
	selfHeals                   int64 // self-heal attempts since the last sync to a new revision
	history                     int
	conditions                  []string // "Type: message"
	resources                   []result // the last sync's resource results, in Argo CD's order
}

type result struct {
	Kind, Namespace, Name, Status, Message, SyncPhase string
}

func (e *env) app(ctx context.Context) (*unstructured.Unstructured, appState, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(applicationGVK)
	if err := e.cl.Get(ctx, types.NamespacedName{Namespace: argocd.Namespace, Name: appName}, u); err != nil {
		return nil, appState{}, err
	}
	var s appState
	s.sync, _, _ = unstructured.NestedString(u.Object, "status", "sync", "status")
	s.revision, _, _ = unstructured.NestedString(u.Object, "status", "sync", "revision")
	s.health, _, _ = unstructured.NestedString(u.Object, "status", "health", "status")
	s.healthMessage, _, _ = unstructured.NestedString(u.Object, "status", "health", "message")
	s.opPhase, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "phase")
	s.opMessage, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "message")
	s.opStarted, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "startedAt")
	partial, _, _ := unstructured.NestedSlice(u.Object, "status", "operationState", "operation", "sync", "resources")
	s.opPartial = len(partial) > 0
	s.selfHeals, _, _ = unstructured.NestedInt64(u.Object, "status", "operationState", "operation", "sync", "autoHealAttemptsCount")
	history, _, _ := unstructured.NestedSlice(u.Object, "status", "history")
	s.history = len(history)
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		s.conditions = append(s.conditions, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	res, _, _ := unstructured.NestedSlice(u.Object, "status", "operationState", "syncResult", "resources")
	for _, r := range res {
		m, _ := r.(map[string]any)
		str := func(k string) string { v, _ := m[k].(string); return v }
		s.resources = append(s.resources, result{Kind: str("kind"), Namespace: str("namespace"), Name: str("name"),
			Status: str("status"), Message: str("message"), SyncPhase: str("syncPhase")})
	}
	return u, s, nil
}

func (s appState) String() string {
	return fmt.Sprintf("sync=%s health=%s (%s) operation=%s %q conditions=%q", s.sync, s.health, s.healthMessage, s.opPhase, s.opMessage, s.conditions)
}

// state is the Application's state now; t cannot go on without it.
func (e *env) state(t *testing.T, ctx context.Context) appState {
	t.Helper()
	_, s, err := e.app(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// waitApp reads the Application's state until done says so, for at most timeout, and returns
// the last state it read.
func (e *env) waitApp(ctx context.Context, timeout time.Duration, done func(ctx context.Context, s appState) (bool, error)) (appState, error) {
	var last appState
	err := poll.Until(ctx, timeout, func(ctx context.Context) (bool, error) {
		_, s, err := e.app(ctx)
		if err != nil {
			return false, err
		}
		last = s
		return done(ctx, s)
	})
	return last, err
}

// refresh asks Argo CD to re-read Git now, as a Git host's webhook would.
func (e *env) refresh(ctx context.Context) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(applicationGVK)
	u.SetNamespace(argocd.Namespace)
	u.SetName(appName)
	patch := []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"normal"}}}`)
	return e.cl.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch))
}

func (e *env) performer(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	p := &unstructured.Unstructured{}
	p.SetGroupVersionKind(performerGVK)
	return p, e.cl.Get(ctx, types.NamespacedName{Namespace: appNamespace, Name: name}, p)
}

// performersReady reports whether every Performer of the namespace is Ready for its generation.
func (e *env) performersReady(ctx context.Context) (bool, string, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(performerGVK.GroupVersion().WithKind("PerformerList"))
	if err := e.cl.List(ctx, list, client.InNamespace(appNamespace)); err != nil {
		return false, "", err
	}
	if len(list.Items) == 0 {
		return false, "no Performer", nil
	}
	for _, p := range list.Items {
		if ok, why := poll.ReadyAtGeneration(&p); !ok {
			return false, p.GetName() + ": " + why, nil
		}
	}
	return true, "", nil
}

// converged waits until the Application is Synced and Healthy at revision (any revision if
// empty) with its last sync operation Succeeded.
func (e *env) converged(ctx context.Context, revision string, timeout time.Duration) (appState, error) {
	last, err := e.waitApp(ctx, timeout, func(ctx context.Context, s appState) (bool, error) {
		return s.sync == "Synced" && s.health == "Healthy" && s.opPhase == "Succeeded" && (revision == "" || s.revision == revision), nil
	})
	if err != nil {
		return last, fmt.Errorf("the Application did not converge (%v): %s", err, last)
	}
	return last, nil
}

// commit changes the example's declaration in Git, pushes it and asks Argo CD to refresh.
func (e *env) commit(t *testing.T, ctx context.Context, message string, edit func(decl string) string) string {
	t.Helper()
	path := filepath.Join(e.example, "executor.yaml")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	changed := edit(string(raw))
	if changed == string(raw) {
		t.Fatalf("%s: the edit changes nothing", message)
	}
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	rev, err := e.repo.Commit(ctx, message)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	return rev
}

// restore puts the example back as shipped and waits for Argo CD to converge on it.
func (e *env) restore(t *testing.T, ctx context.Context) appState {
	t.Helper()
	orig, err := os.ReadFile(filepath.Join(e.root, "examples", example, "executor.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rev := e.commit(t, ctx, "restore examples/"+example, func(string) string { return string(orig) })
	s, err := e.converged(ctx, rev, 2*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// terminate ends a running operation the way `argocd app terminate-op` does.
func (e *env) terminate(ctx context.Context) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, s, err := e.app(ctx)
		if err != nil {
			return err
		}
		if _, running := u.Object["operation"]; !running || s.opPhase != "Running" {
			return nil
		}
		if err := unstructured.SetNestedField(u.Object, "Terminating", "status", "operationState", "phase"); err != nil {
			return err
		}
		return e.cl.Update(ctx, u)
	})
}

// --- checks ---------------------------------------------------------------------------------

// healthyWhenReady: with the project's controller not yet running, Argo CD renders and applies
// the declaration but the Application stays Progressing (the Lua health check of argocd-cm reads
// the Performer as unobserved); once the controller runs and the Performer is Ready, the sync
// finishes and the Application turns Healthy. At no point is it Healthy with a Performer not Ready.
func (e *env) healthyWhenReady(t *testing.T, ctx context.Context) {
	last, err := e.waitApp(ctx, 3*time.Minute, func(ctx context.Context, s appState) (bool, error) {
		_, perr := e.performer(ctx, performerName)
		return perr == nil && s.health == "Progressing", nil
	})
	if err != nil {
		t.Fatalf("the Performer was not applied or the Application is not Progressing: %s", last)
	}
	// Hold: without the controller nothing may report the Performer ready.
	holdUntil := time.Now().Add(5 * time.Second)
	for time.Now().Before(holdUntil) {
		s := e.state(t, ctx)
		if s.health == "Healthy" {
			t.Fatalf("the Application reports %s before any controller observed the Performer", s)
		}
		last = s
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("before the controller runs: %s", last)
	e.waitingWave(t, ctx, last)

	if err := e.c.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	var healths []string
	err = poll.Until(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
		_, s, err := e.app(ctx)
		if err != nil {
			return false, err
		}
		last = s
		if len(healths) == 0 || healths[len(healths)-1] != s.health {
			healths = append(healths, s.health)
		}
		if s.health == "Healthy" {
			ok, why, err := e.performersReady(ctx)
			if err != nil {
				return false, err
			}
			if !ok {
				return false, fmt.Errorf("the Application is Healthy while a Performer is not ready: %s", why)
			}
		}
		return s.sync == "Synced" && s.health == "Healthy" && s.opPhase == "Succeeded", nil
	})
	if err != nil {
		t.Fatalf("%v: %s", err, last)
	}
	// Between waves the Application can be Healthy for a moment (the Performer is ready and the
	// executor not yet applied); the check above holds at every step.
	if healths[0] != "Progressing" || healths[len(healths)-1] != "Healthy" {
		t.Errorf("Application health after the controller started: %v, want Progressing first and Healthy last", healths)
	}
	t.Logf("Application health after the controller started: %v", healths)
	if ok, why, err := e.performersReady(ctx); err != nil || !ok {
		t.Errorf("Healthy, but the Performers are not ready: %s %v", why, err)
	}
	t.Logf("converged: %s", last)
}

// waitingWave: when the Performers are not in the last wave, Argo CD waits for their health
// before the next wave: the waves up to theirs are applied, the later ones are not. When they are
// in the last wave, the sync ends without waiting for them and everything is applied.
func (e *env) waitingWave(t *testing.T, ctx context.Context, s appState) {
	p, err := e.performer(ctx, performerName)
	if err != nil {
		t.Fatal(err)
	}
	pw := wave(p)
	rendered := e.renderedFor(t, ctx)
	last := pw
	for _, o := range rendered {
		last = max(last, wave(o))
	}
	if pw == last {
		pw = last + 1 // nothing comes after the Performers
	}
	// The Performers are the last wave, and the render's PostSync hook still makes Argo CD wait
	// for their health before it ends the sync.
	if want := "waiting for healthy state of hourglass.eigenlayer.io/Performer/" + performerName; s.opPhase != "Running" || !strings.Contains(s.opMessage, want) {
		t.Errorf("want the sync operation %q while the Performer is not ready, got %s", want, s)
	}
	for _, o := range rendered {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		err := e.cl.Get(ctx, client.ObjectKeyFromObject(o), live)
		switch w := wave(o); {
		case w <= pw && err != nil:
			t.Errorf("%s %s (wave %d) is not applied while Argo CD waits for the Performer (wave %d): %v", o.GetKind(), o.GetName(), w, pw, err)
		case w > pw && err == nil:
			t.Errorf("%s %s (wave %d) is applied before the Performer (wave %d) is healthy", o.GetKind(), o.GetName(), w, pw)
		case w > pw && !apierrors.IsNotFound(err):
			t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
		}
	}
}

// renderedFor is rendered for a test: t cannot go on without the objects.
func (e *env) renderedFor(t *testing.T, ctx context.Context) []*unstructured.Unstructured {
	t.Helper()
	rendered, err := e.rendered(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rendered
}

// rendered renders the example as committed, the way the plugin does: avs-executor-fn render on
// the example's folder.
func (e *env) rendered(ctx context.Context) ([]*unstructured.Unstructured, error) {
	kustomize, err := cluster.Kustomize(ctx, e.root)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, cluster.FunctionBinary(e.root), "render", e.example)
	cmd.Env = append(os.Environ(), "KUSTOMIZE="+kustomize)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("avs-executor-fn render %s: %w\n%s", e.example, err, stderr.String())
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(string(out), "\n---\n") {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			return nil, err
		}
		// Hooks are no resources of the Application: Argo CD runs them around a sync and never
		// compares them.
		if len(u.Object) > 0 && u.GetAnnotations()["argocd.argoproj.io/hook"] == "" {
			objs = append(objs, u)
		}
	}
	return objs, nil
}

func wave(o *unstructured.Unstructured) int {
	w, err := strconv.Atoi(o.GetAnnotations()[syncWave])
	if err != nil {
		return 0
	}
	return w
}

// role groups what the function renders by what it is for.
func role(o *unstructured.Unstructured) string {
	switch o.GetKind() {
	case "Namespace":
		return "namespace"
	case "Performer":
		return "performer"
	case "StatefulSet":
		return "executor"
	}
	return "support" // RBAC, ServiceAccount, ConfigMap, Services, NetworkPolicy, ...
}

// waves: the last sync operation's resource results list every rendered object, synced, in
// wave order; the namespace comes first, then RBAC and configuration, then the Performers, then
// the executor.
func (e *env) waves(t *testing.T, ctx context.Context) {
	s := e.state(t, ctx)
	rendered := e.renderedFor(t, ctx)
	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range rendered {
		byKey[o.GetKind()+"/"+o.GetName()] = o
	}
	var order []string
	prev := -1 << 31
	postSync := 0
	for _, r := range s.resources {
		if r.SyncPhase == "PostSync" {
			// The render's hook: it runs once everything else is synced and healthy.
			postSync++
			order = append(order, fmt.Sprintf("PostSync hook %s %s", r.Kind, r.Name))
			continue
		}
		if postSync > 0 {
			t.Errorf("%s %s synced after the PostSync hook", r.Kind, r.Name)
		}
		o := byKey[r.Kind+"/"+r.Name]
		if o == nil {
			t.Errorf("sync result for %s %s, which the plugin does not render", r.Kind, r.Name)
			continue
		}
		delete(byKey, r.Kind+"/"+r.Name)
		if r.Status != "Synced" {
			t.Errorf("%s %s: %s %s", r.Kind, r.Name, r.Status, r.Message)
		}
		w := wave(o)
		if w < prev {
			t.Errorf("%s %s (wave %d) synced after wave %d", r.Kind, r.Name, w, prev)
		}
		prev = w
		order = append(order, fmt.Sprintf("%d %s %s", w, r.Kind, r.Name))
	}
	for k := range byKey {
		t.Errorf("%s is rendered but not in the sync result", k)
	}
	if postSync != 1 {
		t.Errorf("the sync ran %d PostSync hooks, want the render's one", postSync)
	}
	t.Logf("sync order:\n  %s", strings.Join(order, "\n  "))

	waves := map[string][]int{}
	for _, o := range rendered {
		waves[role(o)] = append(waves[role(o)], wave(o))
	}
	lo := func(r string) int { sort.Ints(waves[r]); return waves[r][0] }
	hi := func(r string) int { sort.Ints(waves[r]); return waves[r][len(waves[r])-1] }
	for _, r := range []string{"namespace", "support", "executor", "performer"} {
		if len(waves[r]) == 0 {
			t.Fatalf("the example renders no %s object", r)
		}
	}
	if hi("namespace") >= lo("support") {
		t.Errorf("namespace wave %v is not before the RBAC and configuration waves %v", waves["namespace"], waves["support"])
	}
	if hi("support") >= lo("executor") || hi("support") >= lo("performer") {
		t.Errorf("RBAC and configuration waves %v are not before the executor %v and Performers %v", waves["support"], waves["executor"], waves["performer"])
	}
	// Argo CD waits for the health of every wave but the last, and a real executor pod turns
	// Ready only once the Performer it creates binds to a Ready declared one: with the executor
	// first, the sync would never reach the Performers. The PostSync hook makes Argo CD wait for
	// the executor's rollout too, so the comparison after the sync cannot see a stale StatefulSet.
	if hi("performer") >= lo("executor") {
		t.Errorf("Performer waves %v are not before the executor wave %v", waves["performer"], waves["executor"])
	}
}

// staysSynced: after convergence Argo CD has nothing to correct: the sync that converged was the
// last (no self-heal sync of part of the resources followed it) and for a while the Application
// stays Synced and Healthy with no new operation.
func (e *env) staysSynced(t *testing.T, ctx context.Context) {
	check := func(t *testing.T, wantHistory int) {
		first := e.state(t, ctx)
		until := time.Now().Add(20 * time.Second)
		for time.Now().Before(until) {
			s := e.state(t, ctx)
			if s.sync != "Synced" || s.health != "Healthy" {
				t.Errorf("after convergence: %s", s)
				return
			}
			if s.opStarted != first.opStarted {
				t.Errorf("a sync operation started after convergence: %s", s)
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		s := e.state(t, ctx)
		if s.opPartial || s.selfHeals > 0 || s.history != wantHistory {
			t.Errorf("want the converging sync to be the last (%d syncs in the history), got %d, the last of them partial=%v after %d self-heal attempts: %s",
				wantHistory, s.history, s.opPartial, s.selfHeals, s)
		}
	}
	t.Run("first sync", func(t *testing.T) { check(t, 1) })
	t.Run("configuration change", func(t *testing.T) {
		before := e.state(t, ctx)
		// A new RPC endpoint: the executor's ConfigMap and its pod template's config hash change.
		rev := e.commit(t, ctx, "new Ethereum RPC endpoint", func(d string) string {
			return strings.Replace(d, `rpcUrl: "https://eth-mainnet.alchemyapi.io/v2/YOUR_API_KEY"`, `rpcUrl: "https://eth-rpc-2.example.com"`, 1)
		})
		if _, err := e.converged(ctx, rev, 2*time.Minute); err != nil {
			t.Fatal(err)
		}
		check(t, before.history+1)
	})
}

// selfHeal: a hand edit of a Performer is reverted to what Git declares.
func (e *env) selfHeal(t *testing.T, ctx context.Context) {
	p, err := e.performer(ctx, performerName)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := unstructured.NestedString(p.Object, "spec", "image")
	if _, err := e.c.Kubectl(ctx, "-n", appNamespace, "patch", "performer", performerName, "--type=merge",
		"-p", `{"spec":{"image":"my-org/my-avs-performer:hand-edited"}}`); err != nil {
		t.Fatal(err)
	}
	var got string
	err = poll.Until(ctx, time.Minute, func(ctx context.Context) (bool, error) {
		p, err := e.performer(ctx, performerName)
		if err != nil {
			return false, err
		}
		got, _, _ = unstructured.NestedString(p.Object, "spec", "image")
		return got == want, nil
	})
	if err != nil {
		t.Fatalf("Argo CD did not revert the hand-edited image: spec.image is %q, want %q", got, want)
	}
	if _, err := e.converged(ctx, "", 2*time.Minute); err != nil {
		t.Fatal(err)
	}
}

// stalled: a Performer that asks for a GPU no node has (an H100; the cluster has A100s) cannot be
// scheduled: the controller marks it Stalled and Argo CD reports the Application Degraded with the
// reason. Restoring the declaration makes it Healthy again.
func (e *env) stalled(t *testing.T, ctx context.Context) {
	e.commit(t, ctx, "my-avs on an H100", func(d string) string {
		return strings.Replace(d, "        resources:\n", "        profiles: [gpu-h100]\n        resources:\n", 1)
	})
	last, err := e.waitApp(ctx, 2*time.Minute, func(ctx context.Context, s appState) (bool, error) {
		return s.health == "Degraded", nil
	})
	if err != nil {
		t.Fatalf("the Application is not Degraded: %s", last)
	}
	p, err := e.performer(ctx, performerName)
	if err != nil {
		t.Fatal(err)
	}
	if ok, why := poll.ReadyAtGeneration(p); ok {
		t.Errorf("the Application is Degraded but the Performer is ready: %s", why)
	} else if !strings.Contains(why, "Unschedulable") {
		t.Errorf("want the Performer not ready because it is Unschedulable, got %s", why)
	}
	t.Logf("stalled: %s", last)
	// A Performer that turns Degraded in a wave before the last fails the sync, and automated sync
	// retries it (five times, with backoff) before it takes a new revision: end it as
	// `argocd app terminate-op` does.
	if err := e.terminate(ctx); err != nil {
		t.Fatal(err)
	}
	s := e.restore(t, ctx)
	t.Logf("restored: %s", s)
}

// badDeclaration: a declaration the function rejects (a new AVS with a malformed address) is not
// rendered at all: the Application shows the function's error naming the object and the field,
// no sync operation starts, and nothing in the cluster changes.
func (e *env) badDeclaration(t *testing.T, ctx context.Context) {
	before := e.state(t, ctx)
	rendered := e.renderedFor(t, ctx)
	versions, err := e.liveVersions(ctx, rendered)
	if err != nil {
		t.Fatal(err)
	}
	e.commit(t, ctx, "a second AVS with a malformed address", func(d string) string {
		return strings.Replace(d, "    supportedAvs:\n", `    supportedAvs:
      - address: "0x12345"
        name: "second-avs"
        performer:
          image: "my-org/second-performer"
          version: "v1.0.0"
`, 1)
	})
	const field = `spec.avs.supportedAvs[0].address: "0x12345" is no Ethereum address`
	last := e.conditionShows(t, ctx, "the function's error", field)
	t.Logf("rejected: %s", last)
	// Give a sync the time to do harm, then check nothing happened.
	time.Sleep(5 * time.Second)
	after := e.state(t, ctx)
	if after.opStarted != before.opStarted || after.history != before.history {
		t.Errorf("a sync ran for the rejected declaration: %s", after)
	}
	if _, err := e.performer(ctx, "second-avs"); !apierrors.IsNotFound(err) {
		t.Errorf("the rejected declaration's Performer second-avs exists (%v)", err)
	}
	now, err := e.liveVersions(ctx, rendered)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(versions, now); diff != "" {
		t.Errorf("objects changed after a rejected declaration (-before +after):\n%s", diff)
	}
	e.restore(t, ctx)
}

// otherProgram: a commit whose declaration names /bin/sh as its function (which kustomize with
// exec functions would run in the repo server) is refused by the plugin before anything runs: the
// Application shows which function was refused, the file the shell would write is absent, and no
// sync starts.
func (e *env) otherProgram(t *testing.T, ctx context.Context) {
	before := e.state(t, ctx)
	marker := filepath.Join(t.TempDir(), "pwned")
	e.commit(t, ctx, "a declaration that names /bin/sh as its function", func(d string) string {
		return strings.Replace(d, "        path: ../../bin/avs-executor-fn\n",
			"        path: /bin/sh\n        args: [-c, 'id > "+marker+"']\n", 1)
	})
	const refused = `names the KRM function exec.path "/bin/sh"`
	last := e.conditionShows(t, ctx, "the refusal", refused)
	t.Logf("refused: %s", last)
	time.Sleep(5 * time.Second)
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("the repository's /bin/sh ran in the CMP server: %s exists", marker)
	}
	after := e.state(t, ctx)
	if after.opStarted != before.opStarted || after.history != before.history {
		t.Errorf("a sync ran for the refused declaration: %s", after)
	}
	e.restore(t, ctx)
}

// conditionShows waits up to 2 minutes for a condition of the Application whose message holds
// text (what it is, for the failure), and returns the Application's state then.
func (e *env) conditionShows(t *testing.T, ctx context.Context, what, text string) appState {
	t.Helper()
	last, err := e.waitApp(ctx, 2*time.Minute, func(ctx context.Context, s appState) (bool, error) {
		for _, c := range s.conditions {
			if strings.Contains(c, text) {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("the Application's conditions do not show %s %q: %s", what, text, last)
	}
	return last
}

// liveVersions maps every rendered object to its resourceVersion, or for the Performers and the
// StatefulSet (whose status the controllers write) to its generation.
func (e *env) liveVersions(ctx context.Context, rendered []*unstructured.Unstructured) (map[string]string, error) {
	out := map[string]string{}
	for _, o := range rendered {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(o.GroupVersionKind())
		if err := e.cl.Get(ctx, client.ObjectKeyFromObject(o), live); err != nil {
			return nil, err
		}
		key := o.GetKind() + "/" + o.GetName()
		if r := role(o); r == "performer" || r == "executor" {
			out[key] = fmt.Sprintf("generation %d", live.GetGeneration())
		} else {
			out[key] = "resourceVersion " + live.GetResourceVersion()
		}
	}
	return out, nil
}
