package grpcdrain

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"

	"google.golang.org/grpc"
)

// Serve serves lis as the embedded grpc.Server's Serve does, after
// checking that every name given to [WithEndlessStreams] is a streaming
// method of a service registered on the server: a typo would otherwise
// silently leave those streams holding the drain. If one is not, Serve
// closes lis and returns an error naming each such method, without serving
// anything. Like grpc.Server.Serve, it blocks until the server stops or
// lis fails, and then closes lis; it returns nil once [Server.Drain] has
// stopped the server, and grpc.ErrServerStopped, closing lis at once, if
// it is called after the drain started.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.checkEndless(); err != nil {
		_ = lis.Close()
		return err
	}
	return s.Server.Serve(lis)
}

// ListenAndServe listens on the TCP network address addr (as net.Listen
// takes it: ":8081", "127.0.0.1:8081") and then serves it with
// [Server.Serve], so that a server is given to the shutdown sequence in
// one line, as a net/http server is:
//
//	seq.Serve("grpc", func() error { return srv.ListenAndServe(":8081") }, srv.Drain)
//
// TLS comes from grpc.Creds in [WithServerOptions], as for Serve. It
// blocks like Serve and returns what Serve returns: nil once
// [Server.Drain] has stopped the server. If the drain has started already
// it returns grpc.ErrServerStopped without listening. An error of
// net.Listen (the address is in use, or malformed) is returned as it is.
func (s *Server) ListenAndServe(addr string) error {
	if s.started.Load() {
		return grpc.ErrServerStopped
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(lis)
}

// checkEndless returns an error for each name of WithEndlessStreams that is
// not a streaming method of a registered service.
func (s *Server) checkEndless() error {
	if len(s.cfg.endless) == 0 {
		return nil
	}
	streaming := map[string]bool{} // full method name: is a stream
	for service, info := range s.Server.GetServiceInfo() {
		for _, m := range info.Methods {
			streaming["/"+service+"/"+m.Name] = m.IsClientStream || m.IsServerStream
		}
	}
	var errs []error
	for _, m := range slices.Sorted(maps.Keys(s.cfg.endless)) {
		stream, registered := streaming[m]
		switch {
		case !registered:
			errs = append(errs, fmt.Errorf("grpcdrain: WithEndlessStreams(%q): no such method on the server: check the name, and register its service before Serve", m))
		case !stream:
			errs = append(errs, fmt.Errorf("grpcdrain: WithEndlessStreams(%q): a unary method; name only streaming methods", m))
		}
	}
	return errors.Join(errs...)
}
