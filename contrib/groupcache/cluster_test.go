package groupcache

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gc "github.com/groupcache/groupcache-go/v3"
	"github.com/groupcache/groupcache-go/v3/transport"
	"github.com/groupcache/groupcache-go/v3/transport/peer"
	"go.uber.org/goleak"
)

// The tests below run a real groupcache-go cluster: three daemons in this process, each with
// its HTTP transport on a free port of 127.0.0.1, each with its own Factory, talking to each
// other over loopback.

const (
	groupName   = "test"
	groupBudget = 64 << 20 // main cache 56 MiB, hot cache 8 MiB
)

// node is one daemon of a test cluster.
type node struct {
	daemon  *gc.Daemon
	group   gc.Group
	factory *Factory
	loads   atomic.Int64 // calls of this node's getter
}

// cacheStats returns the stats of the node's main or hot cache. groupcache's Group interface
// does not list CacheStats; the group it returns has it.
func (n *node) cacheStats(which gc.CacheType) gc.CacheStats {
	return n.group.(interface {
		CacheStats(gc.CacheType) gc.CacheStats
	}).CacheStats(which)
}

// peerLoads and cacheHits read the node's group counters: values fetched from a peer, and Gets
// answered from the main or hot cache.
func (n *node) peerLoads() int64 { st := n.group.GroupStats(); return st.PeerLoads.Get() }
func (n *node) cacheHits() int64 { st := n.group.GroupStats(); return st.CacheHits.Get() }

type cluster struct {
	nodes []*node
	addrs []string
}

// loader makes the value a node's getter returns for key, the how-many-th time the cluster
// loads it; the second result is its expire time (zero for none).
type loader func(key string, nth int64) ([]byte, time.Time)

// versioned is the usual loader: the key and which load this is, with no expiry.
func versioned(key string, nth int64) ([]byte, time.Time) {
	return fmt.Appendf(nil, "%s#%d", key, nth), time.Time{}
}

// startCluster starts three nodes with factories made from opts, whose getters call load. It
// stops them when the test ends, and checks that no goroutine and no listening port is left.
func startCluster(t *testing.T, opts Options, load loader) *cluster {
	t.Helper()
	// Registered first, so it runs last: after every other cleanup below.
	t.Cleanup(func() { goleak.VerifyNone(t) })

	// A client of the cluster's own, rather than http.DefaultClient, so that its idle
	// connections can be closed at the end.
	httpTransport := &http.Transport{MaxIdleConnsPerHost: 16}
	client := &http.Client{Transport: httpTransport}
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var (
		c      = &cluster{}
		perKey sync.Map // key -> *atomic.Int64: loads so far, across the cluster
	)
	for i := range 3 {
		n := &node{factory: NewFactory(opts)}
		d, err := gc.ListenAndServe(ctx, "127.0.0.1:0", gc.Options{
			CacheFactory: n.factory.New,
			Logger:       quiet,
			Transport:    transport.NewHttpTransport(transport.HttpTransportOptions{Client: client, Logger: quiet}),
		})
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		n.daemon = d
		c.nodes = append(c.nodes, n)
		c.addrs = append(c.addrs, d.ListenAddress())
		// The group exists before any peer knows of this node: a request for a group the
		// transport cannot find makes groupcache's handler panic.
		n.group, err = d.GetInstance().NewGroup(groupName, groupBudget, gc.GetterFunc(
			func(_ context.Context, key string, dest transport.Sink) error {
				n.loads.Add(1)
				ctr, _ := perKey.LoadOrStore(key, new(atomic.Int64))
				value, expire := load(key, ctr.(*atomic.Int64).Add(1))
				return dest.SetBytes(value, expire)
			}))
		if err != nil {
			t.Fatalf("node %d: NewGroup: %v", i, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// The client first: its transport may hold a connection it dialed for a request that
		// another connection served, and a server's Shutdown waits 5 s for a connection that
		// never sent a request.
		httpTransport.CloseIdleConnections()
		for i, n := range c.nodes {
			if err := n.daemon.Shutdown(ctx); err != nil {
				t.Errorf("node %d: Shutdown: %v", i, err)
			}
		}
		httpTransport.CloseIdleConnections()
		for _, n := range c.nodes {
			_ = n.factory.Close()
		}
		for _, addr := range c.addrs {
			if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				_ = conn.Close()
				t.Errorf("%s still accepts connections after Shutdown", addr)
			}
		}
	})

	var peers []peer.Info
	for _, addr := range c.addrs {
		peers = append(peers, peer.Info{Address: addr})
	}
	for i, n := range c.nodes {
		if err := n.daemon.SetPeers(ctx, peers); err != nil {
			t.Fatalf("node %d: SetPeers: %v", i, err)
		}
	}
	return c
}

