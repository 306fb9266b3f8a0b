package executor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
)

// crashLoopAndPodDeletion runs the executor as its pod does, with a token bound to the executor
// pod (the policy of base/policy/leftovers.yaml, installed with base/, makes that pod the owner
// of what it creates), asking for a performer version Git does not declare: its Performer never
// becomes Ready, so every start times out and leaves its Performer behind, as the executor does.
// Each restart keeps the pod at one Performer for the AVS. Deleting the pod (the StatefulSet
// makes a new one) lets the garbage collector of kube-controller-manager remove the last one.
func crashLoopAndPodDeletion(t *testing.T, ctx context.Context, admin *rest.Config, cl client.Client, cfg Config) {
	ns := cfg.Kubernetes.Namespace
	var pods corev1.PodList
	if err := cl.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app.kubernetes.io/component": "executor"}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 1 {
		t.Fatalf("%d executor pods in %s, want 1", len(pods.Items), ns)
	}
	pod := pods.Items[0]
	identity := podBoundConfig(t, ctx, admin, &pod)

	cfg.AvsPerformers = append([]AvsPerformer(nil), cfg.AvsPerformers...)
	cfg.AvsPerformers[0].Image.Tag += "-not-declared"
	cfg.Timeout, cfg.PollInterval = 3*time.Second, 500*time.Millisecond
	avs := strings.ToLower(cfg.AvsPerformers[0].AvsAddress)

	var last string
	for start := 1; start <= 3; start++ {
		if _, err := Start(ctx, identity, cfg, testLog(t)); err == nil {
			t.Fatalf("start %d: the executor started with a performer version Git does not declare", start)
		}
		mine := podPerformers(t, ctx, cl, ns, pod.UID, avs)
		if len(mine) == 0 {
			t.Fatalf("start %d: no Performer owned by pod %s: the start left none behind, or the policy set no owner", start, pod.Name)
		}
		newest := mine[len(mine)-1]
		until(t, 30*time.Second, fmt.Sprintf("start %d: one Performer of pod %s for AVS %s", start, pod.Name, avs), func() bool {
			mine = podPerformers(t, ctx, cl, ns, pod.UID, avs)
			return len(mine) == 1
		})
		if diff := cmp.Diff([]string{newest}, mine); diff != "" {
			t.Errorf("start %d: the pod's Performers for the AVS (-want the newest +got):\n%s", start, diff)
		}
		if last != "" && last == newest {
			t.Errorf("start %d made no new Performer", start)
		}
		last = newest
	}

	// The pod goes: the StatefulSet makes a new one (another uid), the garbage collector removes
	// the old pod's Performer.
	deleted := time.Now()
	if err := cl.Delete(ctx, &pod); err != nil {
		t.Fatal(err)
	}
	var podGone time.Duration
	until(t, 2*time.Minute, "pod "+pod.Name+"'s last Performer to be gone", func() bool {
		if podGone == 0 {
			p := &corev1.Pod{}
			if err := cl.Get(ctx, client.ObjectKeyFromObject(&pod), p); apierrors.IsNotFound(err) || err == nil && p.UID != pod.UID {
				podGone = time.Since(deleted)
			}
		}
		return apierrors.IsNotFound(cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: last}, &v1alpha1.Performer{}))
	})
	t.Logf("executor pod deleted: pod object gone after %s, its Performer %s gone after %s",
		podGone.Round(time.Millisecond), last, time.Since(deleted).Round(time.Millisecond))
	if left := podPerformers(t, ctx, cl, ns, pod.UID, ""); len(left) != 0 {
		t.Errorf("Performers of the deleted pod left behind: %v", left)
	}
}

// podBoundConfig returns a client configuration with a token of the pod's ServiceAccount bound
// to the pod, as the pod's projected token is.
func podBoundConfig(t *testing.T, ctx context.Context, admin *rest.Config, pod *corev1.Pod) *rest.Config {
	t.Helper()
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, pod.Spec.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{
			APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s bound to pod %s: %v", pod.Namespace, pod.Spec.ServiceAccountName, pod.Name, err)
	}
	return &rest.Config{Host: admin.Host, TLSClientConfig: rest.TLSClientConfig{CAData: admin.CAData, CAFile: admin.CAFile}, BearerToken: tr.Status.Token}
}

// podPerformers lists, oldest first, the Performers not being deleted that the pod owns, for the
// AVS (all when empty).
func podPerformers(t *testing.T, ctx context.Context, cl client.Client, ns string, pod types.UID, avs string) []string {
	t.Helper()
	var list v1alpha1.PerformerList
	if err := cl.List(ctx, &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var items []v1alpha1.Performer
	for _, p := range list.Items {
		if !p.DeletionTimestamp.IsZero() || avs != "" && strings.ToLower(p.Spec.AVSAddress) != avs {
			continue
		}
		for _, ref := range p.OwnerReferences {
			if ref.Kind == "Pod" && ref.UID == pod {
				items = append(items, p)
			}
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].CreationTimestamp.Before(&items[j].CreationTimestamp) })
	var names []string
	for _, p := range items {
		names = append(names, p.Name)
	}
	return names
}
