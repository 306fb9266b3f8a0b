// Package executor is a stand-in for the released Hourglass executor in Kubernetes deployment
// mode: what it does with Performers and how it dials them, step for step as its source does.
// The executor's own module is not on the Go module proxy, so the project's tests use this instead.
//
// Every step names the upstream file it follows, in github.com/Layr-Labs/hourglass-monorepo at
// commit 11f155493c33 (ponos/...). Only the timing and the gRPC retry settings are parameters, so
// that tests need not wait the executor's 5 minutes or its minute of retries.
package executor

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"time"

	performerv1 "github.com/Layr-Labs/protocol-apis/gen/protos/eigenlayer/hourglass/v1/performer"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Upstream constants.
const (
	// DefaultTimeout is defaultDeploymentTimeout and defaultRunningWaitTimeout
	// (pkg/executor/avsPerformer/avsKubernetesPerformer/kubernetesPerformer.go).
	DefaultTimeout = 5 * time.Minute
	// DefaultPollInterval is waitForPerformerReady's pollInterval (same file).
	DefaultPollInterval = 5 * time.Second
	// GRPCPort is defaultGRPCPort (same file): every Performer the executor makes serves on it.
	GRPCPort = 8080
	// DefaultConnectionTimeout is the Kubernetes client's timeout when kubernetes.connectionTimeout
	// is unset (pkg/kubernetesManager/client.go, NewClientWrapper).
	DefaultConnectionTimeout = 30 * time.Second
	// UserAgent is what the executor's gRPC client says (pkg/clients/grpcRetry.go).
	UserAgent = "hourglass-ponos/v1.0.0"
)

// Config is the part of the executor configuration file (pkg/executor/executorConfig) the
// Kubernetes deployment mode reads, plus the stand-in's timing.
type Config struct {
	AvsPerformers []AvsPerformer `json:"avsPerformers"`
	Kubernetes    Kubernetes     `json:"kubernetes"`

	// Timeout replaces the executor's 5 minutes (DefaultTimeout) when set.
	Timeout time.Duration `json:"-"`
	// PollInterval replaces the executor's 5 seconds (DefaultPollInterval) when set.
	PollInterval time.Duration `json:"-"`
	// Retry replaces the gRPC retry settings of createPerformerResource when set.
	Retry *RetryConfig `json:"-"`
}

// AvsPerformer is one entry of avsPerformers.
type AvsPerformer struct {
	Image          Image  `json:"image"`
	ProcessType    string `json:"processType"`
	AvsAddress     string `json:"avsAddress"`
	Envs           []Env  `json:"envs,omitempty"`
	DeploymentMode string `json:"deploymentMode,omitempty"`
	Kubernetes     *struct {
		ServiceAccountName string `json:"serviceAccountName,omitempty"`
		EndpointOverride   string `json:"endpointOverride,omitempty"`
	} `json:"kubernetes,omitempty"`
}

// Image is avsPerformers[].image.
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
}

// Env is avsPerformers[].envs[].
type Env struct {
	Name          string `json:"name"`
	Value         string `json:"value,omitempty"`
	ValueFromEnv  string `json:"valueFromEnv,omitempty"`
	KubernetesEnv *struct {
		ValueFrom struct {
			SecretKeyRef    KeyRef `json:"secretKeyRef"`
			ConfigMapKeyRef KeyRef `json:"configMapKeyRef"`
		} `json:"valueFrom"`
	} `json:"kubernetesEnv,omitempty"`
}

// KeyRef names a key of a Secret or ConfigMap.
type KeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Kubernetes is the kubernetes block.
type Kubernetes struct {
	Namespace         string          `json:"namespace"`
	OperatorNamespace string          `json:"operatorNamespace"`
	CRDGroup          string          `json:"crdGroup"`
	CRDVersion        string          `json:"crdVersion"`
	ConnectionTimeout metav1.Duration `json:"connectionTimeout"`
}

// ParseConfig reads an executor configuration file (YAML or JSON), such as the config.yaml of
// the ConfigMap the function renders.
func ParseConfig(b []byte) (Config, error) {
	var c Config
	if err := yaml.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("executor config: %w", err)
	}
	return c, nil
}

// RetryConfig is clients.RetryConfig (pkg/clients/grpcRetry.go).
type RetryConfig struct {
	MaxRetries        int
	InitialDelay      time.Duration
	MaxDelay          time.Duration
	BackoffMultiplier float64
	ConnectionTimeout time.Duration
}

