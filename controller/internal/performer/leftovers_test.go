package performer_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/envtest"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// installLeftoversPolicy installs the admission policy of base/policy/leftovers.yaml once for the
// package's API server. It touches only Performers created with a pod's token, which no other
// test does.
var installLeftoversPolicy = sync.OnceValue(func() error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(root, "base", "policy", "leftovers.yaml"))
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(b)), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return err
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := k.Create(context.Background(), u); err != nil {
			return fmt.Errorf("creating %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
})

// executorPod makes a ServiceAccount, the RBAC the executor has on Performers, and a pod running
// as it (no node: nothing runs it), and returns the pod and a client that authenticates with a
// token bound to the pod, as the executor's projected token is.
func executorPod(t *testing.T, ns, name string) (*corev1.Pod, client.Client) {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "executor", Namespace: ns}}
	if err := k.Create(ctx, sa); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "executor", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{v1alpha1.GroupVersion.Group}, Resources: []string{"performers"},
			Verbs: []string{"create", "get", "delete"}}},
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "executor", Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "executor"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "executor", Namespace: ns}},
	}
	for _, o := range []client.Object{role, binding} {
		if err := k.Create(ctx, o); err != nil && !strings.Contains(err.Error(), "already exists") {
			t.Fatal(err)
		}
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{ServiceAccountName: "executor",
			Containers: []corev1.Container{{Name: "executor", Image: "executor"}}},
	}
	create(t, pod)
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID},
		ExpirationSeconds: ptr(int64(3600)),
	}}
	if err := k.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("requesting a token bound to pod %s: %v", pod.Name, err)
	}
	return pod, tokenClient(t, tr.Status.Token)
}

func tokenClient(t *testing.T, token string) client.Client {
	t.Helper()
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = token
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ownerOf(pod *corev1.Pod) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID,
		Controller: ptr(false), BlockOwnerDeletion: ptr(false)}}
}

// waitPolicy waits until the admission policy acts: policies load asynchronously after creation.
func waitPolicy(t *testing.T, as client.Client, ns string) {
	t.Helper()
	waitFor(t, "the admission policy to set owner references", func() (bool, string) {
		probe := executorMade(ns, "performer-000000-probe000", "v1")
		if err := as.Create(context.Background(), probe, client.DryRunAll); err != nil {
			return false, err.Error()
		}
		return len(probe.OwnerReferences) == 1, fmt.Sprintf("owner references %v", probe.OwnerReferences)
	})
}

