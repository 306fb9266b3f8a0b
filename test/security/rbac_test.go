package security

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
)

// access is one line of the matrix: `kubectl auth can-i <verb> <resource>[/<sub>] [<name>] -n <ns>`.
type access struct {
	verb     string
	group    string
	resource string
	sub      string
	ns       string
	name     string
}

func (a access) String() string {
	r := a.resource
	if a.group != "" {
		r += "." + a.group
	}
	if a.sub != "" {
		r += "/" + a.sub
	}
	if a.name != "" {
		r += " " + a.name
	}
	ns := a.ns
	if ns == "" {
		ns = "(cluster)"
	}
	return fmt.Sprintf("%-6s %s -n %s", a.verb, r, ns)
}

// rule is a line of an expected table and why the answer must be what it is.
type rule struct {
	access
	allow bool
	why   string
}

func can(verb, group, resource, sub, ns, name string, why string) rule {
	return rule{access{verb, group, resource, sub, ns, name}, true, why}
}

func cannot(verb, group, resource, sub, ns, name string, why string) rule {
	return rule{access{verb, group, resource, sub, ns, name}, false, why}
}

// serviceAccount is the user a pod's token authenticates as.
type serviceAccount struct{ namespace, name string }

// canI asks the authorizer, as `kubectl auth can-i --as=system:serviceaccount:<ns>:<name>` does.
func canI(ctx context.Context, cs kubernetes.Interface, sa serviceAccount, a access) (bool, error) {
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + sa.namespace + ":" + sa.name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + sa.namespace, "system:authenticated"},
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: a.verb, Group: a.group, Resource: a.resource, Subresource: a.sub, Namespace: a.ns, Name: a.name,
		},
	}}
	out, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1CreateOptions)
	if err != nil {
		return false, err
	}
	return out.Status.Allowed, nil
}

