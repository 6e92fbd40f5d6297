package grpcdrain

// Stopped returns a channel closed when the server's GracefulStop has
// returned, that is when the last handler has returned: for tests only.
func (s *Server) Stopped() <-chan struct{} { return s.stopped }