// The pod whose token creates a Performer becomes its owner, so the garbage collector removes the
// Performer with the pod. Performers declared in Git, without the executor's labels, created by
// anything other than a pod, or by a pod of another namespace, get no owner.
func TestCreatorPodOwnsPerformer(t *testing.T) {
	if err := installLeftoversPolicy(); err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	ctx := context.Background()
	pod, exec := executorPod(t, ns, "executor-0")
	waitPolicy(t, exec, ns)

	made := executorMade(ns, "performer-abc123-0011aabb", "v1")
	if err := exec.Create(ctx, made); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ownerOf(pod), getPerformer(t, made).OwnerReferences); diff != "" {
		t.Errorf("owner references of a Performer the executor pod made (-want +got):\n%s", diff)
	}

	// Already owned by something else: the pod is added after it.
	other := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "3f1e0000-0000-4000-8000-000000000001"}
	owned := executorMade(ns, "performer-abc123-0022aabb", "v1")
	owned.OwnerReferences = []metav1.OwnerReference{other}
	if err := exec.Create(ctx, owned); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(append([]metav1.OwnerReference{other}, ownerOf(pod)...), getPerformer(t, owned).OwnerReferences); diff != "" {
		t.Errorf("owner references of a Performer with an owner already (-want +got):\n%s", diff)
	}

	// Declared in Git, with the executor's labels too: the executor may not create one at all (the
	// declaration policy of base/policy), so its pod never owns a declared Performer.
	policy, err := envtest.DeclarationPolicy()
	if err != nil {
		t.Fatal(err)
	}
	env.EnforceDeclarationPolicy(t, policy)
	decl := executorMade(ns, "performer-abc123-0077aabb", "v1")
	decl.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/my-executor"}
	if err := exec.Create(ctx, decl); !apierrors.IsForbidden(err) {
		t.Errorf("the executor created a declared Performer (err %v), want it refused by the declaration policy", err)
	}
	admin := executorMade(ns, "performer-abc123-0033aabb", "v1")
	create(t, admin)
	// A token of the same ServiceAccount that is bound to no pod.
	tr := &authenticationv1.TokenRequest{}
	if err := k.SubResource("token").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "executor", Namespace: ns}}, tr); err != nil {
		t.Fatal(err)
	}
	unbound := executorMade(ns, "performer-abc123-0044aabb", "v1")
	if err := tokenClient(t, tr.Status.Token).Create(ctx, unbound); err != nil {
		t.Fatal(err)
	}
	// A pod of another namespace, allowed to create Performers here: a pod can own only objects
	// of its own namespace.
	far := env.Namespace(t)
	_, farExec := executorPod(t, far, "executor-0")
	crossBinding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "executor-" + far, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "executor"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "executor", Namespace: far}},
	}
	create(t, crossBinding)
	cross := executorMade(ns, "performer-abc123-0055aabb", "v1")
	waitFor(t, "the cross-namespace grant", func() (bool, string) {
		err := farExec.Create(ctx, cross)
		return err == nil, fmt.Sprint(err)
	})
	// Without the executor's labels: another tool running in a pod.
	unlabelled := executorMade(ns, "performer-abc123-0066aabb", "v1")
	unlabelled.Labels = nil
	if err := exec.Create(ctx, unlabelled); err != nil {
		t.Fatal(err)
	}
	for _, p := range []*v1alpha1.Performer{admin, unbound, cross, unlabelled} {
		if refs := getPerformer(t, p).OwnerReferences; len(refs) != 0 {
			t.Errorf("Performer %s has owner references %v, want none", p.Name, refs)
		}
	}
}

// A crash-looping executor: the same pod creates a new Performer for its AVS at every start. The
// controller keeps the newest and deletes the older ones; the pod's Performer for another AVS,
// another pod's Performer for the same AVS and a declared one stay.
func TestCrashLoopKeepsNewest(t *testing.T) {
	if err := installLeftoversPolicy(); err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	ctx := context.Background()
	_, exec := executorPod(t, ns, "executor-0")
	_, exec1 := executorPod(t, ns, "executor-1")
	waitPolicy(t, exec, ns)

	// Another pod's, another AVS's: made first, so they are the oldest.
	otherPod := executorMade(ns, "performer-abc123-ffff0001", "v1")
	if err := exec1.Create(ctx, otherPod); err != nil {
		t.Fatal(err)
	}
	otherAVS := executorMade(ns, "performer-def456-ffff0002", "v1")
	otherAVS.Spec.AVSAddress = "0x00000000000000000000000000000000000000aa"
	if err := exec.Create(ctx, otherAVS); err != nil {
		t.Fatal(err)
	}
	var starts []*v1alpha1.Performer
	for i, id := range []string{"c0000001", "a0000002", "b0000003"} {
		if i > 0 {
			// Creation times count in seconds; restarts are tens of seconds apart.
			time.Sleep(1100 * time.Millisecond)
		}
		p := executorMade(ns, "performer-abc123-"+id, "v1")
		if err := exec.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		starts = append(starts, p)
	}
	newest := starts[2]

	want := []string{newest.Name, otherAVS.Name, otherPod.Name}
	sort.Strings(want)
	waitFor(t, "only the newest of the pod's Performers for the AVS", func() (bool, string) {
		got := performerNames(t, ns)
		return cmp.Equal(want, got), cmp.Diff(want, got)
	})
	// Each deletion is told on the Performer kept at that moment.
	waitEvent(t, newest, corev1.EventTypeNormal, "LeftoverDeleted")
	notes := leftoverNotes(t, ns)
	for i, old := range starts[:2] {
		want := "deleted Performer " + old.Name + ", left over by an earlier start of pod executor-0 for AVS " + avs +
			": this Performer, created by the same pod later, replaces it"
		if !strings.Contains(notes, starts[i+1].Name+": "+want) && !strings.Contains(notes, newest.Name+": "+want) {
			t.Errorf("no LeftoverDeleted event says %q; the events:\n%s", want, notes)
		}
	}
	// Nothing more goes.
	time.Sleep(2 * time.Second)
	if got := performerNames(t, ns); !cmp.Equal(want, got) {
		t.Errorf("Performers later (-want +got):\n%s", cmp.Diff(want, got))
	}
}

