// Command hourglass-controller runs the Performer controller: it turns every Performer into a
// Deployment and a Service and reports their rollout in the Performer status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/time/rate"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
	psapi "k8s.io/pod-security-admission/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/api/version"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/metricsauth"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/performer"
	"github.com/hourglass-gitops/hourglass-gitops/controller/internal/recorder"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

// Defaults of the throughput flags, chosen with make bench (README: "Scale").
const (
	// 8, 16, 32 and 64 took the same time at 200 Performers; at 1000, 32 workers reached all
	// Performers Current 1.17× after the raw bound against 1.37× with 8, and rolled an image
	// change out 1.24× after it against 1.42×, for 8 MiB more memory at the peak.
	defaultConcurrent = 32
	// No client-side limit: the API server's priority and fairness protects it, and a client-side
	// limit only slows bursts down (make bench).
	defaultQPS   = -1
	defaultBurst = 0
	// The garbage collector's target when GOGC is not set: the heap grows to 1.3× what is live
	// instead of 2×. At 1000 Performers the peak resident set fell from 90 MiB (GOGC=100) to
	// 77 (50), 70 (50, fewer events) and 64–68 (30), for about a quarter more CPU in the
	// controller, whose CPU is a few percent of a rollout's (make bench, README: Scale).
	defaultGCPercent = 30
)

func init() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
}

