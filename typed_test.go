package mmcache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// point implements encoding.BinaryAppender and, through its pointer,
// encoding.BinaryUnmarshaler: what BinaryCodec takes.
type point struct{ X, Y int32 }

func (p point) AppendBinary(b []byte) ([]byte, error) {
	b = binary.LittleEndian.AppendUint32(b, uint32(p.X))
	return binary.LittleEndian.AppendUint32(b, uint32(p.Y)), nil
}

func (p *point) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return fmt.Errorf("point of %d bytes", len(b))
	}
	p.X, p.Y = int32(binary.LittleEndian.Uint32(b)), int32(binary.LittleEndian.Uint32(b[4:]))
	return nil
}

type user struct {
	ID    int64             `json:"id"`
	Name  string            `json:"name"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
}

// roundTrip stores each value under its own key through a fresh Typed view and reads it back.
func roundTrip[V any](t *testing.T, c *Cache, codec Codec[V], values ...V) {
	t.Helper()
	tc := NewTyped[string](c, codec)
	for i, v := range values {
		key := fmt.Sprintf("%T-%d", v, i)
		require.NoError(t, tc.Set(key, v))
		got, err := tc.Get(key)
		require.NoError(t, err)
		require.Equal(t, v, got, "key %s", key)
	}
}

func TestTypedCodecsRoundTrip(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	roundTrip(t, c, Codec[[]byte](BytesCodec{}), []byte("raw"), []byte{}, make([]byte, 5000))
	roundTrip(t, c, Codec[string](StringCodec{}), "text", "", "ünïcödé")
	roundTrip(t, c, Codec[int8](IntCodec[int8]{}), 0, -1, math.MinInt8, math.MaxInt8)
	roundTrip(t, c, Codec[uint8](IntCodec[uint8]{}), 0, 1, math.MaxUint8)
	roundTrip(t, c, Codec[int16](IntCodec[int16]{}), -2, math.MinInt16, math.MaxInt16)
	roundTrip(t, c, Codec[uint16](IntCodec[uint16]{}), 7, math.MaxUint16)
	roundTrip(t, c, Codec[int32](IntCodec[int32]{}), -3, math.MinInt32, math.MaxInt32)
	roundTrip(t, c, Codec[uint32](IntCodec[uint32]{}), 9, math.MaxUint32)
	roundTrip(t, c, Codec[int64](IntCodec[int64]{}), -4, math.MinInt64, math.MaxInt64)
	roundTrip(t, c, Codec[uint64](IntCodec[uint64]{}), 11, math.MaxUint64)
	roundTrip(t, c, Codec[float64](Float64Codec{}), 0, -1.5, math.Inf(1), math.SmallestNonzeroFloat64, math.MaxFloat64)
	roundTrip(t, c, Codec[user](JSONCodec[user]{}),
		user{ID: 1, Name: "Ada", Tags: []string{"a", "b"}, Attrs: map[string]string{"k": "v"}}, user{})
	roundTrip(t, c, Codec[point](BinaryCodec[point, *point]{}), point{1, -2}, point{math.MaxInt32, math.MinInt32})

	// The exact bytes: fixed widths, little-endian, so the core API reads them too.
	ints := NewTyped[string, int32](c, IntCodec[int32]{})
	require.NoError(t, ints.Set("i32", -2))
	raw, ok := c.Get(nil, []byte("i32"))
	require.True(t, ok)
	require.Equal(t, []byte{0xfe, 0xff, 0xff, 0xff}, raw)

	// NaN survives bit for bit.
	floats := NewTyped[string, float64](c, Float64Codec{})
	require.NoError(t, floats.Set("nan", math.NaN()))
	f, err := floats.Get("nan")
	require.NoError(t, err)
	require.True(t, math.IsNaN(f))
}

// byteKey is a key type based on []byte: Key takes it.
type byteKey []byte

func TestTypedKeysAndBasics(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	byString := NewTyped[string, string](c, StringCodec{})
	byBytes := NewTyped[byteKey, string](c, StringCodec{})
	require.NoError(t, byString.Set("k", "v1"))
	got, err := byBytes.Get(byteKey("k")) // the same key, as bytes
	require.NoError(t, err)
	require.Equal(t, "v1", got)
	require.True(t, byString.Has("k"))
	require.True(t, byBytes.Delete(byteKey("k")))
	require.False(t, byString.Has("k"))
	_, err = byString.Get("k")
	require.ErrorIs(t, err, ErrNotFound)
	require.False(t, byString.Delete("k"))

	clock := newFakeClock()
	c2 := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, clock, nil)
	tc := NewTyped[string, int64](c2, IntCodec[int64]{})
	require.NoError(t, tc.SetWithTTL("ttl", 5, time.Second))
	v, err := tc.Get("ttl")
	require.NoError(t, err)
	require.Equal(t, int64(5), v)
	clock.advance(int64(time.Second))
	_, err = tc.Get("ttl")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, tc.SetWithTTL("neg", 1, -time.Second), ErrInvalidTTL)

	// An encoder's error comes back, and nothing is stored.
	bad := NewTyped[string, chan int](c2, JSONCodec[chan int]{})
	require.Error(t, bad.Set("chan", make(chan int)))
	require.False(t, c2.Has([]byte("chan")))

	require.NoError(t, c2.Close())
	_, err = tc.Get("ttl")
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, tc.Set("x", 1), ErrClosed)
	_, err = tc.GetOrLoad(context.Background(), "x", func(context.Context, string) (int64, time.Duration, error) {
		t.Error("load called on a closed cache")
		return 0, 0, nil
	})
	require.ErrorIs(t, err, ErrClosed)
}

func TestTypedDecodeErrors(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, int64](c, IntCodec[int64]{})
	require.NoError(t, c.Set([]byte("short"), []byte("abc"))) // 3 bytes are no int64
	_, err := tc.Get("short")
	require.ErrorIs(t, err, ErrDecode)
	require.Equal(t, uint64(1), c.Stats().DecodeErrors)

	require.NoError(t, tc.Set("good", 42))
	n := 0
	for k, v := range tc.All() { // skips and counts what it cannot decode
		require.Equal(t, "good", k)
		require.Equal(t, int64(42), v)
		n++
	}
	require.Equal(t, 1, n)
	require.Equal(t, uint64(2), c.Stats().DecodeErrors)

	// GetOrLoad counts the bad value and loads a good one in its place.
	v, err := tc.GetOrLoad(context.Background(), "short", func(context.Context, string) (int64, time.Duration, error) {
		return 7, 0, nil
	})
	require.NoError(t, err)
	require.Equal(t, int64(7), v)
	require.Equal(t, uint64(3), c.Stats().DecodeErrors)
	v, err = tc.Get("short")
	require.NoError(t, err)
	require.Equal(t, int64(7), v)
}

func TestTypedAllocations(t *testing.T) {
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	ints := NewTyped[string, int64](c, IntCodec[int64]{})
	intsByBytes := NewTyped[[]byte, int64](c, IntCodec[int64]{})
	strs := NewTyped[string, string](c, StringCodec{})
	raw := NewTyped[string, []byte](c, BytesCodec{})
	require.NoError(t, ints.Set("int-key-of-some-length-0123456789", 1))
	require.NoError(t, strs.Set("string-key", "a value of some length"))
	require.NoError(t, raw.Set("bytes-key", []byte("a value of some length")))
	require.NoError(t, ints.Set("short-key", 3))
	keyBuf := []byte("short-key") // string(keyBuf) stays on the stack up to 32 bytes
	var sink int64
	cases := []struct {
		name string
		want float64
		fn   func()
	}{
		{"Get int64, string key", 0, func() { v, _ := ints.Get("int-key-of-some-length-0123456789"); sink += v }},
		{"Get int64, key converted from bytes", 0, func() { v, _ := ints.Get(string(keyBuf)); sink += v }},
		{"Get int64, []byte key type", 0, func() { v, _ := intsByBytes.Get(keyBuf); sink += v }},
		{"Set int64, string key", 0, func() { _ = ints.Set("int-key-of-some-length-0123456789", 2) }},
		{"Get string", 1, func() { v, _ := strs.Get("string-key"); sink += int64(len(v)) }},
		{"Get []byte", 1, func() { v, _ := raw.Get("bytes-key"); sink += int64(len(v)) }},
		{"Has", 0, func() { _ = ints.Has("int-key-of-some-length-0123456789") }},
	}
	for _, tc := range cases {
		tc.fn() // the buffer pool's first buffer
		require.Equal(t, tc.want, testing.AllocsPerRun(200, tc.fn), tc.name)
	}
	runtime.KeepAlive(sink)
}

// getOrLoadFromMany calls tc.GetOrLoad(key, load) from n goroutines and returns the channel
// their errors come back on.
func getOrLoadFromMany(tc *Typed[string, string], key string, load func(context.Context, string) (string, time.Duration, error), n int) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := tc.GetOrLoad(context.Background(), key, load)
			errs <- err
		}()
	}
	return errs
}

// waitFlight returns once the flight for key has n callers waiting.
func waitFlight[K Key, V any](t *Typed[K, V], key string, n int) {
	for {
		t.flights.mu.Lock()
		f := t.flights.flights[key]
		w := 0
		if f != nil {
			w = f.waiters
		}
		t.flights.mu.Unlock()
		if w == n {
			return
		}
		runtime.Gosched()
	}
}

// noFlights returns once no flight is under way.
func noFlights[K Key, V any](t *Typed[K, V]) {
	for {
		t.flights.mu.Lock()
		n := len(t.flights.flights)
		t.flights.mu.Unlock()
		if n == 0 {
			return
		}
		runtime.Gosched()
	}
}

func TestGetOrLoadOneLoadForManyCallers(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{})
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(ctx context.Context, key string) (string, time.Duration, error) {
		loads.Add(1)
		<-release // a slow backend
		return "value of " + key, time.Minute, nil
	}
	const callers = 50
	results := make(chan string, callers)
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := tc.GetOrLoad(context.Background(), "hot", load)
			if err != nil {
				v = err.Error()
			}
			results <- v
		}()
	}
	waitFlight(tc, "hot", callers)
	close(release)
	wg.Wait()
	close(results)
	for v := range results {
		require.Equal(t, "value of hot", v)
	}
	require.Equal(t, int32(1), loads.Load())
	left, ok := c.TTL([]byte("hot"))
	require.True(t, ok)
	require.Greater(t, left, 59*time.Second)
	// Now a hit: no load.
	v, err := tc.GetOrLoad(context.Background(), "hot", load)
	require.NoError(t, err)
	require.Equal(t, "value of hot", v)
	require.Equal(t, int32(1), loads.Load())
}

func TestGetOrLoadDistinctKeysInParallel(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{})
	// Each load waits for the other to start: run one after the other, they would never end.
	started := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	other := map[string]string{"a": "b", "b": "a"}
	load := func(ctx context.Context, key string) (string, time.Duration, error) {
		close(started[key])
		select {
		case <-started[other[key]]:
			return key + "!", 0, nil
		case <-time.After(30 * time.Second): // a guard against a hang, not a timing assertion
			return "", 0, errors.New("the other key's load never started")
		}
	}
	var wg sync.WaitGroup
	for _, k := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := tc.GetOrLoad(context.Background(), k, load)
			if err != nil {
				t.Error(err)
			} else if v != k+"!" {
				t.Errorf("GetOrLoad(%s) = %q", k, v)
			}
		}()
	}
	wg.Wait()
}

func TestGetOrLoadCancelledCaller(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{})
	loadCtx := make(chan context.Context, 1)
	release := make(chan struct{})
	load := func(ctx context.Context, key string) (string, time.Duration, error) {
		loadCtx <- ctx
		<-release
		return "loaded", 0, nil
	}
	ctx1, cancel1 := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "first"))
	errs1 := make(chan error, 1)
	go func() {
		_, err := tc.GetOrLoad(ctx1, "k", load)
		errs1 <- err
	}()
	lctx := <-loadCtx
	require.Equal(t, "first", lctx.Value(ctxKey{}), "the load keeps the first caller's values")
	second := make(chan string, 1)
	go func() {
		v, err := tc.GetOrLoad(context.Background(), "k", load)
		if err != nil {
			v = err.Error()
		}
		second <- v
	}()
	waitFlight(tc, "k", 2)
	cancel1()
	require.ErrorIs(t, <-errs1, context.Canceled, "the cancelled caller returns at once, the load still blocked")
	require.NoError(t, lctx.Err(), "the load goes on for the caller still waiting")
	close(release)
	require.Equal(t, "loaded", <-second)

	// When every caller gives up, the load's context is cancelled and the flight forgotten.
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs2 := make(chan error, 1)
	go func() {
		_, err := tc.GetOrLoad(ctx2, "k2", func(ctx context.Context, key string) (string, time.Duration, error) {
			loadCtx <- ctx
			<-ctx.Done()
			return "", 0, ctx.Err()
		})
		errs2 <- err
	}()
	lctx = <-loadCtx
	cancel2()
	require.ErrorIs(t, <-errs2, context.Canceled)
	<-lctx.Done()
	noFlights(tc)
	require.False(t, c.Has([]byte("k2")))

	// A caller whose context is done already does not start a load.
	done, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := tc.GetOrLoad(done, "k3", func(context.Context, string) (string, time.Duration, error) {
		t.Error("load called for a caller already gone")
		return "", 0, nil
	})
	require.ErrorIs(t, err, context.Canceled)
}

type ctxKey struct{}

func TestGetOrLoadErrorsAndPanics(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20, MaxEntrySize: 4 << 10}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{})
	errBackend := errors.New("backend down")
	var loads atomic.Int32
	release := make(chan struct{})
	failing := func(ctx context.Context, key string) (string, time.Duration, error) {
		loads.Add(1)
		<-release
		return "", 0, errBackend
	}
	const callers = 10
	errs := getOrLoadFromMany(tc, "e", failing, callers)
	waitFlight(tc, "e", callers)
	close(release)
	for range callers {
		require.ErrorIs(t, <-errs, errBackend)
	}
	require.Equal(t, int32(1), loads.Load())
	_, err := tc.GetOrLoad(context.Background(), "e", failing) // not cached: loads again
	require.ErrorIs(t, err, errBackend)
	require.Equal(t, int32(2), loads.Load())

	// A panic reaches every caller as an error, and leaves no flight behind.
	release2 := make(chan struct{})
	panicking := func(ctx context.Context, key string) (string, time.Duration, error) {
		<-release2
		panic("boom")
	}
	errs = getOrLoadFromMany(tc, "p", panicking, callers)
	waitFlight(tc, "p", callers)
	close(release2)
	for range callers {
		err := <-errs
		require.ErrorIs(t, err, ErrLoadPanicked)
		require.Contains(t, err.Error(), "boom")
	}
	noFlights(tc)
	v, err := tc.GetOrLoad(context.Background(), "p", func(context.Context, string) (string, time.Duration, error) {
		return "fine", 0, nil
	})
	require.NoError(t, err)
	require.Equal(t, "fine", v)

	// runtime.Goexit in a load ends its flight too.
	_, err = tc.GetOrLoad(context.Background(), "x", func(context.Context, string) (string, time.Duration, error) {
		runtime.Goexit()
		return "", 0, nil
	})
	require.ErrorIs(t, err, ErrLoadPanicked)

	// A value too large for the cache goes to the callers with the cache's error.
	big := string(make([]byte, 5<<10))
	v, err = tc.GetOrLoad(context.Background(), "big", func(context.Context, string) (string, time.Duration, error) {
		return big, 0, nil
	})
	require.ErrorIs(t, err, ErrEntryTooLarge)
	require.Equal(t, big, v)
	require.False(t, tc.Has("big"))
}

func TestGetOrLoadNegativeCaching(t *testing.T) {
	leakCheck(t)
	clock := newFakeClock()
	c := newCacheT(t, Config{Capacity: 8 << 20, JanitorInterval: -1}, clock, nil)
	tc := NewTyped[string, string](c, StringCodec{}, WithNegativeCaching(time.Minute))
	var loads atomic.Int32
	missing := func(ctx context.Context, key string) (string, time.Duration, error) {
		loads.Add(1)
		return "", 0, fmt.Errorf("no row for %s: %w", key, ErrNotFound)
	}
	_, err := tc.GetOrLoad(context.Background(), "ghost", missing)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = tc.GetOrLoad(context.Background(), "ghost", missing)
	require.ErrorIs(t, err, ErrNotFound)
	require.Equal(t, int32(1), loads.Load(), "remembered: no second load")
	_, err = tc.Get("ghost")
	require.ErrorIs(t, err, ErrNotFound)
	require.False(t, tc.Has("ghost"))
	for range tc.All() {
		t.Fatal("a negative entry was yielded")
	}
	clock.advance(int64(time.Minute))
	_, err = tc.GetOrLoad(context.Background(), "ghost", missing)
	require.ErrorIs(t, err, ErrNotFound)
	require.Equal(t, int32(2), loads.Load(), "forgotten after its TTL")

	// Other errors are not remembered.
	other := func(context.Context, string) (string, time.Duration, error) {
		loads.Add(1)
		return "", 0, errors.New("timeout")
	}
	_, _ = tc.GetOrLoad(context.Background(), "flaky", other)
	_, _ = tc.GetOrLoad(context.Background(), "flaky", other)
	require.Equal(t, int32(4), loads.Load())

	// Values round-trip through the framing.
	require.NoError(t, tc.Set("real", "v"))
	v, err := tc.Get("real")
	require.NoError(t, err)
	require.Equal(t, "v", v)
	require.True(t, tc.Has("real"))
}

func TestGetOrLoadRefreshAhead(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{}, WithRefreshAhead(10*time.Second))
	var wall atomic.Int64
	wall.Store(1_000_000_000)
	tc.wall = wall.Load
	version := atomic.Int32{}
	fail := atomic.Bool{}
	loaded := make(chan struct{}, 10)
	load := func(ctx context.Context, key string) (string, time.Duration, error) {
		defer func() { loaded <- struct{}{} }()
		if fail.Load() {
			return "", 0, errors.New("backend down")
		}
		return fmt.Sprintf("v%d", version.Add(1)), time.Hour, nil
	}
	v, err := tc.GetOrLoad(context.Background(), "k", load)
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	<-loaded

	wall.Add(int64(5 * time.Second)) // younger than the interval: no refresh
	v, err = tc.GetOrLoad(context.Background(), "k", load)
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	require.Len(t, loaded, 0)

	wall.Add(int64(6 * time.Second)) // older: the old value at once, and one reload behind it
	v, err = tc.GetOrLoad(context.Background(), "k", load)
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	<-loaded
	noFlights(tc)
	v, err = tc.Get("k")
	require.NoError(t, err)
	require.Equal(t, "v2", v)

	// A failing reload keeps the old value.
	fail.Store(true)
	wall.Add(int64(11 * time.Second))
	v, err = tc.GetOrLoad(context.Background(), "k", load)
	require.NoError(t, err)
	require.Equal(t, "v2", v)
	<-loaded
	noFlights(tc)
	v, err = tc.Get("k")
	require.NoError(t, err)
	require.Equal(t, "v2", v)
}

func TestTypedAll(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[byteKey, user](c, JSONCodec[user]{})
	want := map[string]user{}
	for i := range 500 {
		u := user{ID: int64(i), Name: fmt.Sprint("user ", i)}
		want[fmt.Sprint("u", i)] = u
		require.NoError(t, tc.Set(byteKey(fmt.Sprint("u", i)), u))
	}
	var keys []byteKey
	got := map[string]user{}
	for k, v := range tc.All() {
		keys = append(keys, k) // kept past the step: each key is a copy of its own
		got[string(k)] = v
	}
	require.Equal(t, want, got)
	seen := map[string]bool{}
	for _, k := range keys {
		require.False(t, seen[string(k)], "key %s yielded twice, or overwritten by a later step", k)
		seen[string(k)] = true
	}
	require.Len(t, seen, 500)
}

// TestGetOrLoadRefreshNotFoundKeepsValue: with refresh-ahead and negative caching, a refresh
// whose load fails with ErrNotFound leaves the live value, as any failed refresh does. Would
// catch the negative entry written over it.
func TestGetOrLoadRefreshNotFoundKeepsValue(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{}, WithRefreshAhead(10*time.Second), WithNegativeCaching(time.Minute))
	var wall atomic.Int64
	wall.Store(1_000_000_000)
	tc.wall = wall.Load
	var gone atomic.Bool
	loaded := make(chan struct{}, 4)
	load := func(ctx context.Context, key string) (string, time.Duration, error) {
		defer func() { loaded <- struct{}{} }()
		if gone.Load() {
			return "", 0, fmt.Errorf("lookup %s: %w", key, ErrNotFound)
		}
		return "v1", time.Hour, nil
	}
	_, err := tc.GetOrLoad(context.Background(), "k", load)
	require.NoError(t, err)
	<-loaded
	gone.Store(true)
	wall.Add(int64(11 * time.Second))
	v, err := tc.GetOrLoad(context.Background(), "k", load) // stale: served, refreshed behind
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	<-loaded
	noFlights(tc)
	v, err = tc.Get("k")
	require.NoError(t, err)
	require.Equal(t, "v1", v)
	require.True(t, tc.Has("k"))
}

// TestFlightBackgroundNotCancelledByJoiner: a caller that joins a background flight (a
// refresh) and gives up does not cancel it: nobody who started it gave up.
func TestFlightBackgroundNotCancelledByJoiner(t *testing.T) {
	leakCheck(t)
	var g flightGroup[int]
	started, release := make(chan struct{}), make(chan struct{})
	result := make(chan error, 1)
	g.start(context.Background(), "k", func(ctx context.Context) (int, error) {
		close(started)
		<-release
		result <- ctx.Err()
		return 1, nil
	})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	joined := make(chan error, 1)
	go func() {
		_, err := g.do(ctx, "k", func(context.Context) (int, error) { return 2, nil })
		joined <- err
	}()
	for { // until the caller has joined
		g.mu.Lock()
		w := g.flights["k"].waiters
		g.mu.Unlock()
		if w == 1 {
			break
		}
		runtime.Gosched()
	}
	cancel()
	require.ErrorIs(t, <-joined, context.Canceled)
	close(release)
	require.NoError(t, <-result, "the refresh's context was cancelled by a caller that left")
}

// TestTypedHasCountsNothing: with framing, Has reads the tag without counting a lookup.
func TestTypedHasCountsNothing(t *testing.T) {
	leakCheck(t)
	c := newCacheT(t, Config{Capacity: 8 << 20}, nil, nil)
	tc := NewTyped[string, string](c, StringCodec{}, WithNegativeCaching(time.Minute))
	require.NoError(t, tc.Set("k", "v"))
	before := c.Stats()
	require.True(t, tc.Has("k"))
	require.False(t, tc.Has("absent"))
	after := c.Stats()
	require.Equal(t, before.Hits, after.Hits)
	require.Equal(t, before.Misses, after.Misses)
}