// PerformerRetry is the retry configuration createPerformerResource dials performers with
// (pkg/executor/avsPerformer/avsKubernetesPerformer/kubernetesPerformer.go).
var PerformerRetry = RetryConfig{MaxRetries: 5, InitialDelay: 2 * time.Second, MaxDelay: 30 * time.Second, BackoffMultiplier: 2, ConnectionTimeout: 15 * time.Second}

// Executor is a started stand-in: one current Performer per AVS.
type Executor struct {
	cfg        Config
	client     client.Client
	log        *slog.Logger
	performers map[string]*Performer // by lower-cased AVS address
}

// Performer is a Performer the stand-in made and its gRPC connection.
type Performer struct {
	// ID is the Performer's name, performer-<sha256(avs)[:6]>-<uuid[:8]>.
	ID string
	// AvsAddress is the lower-cased AVS address.
	AvsAddress string
	// Endpoint is the address the executor computes for its Performer's Service.
	Endpoint string
	// DialEndpoint is what it dials: endpointOverride when set, Endpoint otherwise.
	DialEndpoint string
	// Created is when the Performer was created, Ready when both readiness waits had passed.
	Created, Ready time.Time

	conn   *grpc.ClientConn
	client performerv1.PerformerServiceClient
}

// Start does what `executor run` does between loading its configuration and logging "Executor
// is running", for Kubernetes deployment mode: for every AVS in turn, create a Performer, wait
// for it, dial it. An error is what makes the executor log "Failed to initialize executor" and
// exit. restConfig is the executor's Kubernetes identity.
func Start(ctx context.Context, restConfig *rest.Config, cfg Config, log *slog.Logger) (*Executor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// pkg/kubernetesManager/client.go, NewClientWrapper: the connection timeout applies to every
	// API request; a controller-runtime client (the stand-in sends the Performer as unstructured
	// JSON with the same fields as its PerformerCRD type).
	rc := rest.CopyConfig(restConfig)
	rc.Timeout = cfg.Kubernetes.ConnectionTimeout.Duration
	if rc.Timeout == 0 {
		rc.Timeout = DefaultConnectionTimeout
	}
	c, err := client.New(rc, client.Options{})
	if err != nil {
		return nil, fmt.Errorf("failed to create CRD client: %w", err)
	}
	// Same file, TestConnection (called from NewAvsKubernetesPerformer): the server version and
	// its namespace; a failure is only a warning.
	if cs, err := kubernetes.NewForConfig(rc); err == nil {
		if _, err := cs.Discovery().ServerVersion(); err != nil {
			log.Warn("Failed to test Kubernetes connection, continuing anyway", "error", err)
		} else if _, err := cs.CoreV1().Namespaces().Get(ctx, cfg.Kubernetes.Namespace, metav1.GetOptions{}); err != nil {
			log.Warn("Failed to test Kubernetes connection, continuing anyway", "error", fmt.Errorf("failed to access namespace %s: %w", cfg.Kubernetes.Namespace, err))
		}
	}

	e := &Executor{cfg: cfg, client: c, log: log, performers: map[string]*Performer{}}
	// pkg/executor/executor.go, Initialize: the AVSs in the order of the file, each address
	// lower-cased; the first failure ends start-up.
	for _, avs := range cfg.AvsPerformers {
		if avs.DeploymentMode != "kubernetes" {
			return nil, fmt.Errorf("the stand-in covers deploymentMode kubernetes only, got %q for %s", avs.DeploymentMode, avs.AvsAddress)
		}
		if avs.ProcessType != "server" {
			return nil, fmt.Errorf("unsupported AVS performer process type: %s", avs.ProcessType)
		}
		p, err := e.deploy(ctx, avs)
		if err != nil {
			log.Error("Failed to deploy performer during startup", "avsAddress", strings.ToLower(avs.AvsAddress), "deploymentMode", avs.DeploymentMode, "error", err)
			return nil, err
		}
		e.performers[p.AvsAddress] = p
		log.Info("AVS performer deployed successfully", "avsAddress", p.AvsAddress, "performerId", p.ID)
	}
	// pkg/executor/executor.go, Run.
	log.Info("Executor is running", "version", "1.0.0")
	return e, nil
}