// checkMatrix asks every line of table and compares with the expected answers. RBAC reaches the
// authorizer through an informer, so a grant applied a moment ago may not count yet: the matrix is
// asked again until it matches or 15 seconds have passed.
func checkMatrix(t *testing.T, sa serviceAccount, table []rule) {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	want := map[string]bool{}
	for _, r := range table {
		want[r.String()] = r.allow
	}
	var got map[string]bool
	deadline := time.Now().Add(15 * time.Second)
	for {
		got = map[string]bool{}
		for _, r := range table {
			ok, err := canI(ctx, cs, sa, r.access)
			if err != nil {
				t.Fatalf("SubjectAccessReview %s: %v", r.access, err)
			}
			got[r.String()] = ok
		}
		if cmp.Equal(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, r := range table {
		if got[r.String()] != r.allow {
			t.Errorf("%s:%s: can-i %s = %v, want %v (%s)", sa.namespace, sa.name, r.access, got[r.String()], r.allow, r.why)
		}
	}
	var b strings.Builder
	for _, r := range table {
		yes := "no "
		if got[r.String()] {
			yes = "yes"
		}
		fmt.Fprintf(&b, "  %s  %s\n", yes, r.access)
	}
	t.Logf("system:serviceaccount:%s:%s\n%s", sa.namespace, sa.name, b.String())
}

// TestExecutorRBAC renders examples/basic with the KRM function, applies it and asks what the
// executor's ServiceAccount may do.
//
// What the upstream executor (ponos, pkg/executor/avsPerformer/avsKubernetesPerformer and
// pkg/kubernetesManager) calls with its token, observed by running it against a rendered
// examples/basic: GET its Namespace (a connection check at start), the API discovery (allowed to
// every authenticated user by system:discovery), create and get Performers in its namespace (it
// creates one per AVS and polls status.ready / status.phase) and delete them (on a start-up timeout
// and on SIGTERM). Everything else is denied below.
func TestExecutorRBAC(t *testing.T) {
	const ns, other = "my-avs-project", "avs-team-b"
	var basic []*unstructured.Unstructured
	for _, e := range renderExamples(t) {
		if e.Name == "basic" {
			basic = e.Objects
		}
	}
	if basic == nil {
		t.Fatal("no rendered examples/basic")
	}
	var rbac []*unstructured.Unstructured
	for _, o := range basic {
		if kindIn(o, "Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding") {
			rbac = append(rbac, o)
		}
	}
	apply(t, rbac...)
	ensureNamespace(t, other)

	const g = "hourglass.eigenlayer.io"
	// The Performer the function renders from Git for the declaration's AVS; the executor did
	// not make it.
	const gitPerformer = "my-avs"
	table := []rule{
		// What the executor needs.
		can("get", "", "namespaces", "", "", ns, "start-up connection check reads its own Namespace"),
		can("create", g, "performers", "", ns, "", "creates one Performer per AVS in kubernetes deployment mode"),
		can("get", g, "performers", "", ns, "performer-abc123-0011aabb", "polls the Performer it made until status.ready"),
		can("delete", g, "performers", "", ns, "performer-abc123-0011aabb", "deletes its Performer on a start-up timeout and on SIGTERM"),

		// RBAC cannot tell Performers apart by who made them: create cannot be limited by name and
		// the executor's names are random (performer-<hash>-<uuid>), so delete and update cannot
		// either. The Git-owned Performer can be deleted by the executor; only an admission
		// policy (for example a ValidatingAdmissionPolicy that lets this ServiceAccount delete
		// only Performers without the function's fn.hourglass.eigenlayer.io/declaration
		// annotation) could close that.
		can("delete", g, "performers", "", ns, gitPerformer, "not closable with RBAC alone: see above"),

		// Not needed by the upstream executor, so not granted.
		cannot("list", g, "performers", "", ns, "", "the executor never lists Performers"),
		cannot("watch", g, "performers", "", ns, "", "the executor polls, it does not watch"),
		cannot("patch", g, "performers", "", ns, gitPerformer, "the executor never patches a Performer"),
		cannot("update", g, "performers", "", ns, gitPerformer, "the executor never updates a Performer"),
		cannot("get", g, "performers", "status", ns, gitPerformer, "status arrives with get on the object"),
		cannot("get", "", "configmaps", "", ns, "my-avs-executor-config", "the config is a mounted volume"),

		// Never: other namespaces.
		cannot("create", g, "performers", "", other, "", "its namespace only"),
		cannot("get", g, "performers", "", other, "x", "its namespace only"),
		cannot("delete", g, "performers", "", other, "x", "its namespace only"),
		cannot("list", g, "performers", "", "", "", "no cluster-wide Performer access"),
		cannot("get", "", "namespaces", "", "", other, "reads its own Namespace only"),
		cannot("list", "", "namespaces", "", "", "", "reads its own Namespace only"),
		// Never: the controller's job or the status subresource.
		cannot("patch", g, "performers", "status", ns, gitPerformer, "status belongs to the controller"),
		cannot("update", g, "performers", "status", ns, gitPerformer, "status belongs to the controller"),
		cannot("create", "apps", "deployments", "", ns, "", "the controller makes the workloads"),
		cannot("create", "", "services", "", ns, "", "the controller makes the Services"),
		cannot("create", "", "pods", "", ns, "", "it runs nothing itself"),
		// Never: secrets and code execution.
		cannot("get", "", "secrets", "", ns, "my-avs-operator-keys", "its keys arrive as a mounted Secret, never through the API"),
		cannot("list", "", "secrets", "", ns, "", "no Secret access"),
		cannot("get", "", "configmaps", "", ns, "kube-root-ca.crt", "only its own ConfigMap"),
		cannot("create", "", "pods", "exec", ns, "x", "no exec into performer pods"),
		cannot("create", "", "serviceaccounts", "token", ns, "my-avs-executor", "no minting of tokens"),
		// Never: escalation and cluster objects.
		cannot("create", "rbac.authorization.k8s.io", "roles", "", ns, "", "no escalation"),
		cannot("create", "rbac.authorization.k8s.io", "rolebindings", "", ns, "", "no escalation"),
		cannot("impersonate", "", "serviceaccounts", "", ns, "", "no impersonation"),
		cannot("get", "", "nodes", "", "", "", "no node access"),
		cannot("list", "", "nodes", "", "", "", "no node access"),
		cannot("create", "apiextensions.k8s.io", "customresourcedefinitions", "", "", "", "no CRD changes"),
		cannot("delete", "apiextensions.k8s.io", "customresourcedefinitions", "", "", "performers.hourglass.eigenlayer.io", "no CRD changes"),
	}
	checkMatrix(t, serviceAccount{ns, "my-avs-executor"}, table)
}

// controllerTable is what the controller's ServiceAccount may do in a namespace it reconciles
// (the reasons come from controller/performer: it reads Performers, writes their status, applies a
// Deployment and a Service with server-side apply, reads pods for the status, emits events and
// deletes the Performers a crash-looping executor left over).
func controllerTable(ns string) []rule {
	const g = "hourglass.eigenlayer.io"
	return []rule{
		can("get", g, "performers", "", ns, "p", "reconciles Performers"),
		can("list", g, "performers", "", ns, "", "its cache lists Performers"),
		can("watch", g, "performers", "", ns, "", "its cache watches Performers"),
		can("patch", g, "performers", "status", ns, "p", "writes observedGeneration, conditions and the endpoint"),
		can("update", g, "performers", "finalizers", ns, "p", "owner references with blockOwnerDeletion need it"),
		can("create", "apps", "deployments", "", ns, "", "server-side apply creates the workload"),
		can("patch", "apps", "deployments", "", ns, "performer-p", "server-side apply corrects drift"),
		can("get", "apps", "deployments", "", ns, "performer-p", "reads the rollout"),
		can("watch", "apps", "deployments", "", ns, "", "owns Deployments"),
		can("create", "", "services", "", ns, "", "server-side apply creates the Service"),
		can("patch", "", "services", "", ns, "performer-p", "server-side apply corrects drift"),
		can("watch", "", "services", "", ns, "", "owns Services"),
		can("list", "", "pods", "", ns, "", "pod state for image pull and scheduling failures"),
		can("watch", "", "pods", "", ns, "", "pod state for image pull and scheduling failures"),
		can("create", "", "events", "", ns, "", "events on Performers"),
		can("create", "events.k8s.io", "events", "", ns, "", "events on Performers (events/v1 recorder)"),
		can("patch", "events.k8s.io", "events", "", ns, "e", "repeats counted in an event's series (events/v1 recorder)"),

		cannot("create", g, "performers", "", ns, "", "Performers come from Git or the executor"),
		cannot("patch", g, "performers", "", ns, "p", "the spec belongs to Git"),
		cannot("update", g, "performers", "", ns, "p", "the spec belongs to Git"),
		// A crash-looping executor pod leaves a Performer per start; the controller deletes all but
		// the newest (controller/internal/performer/leftovers.go). RBAC cannot tell those from
		// declared ones: the code deletes only undeclared Performers a pod owns.
		can("delete", g, "performers", "", ns, "p", "deletes Performers an executor pod left over from earlier starts"),
		// A Performer the executor made before its declared twin appeared loses its own workload
		// once bound to the twin (controller/internal/performer/binding.go, removeWorkload).
		can("delete", "apps", "deployments", "", ns, "performer-p", "removes the workload of a bound Performer"),
		can("delete", "", "services", "", ns, "performer-p", "removes the Service of a bound Performer"),
		cannot("update", "apps", "deployments", "", ns, "performer-p", "server-side apply only"),
		cannot("update", "", "services", "", ns, "performer-p", "server-side apply only"),
		cannot("create", "", "pods", "", ns, "", "pods come from the Deployment"),
		cannot("delete", "", "pods", "", ns, "x", "pods come from the Deployment"),
		cannot("create", "", "pods", "exec", ns, "x", "no exec"),
		cannot("get", "", "secrets", "", ns, "my-avs-operator-keys", "never reads secrets (env references stay references)"),
		cannot("list", "", "secrets", "", ns, "", "never reads secrets"),
		cannot("get", "", "configmaps", "", ns, "x", "reads no configuration objects"),
		cannot("create", "", "serviceaccounts", "token", ns, "default", "no minting of tokens"),
		cannot("create", "rbac.authorization.k8s.io", "rolebindings", "", ns, "", "no escalation"),
		cannot("create", "coordination.k8s.io", "leases", "", ns, "", "leader election only in its own namespace"),
	}
}

// clusterTable: what no install of the controller may do, whatever it watches.
func clusterTable() []rule {
	return []rule{
		can("get", "coordination.k8s.io", "leases", "", "hourglass-system", "hourglass-operator", "leader election"),
		can("update", "coordination.k8s.io", "leases", "", "hourglass-system", "hourglass-operator", "leader election"),
		can("create", "coordination.k8s.io", "leases", "", "hourglass-system", "", "leader election"),
		cannot("update", "coordination.k8s.io", "leases", "", "kube-system", "kube-controller-manager", "must not touch other leader elections"),
		cannot("get", "", "nodes", "", "", "", "placement is the scheduler's job"),
		cannot("list", "", "nodes", "", "", "", "placement is the scheduler's job"),
		cannot("patch", "", "nodes", "", "", "pool-1", "placement is the scheduler's job"),
		cannot("create", "apiextensions.k8s.io", "customresourcedefinitions", "", "", "", "the CRD is installed with the controller, not by it"),
		cannot("update", "apiextensions.k8s.io", "customresourcedefinitions", "", "", "performers.hourglass.eigenlayer.io", "no CRD changes"),
		cannot("delete", "apiextensions.k8s.io", "customresourcedefinitions", "", "", "performers.hourglass.eigenlayer.io", "no CRD changes"),
		cannot("create", "rbac.authorization.k8s.io", "clusterrolebindings", "", "", "", "no escalation"),
		cannot("impersonate", "", "users", "", "", "", "no impersonation"),
		cannot("list", "", "secrets", "", "", "", "no Secret access anywhere"),
		cannot("get", "", "secrets", "", "hourglass-system", "x", "no Secret access, its own namespace included"),
	}
}

// TestControllerRBAC applies the RBAC of base/, checks it, then replaces it with the RBAC of
// overlays/namespaced and checks that one (both use the same ServiceAccount, so they cannot be
// installed side by side).
func TestControllerRBAC(t *testing.T) {
	root := repo.RootFor(t)
	sa := serviceAccount{"hourglass-system", "hourglass-operator"}
	rbacOf := func(objs []*unstructured.Unstructured) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, o := range objs {
			if kindIn(o, "Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding") {
				out = append(out, o)
			}
		}
		return out
	}

	t.Run("base", func(t *testing.T) {
		apply(t, rbacOf(kustomizeBuild(t, filepath.Join(root, "base"), false))...)
		ensureNamespace(t, "my-avs-project")
		table := clusterTable()
		// Cluster-wide install: every namespace, and cluster-wide lists for its cache.
		table = append(table, controllerTable("my-avs-project")...)
		table = append(table, controllerTable("default")...)
		table = append(table,
			can("list", "hourglass.eigenlayer.io", "performers", "", "", "", "watches Performers in all namespaces"),
			can("list", "apps", "deployments", "", "", "", "its cache lists Deployments in all namespaces"),
			// The metrics endpoint authenticates and authorizes scrapers (HTTPS with a token).
			can("create", "authentication.k8s.io", "tokenreviews", "", "", "", "metrics: who is the scraper"),
			can("create", "authorization.k8s.io", "subjectaccessreviews", "", "", "", "metrics: may the scraper read /metrics"),
		)
		checkMatrix(t, sa, table)
	})

	t.Run("namespaced", func(t *testing.T) {
		// Remove the cluster-wide grants of base/ that the namespaced install drops, as switching
		// installs would.
		ctx := context.Background()
		namespaced := rbacOf(kustomizeBuild(t, filepath.Join(root, "overlays", "namespaced"), false))
		kept := map[string]bool{}
		for _, o := range namespaced {
			kept[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] = true
		}
		for _, o := range rbacOf(kustomizeBuild(t, filepath.Join(root, "base"), false)) {
			if kindIn(o, "ClusterRole", "ClusterRoleBinding") && !kept[o.GetKind()+"/"+o.GetNamespace()+"/"+o.GetName()] {
				if err := env.Client.Delete(ctx, o.DeepCopy()); err != nil && !apierrors.IsNotFound(err) {
					t.Fatal(err)
				}
			}
		}
		apply(t, namespaced...)
		table := clusterTable()
		table = append(table, controllerTable("my-avs-project")...)
		table = append(table, controllerTable("avs-team-b")...)
		// Outside its watched namespaces it may do nothing at all.
		for _, r := range controllerTable("default") {
			r.allow = false
			r.why = "not a watched namespace"
			table = append(table, r)
		}
		table = append(table,
			cannot("list", "hourglass.eigenlayer.io", "performers", "", "", "", "no cluster-wide list: the cache is per namespace"),
			cannot("list", "apps", "deployments", "", "", "", "no cluster-wide list"),
			cannot("list", "", "pods", "", "", "", "no cluster-wide list"),
			cannot("create", "authentication.k8s.io", "tokenreviews", "", "", "", "no cluster-wide grant at all"),
		)
		checkMatrix(t, sa, table)
	})
}
