// Command submit-task sends tasks to an executor's ExecutorService.SubmitTask (plaintext gRPC)
// and prints each round trip: payload, output, milliseconds. With --count above 1 it also prints
// the median and the slowest. With --performer it sends them to a performer's
// PerformerService.ExecuteTask instead, as the executor does.
//
//	go run ./test/executor/cmd/submit-task --addr 127.0.0.1:9095 --payload 12
//	go run ./test/executor/cmd/submit-task --performer --addr 127.0.0.1:8080 --payload 12
//
// It sends no signature: the stand-in executor checks none; the released executor refuses such a
// task.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	performerv1 "github.com/Layr-Labs/protocol-apis/gen/protos/eigenlayer/hourglass/v1/performer"

	"github.com/hourglass-gitops/hourglass-gitops/test/executor/executorapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9095", "The executor's gRPC address (e.g. a kubectl port-forward).")
	avs := flag.String("avs", "0x1234567890abcdef1234567890abcdef12345678", "The AVS address the task is for (examples/basic's by default).")
	payload := flag.String("payload", "12", "The task payload; the sample performer returns its square.")
	count := flag.Int("count", 1, "How many tasks to send, one after the other.")
	timeout := flag.Duration("timeout", 30*time.Second, "Deadline of each task; the first also waits this long for the address to answer (a port-forward starting).")
	toPerformer := flag.Bool("performer", false, "Send to a performer's PerformerService.ExecuteTask instead of an executor.")
	flag.Parse()
	submit := toExecutor(*avs)
	if *toPerformer {
		submit = executeTask
	}
	if err := run(*addr, *payload, *count, *timeout, submit); err != nil {
		fmt.Fprintln(os.Stderr, "submit-task:", err)
		os.Exit(1)
	}
}

// submitFunc sends one task and returns the ID and output of its result.
type submitFunc func(ctx context.Context, conn *grpc.ClientConn, id, payload string) (gotID, output string, err error)

// toExecutor submits to ExecutorService.SubmitTask, for avs.
func toExecutor(avs string) submitFunc {
	return func(ctx context.Context, conn *grpc.ClientConn, id, payload string) (string, string, error) {
		r, err := executorapi.SubmitTask(ctx, conn, &executorapi.TaskSubmission{TaskID: id, AvsAddress: avs, Payload: []byte(payload)})
		if err != nil {
			return "", "", err
		}
		return r.TaskID, string(r.Output), nil
	}
}

// executeTask calls PerformerService.ExecuteTask, waiting for the address to answer.
func executeTask(ctx context.Context, conn *grpc.ClientConn, id, payload string) (string, string, error) {
	r, err := performerv1.NewPerformerServiceClient(conn).ExecuteTask(ctx,
		&performerv1.TaskRequest{TaskId: []byte(id), Payload: []byte(payload)}, grpc.WaitForReady(true))
	if err != nil {
		return "", "", err
	}
	return string(r.GetTaskId()), string(r.GetResult()), nil
}

// run sends count tasks one after the other and prints each, and the median of several.
func run(addr, payload string, count int, timeout time.Duration, submit submitFunc) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	var took []time.Duration
	for i := range count {
		id := fmt.Sprintf("task-%d-%d", time.Now().UnixNano(), i)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		t0 := time.Now()
		gotID, output, err := submit(ctx, conn, id, payload)
		d := time.Since(t0)
		cancel()
		if err != nil {
			return fmt.Errorf("task %s (payload %q) to %s: %w", id, payload, addr, err)
		}
		took = append(took, d)
		fmt.Printf("task %s  payload %s  result %s  %.2f ms\n", gotID, payload, output, float64(d.Microseconds())/1000)
	}
	if count > 1 {
		slices.Sort(took)
		fmt.Printf("%d tasks  median %.2f ms  slowest %.2f ms\n", count, float64(took[len(took)/2].Microseconds())/1000, float64(took[len(took)-1].Microseconds())/1000)
	}
	return nil
}