// Performer returns the current Performer of an AVS.
func (e *Executor) Performer(avsAddress string) *Performer {
	return e.performers[strings.ToLower(avsAddress)]
}

// timeout is the deployment and readiness timeout: the configured one, else DefaultTimeout.
func (e *Executor) timeout() time.Duration {
	if e.cfg.Timeout > 0 {
		return e.cfg.Timeout
	}
	return DefaultTimeout
}

// deploy follows AvsKubernetesPerformer.Deploy (kubernetesPerformer.go): CreatePerformer (create
// the resource, wait for it, dial it), a second readiness wait, then promotion to current; all
// within one deployment timeout.
func (e *Executor) deploy(ctx context.Context, avs AvsPerformer) (*Performer, error) {
	deployCtx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	avsAddress := strings.ToLower(avs.AvsAddress)
	p, err := e.createPerformerResource(deployCtx, avsAddress, avs)
	if err != nil {
		return nil, fmt.Errorf("failed to create performer resource: %w", err)
	}
	if err := e.waitForPerformerReady(deployCtx, p.ID); err != nil {
		// Deploy's clean-up: RemovePerformer with a fresh 30-second context.
		cleanupCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.conn.Close()
		if err := e.deletePerformer(cleanupCtx, p.ID); err != nil {
			e.log.Error("Failed to clean up failed deployment", "performerID", p.ID, "error", err)
		}
		return nil, err
	}
	p.Ready = time.Now()
	return p, nil
}

// createPerformerResource follows the function of that name (kubernetesPerformer.go).
func (e *Executor) createPerformerResource(ctx context.Context, avsAddress string, avs AvsPerformer) (*Performer, error) {
	// generatePerformerID: sha256 of the AVS address, 6 hex characters
	// (pkg/containerManager/utils.go, HashAvsAddress), and 8 of a UUID without dashes.
	sum := sha256.Sum256([]byte(avsAddress))
	id := fmt.Sprintf("performer-%s-%s", hex.EncodeToString(sum[:])[:6], strings.ReplaceAll(uuid.New().String(), "-", "")[:8])
	u := e.performerObject(id, avsAddress, avs)
	e.log.Info("Creating Kubernetes performer resource", "performerID", id, "avsAddress", avsAddress, "image", avs.Image.Repository+":"+avs.Image.Tag, "namespace", e.cfg.Kubernetes.Namespace)
	if err := e.client.Create(ctx, u); err != nil {
		return nil, fmt.Errorf("failed to create Performer CRD: %w", fmt.Errorf("failed to create Performer CRD: %w", err))
	}
	p := &Performer{
		ID:         id,
		AvsAddress: avsAddress,
		// crd.go: the endpoint it expects, whatever the status will say.
		Endpoint: fmt.Sprintf("performer-%s.%s.svc.cluster.local:%d", id, e.cfg.Kubernetes.Namespace, GRPCPort),
		Created:  time.Now(),
	}

	if err := e.waitForPerformerReady(ctx, id); err != nil {
		// The clean-up uses the same context as the wait's parent: after a timeout it has
		// expired too, so the delete fails and the Performer is left behind.
		if cleanupErr := e.deletePerformer(ctx, id); cleanupErr != nil {
			e.log.Error("Failed to clean up performer after creation failure", "performerID", id, "error", cleanupErr)
		}
		return nil, fmt.Errorf("performer not ready: %w", err)
	}
	if err := e.connect(p, avs); err != nil {
		return nil, err
	}
	return p, nil
}

// performerObject is the Performer the executor creates, as pkg/kubernetesManager/crd.go's
// CreatePerformer writes it: the labels, and the spec fields of its PerformerCRD type as they
// serialise (resources is a struct without omitempty effect, so {}).
func (e *Executor) performerObject(id, avsAddress string, avs AvsPerformer) *unstructured.Unstructured {
	env, envFrom := performerEnv(avsAddress, avs.Envs)
	cfg := map[string]any{"grpcPort": int64(GRPCPort), "environment": env}
	if envFrom != nil {
		cfg["environmentFrom"] = envFrom
	}
	if avs.Kubernetes != nil && avs.Kubernetes.ServiceAccountName != "" {
		cfg["serviceAccountName"] = avs.Kubernetes.ServiceAccountName
	}
	spec := map[string]any{
		"avsAddress":      avsAddress,
		"image":           avs.Image.Repository + ":" + avs.Image.Tag,
		"imagePullPolicy": "Never", // "Use local images only for testing"
		"config":          cfg,
		"resources":       map[string]any{},
	}
	if avs.Image.Tag != "" {
		spec["version"] = avs.Image.Tag
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": e.cfg.Kubernetes.CRDGroup + "/" + e.cfg.Kubernetes.CRDVersion,
		"kind":       "Performer",
		"metadata": map[string]any{
			"name":      id,
			"namespace": e.cfg.Kubernetes.Namespace,
			"labels": map[string]any{
				"app":                               "hourglass-performer",
				"hourglass.eigenlayer.io/avs":       avsAddress,
				"hourglass.eigenlayer.io/performer": id,
			},
		},
		"spec": spec,
	}}
}

