package loadtest

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestEndpointsBelieveChangesLagLater(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lag = time.Second
		e := &endpoints{lag: lag, list: []*endpoint{{addr: "a", ready: true}, {addr: "b", ready: true}}}
		e.set("a", false)
		e.set("c", false)
		e.set("c", true)
		e.set("d", true) // new and ready: joins at once
		assert.True(t, e.inRotation("d"))
		e.set("d", false)
		time.Sleep(lag - time.Millisecond)
		assert.True(t, e.inRotation("a"), "a left before the lag")
		assert.False(t, e.inRotation("c"), "c joined before the lag")
		assert.Equal(t, []string{"a", "b", "d", "a", "b", "d"}, picks(e, 6))

		time.Sleep(time.Millisecond)
		assert.False(t, e.inRotation("a"))
		assert.True(t, e.inRotation("c"))
		assert.False(t, e.inRotation("unknown"))
		got := picks(e, 4)
		assert.ElementsMatch(t, []string{"b", "b", "c", "c"}, got)
		assert.NotEqual(t, got[0], got[1], "round robin")
	})
}

func TestEndpointsKeepEveryChangeInOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := &endpoints{lag: time.Second}
		e.set("a", false) // joins unready
		e.set("a", true)
		time.Sleep(300 * time.Millisecond)
		e.set("a", false) // a blip shorter than the lag is still seen, late
		time.Sleep(300 * time.Millisecond)
		e.set("a", true)
		e.set("a", true) // no change: nothing queued
		assert.Len(t, e.list[0].pending, 3)

		var seen []bool
		for range 10 {
			seen = append(seen, e.inRotation("a"))
			time.Sleep(100 * time.Millisecond)
		}
		// At 0.6s: unready until 1.0s, ready 1.0-1.3s, unready 1.3-1.6s.
		assert.Equal(t, []bool{false, false, false, false, true, true, true, false, false, false}, seen)
		time.Sleep(time.Second)
		assert.True(t, e.inRotation("a"))
		assert.Empty(t, e.list[0].pending)
	})
}

func TestEndpointsPickNoneReady(t *testing.T) {
	e := &endpoints{}
	assert.Empty(t, e.pick(), "no endpoint")
	e.set("a", false)
	assert.Empty(t, e.pick(), "a never ready")
}

func picks(e *endpoints, n int) []string {
	var got []string
	for range n {
		got = append(got, e.pick())
	}
	return got
}
