// Command submit-task sends tasks to an executor's ExecutorService.SubmitTask (plaintext gRPC)
// and prints each round trip: payload, output, milliseconds. With --count above 1 it also prints
// the median and the slowest.
//
//	go run ./test/executor/cmd/submit-task --addr 127.0.0.1:9095 --payload 12
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

	"github.com/hourglass-gitops/hourglass-gitops/test/executor/executorapi"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9095", "The executor's gRPC address (e.g. a kubectl port-forward).")
	avs := flag.String("avs", "0x1234567890abcdef1234567890abcdef12345678", "The AVS address the task is for (examples/basic's by default).")
	payload := flag.String("payload", "12", "The task payload; the sample performer returns its square.")
	count := flag.Int("count", 1, "How many tasks to send, one after the other.")
	timeout := flag.Duration("timeout", 30*time.Second, "Deadline of each task.")
	flag.Parse()
	if err := run(*addr, *avs, *payload, *count, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "submit-task:", err)
		os.Exit(1)
	}
}

func run(addr, avs, payload string, count int, timeout time.Duration) error {
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
		r, err := executorapi.SubmitTask(ctx, conn, &executorapi.TaskSubmission{TaskID: id, AvsAddress: avs, Payload: []byte(payload)})
		d := time.Since(t0)
		cancel()
		if err != nil {
			return fmt.Errorf("task %s (payload %q) to %s: %w", id, payload, addr, err)
		}
		took = append(took, d)
		fmt.Printf("task %s  payload %s  result %s  %.2f ms\n", r.TaskID, payload, r.Output, float64(d.Microseconds())/1000)
	}
	if count > 1 {
		slices.Sort(took)
		fmt.Printf("%d tasks  median %.2f ms  slowest %.2f ms\n", count, float64(took[len(took)/2].Microseconds())/1000, float64(took[len(took)-1].Microseconds())/1000)
	}
	return nil
}