func performerNames(t *testing.T, ns string) []string {
	t.Helper()
	var list v1alpha1.PerformerList
	if err := k.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp.IsZero() {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names
}

// leftoverNotes lists the LeftoverDeleted events in ns, one a line: regarding: note.
func leftoverNotes(t *testing.T, ns string) string {
	t.Helper()
	var list eventsv1.EventList
	if err := k.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range list.Items {
		if e.Reason == "LeftoverDeleted" {
			notes = append(notes, e.Regarding.Name+": "+e.Note)
		}
	}
	sort.Strings(notes)
	return strings.Join(notes, "\n")
}

// An executor moving to a new performer version makes a second Performer in the same pod and
// switches once it is Ready: the Ready one stays until then, and goes once the new one is Ready.
// Git declares both versions (the controller runs nothing undeclared); the executor's Performers
// are bound to them and follow their readiness.
func TestHandOverKeepsReadyUntilNewestReady(t *testing.T) {
	if err := installLeftoversPolicy(); err != nil {
		t.Fatal(err)
	}
	ns := env.Namespace(t)
	ctx := context.Background()
	_, exec := executorPod(t, ns, "executor-0")
	waitPolicy(t, exec, ns)

	declare := func(name, tag string) *v1alpha1.Performer {
		t.Helper()
		d := executorMade(ns, name, tag)
		d.Labels, d.Spec.ImagePullPolicy = nil, ""
		d.Annotations = map[string]string{v1alpha1.DeclarationAnnotation: ns + "/my-executor"}
		create(t, d)
		runPod(t, waitDeployment(t, d, "the declared Deployment", func(*appsv1.Deployment) bool { return true }), "a")
		return d
	}
	executorPerformers := func() []string {
		var out []string
		for _, n := range performerNames(t, ns) {
			if strings.HasPrefix(n, "performer-") {
				out = append(out, n)
			}
		}
		return out
	}
	declaredV1 := declare("declared-v1", "v1")
	setDeploymentStatus(t, declaredV1, rolledOut)
	waitPerformer(t, declaredV1, "the declared v1 Ready", isReady)
	declaredV2 := declare("declared-v2", "v2")

	running := executorMade(ns, "performer-abc123-0000000a", "v1")
	if err := exec.Create(ctx, running); err != nil {
		t.Fatal(err)
	}
	waitPerformer(t, running, "the running version to be Ready", isReady)

	time.Sleep(1100 * time.Millisecond) // creation times count in seconds
	next := executorMade(ns, "performer-abc123-0000000b", "v2")
	if err := exec.Create(ctx, next); err != nil {
		t.Fatal(err)
	}
	waitPerformer(t, next, "the new version to be reconciled", func(p *v1alpha1.Performer) bool {
		return p.Status.ObservedGeneration == p.Generation
	})
	time.Sleep(time.Second)
	if got, want := executorPerformers(), []string{running.Name, next.Name}; !cmp.Equal(want, got) {
		t.Fatalf("Performers while the new version is not Ready (-want +got):\n%s", cmp.Diff(want, got))
	}

	setDeploymentStatus(t, declaredV2, rolledOut)
	waitFor(t, "the old version to go once the new one is Ready", func() (bool, string) {
		got := executorPerformers()
		return cmp.Equal([]string{next.Name}, got), fmt.Sprint(got)
	})
}
