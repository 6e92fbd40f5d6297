package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/store"
)

// newServer returns the traffic server with the Work service, the standard
// health service (SERVING for the server and for Work) and server
// reflection, and its health server.
func newServer(st *store.Store, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	srv := grpc.NewServer(opts...)
	workpb.RegisterWorkServer(srv, &workServer{store: st})
	hs := health.NewServer() // "" is SERVING from the start
	hs.SetServingStatus(workpb.Work_ServiceDesc.ServiceName, healthgrpc.HealthCheckResponse_SERVING)
	healthgrpc.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}
