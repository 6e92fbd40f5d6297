package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/service"
)

// newServer returns the traffic server with the Work service, the standard
// health service (SERVING for the server and for Work) and server
// reflection, and its health server. With svc.TLS set it serves gRPC over
// TLS only (credentials.NewTLS adds "h2" to the ALPN protocols, which
// grpc-go clients require since v1.67); without, plaintext HTTP/2.
func newServer(svc *service.Service, opts ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	if svc.TLS != nil {
		opts = append([]grpc.ServerOption{grpc.Creds(credentials.NewTLS(svc.TLS))}, opts...)
	}
	srv := grpc.NewServer(opts...)
	workpb.RegisterWorkServer(srv, &workServer{store: svc.Store})
	hs := health.NewServer() // "" is SERVING from the start
	hs.SetServingStatus(workpb.Work_ServiceDesc.ServiceName, healthgrpc.HealthCheckResponse_SERVING)
	healthgrpc.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}