// main reads the flags and runs the controller until it is signalled to stop.
func main() {
	var (
		metricsAddr      string
		secureMetrics    bool
		probeAddr        string
		pprofAddr        string
		leaderElect      bool
		leaderElectionID string
		leaderElectionNS string
		watchNamespaces  string
		neverPullPolicy  string
		allowPrivileged  bool
		allowUndeclared  bool
		podSecurity      string
		allowedSAs       string
		concurrent       int
		maxRetryDelay    time.Duration
		quietPeriod      time.Duration
		qps              float64
		burst            int
		zapOpts          = zap.Options{}
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", `Address the Prometheus metrics endpoint binds to; "0" disables it.`)
	flag.BoolVar(&secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS to clients with a bearer token that the API server authenticates and authorizes (get on the non-resource URL /metrics); false serves plain HTTP to anyone who reaches the port.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz endpoints bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0",
		`Address Go's profiling endpoints (/debug/pprof/) bind to, without authentication: bind it to 127.0.0.1 and reach it with kubectl port-forward; "0" disables it.`)
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader so that only one of several replicas reconciles.")
	flag.StringVar(&leaderElectionID, "leader-election-id", "performer-controller.hourglass.eigenlayer.io", "Name of the Lease used for leader election.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease; empty means the namespace the controller runs in.")
	flag.StringVar(&watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch; empty means all namespaces.")
	flag.StringVar(&neverPullPolicy, "never-pull-policy", string(corev1.PullIfNotPresent),
		"Image pull policy that replaces Never on Performers not declared in Git (the executor asks for Never on the ones it makes): IfNotPresent, Always, or Never to keep it.")
	flag.StringVar(&podSecurity, "pod-security-level", string(psapi.LevelRestricted),
		"Pod Security Standard (restricted, baseline or privileged; version latest) every performer pod must meet; a Performer whose pod does not is Stalled.")
	flag.BoolVar(&allowPrivileged, "allow-privileged-performers", false,
		"Deprecated: the same as --pod-security-level=privileged.")
	flag.BoolVar(&allowUndeclared, "allow-undeclared-performers", false,
		"Give Performers not declared in Git (without the annotation "+v1alpha1.DeclarationAnnotation+"), and with no declared Performer of their AVS to bind to, a workload of their own; "+
			"this lets anyone who may create Performers in a namespace run any image with any of that namespace's Secrets. Otherwise such a Performer waits, not Ready (NotDeclared).")
	flag.StringVar(&allowedSAs, "allowed-service-accounts", "",
		`Comma-separated ServiceAccounts performer pods may run as besides "default"; "*" allows any.`)
	flag.IntVar(&concurrent, "concurrent", defaultConcurrent, "Number of Performers reconciled at the same time.")
	flag.DurationVar(&maxRetryDelay, "max-retry-delay", 30*time.Second,
		"Longest wait before retrying a Performer whose reconcile failed (retries back off from 5ms); the executor waits only 5 minutes for its Performers.")
	flag.DurationVar(&quietPeriod, "rollout-quiet-period", performer.DefaultQuietPeriod,
		"How long a rollout may go without a step (the Deployment's counts, its pods) before the Performer's status says Pending or Upgrading; "+
			"a rollout that keeps making steps writes its status once, when done, and readers see its generation as not observed until then. A failure is reported at once; 0 reports every rollout when it starts.")
	flag.Float64Var(&qps, "kube-api-qps", defaultQPS, "Requests per second the controller may send to the API server, on average.")
	flag.IntVar(&burst, "kube-api-burst", defaultBurst, "Requests the controller may send to the API server in a burst above --kube-api-qps.")
	showVersion := flag.Bool("version", false, "Print the version and exit.")
	zapOpts.BindFlags(flag.CommandLine)
	// --kubeconfig is registered by controller-runtime's config package.
	flag.Parse()
	if *showVersion {
		fmt.Println(version.String("hourglass-controller"))
		return
	}

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")
	s := settings{
		metricsAddr: metricsAddr, secureMetrics: secureMetrics, probeAddr: probeAddr, pprofAddr: pprofAddr,
		leaderElect: leaderElect, leaderElectionID: leaderElectionID, leaderElectionNS: leaderElectionNS,
		namespaces: splitNamespaces(watchNamespaces), allowUndeclared: allowUndeclared, allowedSAs: allowedSAs,
		concurrent: concurrent, maxRetryDelay: maxRetryDelay, quietPeriod: quietPeriod, qps: qps, burst: burst,
	}
	s.pullPolicy, s.level = readPolicies(log, neverPullPolicy, podSecurity, allowPrivileged)
	logStart(log, s)
	mgr := newManager(log, s)
	addController(log, mgr, s)
	log.Info("starting the manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		fail(log, err, "running the manager")
	}
}

// settings are the controller's flags, read and checked.
type settings struct {
	metricsAddr, probeAddr, pprofAddr              string
	secureMetrics, leaderElect, allowUndeclared    bool
	leaderElectionID, leaderElectionNS, allowedSAs string
	namespaces                                     []string
	pullPolicy                                     corev1.PullPolicy
	level                                          psapi.Level
	concurrent, burst                              int
	maxRetryDelay, quietPeriod                     time.Duration
	qps                                            float64
}

// setupLog is where the controller logs what it does while it starts.
type setupLog interface {
	Info(msg string, keysAndValues ...any)
	Error(err error, msg string, keysAndValues ...any)
}

// readPolicies reads the pull policy that replaces Never and the pod security level, and stops
// the controller on a value it does not know.
func readPolicies(log setupLog, neverPullPolicy, podSecurity string, allowPrivileged bool) (corev1.PullPolicy, psapi.Level) {
	pullPolicy, err := parsePullPolicy(neverPullPolicy)
	if err != nil {
		fail(log, err, "reading --never-pull-policy")
	}
	level, err := parsePodSecurityLevel(podSecurity, allowPrivileged)
	if err != nil {
		fail(log, err, "reading --pod-security-level")
	}
	if allowPrivileged {
		log.Info("--allow-privileged-performers is deprecated: use --pod-security-level=privileged")
	}
	return pullPolicy, level
}

// logStart logs the version and the settings the controller starts with.
func logStart(log setupLog, s settings) {
	log.Info("starting hourglass-controller",
		"version", version.Get(),
		"metricsBindAddress", s.metricsAddr,
		"metricsSecure", s.secureMetrics,
		"healthProbeBindAddress", s.probeAddr,
		"pprofBindAddress", s.pprofAddr,
		"leaderElect", s.leaderElect,
		"leaderElectionID", s.leaderElectionID,
		"leaderElectionNamespace", s.leaderElectionNS,
		"watchNamespaces", watchNamespacesForLog(s.namespaces),
		"neverPullPolicy", s.pullPolicy,
		"allowUndeclaredPerformers", s.allowUndeclared,
		"podSecurityLevel", s.level,
		"allowedServiceAccounts", s.allowedSAs,
		"rolloutQuietPeriod", s.quietPeriod,
		"fieldManager", performer.FieldManager,
	)
}

// newManager creates the manager: its scheme, API client limits, metrics server, leader election
// and cache.
func newManager(log setupLog, s settings) ctrl.Manager {
	// Only the kinds the controller reads, writes and reports on: each API group registered costs
	// memory for its types, conversions and defaulters, and client-go has about fifty.
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, eventsv1.AddToScheme, v1alpha1.AddToScheme} {
		if err := add(scheme); err != nil {
			fail(log, err, "registering the API types")
		}
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fail(log, err, "loading the kubeconfig")
	}
	cfg.QPS, cfg.Burst = float32(s.qps), s.burst
	metrics := metricsserver.Options{BindAddress: s.metricsAddr, SecureServing: s.secureMetrics}
	if s.secureMetrics {
		// TokenReview and SubjectAccessReview against the API server (granted by
		// base/rbac/metrics_auth_role.yaml), with a self-signed serving certificate.
		metrics.FilterProvider = metricsauth.Filter
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metrics,
		HealthProbeBindAddress:        s.probeAddr,
		PprofBindAddress:              s.pprofAddr,
		LeaderElection:                s.leaderElect,
		LeaderElectionID:              s.leaderElectionID,
		LeaderElectionNamespace:       s.leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         performer.CacheOptions(s.namespaces),
		GracefulShutdownTimeout:       ptr(gracefulShutdown),
	})
	if err != nil {
		fail(log, err, "creating the manager")
	}
	return mgr
}

