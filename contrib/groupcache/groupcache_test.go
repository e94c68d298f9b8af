package groupcache

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/groupcache/groupcache-go/v3/transport"
	"go.uber.org/goleak"

	"github.com/mmcache/mmcache"
)

// TestMain fails the package if any goroutine outlives the tests: the caches' janitors, the
// daemons' servers and the HTTP clients' connections must all be gone.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newCache makes a cache through f and closes the factory when the test ends.
func newCache(t *testing.T, f *Factory, budget int64) *Cache {
	t.Helper()
	c, err := f.NewCache(budget)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return c
}

// waitUntil blocks until the wall clock has passed at, on a timer: there is nothing else to
// wait for when the condition is the time itself.
func waitUntil(at time.Time) {
	for d := time.Until(at); d >= 0; d = time.Until(at) {
		<-time.After(d + time.Millisecond)
	}
}

func TestCapacityFollowsTheBudget(t *testing.T) {
	f := NewFactory(Options{})
	for _, tc := range []struct {
		budget int64
		want   int
	}{
		{56 << 20, 56 << 20},          // groupcache's main cache for a 64 MiB group
		{8 << 20, 8 << 20},            // and its hot cache
		{0, DefaultUnboundedCapacity}, // groupcache's "unbounded"
		{1000, mmcache.MinCapacity},   // under what mmcache can map
		{mmcache.MinCapacity, mmcache.MinCapacity},
	} {
		c := newCache(t, f, tc.budget)
		if got := c.Config().Capacity; got != tc.want {
			t.Errorf("budget %d: Capacity %d, want %d", tc.budget, got, tc.want)
		}
		if got := c.MmcacheStats().Capacity; got != tc.want {
			t.Errorf("budget %d: mapped %d bytes, want %d", tc.budget, got, tc.want)
		}
		if got := c.Budget(); got != tc.budget {
			t.Errorf("Budget() = %d, want %d", got, tc.budget)
		}
	}

	g := NewFactory(Options{UnboundedCapacity: 8 << 20})
	if got := newCache(t, g, 0).Config().Capacity; got != 8<<20 {
		t.Errorf("budget 0 with UnboundedCapacity 8 MiB: Capacity %d", got)
	}
}

func TestValueAndExpireRoundTrip(t *testing.T) {
	c := newCache(t, NewFactory(Options{}), 8<<20)
	far := time.Now().Add(time.Hour)                        // with a monotonic reading, as a Getter makes it
	past2262 := time.Date(2300, 1, 2, 3, 4, 5, 6, time.UTC) // beyond UnixNano's range
	for _, tc := range []struct {
		key    string
		value  transport.ByteView
		expire time.Time
	}{
		{"bytes", transport.ByteViewWithExpire([]byte("value"), far), far},
		{"string", transport.ByteViewFrom("a string"), time.Time{}},
		{"empty", transport.ByteViewWithExpire(nil, time.Time{}), time.Time{}},
		{"far", transport.ByteViewWithExpire([]byte("x"), past2262), past2262},
		{"", transport.ByteViewFrom("empty key"), time.Time{}},
	} {
		c.Add(tc.key, tc.value)
		got, ok := c.Get(tc.key)
		if !ok {
			t.Fatalf("%q: miss right after Add", tc.key)
		}
		if !got.Equal(tc.value) {
			t.Errorf("%q: got %q, want %q", tc.key, got.String(), tc.value.String())
		}
		if !got.Expire().Equal(tc.expire) || got.Expire().IsZero() != tc.expire.IsZero() {
			t.Errorf("%q: expire %v, want %v", tc.key, got.Expire(), tc.expire)
		}
	}
	if e := c.Errors(); e != (Errors{}) {
		t.Errorf("Errors() = %+v, want none", e)
	}
}

