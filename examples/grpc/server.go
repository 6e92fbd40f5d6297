package main

import (
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/lameduck/lameduck/examples/grpc/workpb"
	"github.com/lameduck/lameduck/examples/internal/service"
	"github.com/lameduck/lameduck/examples/internal/store"
)

// serverOptions returns the traffic server's options: with svc.TLS set it
// serves gRPC over TLS only (credentials.NewTLS adds "h2" to the ALPN
// protocols, which grpc-go clients require since v1.67); without,
// plaintext HTTP/2.
func serverOptions(svc *service.Service) []grpc.ServerOption {
	if svc.TLS == nil {
		return nil
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(svc.TLS))}
}

// register adds the Work service and server reflection to srv, and marks
// Work SERVING in hs, the standard health service ("" is SERVING from the
// start).
func register(srv *grpc.Server, hs *health.Server, st *store.Store) {
	workpb.RegisterWorkServer(srv, &workServer{store: st})
	hs.SetServingStatus(workpb.Work_ServiceDesc.ServiceName, healthgrpc.HealthCheckResponse_SERVING)
	reflection.Register(srv)
}

// newServer returns a plain traffic server with the Work service, the
// standard health service and server reflection, for the strategies
// lameduck is compared with.
func newServer(svc *service.Service) *grpc.Server {
	srv := grpc.NewServer(serverOptions(svc)...)
	hs := health.NewServer()
	healthgrpc.RegisterHealthServer(srv, hs)
	register(srv, hs, svc.Store)
	return srv
}
