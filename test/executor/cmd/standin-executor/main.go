// Command standin-executor runs the project's stand-in for the Hourglass executor (package
// test/executor) in a pod, where the released executor image cannot be pulled:
//
//	executor run --config /etc/hourglass/config/config.yaml
//
// as the rendered StatefulSet starts the released one. It reads the rendered configuration file,
// uses the pod's in-cluster Kubernetes identity, creates its own Performer and waits for it to be
// ready as the executor's Kubernetes mode does, dials kubernetes.endpointOverride (the
// performer-forwarder sidecar), and serves eigenlayer.hourglass.v1.ExecutorService.SubmitTask on
// grpcPort: the task's payload goes to the AVS's performer and the performer's result comes back
// as TaskResult.output. On SIGTERM it deletes its Performer, as the executor does.
//
// It is not the executor: it reads no L1 chain, checks no aggregator signature, does not check
// the executor address or the operator set, and signs nothing (result_signature and
// auth_signature stay empty). It proves the Kubernetes and network path only.
//
// Storage: it appends a line for each start to standin-starts in storage.badger.dir (the
// executor's data volume) and logs what earlier starts left there, so that a test can see the
// volume survive a restart.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/hourglass-gitops/hourglass-gitops/api/version"
	executor "github.com/hourglass-gitops/hourglass-gitops/test/executor"
	"github.com/hourglass-gitops/hourglass-gitops/test/executor/executorapi"
)

// MarkerFile is the file in the storage folder that records each start.
const MarkerFile = "standin-starts"

// fileConfig is what the stand-in reads of the configuration beyond executor.Config.
type fileConfig struct {
	GRPCPort int `json:"grpcPort"`
	Operator struct {
		Address string `json:"address"`
	} `json:"operator"`
	Storage struct {
		Type   string `json:"type"`
		Badger struct {
			Dir string `json:"dir"`
		} `json:"badger"`
		BadgerConfig struct {
			Dir string `json:"dir"`
		} `json:"badgerConfig"`
	} `json:"storage"`
}

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("Failed to initialize executor", "error", err.Error())
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "version") {
		fmt.Println(version.String("standin-executor"))
		return nil
	}
	if len(args) == 0 || args[0] != "run" {
		return errors.New("usage: executor run --config FILE")
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	configFile := fs.String("config", "", "The executor configuration file (YAML or JSON).")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *configFile == "" {
		return errors.New("--config is required")
	}
	b, err := os.ReadFile(*configFile)
	if err != nil {
		return err
	}
	cfg, err := executor.ParseConfig(b)
	if err != nil {
		return err
	}
	var fc fileConfig
	if err := yaml.Unmarshal(b, &fc); err != nil {
		return fmt.Errorf("executor config: %w", err)
	}
	if fc.GRPCPort == 0 {
		return fmt.Errorf("executor config %s: grpcPort is required", *configFile)
	}
	if err := recordStart(fc, log); err != nil {
		return err
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return fmt.Errorf("in-cluster Kubernetes config: %w", err)
	}
	log.Info("executor run", "config", *configFile, "version", version.Get())

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	e, err := executor.Start(ctx, rc, cfg, log)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", fmt.Sprintf(":%d", fc.GRPCPort))
	if err != nil {
		return errors.Join(err, e.Shutdown())
	}
	s := grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}))
	executorapi.Register(s, func(ctx context.Context, task *executorapi.TaskSubmission) (*executorapi.TaskResult, error) {
		if task.TaskID == "" {
			return nil, status.Error(codes.InvalidArgument, "task_id is required")
		}
		if e.Performer(task.AvsAddress) == nil {
			return nil, status.Errorf(codes.NotFound, "no performer for AVS %q", task.AvsAddress)
		}
		resp, err := e.ExecuteTask(ctx, task.AvsAddress, []byte(task.TaskID), task.Payload)
		if err != nil {
			log.Warn("task failed", "taskId", task.TaskID, "error", err.Error())
			return nil, err
		}
		return &executorapi.TaskResult{TaskID: task.TaskID, OperatorAddress: fc.Operator.Address, Output: resp.Result,
			AvsAddress: strings.ToLower(task.AvsAddress), OperatorSetID: task.OperatorSetID, Version: task.Version}, nil
	})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	log.Info("serving ExecutorService", "addr", l.Addr().String())

	select {
	case err = <-served:
	case <-ctx.Done():
		log.Info("shutting down")
		done := make(chan struct{})
		go func() { s.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			s.Stop()
		}
	}
	if serr := e.Shutdown(); serr != nil {
		log.Error("shutdown", "error", serr.Error())
		err = errors.Join(err, serr)
	} else {
		log.Info("performers deleted")
	}
	return err
}

// recordStart reads the starts recorded in the storage folder, logs them and appends this one.
func recordStart(fc fileConfig, log *slog.Logger) error {
	dir := fc.Storage.Badger.Dir
	if dir == "" {
		dir = fc.Storage.BadgerConfig.Dir
	}
	if fc.Storage.Type != "badger" || dir == "" {
		log.Info("storage: none (type is not badger)")
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	f := filepath.Join(dir, MarkerFile)
	prev, err := os.ReadFile(f)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("storage: %w", err)
	}
	lines := strings.Fields(strings.ReplaceAll(string(prev), "\n", " "))
	host, _ := os.Hostname()
	this := fmt.Sprintf("%s@%d", host, time.Now().UnixNano())
	log.Info("storage", "file", f, "earlierStarts", len(lines), "earlier", strings.Join(lines, ","), "thisStart", this)
	w, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if _, err := fmt.Fprintln(w, this); err != nil {
		w.Close()
		return fmt.Errorf("storage: %w", err)
	}
	return w.Close()
}
