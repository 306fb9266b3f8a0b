package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/hourglass-gitops/hourglass-gitops/api/v1alpha1"
	"github.com/hourglass-gitops/hourglass-gitops/controller/workload"
)

const (
	imageV1 = "ghcr.io/hourglass-gitops/bench-performer:v1"
	imageV2 = "ghcr.io/hourglass-gitops/bench-performer:v2"
	// Agents the audit log tells the two sides apart by.
	rawAgent        = "hourglass-bench-raw"
	driverAgent     = "hourglass-bench-driver" // the bench's own polls, nodes and Performers
	controllerAgent = "hourglass-controller"
	// The namespace of the controller's Performers.
	controllerNamespace = "bench-controller"
)

// Both sides send requests from this many goroutines (-workers), through a client limited to qps
// requests per second with bursts of twice that (-qps).
var (
	workers = 32
	qps     = 1000
	// plainRaw also times the raw bound as a plain client drives it (-raw-create).
	plainRaw = true
	// rawAfter times the applying raw bound again after the controller (-raw-after): the cluster
	// a side runs on has served the sides before it, so a ratio to the run before alone would
	// count that drift against the controller.
	rawAfter = true
)

// rawRun is one timed run of the raw bound.
type rawRun struct {
	name, short string // in the report's table; in the audit tables
	ph          phases
}

// settle is the pause after each phase before the next one starts, on both sides: the requests a
// phase leaves queued (the controller's events) are counted in it and do not slow the next.
const settle = 5 * time.Second

// phases are the timings of one side. Every clock starts just before the first request of its
// phase is sent and stops when the bench's watch delivers the change that meets the condition
// (delete: at the first poll, every 200 ms, that finds everything gone).
type phases struct {
	createPods    time.Duration // create burst → all pods Ready
	createCurrent time.Duration // create burst → all Current by kstatus: the controller's Performers, the raw bound's Deployments
	update        time.Duration // image change → all new pods Ready
	updateCurrent time.Duration // image change → all Current by kstatus
	restart       time.Duration // controller restart → every workload checked (controller only)
	delete        time.Duration // delete → all pods, Services and Deployments gone
	// The phases' spans for the audit log: create, image change and delete, each from its start
	// until the next phase starts (the last one ends a few seconds after everything was gone).
	windows []window
}

// usage is what the controller process cost.
type usage struct {
	peakRSSKiB int64
	// The peaks of the two parts of the resident set, sampled: memory the process allocated, and
	// pages of its binary mapped from the page cache (shared with every process of the image).
	peakAnonKiB, peakFileKiB int64
	cpu                      time.Duration
	logLines                 int // during the create burst
	logBytes                 int64
	writes                   map[string]int // by "verb resource", whole run
	idleWrites               int
	idle                     time.Duration
	restartWrites            map[string]int // by "verb resource", from the restart until every workload was checked
	restartPeakRSSKiB        int64          // of the restarted process, until every workload was checked
}

