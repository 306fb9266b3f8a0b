package main

import (
	"context"
	"math/big"
	"strings"
	"time"

	performerv1 "github.com/Layr-Labs/protocol-apis/gen/protos/eigenlayer/hourglass/v1/performer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// PingMinTime is the shortest interval between client pings the server accepts. The Hourglass
// executor pings its performers every 10 s, with or without calls in flight; gRPC's default
// enforcement (5 minutes, no pings without streams) answers that with a too_many_pings GOAWAY
// after about 40 s and the executor's next task pays for a new connection.
const PingMinTime = 10 * time.Second

// MaxPayload bounds the decimal payload ExecuteTask accepts, in digits.
const MaxPayload = 4096

// squarer is the AVS's work: the task payload is a decimal integer, the result is its square in
// decimal. The answer depends on the payload alone, so a test or an operator can check it.
type squarer struct {
	performerv1.UnimplementedPerformerServiceServer
}

// ExecuteTask squares the decimal integer in the task's payload.
func (squarer) ExecuteTask(_ context.Context, req *performerv1.TaskRequest) (*performerv1.TaskResponse, error) {
	text := strings.TrimSpace(string(req.GetPayload()))
	if len(text) > MaxPayload {
		return nil, status.Errorf(codes.InvalidArgument, "payload: %d digits, at most %d", len(text), MaxPayload)
	}
	n, ok := new(big.Int).SetString(text, 10)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "payload: want a decimal integer such as \"12\", got %q", truncate(text, 32))
	}
	return &performerv1.TaskResponse{TaskId: req.GetTaskId(), Result: []byte(n.Mul(n, n).String())}, nil
}

// StartSync has nothing to prepare: squaring needs no state.
func (squarer) StartSync(context.Context, *performerv1.StartSyncRequest) (*performerv1.StartSyncResponse, error) {
	return &performerv1.StartSyncResponse{}, nil
}

// KeepalivePolicy accepts a ping every PingMinTime, with or without calls in flight.
var KeepalivePolicy = keepalive.EnforcementPolicy{MinTime: PingMinTime, PermitWithoutStream: true}

// NewServer returns a gRPC server with the performer service, the standard health service
// (grpc.health.v1, SERVING for "" and for the performer service) and KeepalivePolicy.
func NewServer() *grpc.Server {
	return newServer(KeepalivePolicy)
}

func newServer(policy keepalive.EnforcementPolicy) *grpc.Server {
	s := grpc.NewServer(
		grpc.KeepaliveEnforcementPolicy(policy),
		// The executor sends no size limit of its own; allow tasks larger than gRPC's 4 MiB.
		grpc.MaxRecvMsgSize(64<<20),
	)
	performerv1.RegisterPerformerServiceServer(s, squarer{})
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	h.SetServingStatus(performerv1.PerformerService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s, h)
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
