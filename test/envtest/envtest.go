// Package envtest starts a real kube-apiserver and etcd for tests, with the Performer CRD
// installed. The binaries come from KUBEBUILDER_ASSETS or, when that is unset, from
// hack/control-plane-bins.sh --envtest, which builds them from the Go module proxy once and caches
// them.
//
// A package shares one API server between its tests:
//
//	var env *envtest.Env
//
//	func TestMain(m *testing.M) { envtest.Main(m, func(e *envtest.Env) { env = e }) }
//
// or starts its own in a single test with envtest.Start(t).
package envtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/test/framework/repo"
)

// Env is a running API server with the Performer CRD.
type Env struct {
	// Config reaches the API server as a cluster admin.
	Config *rest.Config
	// Client is an uncached client with Scheme.
	Client client.Client
	// Scheme knows the Kubernetes built-in types and the Performer API.
	Scheme *runtime.Scheme
	// KubeConfig is a kubeconfig file's content for Config, for tools such as kubectl.
	KubeConfig []byte

	env      *crenvtest.Environment
	cleanups []func()
}

// Cleanup registers f to run before the control plane stops, for example to stop a manager that
// talks to it. Functions run in reverse order of registration.
func (e *Env) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }

// Start starts an API server for one test and stops it when the test ends. It fails the test when
// the control plane binaries cannot be found or built.
func Start(t testing.TB) *Env {
	t.Helper()
	e, err := start()
	if err != nil {
		t.Fatalf("envtest: %v", err)
	}
	t.Cleanup(func() {
		if err := e.stop(); err != nil {
			t.Errorf("envtest: stopping the control plane: %v", err)
		}
	})
	return e
}

// Main starts one API server for a test binary, calls setup with it, runs the tests and stops the
// server. Call it from TestMain; it does not return.
func Main(m *testing.M, setup func(*Env)) {
	e, err := start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "envtest: %v\n", err)
		os.Exit(1)
	}
	setup(e)
	code := m.Run()
	if err := e.stop(); err != nil {
		fmt.Fprintf(os.Stderr, "envtest: stopping the control plane: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// Namespace creates a namespace with a unique name for one test. envtest runs no namespace
// controller, so the namespace is not removed afterwards; unique names keep tests apart.
func (e *Env) Namespace(t testing.TB) string {
	t.Helper()
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	prefix := strings.ToLower(t.Name())
	prefix = strings.Map(func(r rune) rune {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			return r
		}
		return '-'
	}, prefix)
	if len(prefix) > 40 {
		prefix = prefix[:40]
	}
	name := strings.Trim(prefix, "-") + "-" + hex.EncodeToString(b)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.Client.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	return name
}

func start() (*Env, error) {
	root, err := repo.Root()
	if err != nil {
		return nil, err
	}
	assets, err := binaryAssets(root)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	env := &crenvtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(root, "base", "crd")},
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
		// Generous, for machines busy compiling while the tests run.
		ControlPlaneStartTimeout: time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	// Tests create many objects quickly; the default client rate limit would slow them down.
	cfg.QPS, cfg.Burst = 200, 400
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, KubeConfig: env.KubeConfig, env: env}, nil
}

func (e *Env) stop() error {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
	return e.env.Stop()
}

// binaryAssets finds the folder with etcd and kube-apiserver.
func binaryAssets(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		for _, b := range []string{"etcd", "kube-apiserver"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return "", fmt.Errorf("KUBEBUILDER_ASSETS=%s has no %s: %w", dir, b, err)
			}
		}
		return dir, nil
	}
	script := filepath.Join(root, "hack", "control-plane-bins.sh")
	cmd := exec.Command(script, "--envtest")
	cmd.Dir = root
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = os.Stderr // the build takes minutes the first time: show its progress
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("KUBEBUILDER_ASSETS is not set and %s --envtest failed: %w", script, err)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	dir := strings.TrimSpace(lines[len(lines)-1])
	if dir == "" {
		return "", fmt.Errorf("%s --envtest printed no folder", script)
	}
	return dir, nil
}

// MetricsToken makes the ServiceAccount ns/name and returns a token of it. When allowed, a
// ClusterRole with the rule of base/rbac/metrics_reader_role.yaml (get on /metrics) is bound to
// it, both named MetricsReaderName(ns, name).
func (e *Env) MetricsToken(t testing.TB, ns, name string, allowed bool) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := e.Client.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if allowed {
		role := &rbacv1.ClusterRole{
			ObjectMeta: metav1.ObjectMeta{Name: MetricsReaderName(ns, name)},
			Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
		}
		for _, o := range []client.Object{role, binding} {
			if err := e.Client.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr := &authenticationv1.TokenRequest{}
	if err := e.Client.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("requesting a token for %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}

// MetricsReaderName names the ClusterRole and ClusterRoleBinding MetricsToken makes.
func MetricsReaderName(ns, name string) string { return "metrics-reader-" + ns + "-" + name }