// clusterBench starts a local cluster with audit logging, measures the raw bound (Deployments and
// Services written directly) and then the controller with n Performers, and prints the report.
func clusterBench(ctx context.Context, root, work string, n, nodes int, idle time.Duration, restart bool, ctrlBin string, ctrlArgs []string) error {
	if ctrlBin == "" {
		fmt.Printf("bench: building the controller\n")
		var err error
		if ctrlBin, err = goBuild(ctx, root, filepath.Join(work, "bin"), "./controller", controllerAgent); err != nil {
			return err
		}
	} else if filepath.Base(ctrlBin) != controllerAgent {
		// client-go names the user agent after the binary, and the audit log is read by it.
		abs, err := filepath.Abs(ctrlBin)
		if err != nil {
			return err
		}
		dir := filepath.Join(work, "other-bin")
		link := filepath.Join(dir, controllerAgent)
		_ = os.Remove(link)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.Symlink(abs, link); err != nil {
			return err
		}
		ctrlBin = link
	}

	state := filepath.Join(work, "cluster")
	fmt.Printf("bench: starting the local control plane in %s (audit log on)\n", state)
	_ = clusterScript(ctx, root, state, "down")
	if err := clusterScript(ctx, root, state, "up"); err != nil {
		return err
	}
	defer func() { _ = clusterScript(context.Background(), root, state, "down") }()
	kubeconfig := filepath.Join(state, "kubeconfig")
	audit := filepath.Join(state, "logs", "audit.log")
	cpu := startCPUSampler(filepath.Join(state, "pids"), 250*time.Millisecond)
	defer cpu.stop()

	c, err := newClient(kubeconfig, driverAgent)
	if err != nil {
		return err
	}
	if watchClient, err = newWatchClient(kubeconfig); err != nil {
		return err
	}
	rc, err := newClient(kubeconfig, rawAgent)
	if err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", kubeconfig, "apply", "--server-side",
		"-f", filepath.Join(root, "base", "crd")).CombinedOutput(); err != nil {
		return fmt.Errorf("installing the CRD: %v: %s", err, out)
	}
	// kubectl wait fails at once while the CRD has no conditions yet: ask until it is served.
	if err := poll(ctx, time.Minute, func() (bool, error) {
		var list v1alpha1.PerformerList
		return c.List(ctx, &list, client.Limit(1)) == nil, nil
	}); err != nil {
		return fmt.Errorf("the Performer API is not served: %w", err)
	}

	if err := addNodes(ctx, c, n, nodes); err != nil {
		return fmt.Errorf("adding nodes for %d performers: %w", n, err)
	}

	var raws []rawRun
	timeRaw := func(name, short, ns string, plain bool) error {
		fmt.Printf("bench: %s, N=%d\n", name, n)
		ph, err := rawBound(ctx, c, rc, ns, n, plain)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		raws = append(raws, rawRun{name, short, ph})
		return nil
	}
	if err := timeRaw("raw bound", "raw", "bench-raw", false); err != nil {
		return err
	}
	if plainRaw {
		if err := timeRaw("raw bound, create/patch", "raw create/patch", "bench-raw-create", true); err != nil {
			return err
		}
	}
	fmt.Printf("bench: controller, N=%d\n", n)
	ctl, use, err := controllerRun(ctx, c, ctrlBin, ctrlArgs, kubeconfig, audit, filepath.Join(state, "logs", "bench-controller.log"), controllerNamespace, n, idle, restart)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	if rawAfter {
		if err := timeRaw("raw bound, after", "raw after", "bench-raw-after", false); err != nil {
			return err
		}
	}
	time.Sleep(3 * time.Second) // let the audit log's batch flush
	var names []string
	var sides []side
	for _, r := range raws {
		names, sides = append(names, r.short), append(sides, side{rawAgent, r.ph.windows})
	}
	names, sides = append(names, "controller"), append(sides, side{controllerAgent, ctl.windows})
	counts, byClient, err := auditSides(audit, sides)
	if err != nil {
		return err
	}
	phaseNames := []string{"create", "image change", "delete"}
	report(n, raws, ctl, use)
	fmt.Printf("\nRequests per Performer by verb and resource (audit log), per phase; each phase from its first\n" +
		"request until the next phase starts (the controller's image change until all Performers are\n" +
		"Current again, before the idle minute and the restart):\n\n")
	perPhaseTable(n, phaseNames, names, counts)

	// Every client's requests in the same windows: what each side sets the cluster's own
	// components to do, the garbage collector above all when Performers are deleted.
	fmt.Printf("\nRequests per Performer by client (audit log), per phase, in the same windows: each side's\n" +
		"own requests and those of the cluster's components it sets to work (kube-controller-manager's\n" +
		"controllers by name, the scheduler, KWOK) and the bench's watches, polls and Performer writes\n" +
		"(hourglass-bench-driver):\n\n")
	clientTable(n, phaseNames, names, byClient)

	fmt.Printf("\nCPU time per phase by process, in the same windows (seconds; /proc, sampled every 250 ms;\n" +
		"the machine's row is every process's, the bench's own included, out of the phase's length\n" +
		"times the machine's cores):\n\n")
	cpuTable(phaseNames, names, sides, cpu)

	fmt.Printf("\nThe controller's rollouts: the longest pause between two of a rollout's steps (audit log: its\n" +
		"apply, the Deployment's status updates, its pods' writes, the Performer's last status write).\n" +
		"A rollout with a pause longer than the quiet period (--rollout-quiet-period, 2m by default) is\n" +
		"reported as Pending or Upgrading before Ready:\n\n")
	fmt.Println("| phase | rollouts | median | 90th percentile | longest | over 1m | over 2m |")
	fmt.Println("|---|---|---|---|---|---|---|")
	rollouts := ctl.windows[:2] // create and image change
	pauses, err := rolloutPauses(audit, controllerNamespace, rollouts)
	if err != nil {
		return err
	}
	for i, w := range rollouts {
		fmt.Println(pauseRow(w.name, pauses[i]))
	}
	return nil
}

