// Package executorapi is the Hourglass executor's task API on the wire:
// eigenlayer.hourglass.v1.ExecutorService/SubmitTask(TaskSubmission) returns (TaskResult), as the
// released executor serves it. The executor's Go module is not on the Go module proxy and must
// not become a dependency, so the two messages are described here, field by field, as a
// descriptor built in Go (no generated code, no protoc), and carried as dynamic messages.
package executorapi

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// Names on the wire.
const (
	// Package is the proto3 package of the executor's API.
	Package = "eigenlayer.hourglass.v1"
	// ServiceName is the full name of the executor's task service.
	ServiceName = Package + ".ExecutorService"
	// SubmitTaskMethod is the full method name gRPC sends.
	SubmitTaskMethod = "/" + ServiceName + "/SubmitTask"
)

// TaskSubmission is what an aggregator sends an executor.
type TaskSubmission struct {
	TaskID             string // 1
	AggregatorAddress  string // 2
	AvsAddress         string // 3
	Payload            []byte // 4
	Signature          []byte // 5
	OperatorSetID      uint32 // 6
	ReferenceTimestamp uint32 // 7
	ExecutorAddress    string // 8
	TaskBlockNumber    uint64 // 9
	Version            uint32 // 10
}

// TaskResult is what the executor answers.
type TaskResult struct {
	TaskID          string // 1
	OperatorAddress string // 2
	Output          []byte // 3
	ResultSignature []byte // 4
	AvsAddress      string // 5
	OperatorSetID   uint32 // 6
	AuthSignature   []byte // 7
	Version         uint32 // 8
}

type field struct {
	name string
	num  int32
	typ  descriptorpb.FieldDescriptorProto_Type
}

var (
	submissionFields = []field{
		{"task_id", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"aggregator_address", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"avs_address", 3, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"payload", 4, descriptorpb.FieldDescriptorProto_TYPE_BYTES},
		{"signature", 5, descriptorpb.FieldDescriptorProto_TYPE_BYTES},
		{"operator_set_id", 6, descriptorpb.FieldDescriptorProto_TYPE_UINT32},
		{"reference_timestamp", 7, descriptorpb.FieldDescriptorProto_TYPE_UINT32},
		{"executor_address", 8, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"task_block_number", 9, descriptorpb.FieldDescriptorProto_TYPE_UINT64},
		{"version", 10, descriptorpb.FieldDescriptorProto_TYPE_UINT32},
	}
	resultFields = []field{
		{"task_id", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"operator_address", 2, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"output", 3, descriptorpb.FieldDescriptorProto_TYPE_BYTES},
		{"result_signature", 4, descriptorpb.FieldDescriptorProto_TYPE_BYTES},
		{"avs_address", 5, descriptorpb.FieldDescriptorProto_TYPE_STRING},
		{"operator_set_id", 6, descriptorpb.FieldDescriptorProto_TYPE_UINT32},
		{"auth_signature", 7, descriptorpb.FieldDescriptorProto_TYPE_BYTES},
		{"version", 8, descriptorpb.FieldDescriptorProto_TYPE_UINT32},
	}
)

// File is the descriptor of the API; SubmissionDesc and ResultDesc are its two messages.
var (
	File           protoreflect.FileDescriptor
	SubmissionDesc protoreflect.MessageDescriptor
	ResultDesc     protoreflect.MessageDescriptor
)

func init() {
	msg := func(name string, fields []field) *descriptorpb.DescriptorProto {
		m := &descriptorpb.DescriptorProto{Name: proto.String(name)}
		for _, f := range fields {
			m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{
				Name:     proto.String(f.name),
				Number:   proto.Int32(f.num),
				Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
				Type:     f.typ.Enum(),
				JsonName: proto.String(jsonName(f.name)),
			})
		}
		return m
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name:        proto.String("eigenlayer/hourglass/v1/executor/executor.proto"),
		Package:     proto.String(Package),
		Syntax:      proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{msg("TaskSubmission", submissionFields), msg("TaskResult", resultFields)},
		Service: []*descriptorpb.ServiceDescriptorProto{{
			Name: proto.String("ExecutorService"),
			Method: []*descriptorpb.MethodDescriptorProto{{
				Name:       proto.String("SubmitTask"),
				InputType:  proto.String("." + Package + ".TaskSubmission"),
				OutputType: proto.String("." + Package + ".TaskResult"),
			}},
		}},
	}
	f, err := protodesc.NewFile(fd, nil)
	if err != nil {
		panic(fmt.Sprintf("executorapi: descriptor: %v", err))
	}
	File = f
	SubmissionDesc = f.Messages().ByName("TaskSubmission")
	ResultDesc = f.Messages().ByName("TaskResult")
}

// jsonName is protoc's lowerCamelCase of a field name.
func jsonName(s string) string {
	out := make([]byte, 0, len(s))
	up := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			up = true
		case up && 'a' <= c && c <= 'z':
			out = append(out, c-'a'+'A')
			up = false
		default:
			out = append(out, c)
			up = false
		}
	}
	return string(out)
}