// owner returns the index of the node that owns key.
func (c *cluster) owner(t *testing.T, key string) int {
	t.Helper()
	p, remote := c.nodes[0].daemon.GetInstance().PickPeer(key)
	if !remote {
		return 0
	}
	for i, addr := range c.addrs {
		if addr == p.PeerInfo().Address {
			return i
		}
	}
	t.Fatalf("key %q: owner %s is not in the cluster", key, p.PeerInfo().Address)
	return -1
}

// keyOwnedBy returns the first of prefix-0, prefix-1, ... that node i owns. The ports, and
// so the hash ring, change from run to run; which node owns the key does not.
func (c *cluster) keyOwnedBy(t *testing.T, i int, prefix string) string {
	t.Helper()
	for n := 0; ; n++ {
		if key := fmt.Sprintf("%s-%d", prefix, n); c.owner(t, key) == i {
			return key
		}
	}
}

// get reads key through node i and returns the value with its expire time.
func (c *cluster) get(t *testing.T, i int, key string) transport.ByteView {
	t.Helper()
	var v transport.ByteView
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.nodes[i].group.Get(ctx, key, transport.ByteViewSink(&v)); err != nil {
		t.Fatalf("node %d: Get(%q): %v", i, key, err)
	}
	return v
}

// loads returns each node's getter calls.
func (c *cluster) loads() [3]int64 {
	var l [3]int64
	for i, n := range c.nodes {
		l[i] = n.loads.Load()
	}
	return l
}

func (c *cluster) wantLoads(t *testing.T, want [3]int64) {
	t.Helper()
	if got := c.loads(); got != want {
		t.Fatalf("getter calls per node: %v, want %v", got, want)
	}
}