// clusterScript runs hack/local-cluster.sh verb for the cluster in folder state, with audit
// logging.
func clusterScript(ctx context.Context, root, state, verb string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "local-cluster.sh"), verb)
	cmd.Env = append(os.Environ(), "HOURGLASS_CLUSTER_DIR="+state, "HOURGLASS_AUDIT=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/local-cluster.sh %s: %w", verb, err)
	}
	return nil
}

// podsPerNode is the pod capacity of the nodes the bench adds.
const podsPerNode = 500

// addNodes adds simulated nodes until there is room for 2n pods (a rollout surges one pod per
// performer) beside the local cluster's own, whose 110 pods each would run out above 200; or,
// with nodes > 0, that many nodes sharing room for 2n pods.
func addNodes(ctx context.Context, c client.Client, n, nodes int) error {
	perNode := podsPerNode
	if nodes > 0 {
		perNode = max((2*n+nodes-1)/nodes, 110)
	} else {
		nodes = (2*n + podsPerNode - 1) / podsPerNode
	}
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("1000"),
		corev1.ResourceMemory: resource.MustParse("4Ti"),
		corev1.ResourcePods:   resource.MustParse(strconv.Itoa(perNode)),
	}
	for i := 0; i < nodes; i++ {
		name := fmt.Sprintf("bench-%d", i)
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels: map[string]string{"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
					"kubernetes.io/hostname": name, "type": "kwok"},
			},
			Status: corev1.NodeStatus{
				Capacity: capacity, Allocatable: capacity,
				NodeInfo: corev1.NodeSystemInfo{Architecture: "amd64", OperatingSystem: "linux"},
			},
		}
		if err := c.Create(ctx, node); err != nil && !strings.Contains(err.Error(), "already exists") {
			return err
		}
		// KWOK reports the node Ready within moments; the scheduler skips it until then.
		if err := poll(ctx, time.Minute, func() (bool, error) {
			if err := c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
				return false, err
			}
			for _, cond := range node.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					return true, nil
				}
			}
			return false, nil
		}); err != nil {
			return fmt.Errorf("node %s is not Ready: %w", name, err)
		}
	}
	return nil
}

// newWatchClient is the client of the bench's watches, with the agent of its other reads.
func newWatchClient(kubeconfig string) (dynamic.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = driverAgent
	return dynamic.NewForConfig(cfg)
}

// newClient is a client of the cluster of kubeconfig whose requests carry user agent agent, so
// that the audit log tells the bench's writes from the controller's.
func newClient(kubeconfig, agent string) (client.Client, error) {
	ctrllog.SetLogger(logr.Discard())
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.UserAgent = agent
	// The raw bound must not be held back by client-side throttling.
	cfg.QPS, cfg.Burst = float32(qps), 2*qps
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	return client.New(cfg, client.Options{Scheme: scheme})
}

// performerObject is the i-th Performer of the bench, running image (none for a patch or delete).
func performerObject(ns string, i int, image string) *v1alpha1.Performer {
	return &v1alpha1.Performer{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.PerformerKind},
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%04d", i), Namespace: ns},
		Spec: v1alpha1.PerformerSpec{
			AVSAddress: fmt.Sprintf("0x%040x", i+1),
			Image:      image,
		},
	}
}

