package executorapi

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec sends and receives bytes as they are, so the test writes and reads the wire format
// itself: the field numbers and types below are the executor's, not this package's.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }
func (rawCodec) Unmarshal(b []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), b...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func serve(t *testing.T, h Handler) *grpc.ClientConn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	Register(s, h)
	go s.Serve(l)
	t.Cleanup(s.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// A submission written by hand on the wire arrives field by field in the server's handler, and
// the result it returns reads back by hand with the result's field numbers.
func TestWireRoundTrip(t *testing.T) {
	var got *TaskSubmission
	conn := serve(t, func(_ context.Context, task *TaskSubmission) (*TaskResult, error) {
		got = task
		return &TaskResult{TaskID: task.TaskID, OperatorAddress: "0xop", Output: []byte("144"), ResultSignature: []byte{1, 2},
			AvsAddress: task.AvsAddress, OperatorSetID: task.OperatorSetID, AuthSignature: []byte{3}, Version: 7}, nil
	})

	var in []byte
	str := func(n protowire.Number, s string) {
		in = protowire.AppendTag(in, n, protowire.BytesType)
		in = protowire.AppendString(in, s)
	}
	byt := func(n protowire.Number, b []byte) {
		in = protowire.AppendTag(in, n, protowire.BytesType)
		in = protowire.AppendBytes(in, b)
	}
	varint := func(n protowire.Number, v uint64) {
		in = protowire.AppendTag(in, n, protowire.VarintType)
		in = protowire.AppendVarint(in, v)
	}
	str(1, "task-1")
	str(2, "0xagg")
	str(3, "0xavs")
	byt(4, []byte("12"))
	byt(5, []byte{9, 9})
	varint(6, 3)
	varint(7, 1700000000)
	str(8, "0xexec")
	varint(9, 1<<40)
	varint(10, 2)

	var out []byte
	if err := conn.Invoke(context.Background(), SubmitTaskMethod, &in, &out, grpc.ForceCodec(rawCodec{})); err != nil {
		t.Fatal(err)
	}
	want := &TaskSubmission{TaskID: "task-1", AggregatorAddress: "0xagg", AvsAddress: "0xavs", Payload: []byte("12"), Signature: []byte{9, 9},
		OperatorSetID: 3, ReferenceTimestamp: 1700000000, ExecutorAddress: "0xexec", TaskBlockNumber: 1 << 40, Version: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("submission as the server read it (-want +got):\n%s", diff)
	}

	fields, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	wantFields := map[protowire.Number]string{1: "bytes task-1", 2: "bytes 0xop", 3: "bytes 144", 4: "bytes \x01\x02", 5: "bytes 0xavs",
		6: "varint 3", 7: "bytes \x03", 8: "varint 7"}
	if diff := cmp.Diff(wantFields, fields); diff != "" {
		t.Errorf("result on the wire by field number (-want +got):\n%s", diff)
	}
}

// decode reads a message's fields by number, each once.
func decode(b []byte) (map[protowire.Number]string, error) {
	out := map[protowire.Number]string{}
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil, protowire.ParseError(l)
		}
		b = b[l:]
		switch typ {
		case protowire.VarintType:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return nil, protowire.ParseError(l)
			}
			out[n] = fmt.Sprintf("varint %d", v)
			b = b[l:]
		case protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil, protowire.ParseError(l)
			}
			out[n] = "bytes " + string(v)
			b = b[l:]
		default:
			return nil, fmt.Errorf("field %d: unexpected wire type %d", n, typ)
		}
	}
	return out, nil
}

// The typed client and server agree, and a handler's error reaches the client as its status.
func TestClient(t *testing.T) {
	conn := serve(t, func(_ context.Context, task *TaskSubmission) (*TaskResult, error) {
		if string(task.Payload) == "bad" {
			return nil, status.Error(codes.InvalidArgument, "bad payload")
		}
		return &TaskResult{TaskID: task.TaskID, Output: append([]byte("echo "), task.Payload...)}, nil
	})
	got, err := SubmitTask(context.Background(), conn, &TaskSubmission{TaskID: "t", Payload: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&TaskResult{TaskID: "t", Output: []byte("echo x")}, got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	_, err = SubmitTask(context.Background(), conn, &TaskSubmission{TaskID: "t", Payload: []byte("bad")})
	if s, _ := status.FromError(err); s.Code() != codes.InvalidArgument || s.Message() != "bad payload" {
		t.Errorf("error = %v, want InvalidArgument: bad payload", err)
	}
}