// performerEnv follows buildEnvironmentFromImage: AVS_ADDRESS and GRPC_PORT first, then the
// configured envs: Secret and ConfigMap references become environmentFrom (nil without any),
// plain values environment; entries with nothing set and valueFromEnv are skipped.
func performerEnv(avsAddress string, envs []Env) (env map[string]any, from []any) {
	env = map[string]any{"AVS_ADDRESS": avsAddress, "GRPC_PORT": fmt.Sprint(GRPCPort)}
	for _, v := range envs {
		switch {
		case v.Value == "" && v.ValueFromEnv == "" && v.KubernetesEnv == nil:
		case v.KubernetesEnv != nil && v.KubernetesEnv.ValueFrom.SecretKeyRef.Name != "":
			ref := v.KubernetesEnv.ValueFrom.SecretKeyRef
			from = append(from, map[string]any{"name": v.Name, "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": ref.Name, "key": ref.Key}}})
		case v.KubernetesEnv != nil && v.KubernetesEnv.ValueFrom.ConfigMapKeyRef.Name != "":
			ref := v.KubernetesEnv.ValueFrom.ConfigMapKeyRef
			from = append(from, map[string]any{"name": v.Name, "valueFrom": map[string]any{"configMapKeyRef": map[string]any{"name": ref.Name, "key": ref.Key}}})
		case v.Value != "":
			env[v.Name] = v.Value
		}
	}
	return env, from
}

// connect dials the ready Performer's gRPC endpoint; endpointOverride replaces the computed one,
// only after the Performer is ready.
func (e *Executor) connect(p *Performer, avs AvsPerformer) error {
	p.DialEndpoint = p.Endpoint
	if avs.Kubernetes != nil && avs.Kubernetes.EndpointOverride != "" {
		e.log.Info("Using endpoint override for performer", "performerID", p.ID, "originalEndpoint", p.Endpoint, "overrideEndpoint", avs.Kubernetes.EndpointOverride)
		p.DialEndpoint = avs.Kubernetes.EndpointOverride
	}
	e.log.Info("Creating gRPC client for performer", "performerID", p.ID, "endpoint", p.DialEndpoint)
	retry := PerformerRetry
	if e.cfg.Retry != nil {
		retry = *e.cfg.Retry
	}
	conn, err := Dial(p.DialEndpoint, retry)
	if err != nil {
		return fmt.Errorf("failed to create gRPC connection: %w", err)
	}
	p.conn, p.client = conn, performerv1.NewPerformerServiceClient(conn)
	e.log.Info("Created gRPC client for performer", "performerID", p.ID, "endpoint", p.DialEndpoint)
	return nil
}

// waitForPerformerReady follows the function of that name (kubernetesPerformer.go): a ticker, so
// the first look is one interval after the start; status.ready decides (phase is only logged);
// a failed read is logged and retried.
func (e *Executor) waitForPerformerReady(ctx context.Context, id string) error {
	e.log.Info("Waiting for performer to be ready", "performerID", id)
	interval := e.cfg.PollInterval
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timeout waiting for performer %s to be ready", id)
		case <-ticker.C:
			// pkg/kubernetesManager/crd.go, GetPerformerStatus: a GET of the Performer.
			u := &unstructured.Unstructured{}
			u.SetAPIVersion(e.cfg.Kubernetes.CRDGroup + "/" + e.cfg.Kubernetes.CRDVersion)
			u.SetKind("Performer")
			if err := e.client.Get(ctx, client.ObjectKey{Namespace: e.cfg.Kubernetes.Namespace, Name: id}, u); err != nil {
				e.log.Warn("Failed to get performer status", "performerID", id, "error", err)
				continue
			}
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			ready, _, _ := unstructured.NestedBool(u.Object, "status", "ready")
			e.log.Info("Performer status check", "performerID", id, "phase", phase, "ready", ready)
			if ready {
				e.log.Info("Performer is ready", "performerID", id, "phase", phase)
				return nil
			}
		}
	}
}