// TestClusterLoadsOncePerCluster: a key is loaded once in the whole cluster, by its owner; the
// others fetch it from the owner and keep it in their hot cache, and serve it from there.
func TestClusterLoadsOncePerCluster(t *testing.T) {
	c := startCluster(t, Options{}, versioned)
	key := c.keyOwnedBy(t, 1, "once")

	if got := c.get(t, 0, key).String(); got != key+"#1" {
		t.Fatalf("node 0: %q", got)
	}
	c.wantLoads(t, [3]int64{0, 1, 0}) // loaded by the owner, not by the node asked
	n0, n1 := c.nodes[0], c.nodes[1]
	if got := n0.peerLoads(); got != 1 {
		t.Errorf("node 0: PeerLoads %d, want 1", got)
	}
	if hot, main := n0.cacheStats(gc.HotCache).Items, n0.cacheStats(gc.MainCache).Items; hot != 1 || main != 0 {
		t.Errorf("node 0: hot cache %d items, main %d; want 1 and 0", hot, main)
	}
	if hot, main := n1.cacheStats(gc.HotCache).Items, n1.cacheStats(gc.MainCache).Items; hot != 0 || main != 1 {
		t.Errorf("node 1 (owner): hot cache %d items, main %d; want 0 and 1", hot, main)
	}

	if got := c.get(t, 2, key).String(); got != key+"#1" {
		t.Fatalf("node 2: %q", got)
	}
	c.wantLoads(t, [3]int64{0, 1, 0}) // node 2 got the owner's copy
	if got := c.nodes[2].cacheStats(gc.HotCache).Items; got != 1 {
		t.Errorf("node 2: hot cache %d items, want 1", got)
	}

	// Asked again, node 0 answers from its hot cache: no peer fetch, no load.
	if got := c.get(t, 0, key).String(); got != key+"#1" {
		t.Fatalf("node 0, second Get: %q", got)
	}
	if hits, peer := n0.cacheHits(), n0.peerLoads(); hits != 1 || peer != 1 {
		t.Errorf("node 0: CacheHits %d, PeerLoads %d; want 1 and 1", hits, peer)
	}
	if st := n0.cacheStats(gc.HotCache); st.Hits != 1 {
		t.Errorf("node 0: hot cache Hits %d, want 1", st.Hits)
	}

	// Many callers at once, on every node, for a key none has: still one load.
	key2 := c.keyOwnedBy(t, 2, "burst")
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 24)
	for i := range 24 {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			var s string
			if err := c.nodes[i%3].group.Get(context.Background(), key2, transport.StringSink(&s)); err != nil {
				errs <- err
			} else if s != key2+"#1" {
				errs <- fmt.Errorf("node %d: %q", i%3, s)
			}
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c.wantLoads(t, [3]int64{0, 1, 1})
	for i, n := range c.nodes {
		if e := n.factory.Errors(); e != (Errors{}) {
			t.Errorf("node %d: Errors() = %+v, want none", i, e)
		}
	}
}

// TestClusterUpdateAndDelete: a Set is seen by every node, and a Remove on one node is seen on
// the others: the next Get loads the key afresh.
func TestClusterUpdateAndDelete(t *testing.T) {
	c := startCluster(t, Options{}, versioned)
	key := c.keyOwnedBy(t, 2, "update")
	for i := range 3 {
		if got := c.get(t, i, key).String(); got != key+"#1" {
			t.Fatalf("node %d: %q", i, got)
		}
	}
	c.wantLoads(t, [3]int64{0, 0, 1})
	if got := c.nodes[1].cacheStats(gc.HotCache).Items; got != 1 {
		t.Fatalf("node 1: hot cache %d items, want 1", got)
	}

	ctx := context.Background()
	if err := c.nodes[1].group.Set(ctx, key, []byte("updated"), time.Time{}, false); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if got := c.get(t, i, key).String(); got != "updated" {
			t.Errorf("node %d after Set: %q, want %q", i, got, "updated")
		}
	}
	c.wantLoads(t, [3]int64{0, 0, 1})

	if err := c.nodes[0].group.Remove(ctx, key); err != nil {
		t.Fatal(err)
	}
	for i, n := range c.nodes {
		if hot, main := n.cacheStats(gc.HotCache).Items, n.cacheStats(gc.MainCache).Items; hot+main != 0 {
			t.Errorf("node %d after Remove: hot %d items, main %d; want none", i, hot, main)
		}
	}
	// Node 1 did not remove the key itself; it must not serve its copy.
	if got := c.get(t, 1, key).String(); got != key+"#2" {
		t.Errorf("node 1 after Remove on node 0: %q, want the fresh load %q", got, key+"#2")
	}
	c.wantLoads(t, [3]int64{0, 0, 2})
}