// TestLocalCopyNeverOutlivesItsExpireTime: a hit is returned only before the expire time the
// value was added with, and the first lookup once that time has passed misses.
func TestLocalCopyNeverOutlivesItsExpireTime(t *testing.T) {
	c := newCache(t, NewFactory(Options{}), 8<<20)
	expire := time.Now().Add(500 * time.Millisecond)
	c.Add("k", transport.ByteViewWithExpire([]byte("v"), expire))
	c.Add("forever", transport.ByteViewFrom("f"))

	if got, ok := c.Get("k"); !ok || got.String() != "v" {
		t.Fatalf("Get before the expire time = %q, %v", got.String(), ok)
	}
	waitUntil(expire)
	if got, ok := c.Get("k"); ok {
		t.Fatalf("Get at %v, after the expire time %v, returned %q", time.Now(), expire, got.String())
	}
	if _, ok := c.Get("forever"); !ok {
		t.Fatal("a value without an expire time expired")
	}
	st := c.Stats()
	if st.Gets != 3 || st.Hits != 2 {
		t.Errorf("Gets %d, Hits %d; want 3 and 2", st.Gets, st.Hits)
	}
}

// TestExpiredAddReplaces: a value whose expire time has passed is not stored, and the key
// does not keep serving what it held before.
func TestExpiredAddReplaces(t *testing.T) {
	f := NewFactory(Options{})
	c := newCache(t, f, 8<<20)
	c.Add("k", transport.ByteViewFrom("old"))
	c.Add("k", transport.ByteViewWithExpire([]byte("new"), time.Now().Add(-time.Second)))
	if got, ok := c.Get("k"); ok {
		t.Fatalf("Get = %q after an Add of an expired value", got.String())
	}
	want := Errors{Expired: 1}
	if got := c.Errors(); got != want {
		t.Errorf("Errors() = %+v, want %+v", got, want)
	}
	if got := f.Errors(); got != want {
		t.Errorf("Factory.Errors() = %+v, want %+v", got, want)
	}
	if got := c.Stats().Rejected; got != 0 {
		t.Errorf("Rejected = %d, want 0: an expired value is not an error", got)
	}
}

// TestRefusedAddIsCountedAndRemovesTheOldValue: a value mmcache refuses is counted, reported,
// and does not leave the key serving the value it was meant to replace.
func TestRefusedAddIsCountedAndRemovesTheOldValue(t *testing.T) {
	type report struct {
		key string
		n   int
		err error
	}
	var reports []report // OnError runs on the goroutine of Add, this test's
	f := NewFactory(Options{OnError: func(key string, n int, err error) {
		reports = append(reports, report{key, n, err})
	}})
	c := newCache(t, f, 8<<20) // mmcache's default MaxEntrySize for 8 MiB is far below 1 MiB
	c.Add("k", transport.ByteViewFrom("old"))
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	c.Add("k", transport.ByteViewWithExpire(big, time.Time{}))

	if got, ok := c.Get("k"); ok {
		t.Fatalf("Get returned %d bytes: the old value outlived a refused replacement", got.Len())
	}
	want := Errors{TooLarge: 1}
	if got := c.Errors(); got != want {
		t.Errorf("Errors() = %+v, want %+v", got, want)
	}
	if got := f.Errors(); got != want {
		t.Errorf("Factory.Errors() = %+v, want %+v", got, want)
	}
	if got := c.Stats().Rejected; got != 1 {
		t.Errorf("Rejected = %d, want 1", got)
	}
	if len(reports) != 1 || reports[0].key != "k" || reports[0].n != 1<<20 || !errors.Is(reports[0].err, mmcache.ErrEntryTooLarge) {
		t.Errorf("OnError calls: %+v, want one for k, 1 MiB, ErrEntryTooLarge", reports)
	}
}

// TestStatsMapping checks every field of the CacheStats groupcache reads.
func TestStatsMapping(t *testing.T) {
	c := newCache(t, NewFactory(Options{}), 8<<20)
	payload := 0
	for i := range 10 {
		k, v := fmt.Sprintf("key-%d", i), strings.Repeat("v", i)
		c.Add(k, transport.ByteViewFrom(v))
		payload += len(k) + len(v)
	}
	for i := range 15 { // 10 hits, 5 misses
		c.Get(fmt.Sprintf("key-%d", i))
	}
	c.Remove("key-0")
	payload -= len("key-0")

	st := c.Stats()
	if st.Gets != 15 || st.Hits != 10 || st.Items != 9 || st.Bytes != int64(payload) || st.Evictions != 0 || st.Rejected != 0 {
		t.Errorf("Stats() = %+v; want Gets 15, Hits 10, Items 9, Bytes %d, Evictions 0, Rejected 0", st, payload)
	}
	if got := c.Bytes(); got != int64(payload) {
		t.Errorf("Bytes() = %d, want %d", got, payload)
	}
}