// addController adds to mgr the event recorder, the Performer controller, its metrics and the
// health and readiness checks.
func addController(log setupLog, mgr ctrl.Manager, s settings) {
	// The manager's own event recorder is client-go's, whose memory grows with a burst (package
	// recorder).
	events := recorder.New(mgr.GetClient(), mgr.GetScheme(), performer.FieldManager)
	if err := mgr.Add(events); err != nil {
		fail(log, err, "adding the event recorder")
	}
	r := &performer.Reconciler{
		Client:          mgr.GetClient(),
		Recorder:        events,
		NeverPullPolicy: s.pullPolicy,
		AllowUndeclared: s.allowUndeclared,
		Namespaces:      s.namespaces,
		Security:        workload.Allowance{Level: s.level, ServiceAccounts: splitNamespaces(s.allowedSAs)},
		QuietPeriod:     s.quietPeriod,
	}
	if err := r.SetupWithManager(mgr, controller.Options{
		MaxConcurrentReconciles: s.concurrent,
		RateLimiter:             retryLimiter(s.maxRetryDelay),
	}); err != nil {
		fail(log, err, "setting up the performer controller")
	}
	// Performers by phase, readiness, binding and stall reason, read from the cache at each scrape.
	ctrlmetrics.Registry.MustRegister(performer.NewCollector(mgr.GetCache(), mgr.Elected()), performer.RolloutDuration)
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		fail(log, err, "adding the health check")
	}
	if err := mgr.AddReadyzCheck("readyz", cachesSynced(mgr.GetCache())); err != nil {
		fail(log, err, "adding the readiness check")
	}
}

// gracefulShutdown bounds how long the manager waits for running reconciles when it stops. It is
// shorter than the pod's terminationGracePeriodSeconds (10, base/manager/deployment.yaml), so the
// manager releases its Lease and exits before the kubelet kills it.
const gracefulShutdown = 5 * time.Second

// cachesSynced is ready once the informer caches have synced: a replica that answered before
// would reconcile from an empty cache and take every Performer for new.
func cachesSynced(c interface{ WaitForCacheSync(context.Context) bool }) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("the informer caches have not synced yet")
		}
		return nil
	}
}

// ptr is a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }

// parsePullPolicy reads --never-pull-policy.
func parsePullPolicy(s string) (corev1.PullPolicy, error) {
	switch p := corev1.PullPolicy(s); p {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		return p, nil
	}
	return "", fmt.Errorf("%q is no image pull policy: want IfNotPresent, Always or Never", s)
}

// parsePodSecurityLevel reads --pod-security-level; the deprecated --allow-privileged-performers
// means privileged and cannot be combined with another level.
func parsePodSecurityLevel(s string, allowPrivileged bool) (psapi.Level, error) {
	level, err := psapi.ParseLevel(s)
	if err != nil {
		return "", fmt.Errorf("%q is no Pod Security level: %w", s, err)
	}
	if allowPrivileged {
		if level != psapi.LevelRestricted && level != psapi.LevelPrivileged {
			return "", fmt.Errorf("--allow-privileged-performers (deprecated) means --pod-security-level=privileged, not %s", level)
		}
		return psapi.LevelPrivileged, nil
	}
	return level, nil
}

// splitNamespaces splits a comma-separated flag value, dropping blanks.
func splitNamespaces(s string) []string {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// watchNamespacesForLog shows the watched namespaces in the start-up log.
func watchNamespacesForLog(ns []string) string {
	if len(ns) == 0 {
		return "all"
	}
	return strings.Join(ns, ",")
}

// fail logs what failed, says it on stderr too (the log may be JSON), and exits 1.
func fail(log interface{ Error(error, string, ...any) }, err error, what string) {
	log.Error(err, what)
	fmt.Fprintf(os.Stderr, "hourglass-controller: %s: %v\n", what, err)
	os.Exit(1)
}

// retryLimiter is controller-runtime's default rate limiter with a shorter longest back-off: after
// an API server outage every reconcile that failed during it comes back within maxDelay, rather
// than up to 1000s later (controller-runtime's default) with no event left to wake it.
func retryLimiter(maxDelay time.Duration) workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxDelay),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}