// deletePerformer follows pkg/kubernetesManager/crd.go, DeletePerformer.
func (e *Executor) deletePerformer(ctx context.Context, id string) error {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(e.cfg.Kubernetes.CRDGroup + "/" + e.cfg.Kubernetes.CRDVersion)
	u.SetKind("Performer")
	u.SetNamespace(e.cfg.Kubernetes.Namespace)
	u.SetName(id)
	if err := e.client.Delete(ctx, u); err != nil {
		return fmt.Errorf("failed to delete Performer CRD %s: %w", id, err)
	}
	return nil
}

// ExecuteTask sends a task to the AVS's current Performer, as RunTask does (kubernetesPerformer.go).
func (e *Executor) ExecuteTask(ctx context.Context, avsAddress string, taskID, payload []byte) (*performerv1.TaskResponse, error) {
	p := e.Performer(avsAddress)
	if p == nil || p.client == nil {
		return nil, errors.New("no current performer available to execute task")
	}
	return p.client.ExecuteTask(ctx, &performerv1.TaskRequest{TaskId: taskID, Payload: payload})
}

// Shutdown does what the executor does on SIGTERM (executor.go's shutdown goroutine and
// AvsKubernetesPerformer.Shutdown): close each connection and delete each current Performer
// within 30 seconds.
func (e *Executor) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for _, p := range e.performers {
		if p.conn != nil {
			p.conn.Close()
		}
		if err := e.deletePerformer(ctx, p.ID); err != nil {
			errs = append(errs, fmt.Errorf("failed to shutdown current performer: %w", err))
		}
	}
	e.performers = map[string]*Performer{}
	return errors.Join(errs...)
}

// Dial connects as NewGrpcClientWithRetry(endpoint, true, retry) does (pkg/clients/grpcRetry.go):
// plaintext only when the address contains "localhost:" or "127.0.0.1:", TLS with certificate
// verification otherwise; unlimited message sizes, keepalive pings every 10 seconds, the retry
// interceptor on unary calls, and the connection started at once.
func Dial(endpoint string, retry RetryConfig) (*grpc.ClientConn, error) {
	creds := credentials.NewTLS(&tls.Config{InsecureSkipVerify: false})
	if strings.Contains(endpoint, "localhost:") || strings.Contains(endpoint, "127.0.0.1:") {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(endpoint,
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(math.MaxInt32)),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(math.MaxInt32)),
		grpc.WithUnaryInterceptor(retryInterceptor(retry)),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 3 * time.Second, PermitWithoutStream: true}),
		grpc.WithUserAgent(UserAgent),
	)
	if err != nil {
		return nil, fmt.Errorf("failed to create gRPC client: %w", err)
	}
	conn.Connect()
	return conn, nil
}

// retryInterceptor behaves as retryUnaryInterceptor (pkg/clients/grpcRetry.go): each attempt
// gets its own ConnectionTimeout; Unavailable, DeadlineExceeded, ResourceExhausted, Internal and
// connection errors are retried with exponential backoff, up to MaxRetries more attempts.
func retryInterceptor(cfg RetryConfig) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		var err error
		delay := cfg.InitialDelay
		for attempt := 0; attempt <= cfg.MaxRetries; attempt++ {
			attemptCtx, cancel := context.WithTimeout(ctx, cfg.ConnectionTimeout)
			err = invoker(attemptCtx, method, req, reply, cc, opts...)
			cancel()
			if err == nil || !retryable(err) {
				return err
			}
			if attempt == cfg.MaxRetries {
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			time.Sleep(delay)
			delay = min(time.Duration(float64(delay)*cfg.BackoffMultiplier), cfg.MaxDelay)
		}
		return fmt.Errorf("request failed after %d attempts: %w", cfg.MaxRetries+1, err)
	}
}

// retryable reports whether a gRPC call that failed with err is retried.
func retryable(err error) bool {
	if s, ok := status.FromError(err); ok {
		switch s.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal:
			return true
		}
	}
	msg := err.Error()
	for _, m := range []string{"connection refused", "connection reset", "connection timeout", "no such host", "network is unreachable"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