// ensureNamespace creates namespace ns unless it exists.
func ensureNamespace(ctx context.Context, c client.Client, ns string) error {
	err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	return nil
}

// parallel runs f for 0..n-1 on the bench's workers and returns the first error.
func parallel(n int, f func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		next  = make(chan int)
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// rawBound applies the controller's own Deployments and Services for n Performers (without owner
// references: there are no Performers), changes their image, and deletes them. plain creates them
// instead (POST) and changes the image with a strategic merge patch of that one field, as a client
// that is no controller would: cheaper requests for the API server than full applies.
// c polls, rc sends the raw bound's writes.
func rawBound(ctx context.Context, c, rc client.Client, ns string, n int, plain bool) (phases, error) {
	var ph phases
	if err := ensureNamespace(ctx, c, ns); err != nil {
		return ph, err
	}
	apply := func(image string) func(i int) error {
		if plain {
			return plainWrite(ctx, rc, ns, image)
		}
		return func(i int) error {
			p := performerObject(ns, i, image)
			dep, err := workload.Deployment(p)
			if err != nil {
				return err
			}
			dep.OwnerReferences = nil
			if err := rc.Apply(ctx, dep, client.FieldOwner(rawAgent), client.ForceOwnership); err != nil {
				return err
			}
			svc := workload.Service(p)
			svc.OwnerReferences = nil
			return rc.Apply(ctx, svc, client.FieldOwner(rawAgent), client.ForceOwnership)
		}
	}

	createStart := time.Now()
	if err := parallel(n, apply(imageV1)); err != nil {
		return ph, err
	}
	var err error
	if ph.createPods, ph.createCurrent, err = waitBoth(ctx, createStart, ns, imageV1, n, deploymentsGVR); err != nil {
		return ph, err
	}
	fmt.Printf("  create → pods Ready    %s\n  create → Current       %s\n", secs(ph.createPods), secs(ph.createCurrent))

	time.Sleep(settle)
	updateStart := time.Now()
	if err := parallel(n, apply(imageV2)); err != nil {
		return ph, err
	}
	if ph.update, ph.updateCurrent, err = waitBoth(ctx, updateStart, ns, imageV2, n, deploymentsGVR); err != nil {
		return ph, err
	}
	fmt.Printf("  image → new pods Ready %s\n  image → Current        %s\n", secs(ph.update), secs(ph.updateCurrent))

	time.Sleep(settle)
	start := time.Now()
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	if err := parallel(n, func(i int) error {
		name := v1alpha1.WorkloadName(performerObject(ns, i, "").Name)
		if err := rc.Delete(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}, bg); err != nil {
			return err
		}
		return rc.Delete(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
	}); err != nil {
		return ph, err
	}
	if err := waitGone(ctx, c, ns); err != nil {
		return ph, err
	}
	ph.delete = time.Since(start)
	fmt.Printf("  delete → all gone      %s\n", secs(ph.delete))
	// Every delete was sent before all was gone; the next side starts right away.
	ph.windows = []window{{"create", createStart, updateStart}, {"image change", updateStart, start},
		{"delete", start, time.Now()}}
	return ph, nil
}

// plainWrite creates the workload of Performer i with image, or, once it exists, patches the
// image alone.
func plainWrite(ctx context.Context, c client.Client, ns, image string) func(i int) error {
	return func(i int) error {
		p := performerObject(ns, i, image)
		if image == imageV2 {
			patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"image":%q}]}}}}`, workload.ContainerName, image)
			dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: workload.Name(p), Namespace: ns}}
			return c.Patch(ctx, dep, client.RawPatch(types.StrategicMergePatchType, []byte(patch)), client.FieldOwner(rawAgent))
		}
		depAC, err := workload.Deployment(p)
		if err != nil {
			return err
		}
		depAC.OwnerReferences = nil
		svcAC := workload.Service(p)
		svcAC.OwnerReferences = nil
		var dep appsv1.Deployment
		var svc corev1.Service
		for _, pair := range []struct{ from, to any }{{depAC, &dep}, {svcAC, &svc}} {
			b, err := json.Marshal(pair.from)
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, pair.to); err != nil {
				return err
			}
		}
		if err := c.Create(ctx, &dep, client.FieldOwner(rawAgent)); err != nil {
			return err
		}
		return c.Create(ctx, &svc, client.FieldOwner(rawAgent))
	}
}

// controllerRun drives the controller, running as a local process, through the same three phases
// with Performers, and measures what the process cost.
func controllerRun(ctx context.Context, c client.Client, bin string, args []string, kubeconfig, audit, logPath, ns string, n int, idle time.Duration, restart bool) (phases, usage, error) {
	var (
		ph  phases
		use usage
	)
	if err := ensureNamespace(ctx, c, ns); err != nil {
		return ph, use, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return ph, use, err
	}
	defer logFile.Close()
	cmd, err := startController(ctx, bin, args, kubeconfig, logFile, logPath)
	if err != nil {
		return ph, use, err
	}
	defer func() { stopProcess(cmd) }()
	stopSampling := sampleRSS(cmd.Process.Pid, &use)
	_, auditStart, err := auditRequests(audit, controllerAgent, 0)
	if err != nil {
		return ph, use, err
	}
	logStart := fileSize(logPath)

	if err := createPerformers(ctx, c, ns, n, &ph); err != nil {
		return ph, use, err
	}
	use.logBytes = fileSize(logPath) - logStart
	use.logLines = countLines(logPath, logStart)
	if err := updatePerformers(ctx, c, ns, n, &ph); err != nil {
		return ph, use, err
	}
	if err := measureIdle(audit, auditStart, idle, &use); err != nil {
		return ph, use, err
	}

	// The first process's peak and CPU, when it was restarted.
	var firstPeak int64
	var firstCPU time.Duration
	if restart {
		stopSampling()
		if cmd, err = restartRun(ctx, cmd, bin, args, kubeconfig, audit, logFile, logPath, n, &ph, &use); err != nil {
			return ph, use, err
		}
		firstPeak, firstCPU = use.peakRSSKiB, use.cpu
		stopSampling = sampleRSS(cmd.Process.Pid, &use)
	}

	if err := deletePerformers(ctx, c, ns, n, &ph); err != nil {
		return ph, use, err
	}
	peak, cpu := procUsage(cmd.Process.Pid)
	use.peakRSSKiB, use.cpu = max(firstPeak, peak), firstCPU+cpu
	stopSampling()
	time.Sleep(3 * time.Second)
	use.writes, _, err = auditRequests(audit, controllerAgent, auditStart)
	return ph, use, err
}

// createPerformers creates n Performers at once; the clocks start before the first create and
// stop when every pod is Ready and when every Performer is Current.
func createPerformers(ctx context.Context, c client.Client, ns string, n int, ph *phases) error {
	start := time.Now()
	ph.windows = append(ph.windows, window{name: "create", from: start})
	if err := parallel(n, func(i int) error { return c.Create(ctx, performerObject(ns, i, imageV1)) }); err != nil {
		return err
	}
	var err error
	if ph.createPods, ph.createCurrent, err = waitBoth(ctx, start, ns, imageV1, n, performersGVR); err != nil {
		return err
	}
	fmt.Printf("  create → pods Ready          %s\n", secs(ph.createPods))
	fmt.Printf("  create → Performers Current  %s\n", secs(ph.createCurrent))
	return nil
}

// updatePerformers changes the image of n Performers at once, after a pause; the clocks start
// before the first patch and stop when every new pod is Ready and when every Performer is Current
// again. The create phase's requests are counted until the first patch, the image change's until
// a pause after the last Performer is Current.
func updatePerformers(ctx context.Context, c client.Client, ns string, n int, ph *phases) error {
	time.Sleep(settle)
	start := time.Now()
	ph.windows[len(ph.windows)-1].to = start
	if err := parallel(n, func(i int) error {
		p := performerObject(ns, i, "")
		patch := []byte(fmt.Sprintf(`{"spec":{"image":%q}}`, imageV2))
		return c.Patch(ctx, p, client.RawPatch(types.MergePatchType, patch))
	}); err != nil {
		return err
	}
	var err error
	if ph.update, ph.updateCurrent, err = waitBoth(ctx, start, ns, imageV2, n, performersGVR); err != nil {
		return err
	}
	fmt.Printf("  image → new pods Ready       %s\n", secs(ph.update))
	fmt.Printf("  image → Performers Current   %s\n", secs(ph.updateCurrent))
	time.Sleep(settle)
	ph.windows = append(ph.windows, window{name: "image change", from: start, to: time.Now()})
	return nil
}

// measureIdle counts the controller's writes while everything has converged: any write now is a
// write that changes nothing.
func measureIdle(audit string, auditStart int, idle time.Duration, use *usage) error {
	time.Sleep(5 * time.Second) // let the audit log's batch flush
	before, _, err := auditRequests(audit, controllerAgent, auditStart)
	if err != nil {
		return err
	}
	fmt.Printf("  idle for %s ...\n", idle)
	time.Sleep(idle)
	after, _, err := auditRequests(audit, controllerAgent, auditStart)
	if err != nil {
		return err
	}
	use.idle = idle
	use.idleWrites = total(after) - total(before)
	return nil
}

// deletePerformers deletes n Performers at once; the clock starts before the first delete and
// stops when their workloads are gone. The phase's requests are counted until 3 s after that.
func deletePerformers(ctx context.Context, c client.Client, ns string, n int, ph *phases) error {
	start := time.Now()
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	if err := parallel(n, func(i int) error { return c.Delete(ctx, performerObject(ns, i, ""), bg) }); err != nil {
		return err
	}
	if err := waitGone(ctx, c, ns); err != nil {
		return err
	}
	ph.delete = time.Since(start)
	fmt.Printf("  delete → all gone            %s\n", secs(ph.delete))
	ph.windows = append(ph.windows, window{name: "delete", from: start, to: time.Now().Add(3 * time.Second)})
	return nil
}

// restartRun stops the controller once everything converged and starts it again: the new process
// knows nothing of what the old one applied and checks every workload with a dry run; it should
// write nothing. It returns the new process, with the old one's peak RSS and CPU in use.
func restartRun(ctx context.Context, cmd *exec.Cmd, bin string, args []string, kubeconfig, audit string, logFile *os.File, logPath string, n int, ph *phases, use *usage) (*exec.Cmd, error) {
	use.peakRSSKiB, use.cpu = procUsage(cmd.Process.Pid)
	stopProcess(cmd)
	_, restartAudit, err := auditRequests(audit, controllerAgent, 0)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if cmd, err = startController(ctx, bin, args, kubeconfig, logFile, logPath); err != nil {
		return nil, err
	}
	stop := sampleRSS(cmd.Process.Pid, use)
	defer stop()
	if err := poll(ctx, 10*time.Minute, func() (bool, error) {
		w, _, err := auditRequests(audit, controllerAgent, restartAudit)
		return w["dry-run patch deployments"] >= n && w["dry-run patch services"] >= n, err
	}); err != nil {
		stopProcess(cmd)
		return nil, fmt.Errorf("the restarted controller did not check every workload (-restart=false for a build that sends no dry runs): %w", err)
	}
	ph.restart = time.Since(start)
	use.restartPeakRSSKiB, _ = procUsage(cmd.Process.Pid)
	fmt.Printf("  restart → workloads checked  %s\n", secs(ph.restart))
	time.Sleep(3 * time.Second)
	if use.restartWrites, _, err = auditRequests(audit, controllerAgent, restartAudit); err != nil {
		stopProcess(cmd)
		return nil, err
	}
	return cmd, nil
}

// startController starts the controller and waits until it is ready (its caches synced).
func startController(ctx context.Context, bin string, args []string, kubeconfig string, logFile *os.File, logPath string) (*exec.Cmd, error) {
	probe, err := freeAddr()
	if err != nil {
		return nil, err
	}
	// The benchmark's Performers are not declared in Git: each gets a workload of its own, the
	// load the benchmark measures.
	cmd := exec.Command(bin, append([]string{"--kubeconfig", kubeconfig, "--metrics-bind-address=0",
		"--health-probe-bind-address=" + probe, "--leader-elect=false", "--allow-undeclared-performers"}, args...)...)
	fmt.Printf("  %s\n", strings.Join(cmd.Args[3:], " "))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	// As the cluster's other processes do: `hack/local-cluster.sh down` stops it should the bench
	// die first, and the CPU sampler finds it there.
	if exe, err := filepath.EvalSymlinks(bin); err == nil {
		if exe, err = filepath.Abs(exe); err == nil {
			pidFile := filepath.Join(filepath.Dir(kubeconfig), "pids", controllerAgent+".pid")
			_ = os.WriteFile(pidFile, fmt.Appendf(nil, "%d %s\n", cmd.Process.Pid, exe), 0o644)
		}
	}
	if err := poll(ctx, time.Minute, func() (bool, error) {
		resp, err := http.Get("http://" + probe + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		stopProcess(cmd)
		return nil, fmt.Errorf("controller not ready: %w (log: %s)", err, logPath)
	}
	return cmd, nil
}

// stopProcess stops a controller as the kubelet would, and waits for it; again is harmless.
func stopProcess(cmd *exec.Cmd) {
	if cmd.ProcessState != nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// waitGone waits until no pod, Service or Deployment is left in namespace ns.
func waitGone(ctx context.Context, c client.Client, ns string) error {
	return poll(ctx, 20*time.Minute, func() (bool, error) {
		for _, list := range []client.ObjectList{&corev1.PodList{}, &corev1.ServiceList{}, &appsv1.DeploymentList{}} {
			if err := c.List(ctx, list, client.InNamespace(ns), client.Limit(1)); err != nil {
				return false, err
			}
			if meta, ok := list.(interface{ GetContinue() string }); ok && meta.GetContinue() != "" {
				return false, nil
			}
			switch l := list.(type) {
			case *corev1.PodList:
				if len(l.Items) > 0 {
					return false, nil
				}
			case *corev1.ServiceList:
				if len(l.Items) > 0 {
					return false, nil
				}
			case *appsv1.DeploymentList:
				if len(l.Items) > 0 {
					return false, nil
				}
			}
		}
		return true, nil
	})
}

// poll calls cond until it holds, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// sampleRSS records the peaks of the process's anonymous and file-backed resident memory every
// 100 ms until the returned function is called.
func sampleRSS(pid int, use *usage) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			anon, file := statusKiB(pid, "RssAnon:"), statusKiB(pid, "RssFile:")
			use.peakAnonKiB, use.peakFileKiB = max(use.peakAnonKiB, anon), max(use.peakFileKiB, file)
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// statusKiB reads one "Field: N kB" line of /proc/<pid>/status.
func statusKiB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == field {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	return 0
}

// procUsage reads a running process's peak resident set (VmHWM) and CPU time from /proc.
func procUsage(pid int) (int64, time.Duration) {
	cpu, _ := procCPU(pid)
	return statusKiB(pid, "VmHWM:"), cpu
}

// fileSize is the size of the file at path, 0 if it cannot be read.
func fileSize(path string) int64 {
	if fi, err := os.Stat(path); err == nil {
		return fi.Size()
	}
	return 0
}

// countLines counts the lines of the file at path after offset from.
func countLines(path string, from int64) int {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return 0
	}
	return strings.Count(string(b[from:]), "\n")
}

// report prints the raw bound's runs and the controller's phases side by side, and what the
// controller cost.
func report(n int, raws []rawRun, ctl phases, use usage) {
	fmt.Printf("\n## Controller at N=%d\n\n", n)
	fmt.Printf("Clocks: each starts just before the first request of its phase is sent (%d workers, client\n"+
		"limit %d QPS, burst %d) and stops when the bench's watch delivers the change that meets the\n"+
		"condition (delete: the first poll, every 200 ms, that finds everything gone):\n"+
		"pods Ready = N pods of the phase's image Ready, none being deleted; Current = kstatus Current\n"+
		"for every Performer (controller) or every Deployment (raw bound; its Services are Current once\n"+
		"they exist); gone = no pod, Service or Deployment left in the namespace. Each side pauses %s\n"+
		"between phases. The raw bound server-side applies the controller's own Deployments and\n"+
		"Services (create, image change) and deletes them; with -raw-create it is also timed as a plain\n"+
		"client drives it: POST each object, patch the image alone, delete; with -raw-after the applying\n"+
		"raw bound runs again after the controller. The controller is driven by creating, patching\n"+
		"(spec.image) and deleting Performers. Ratios are the controller's time to each run's.\n\n", workers, qps, 2*qps, settle)
	head, line := "| N=%d | controller |", "|---|---|"
	for _, r := range raws {
		head += " " + r.name + " | ratio |"
		line += "---|---|"
	}
	fmt.Printf(head+"\n"+line+"\n", n)
	row := func(label string, ctl time.Duration, of func(phases) time.Duration) {
		r := fmt.Sprintf("| %s | %s |", label, secs(ctl))
		for _, raw := range raws {
			r += fmt.Sprintf(" %s | %s |", secs(of(raw.ph)), ratio(ctl, of(raw.ph)))
		}
		fmt.Println(r)
	}
	row("create burst → all pods Ready", ctl.createPods, func(p phases) time.Duration { return p.createPods })
	row("create burst → all Current (kstatus)", ctl.createCurrent, func(p phases) time.Duration { return p.createCurrent })
	row("create burst → Performers Current, to the raw bound's pods Ready", ctl.createCurrent, func(p phases) time.Duration { return p.createPods })
	row("image change → all new pods Ready", ctl.update, func(p phases) time.Duration { return p.update })
	row("image change → all Current (kstatus)", ctl.updateCurrent, func(p phases) time.Duration { return p.updateCurrent })
	row("delete → all pods, Services, Deployments gone", ctl.delete, func(p phases) time.Duration { return p.delete })
	// The controller's own figures, the raw bound's columns left empty.
	only := func(label, value string) {
		fmt.Printf("| %s | %s |%s\n", label, value, strings.Repeat(" | |", len(raws)))
	}
	if ctl.restart > 0 {
		only("controller restart → every workload checked", secs(ctl.restart))
		only("writes from the restart until then", fmt.Sprint(total(use.restartWrites)))
		only("peak RSS of the restarted controller until then", fmt.Sprintf("%.1f MiB", float64(use.restartPeakRSSKiB)/1024))
	}
	only("writes per idle minute", fmt.Sprintf("%.0f", float64(use.idleWrites)/use.idle.Minutes()))
	only("peak RSS", fmt.Sprintf("%.1f MiB", float64(use.peakRSSKiB)/1024))
	only("peak RSS, anonymous (allocated)", fmt.Sprintf("%.1f MiB", float64(use.peakAnonKiB)/1024))
	only("peak RSS, file-backed (the binary's pages)", fmt.Sprintf("%.1f MiB", float64(use.peakFileKiB)/1024))
	only("CPU time (whole run)", fmt.Sprintf("%.1f s", use.cpu.Seconds()))
	only("log during the create burst", fmt.Sprintf("%d lines, %.1f KB", use.logLines, float64(use.logBytes)/1000))
	fmt.Printf("\nController API writes by verb and resource (audit log), whole run, %d Performers:\n\n", n)
	fmt.Printf("| verb resource | writes | per Performer |\n|---|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(use.writes)) {
		if !isWrite(k) {
			continue
		}
		fmt.Printf("| %s | %d | %.2f |\n", k, use.writes[k], float64(use.writes[k])/float64(n))
	}
	fmt.Printf("| total | %d | %.2f |\n", total(use.writes), float64(total(use.writes))/float64(n))
	if d := dryRuns(use.writes); len(d) > 0 {
		fmt.Printf("\nDry runs (not writes: the API server stores nothing), whole run:\n\n| verb resource | requests | per Performer |\n|---|---|---|\n")
		for _, k := range slices.Sorted(maps.Keys(d)) {
			fmt.Printf("| %s | %d | %.2f |\n", k, d[k], float64(d[k])/float64(n))
		}
	}
}
