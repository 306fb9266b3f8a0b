// Package executorapi is the Hourglass executor's task API on the wire:
// eigenlayer.hourglass.v1.ExecutorService/SubmitTask(TaskSubmission) returns (TaskResult), as the
// released executor serves it. The executor's Go module is not on the Go module proxy and must
// not become a dependency, so the two messages are described here, field by field, as a
// descriptor built in Go (no generated code, no protoc), and carried as dynamic messages.
package executorapi

import (
	"context"
	"fmt"
	"reflect"

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

// TaskSubmission is what an aggregator sends an executor. Its fields are the message's, in the
// order of their numbers; each field's name on the wire is its Go name in snake case.
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

// TaskResult is what the executor answers; its fields are the message's, as TaskSubmission's.
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

// wireTypes are the proto3 types of the Go types the messages use.
var wireTypes = map[reflect.Type]descriptorpb.FieldDescriptorProto_Type{
	reflect.TypeFor[string](): descriptorpb.FieldDescriptorProto_TYPE_STRING,
	reflect.TypeFor[[]byte](): descriptorpb.FieldDescriptorProto_TYPE_BYTES,
	reflect.TypeFor[uint32](): descriptorpb.FieldDescriptorProto_TYPE_UINT32,
	reflect.TypeFor[uint64](): descriptorpb.FieldDescriptorProto_TYPE_UINT64,
}

// message describes the message that struct type t carries: field i of t is field number i+1.
func message(name string, t reflect.Type) *descriptorpb.DescriptorProto {
	m := &descriptorpb.DescriptorProto{Name: proto.String(name)}
	for i := range t.NumField() {
		f := t.Field(i)
		m.Field = append(m.Field, &descriptorpb.FieldDescriptorProto{
			Name:     proto.String(snakeCase(f.Name)),
			Number:   proto.Int32(int32(i + 1)),
			Label:    descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			Type:     wireTypes[f.Type].Enum(),
			JsonName: proto.String(jsonName(snakeCase(f.Name))),
		})
	}
	return m
}

// File is the descriptor of the API; SubmissionDesc and ResultDesc are its two messages.
var (
	File           protoreflect.FileDescriptor
	SubmissionDesc protoreflect.MessageDescriptor
	ResultDesc     protoreflect.MessageDescriptor
)

func init() {
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("eigenlayer/hourglass/v1/executor/executor.proto"),
		Package: proto.String(Package),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			message("TaskSubmission", reflect.TypeFor[TaskSubmission]()),
			message("TaskResult", reflect.TypeFor[TaskResult]()),
		},
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

// snakeCase is a Go field name as a proto field name: TaskID is task_id.
func snakeCase(s string) string {
	var out []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			if i > 0 && 'a' <= s[i-1] && s[i-1] <= 'z' {
				out = append(out, '_')
			}
			c += 'a' - 'A'
		}
		out = append(out, c)
	}
	return string(out)
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
func (s *TaskSubmission) Message() *dynamicpb.Message { return toMessage(SubmissionDesc, s) }

// SubmissionFrom reads a TaskSubmission message.
func SubmissionFrom(m protoreflect.Message) *TaskSubmission {
	s := &TaskSubmission{}
	fromMessage(m, s)
	return s
}

// Message returns the result as a dynamic message.
func (r *TaskResult) Message() *dynamicpb.Message { return toMessage(ResultDesc, r) }

// ResultFrom reads a TaskResult message.
func ResultFrom(m protoreflect.Message) *TaskResult {
	r := &TaskResult{}
	fromMessage(m, r)
	return r
}

// toMessage carries the struct v points to in a message of desc: struct field i is field number
// i+1. Proto3 defaults stay unset, so that they stay off the
// wire.
func toMessage(desc protoreflect.MessageDescriptor, v any) *dynamicpb.Message {
	m := dynamicpb.NewMessage(desc)
	rv := reflect.ValueOf(v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		if f.IsZero() || (f.Kind() == reflect.Slice && f.Len() == 0) {
			continue
		}
		m.Set(desc.Fields().ByNumber(protoreflect.FieldNumber(i+1)), protoreflect.ValueOf(f.Interface()))
	}
	return m
}

// fromMessage fills the struct v points to from m, field i from field number i+1.
func fromMessage(m protoreflect.Message, v any) {
	rv := reflect.ValueOf(v).Elem()
	fields := m.Descriptor().Fields()
	for i := range rv.NumField() {
		rv.Field(i).Set(reflect.ValueOf(m.Get(fields.ByNumber(protoreflect.FieldNumber(i + 1))).Interface()))
	}
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
