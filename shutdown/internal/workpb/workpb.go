// Package workpb stands in for the code protoc-gen-go-grpc generates for a
// service, so that package shutdown's Example_service reads like a real
// program without a generated package in this module. The examples module
// has the real one (examples/grpc/workpb).
package workpb

import (
	"context"

	"google.golang.org/grpc"
)

// WorkServer is the server API of the Work service.
type WorkServer interface {
	Do(ctx context.Context, job string) error
}

// RegisterWorkServer registers srv on s, as generated code does.
func RegisterWorkServer(s grpc.ServiceRegistrar, srv WorkServer) {
	s.RegisterService(&serviceDesc, srv)
}

var serviceDesc = grpc.ServiceDesc{
	ServiceName: "lameduck.example.Work",
	HandlerType: (*WorkServer)(nil),
	Metadata:    "work.proto",
}