// Message returns the submission as a dynamic message.
func (s *TaskSubmission) Message() *dynamicpb.Message {
	m := dynamicpb.NewMessage(SubmissionDesc)
	set := setter(m)
	set("task_id", protoreflect.ValueOfString(s.TaskID))
	set("aggregator_address", protoreflect.ValueOfString(s.AggregatorAddress))
	set("avs_address", protoreflect.ValueOfString(s.AvsAddress))
	set("payload", protoreflect.ValueOfBytes(s.Payload))
	set("signature", protoreflect.ValueOfBytes(s.Signature))
	set("operator_set_id", protoreflect.ValueOfUint32(s.OperatorSetID))
	set("reference_timestamp", protoreflect.ValueOfUint32(s.ReferenceTimestamp))
	set("executor_address", protoreflect.ValueOfString(s.ExecutorAddress))
	set("task_block_number", protoreflect.ValueOfUint64(s.TaskBlockNumber))
	set("version", protoreflect.ValueOfUint32(s.Version))
	return m
}

// SubmissionFrom reads a TaskSubmission message.
func SubmissionFrom(m protoreflect.Message) *TaskSubmission {
	get := getter(m)
	return &TaskSubmission{
		TaskID:             get("task_id").String(),
		AggregatorAddress:  get("aggregator_address").String(),
		AvsAddress:         get("avs_address").String(),
		Payload:            get("payload").Bytes(),
		Signature:          get("signature").Bytes(),
		OperatorSetID:      uint32(get("operator_set_id").Uint()),
		ReferenceTimestamp: uint32(get("reference_timestamp").Uint()),
		ExecutorAddress:    get("executor_address").String(),
		TaskBlockNumber:    get("task_block_number").Uint(),
		Version:            uint32(get("version").Uint()),
	}
}

// Message returns the result as a dynamic message.
func (r *TaskResult) Message() *dynamicpb.Message {
	m := dynamicpb.NewMessage(ResultDesc)
	set := setter(m)
	set("task_id", protoreflect.ValueOfString(r.TaskID))
	set("operator_address", protoreflect.ValueOfString(r.OperatorAddress))
	set("output", protoreflect.ValueOfBytes(r.Output))
	set("result_signature", protoreflect.ValueOfBytes(r.ResultSignature))
	set("avs_address", protoreflect.ValueOfString(r.AvsAddress))
	set("operator_set_id", protoreflect.ValueOfUint32(r.OperatorSetID))
	set("auth_signature", protoreflect.ValueOfBytes(r.AuthSignature))
	set("version", protoreflect.ValueOfUint32(r.Version))
	return m
}

// ResultFrom reads a TaskResult message.
func ResultFrom(m protoreflect.Message) *TaskResult {
	get := getter(m)
	return &TaskResult{
		TaskID:          get("task_id").String(),
		OperatorAddress: get("operator_address").String(),
		Output:          get("output").Bytes(),
		ResultSignature: get("result_signature").Bytes(),
		AvsAddress:      get("avs_address").String(),
		OperatorSetID:   uint32(get("operator_set_id").Uint()),
		AuthSignature:   get("auth_signature").Bytes(),
		Version:         uint32(get("version").Uint()),
	}
}

// setter sets a field by name, leaving proto3 defaults unset so that they stay off the wire.
func setter(m *dynamicpb.Message) func(string, protoreflect.Value) {
	fields := m.Descriptor().Fields()
	return func(name string, v protoreflect.Value) {
		fd := fields.ByName(protoreflect.Name(name))
		switch x := v.Interface().(type) {
		case string:
			if x == "" {
				return
			}
		case []byte:
			if len(x) == 0 {
				return
			}
		case uint32:
			if x == 0 {
				return
			}
		case uint64:
			if x == 0 {
				return
			}
		}
		m.Set(fd, v)
	}
}

func getter(m protoreflect.Message) func(string) protoreflect.Value {
	fields := m.Descriptor().Fields()
	return func(name string) protoreflect.Value { return m.Get(fields.ByName(protoreflect.Name(name))) }
}

// Handler serves SubmitTask.
type Handler func(ctx context.Context, task *TaskSubmission) (*TaskResult, error)

// ServiceDesc describes ExecutorService for grpc.Server.RegisterService; the implementation
// passed with it must be a *Handler (Register does that).
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{
		MethodName: "SubmitTask",
		Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
			in := dynamicpb.NewMessage(SubmissionDesc)
			if err := dec(in); err != nil {
				return nil, err
			}
			h := *srv.(*Handler)
			call := func(ctx context.Context, req any) (any, error) {
				r, err := h(ctx, SubmissionFrom(req.(*dynamicpb.Message)))
				if err != nil {
					return nil, err
				}
				return r.Message(), nil
			}
			if interceptor == nil {
				return call(ctx, in)
			}
			return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: SubmitTaskMethod}, call)
		},
	}},
	Metadata: "eigenlayer/hourglass/v1/executor/executor.proto",
}

// Register serves h as ExecutorService on s.
func Register(s grpc.ServiceRegistrar, h Handler) {
	s.RegisterService(&ServiceDesc, &h)
}

// SubmitTask calls ExecutorService.SubmitTask on conn.
func SubmitTask(ctx context.Context, conn grpc.ClientConnInterface, task *TaskSubmission, opts ...grpc.CallOption) (*TaskResult, error) {
	out := dynamicpb.NewMessage(ResultDesc)
	if err := conn.Invoke(ctx, SubmitTaskMethod, task.Message(), out, opts...); err != nil {
		return nil, err
	}
	return ResultFrom(out), nil
}
