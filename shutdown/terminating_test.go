package shutdown_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/lameduck/lameduck/shutdown"
)

// TestTerminating: a signal or /prestop is a termination; a failure or a
// trigger from code is not. Before the trigger nothing is.
func TestTerminating(t *testing.T) {
	tests := []struct {
		name    string
		trigger func(*shutdown.Sequence, chan<- os.Signal)
		want    bool
	}{
		{"SIGTERM", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- syscall.SIGTERM }, true},
		{"SIGINT", func(_ *shutdown.Sequence, c chan<- os.Signal) { c <- os.Interrupt }, true},
		{"prestop", func(s *shutdown.Sequence, _ chan<- os.Signal) {
			go s.PrestopHandler().ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/prestop", nil))
		}, true},
		{"Trigger", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Trigger("SIGTERM") }, false},
		{"Fail", func(s *shutdown.Sequence, _ chan<- os.Signal) { s.Fail(errors.New("lost the lease")) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				seq, sigs := newSequence(t, shutdown.WithPropagationDelay(delay))
				assert.False(t, seq.Terminating(), "before the trigger")
				tt.trigger(seq, sigs)
				synctest.Wait()
				require.True(t, closed(seq.Triggered()))
				assert.Equal(t, tt.want, seq.Terminating())
				_ = seq.Wait()
				assert.Equal(t, tt.want, seq.Terminating(), "the answer does not change")
			})
		})
	}
}