// TestBudgetBoundsTheCache fills a cache with four times its budget: it evicts, and its
// memory, index included, stays within the budget.
func TestBudgetBoundsTheCache(t *testing.T) {
	const budget = 2 << 20
	c := newCache(t, NewFactory(Options{}), budget)
	value := bytes.Repeat([]byte{'v'}, 1000)
	const n = 4 * budget / 1000
	for i := range n {
		c.Add(fmt.Sprintf("key-%06d", i), transport.ByteViewWithExpire(value, time.Time{}))
	}
	st, mst := c.Stats(), c.MmcacheStats()
	if st.Items+st.Evictions != n {
		t.Errorf("Items %d + Evictions %d = %d, want the %d entries added", st.Items, st.Evictions, st.Items+st.Evictions, n)
	}
	if st.Evictions == 0 || st.Bytes > budget || mst.UsedBytes+mst.ReservedBytes > budget {
		t.Errorf("after %d bytes into a %d-byte budget: Evictions %d, Bytes %d, mapping used %d + reserved %d",
			n*1000, budget, st.Evictions, st.Bytes, mst.UsedBytes, mst.ReservedBytes)
	}
	if e := c.Errors(); e != (Errors{}) {
		t.Errorf("Errors() = %+v, want none", e)
	}
}

// TestMaxEntrySizeLoweredToFit: a MaxEntrySize that fits the main cache but not the hot cache,
// an eighth of it, is lowered for the hot cache rather than failing the group.
func TestMaxEntrySizeLoweredToFit(t *testing.T) {
	const want = 1<<20 + 4<<10
	f := NewFactory(Options{MaxEntrySize: want})
	mainCache := newCache(t, f, 56<<20)
	if got := mainCache.Config().MaxEntrySize; got != want {
		t.Errorf("56 MiB cache: MaxEntrySize %d, want %d", got, want)
	}
	small := newCache(t, f, 2<<20)
	got := small.Config().MaxEntrySize
	if got >= want || got == 0 {
		t.Errorf("2 MiB cache: MaxEntrySize %d, want it lowered below %d", got, want)
	}
	// What it got, it takes.
	v := bytes.Repeat([]byte{'x'}, got-headerLen-len("k"))
	small.Add("k", transport.ByteViewWithExpire(v, time.Time{}))
	if _, ok := small.Get("k"); !ok {
		t.Errorf("a value of the lowered MaxEntrySize (%d) was not stored: %+v", got, small.Errors())
	}
}

func TestFactoryCloseClosesItsCaches(t *testing.T) {
	f := NewFactory(Options{})
	c1, c2 := newCache(t, f, 8<<20), newCache(t, f, 1<<20)
	c1.Add("k", transport.ByteViewFrom("v"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := c1.Get("k"); ok {
		t.Error("Get hit on a cache the factory closed")
	}
	c2.Add("k", transport.ByteViewFrom("v"))
	if got := c2.Errors(); got != (Errors{Closed: 1}) {
		t.Errorf("Add after Close: Errors() = %+v, want Closed 1", got)
	}
	if _, err := f.New(1 << 20); !errors.Is(err, ErrFactoryClosed) {
		t.Errorf("New after Close: %v, want ErrFactoryClosed", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// liveCaches is the number of caches of f not yet collected.
func liveCaches(f *Factory) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.caches {
		if w.Value() != nil {
			n++
		}
	}
	return n
}

// TestDroppedCacheIsCollected: the factory does not keep a cache groupcache dropped alive;
// mmcache's cleanup then unmaps it and stops its janitor, which goleak checks.
func TestDroppedCacheIsCollected(t *testing.T) {
	f := NewFactory(Options{})
	defer f.Close()
	func() {
		c, err := f.New(4 << 20)
		if err != nil {
			t.Fatal(err)
		}
		c.Add("k", transport.ByteViewFrom("v"))
	}()
	// The collector runs when asked; what it finds is up to it, so poll, with a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for liveCaches(f) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("a dropped cache is still reachable after 10 s of forced collections")
		}
		runtime.GC()
	}
	goleak.VerifyNone(t) // the janitor of the collected cache is gone too
}
