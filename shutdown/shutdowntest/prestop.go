package shutdowntest

import (
	"context"
	"io"
	"net/http"
)

// UserAgent is the User-Agent of the preStop request unless [HTTPGet.Header]
// sets one: the kubelet sends "kube-lifecycle/<major>.<minor>".
const UserAgent = "kube-lifecycle/1.34"

// maxPreStopBody is how much of the hook's response body is read, like the
// kubelet's maxRespBodyLength (pkg/kubelet/lifecycle/handlers.go).
const maxPreStopBody = 10 << 10

// HTTPGet is a preStop httpGet hook. Where the kubelet builds the URL from
// the pod IP, port and path, a test gives the whole URL, usually
// "http://127.0.0.1:PORT/prestop".
type HTTPGet struct {
	// URL is the URL the GET request is sent to.
	URL string
	// Header is added to the request, like the manifest's httpHeaders. When
	// it has no User-Agent, [UserAgent] is sent; when it has no Accept,
	// "*/*" is sent, as the kubelet does.
	Header http.Header
}

// preStopResult is the outcome of one hook request.
type preStopResult struct {
	status int
	err    error
}

// do sends the request and reads up to maxPreStopBody of the answer. Like
// the kubelet it sets no timeout; the request ends with ctx, or when the
// server answers or the connection breaks.
func (h *HTTPGet) do(ctx context.Context) preStopResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL, nil)
	if err != nil {
		return preStopResult{err: err}
	}
	req.Header = h.header()
	req.Host = req.Header.Get("Host")
	// A transport of its own without keep-alive: no idle connection, and so
	// no goroutine, is left behind once the hook has answered.
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return preStopResult{err: err}
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxPreStopBody))
	return preStopResult{status: resp.StatusCode, err: err}
}

// header returns the request header: Header plus the kubelet's defaults.
func (h *HTTPGet) header() http.Header {
	hdr := h.Header.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	if _, ok := hdr["User-Agent"]; !ok {
		hdr.Set("User-Agent", UserAgent)
	}
	if _, ok := hdr["Accept"]; !ok {
		hdr.Set("Accept", "*/*")
	}
	return hdr
}