// TestClusterHonoursExpiry: the expire time a getter sets reaches the owner's main cache and
// the other nodes' hot caches exactly, and no node serves the value once it has passed.
func TestClusterHonoursExpiry(t *testing.T) {
	const ttl = time.Second // long enough for the first Gets under the race detector
	var expires sync.Map    // nth load -> its expire time
	c := startCluster(t, Options{}, func(key string, nth int64) ([]byte, time.Time) {
		e := time.Now().Add(ttl)
		expires.Store(nth, e)
		return fmt.Appendf(nil, "%s#%d", key, nth), e
	})
	key := c.keyOwnedBy(t, 1, "ttl")

	v := c.get(t, 0, key) // through the owner
	e, _ := expires.Load(int64(1))
	expire := e.(time.Time)
	if v.String() != key+"#1" || !v.Expire().Equal(expire) {
		t.Fatalf("node 0: %q expiring %v; want %q expiring %v", v.String(), v.Expire(), key+"#1", expire)
	}
	v = c.get(t, 0, key) // from node 0's hot cache
	if v.String() != key+"#1" || !v.Expire().Equal(expire) {
		t.Fatalf("node 0, hot cache: %q expiring %v; want %q expiring %v", v.String(), v.Expire(), key+"#1", expire)
	}
	if got := c.nodes[0].cacheStats(gc.HotCache).Hits; got != 1 {
		t.Fatalf("node 0: hot cache Hits %d, want 1", got)
	}
	c.wantLoads(t, [3]int64{0, 1, 0})

	waitUntil(expire)
	// Neither node 0's hot copy nor the owner's main copy may answer now.
	if got := c.get(t, 0, key).String(); got != key+"#2" {
		t.Errorf("node 0 after the expire time: %q, want the fresh load %q", got, key+"#2")
	}
	c.wantLoads(t, [3]int64{0, 2, 0})
	if got := c.nodes[0].peerLoads(); got != 2 {
		t.Errorf("node 0: PeerLoads %d, want 2", got)
	}
}

// TestClusterLargeValue: a 1 MiB value round-trips. With mmcache's default MaxEntrySize for
// these caches it is not cached, and that is counted on both nodes that tried; with a
// MaxEntrySize that takes it, it is cached.
func TestClusterLargeValue(t *testing.T) {
	big := func(key string, nth int64) ([]byte, time.Time) {
		v := bytes.Repeat([]byte{byte(nth)}, 1<<20)
		copy(v, key)
		return v, time.Time{}
	}
	check := func(t *testing.T, c *cluster, key string, nth int64) {
		t.Helper()
		want, _ := big(key, nth)
		if got := c.get(t, 0, key); !got.EqualBytes(want) {
			t.Fatalf("node 0: %d bytes, not the 1 MiB value of load %d", got.Len(), nth)
		}
	}

	t.Run("refused and counted", func(t *testing.T) {
		c := startCluster(t, Options{}, big)
		key := c.keyOwnedBy(t, 1, "big")
		check(t, c, key, 1)
		c.wantLoads(t, [3]int64{0, 1, 0})
		for _, tc := range []struct {
			node  int
			which gc.CacheType
		}{{1, gc.MainCache}, {0, gc.HotCache}} {
			n := c.nodes[tc.node]
			if st := n.cacheStats(tc.which); st.Rejected != 1 || st.Items != 0 {
				t.Errorf("node %d, cache %d: Rejected %d, Items %d; want 1 and 0", tc.node, tc.which, st.Rejected, st.Items)
			}
			if got := n.factory.Errors(); got != (Errors{TooLarge: 1}) {
				t.Errorf("node %d: Errors() = %+v, want TooLarge 1", tc.node, got)
			}
		}
		check(t, c, key, 2) // not cached anywhere: loaded again
		c.wantLoads(t, [3]int64{0, 2, 0})
	})

	t.Run("cached", func(t *testing.T) {
		c := startCluster(t, Options{MaxEntrySize: 1<<20 + 4<<10}, big)
		key := c.keyOwnedBy(t, 1, "big")
		check(t, c, key, 1)
		check(t, c, key, 1) // from node 0's hot cache
		c.wantLoads(t, [3]int64{0, 1, 0})
		if st := c.nodes[0].cacheStats(gc.HotCache); st.Items != 1 || st.Hits != 1 || st.Rejected != 0 {
			t.Errorf("node 0: hot cache %+v; want Items 1, Hits 1, Rejected 0", st)
		}
		for i, n := range c.nodes {
			if e := n.factory.Errors(); e != (Errors{}) {
				t.Errorf("node %d: Errors() = %+v, want none", i, e)
			}
		}
	})
}
