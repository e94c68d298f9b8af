package mmcache

import (
	"context"
	"fmt"
	"sync"
)

// A flightGroup runs at most one load per key at a time and hands its result to every caller
// that asked for the key meanwhile (Typed.GetOrLoad).
//
// The load runs on a goroutine of its own, with a context that keeps the values of the context
// of the caller that started it but not its cancellation: each caller waits for the result or
// for its own context, whichever comes first, and a caller that gives up leaves the load to the
// others. Only when every caller has given up is the load's context cancelled, and the flight
// forgotten, so that the next caller starts afresh rather than join a load being cancelled. A
// load that panics ends its flight with an error wrapping ErrLoadPanicked; no flight outlives
// its load.
type flightGroup[V any] struct {
	mu      sync.Mutex
	flights map[string]*flight[V]
}

type flight[V any] struct {
	done    chan struct{} // closed once v and err are set
	v       V
	err     error
	waiters int // callers waiting; guarded by the group's mu
	// background marks a flight started with no caller (a refresh): no caller's leaving
	// cancels it, since none started it.
	background bool
	cancel     context.CancelFunc
}

// do returns the result of the flight for key, starting one with load if there is none, or
// ctx.Err() as soon as ctx is done.
func (g *flightGroup[V]) do(ctx context.Context, key string, load func(ctx context.Context) (V, error)) (V, error) {
	if err := ctx.Err(); err != nil {
		var zero V
		return zero, err
	}
	f := g.join(ctx, key, load, 1)
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		g.leave(key, f)
		var zero V
		return zero, ctx.Err()
	}
}

// start starts a flight for key with load unless one is under way, and waits for nothing: a
// refresh in the background.
func (g *flightGroup[V]) start(ctx context.Context, key string, load func(ctx context.Context) (V, error)) {
	g.join(ctx, key, load, 0)
}

// join returns the flight for key, started with load if there was none, with waiters more
// callers waiting for it.
func (g *flightGroup[V]) join(ctx context.Context, key string, load func(ctx context.Context) (V, error), waiters int) *flight[V] {
	g.mu.Lock()
	defer g.mu.Unlock()
	f, ok := g.flights[key]
	if !ok {
		if g.flights == nil {
			g.flights = make(map[string]*flight[V])
		}
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight[V]{done: make(chan struct{}), cancel: cancel, background: waiters == 0}
		g.flights[key] = f
		go g.run(lctx, key, f, load)
	}
	f.waiters += waiters
	return f
}

// leave takes a caller that gave up off the flight; the last one out cancels the load.
func (g *flightGroup[V]) leave(key string, f *flight[V]) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f.waiters--
	if f.waiters == 0 && !f.background {
		f.cancel()
		if g.flights[key] == f {
			delete(g.flights, key)
		}
	}
}

// run runs the flight's load and ends the flight, whatever the load does: return, panic or
// runtime.Goexit.
func (g *flightGroup[V]) run(ctx context.Context, key string, f *flight[V], load func(ctx context.Context) (V, error)) {
	returned := false
	defer func() {
		if !returned {
			// recover is nil after a runtime.Goexit, which ends the goroutine all the same.
			f.err = fmt.Errorf("%w: %v", ErrLoadPanicked, recover())
		}
		f.cancel()
		g.mu.Lock()
		if g.flights[key] == f {
			delete(g.flights, key)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	f.v, f.err = load(ctx)
	returned = true
}
