// Command cluster runs a groupcache-go cluster of three nodes on loopback, each node in a
// process of its own, drives the same bounded zipf load through it twice, once with the nodes'
// main and hot caches in mmcache (github.com/mmcache/mmcache/contrib/groupcache) and once with
// groupcache's default cache, and prints per node and side by side: throughput, hit ratio,
// peer fetches, loads, heap objects, forced-GC time and RSS.
//
// Run it from a clone of the repository:
//
//	cd examples/cluster && go run .
//	cd examples/cluster && go run . -h     # every flag: keys, value size, budget, load
//
// Each variant gets three fresh processes, so that neither the heap figures of the two
// variants nor those of the nodes mix: a node's heap objects, GC time and RSS are its own. A
// run goes through three phases, each node in parallel:
//
//  1. warm: each node loads the keys it owns, least popular first, into its main cache, with
//     no network traffic, so that both variants start the load with full caches;
//  2. load: each node's workers read keys drawn from the same zipf distribution, through their
//     own node: a hit in its main or hot cache, a fetch from the owning peer over HTTP, or a
//     load by its getter if it owns the key. The phase is bounded by -requests and -timeout;
//  3. measure: with no traffic left, each node forces collections and reads its heap and RSS.
//
// With the defaults it takes about 45 s on 2 cores, the build included, and the three nodes
// of a variant peak at about 0.85 GB of RSS together (those of the default cache; mmcache's
// take about 250 MB). -keys, -requests and -budget scale both. The counters are groupcache's: a node's Gets
// include the requests its peers sent it, so its hit ratio is that of all it served.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/groupcache/groupcache-go/v3"
	"github.com/groupcache/groupcache-go/v3/transport"
	"github.com/groupcache/groupcache-go/v3/transport/peer"

	mmgroupcache "github.com/mmcache/mmcache/contrib/groupcache"
)

// The variants, in the order they run and appear.
const (
	variantMmcache = "mmcache"
	variantDefault = "default"
)

var variantTitle = map[string]string{
	variantMmcache: "mmcache",
	variantDefault: "groupcache default",
}

const nodes = 3

type options struct {
	keys     int
	value    int
	budget   int64
	requests int
	workers  int
	zipf     float64
	ttl      time.Duration
	timeout  time.Duration
	variants string
}

func main() {
	var o options
	flag.IntVar(&o.keys, "keys", 1_000_000, "distinct keys")
	flag.IntVar(&o.value, "value", 256, "mean value size in bytes; sizes are spread evenly from half to one and a half of it")
	flag.Int64Var(&o.budget, "budget", 64<<20, "each node's group budget in bytes (groupcache gives 7/8 to the main cache, 1/8 to the hot cache)")
	flag.IntVar(&o.requests, "requests", 200_000, "reads per node in the load phase")
	flag.IntVar(&o.workers, "workers", 4, "goroutines reading through each node")
	flag.Float64Var(&o.zipf, "zipf", 1.1, "zipf exponent s (> 1) of the keys' popularity")
	flag.DurationVar(&o.ttl, "ttl", 10*time.Minute, "expire time the getter gives each value, from its load (0: none)")
	flag.DurationVar(&o.timeout, "timeout", 40*time.Second, "bound on each node's load phase")
	flag.StringVar(&o.variants, "variants", variantMmcache+","+variantDefault, "variants to run, comma-separated")
	nodeVariant := flag.String("node", "", "internal: run one node of this variant, driven over stdin and stdout")
	nodeIndex := flag.Int("index", 0, "internal: the node's index")
	flag.Parse()

	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(2)
	}
	if *nodeVariant != "" {
		if err := runNode(*nodeVariant, *nodeIndex, o); err != nil {
			fmt.Fprintf(os.Stderr, "cluster: node %d (%s): %v\n", *nodeIndex, *nodeVariant, err)
			os.Exit(1)
		}
		return
	}

	variants := strings.Split(o.variants, ",")
	fmt.Printf("3 groupcache-go v3.5.0 nodes on 127.0.0.1, each in its own process (GOMAXPROCS %d, %d CPUs)\n", runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Printf("keys %s, values %d-%d B (mean %d), budget %s per node (main %s, hot %s), ttl %v\n",
		thousands(int64(o.keys)), o.value/2, o.value/2+o.value, o.value, mib(o.budget), mib(o.budget/8*7), mib(o.budget/8), o.ttl)
	fmt.Printf("load: %s reads per node on %d workers, zipf s=%.2f\n\n", thousands(int64(o.requests)), o.workers, o.zipf)

	all := map[string][]*result{}
	for _, v := range variants {
		res, err := runVariant(v, o)
		if err != nil {
			fmt.Fprintf(os.Stderr, "cluster: %s: %v\n", v, err)
			os.Exit(1)
		}
		all[v] = res
		printNodes(os.Stdout, v, res)
	}
	printSummary(os.Stdout, variants, all)
}

func (o *options) validate() error {
	switch {
	case o.keys < nodes:
		return fmt.Errorf("-keys %d: at least %d", o.keys, nodes)
	case o.value < 2:
		return fmt.Errorf("-value %d: at least 2", o.value)
	case o.budget < 0:
		return fmt.Errorf("-budget %d is negative", o.budget)
	case o.requests < 1 || o.workers < 1:
		return errors.New("-requests and -workers must be positive")
	case o.zipf <= 1:
		return fmt.Errorf("-zipf %v: must be above 1", o.zipf)
	case o.ttl < 0 || o.timeout <= 0:
		return errors.New("-ttl must not be negative, -timeout must be positive")
	}
	for _, v := range strings.Split(o.variants, ",") {
		if _, ok := variantTitle[v]; !ok {
			return fmt.Errorf("-variants: unknown variant %q (%s or %s)", v, variantMmcache, variantDefault)
		}
	}
	return nil
}

// args are the flags a node process gets: the parent's, which every node must share.
func (o *options) args() []string {
	return []string{
		"-keys", strconv.Itoa(o.keys),
		"-value", strconv.Itoa(o.value),
		"-budget", strconv.FormatInt(o.budget, 10),
		"-requests", strconv.Itoa(o.requests),
		"-workers", strconv.Itoa(o.workers),
		"-zipf", strconv.FormatFloat(o.zipf, 'g', -1, 64),
		"-ttl", o.ttl.String(),
		"-timeout", o.timeout.String(),
		"-variants", o.variants,
	}
}

// result is what a node reports at the end, as JSON on its stdout.
type result struct {
	Node        int     // the node's index, 0 to 2
	WarmSeconds float64 // the warm phase's wall time
	WarmLoads   int64   // keys loaded in it
	Requests    int64   // reads made by this node's workers in the load phase
	Seconds     float64 // the load phase's wall time
	Mismatches  int64   // values of the wrong size or content: must be 0

	// groupcache's counters over the load phase: Gets (those from peers included), those
	// answered by the main or hot cache, values fetched from a peer, failed fetches, and
	// getter calls.
	Gets, CacheHits, PeerLoads, PeerErrors, LocalLoads int64

	MainItems, HotItems int64 // entries in the main and hot caches at the end
	MainBytes, HotBytes int64 // their keys' and values' bytes
	Evictions, Rejected int64 // of both caches, since the start

	HeapObjects uint64  // live heap objects after a forced collection
	HeapBytes   uint64  // bytes in them
	ForcedGC    float64 // median wall time of a forced runtime.GC(), seconds
	RSS         int64   // VmRSS, bytes; -1 where unknown
}

// keyName is the key of popularity rank k (0 the most popular).
func keyName(k uint64) string { return "key:" + strconv.FormatUint(k, 10) }

// valueSize is the size of key's value, from half to one and a half of the mean, so that
// every node, and the check on every read, agree on it without asking anyone.
func valueSize(key string, mean int) int {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	return mean/2 + int(h.Sum64()%uint64(mean+1))
}

// fillValue writes key's value into v: the key, then a byte that depends on the size.
func fillValue(v []byte, key string) {
	n := copy(v, key)
	for i := n; i < len(v); i++ {
		v[i] = byte(len(v))
	}
}

// validValue reports whether v is key's value, checking its size, its head and its last byte.
func validValue(v []byte, key string, mean int) bool {
	n := valueSize(key, mean)
	if len(v) != n {
		return false
	}
	m := min(len(key), n)
	return string(v[:m]) == key[:m] && (n <= len(key) || v[n-1] == byte(n))
}

// runNode is a node process: it starts a groupcache daemon on a free loopback port, and goes
// through the phases as the parent says, answering each on stdout.
func runNode(variant string, index int, o options) error {
	in := bufio.NewScanner(os.Stdin)
	await := func(cmd string) (string, error) {
		if !in.Scan() {
			return "", fmt.Errorf("waiting for %q: %v", cmd, cmp(in.Err(), io.ErrUnexpectedEOF))
		}
		rest, ok := strings.CutPrefix(in.Text(), cmd)
		if !ok {
			return "", fmt.Errorf("got %q, want %q", in.Text(), cmd)
		}
		return strings.TrimSpace(rest), nil
	}
	say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	// A client of the node's own, with enough idle connections for every worker: the default
	// keeps two per peer, and the rest would be dialled and closed request after request.
	httpTransport := &http.Transport{MaxIdleConns: 4 * o.workers * nodes, MaxIdleConnsPerHost: 4 * o.workers}
	opts := groupcache.Options{
		Logger: logger,
		Transport: transport.NewHttpTransport(transport.HttpTransportOptions{
			Client: &http.Client{Transport: httpTransport},
			Logger: logger,
		}),
	}
	var factory *mmgroupcache.Factory
	if variant == variantMmcache {
		factory = mmgroupcache.NewFactory(mmgroupcache.Options{})
		opts.CacheFactory = factory.New
		defer factory.Close() // after the daemon's Shutdown, deferred below
	}
	ctx := context.Background()
	d, err := groupcache.ListenAndServe(ctx, "127.0.0.1:0", opts)
	if err != nil {
		return err
	}
	defer func() {
		// Idle client connections first: a server waits 5 s for a connection that was dialled
		// but never sent a request. Peers still connected are cut off at the deadline; the
		// process ends right after.
		httpTransport.CloseIdleConnections()
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_ = d.Shutdown(sctx)
	}()

	expire := func() time.Time {
		if o.ttl == 0 {
			return time.Time{}
		}
		return time.Now().Add(o.ttl)
	}
	g, err := d.GetInstance().NewGroup("cluster", o.budget, groupcache.GetterFunc(
		func(_ context.Context, key string, dest transport.Sink) error {
			v := make([]byte, valueSize(key, o.value)) // as a backend's answer would be
			fillValue(v, key)
			return dest.SetBytes(v, expire())
		}))
	if err != nil {
		return err
	}
	say("addr %s", d.ListenAddress())

	line, err := await("peers")
	if err != nil {
		return err
	}
	var peers []peer.Info
	for _, addr := range strings.Split(line, ",") {
		peers = append(peers, peer.Info{Address: addr})
	}
	if err := d.SetPeers(ctx, peers); err != nil {
		return err
	}
	say("ready")

	var r result
	r.Node = index
	stats := func() groupcache.GroupStats { return g.GroupStats() }

	// Warm: the keys this node owns, least popular first, so that a main cache too small for
	// all of them keeps the popular ones.
	if _, err := await("warm"); err != nil {
		return err
	}
	start := time.Now()
	var mismatches atomic.Int64
	maxValue := o.value/2 + o.value + 1
	var wg sync.WaitGroup
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, maxValue)
			for k := o.keys - 1 - w; k >= 0; k -= o.workers {
				key := keyName(uint64(k))
				if _, remote := d.GetInstance().PickPeer(key); remote {
					continue
				}
				dst := buf
				if err := g.Get(ctx, key, transport.TruncatingByteSliceSink(&dst)); err != nil || !validValue(dst, key, o.value) {
					mismatches.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r.WarmSeconds = time.Since(start).Seconds()
	before := stats()
	r.WarmLoads = before.LocalLoads.Get()
	say("warmed")

	// Load: zipf reads through this node, bounded in count and time.
	if _, err := await("load"); err != nil {
		return err
	}
	var requests atomic.Int64
	start = time.Now()
	deadline := start.Add(o.timeout)
	for w := range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(index), uint64(w)))
			zipf := rand.NewZipf(rng, o.zipf, 1, uint64(o.keys-1))
			buf := make([]byte, maxValue)
			n := o.requests / o.workers
			if w < o.requests%o.workers {
				n++
			}
			for i := range n {
				if i%256 == 0 && time.Now().After(deadline) {
					break
				}
				key := keyName(zipf.Uint64())
				dst := buf
				if err := g.Get(ctx, key, transport.TruncatingByteSliceSink(&dst)); err != nil || !validValue(dst, key, o.value) {
					mismatches.Add(1)
				}
				requests.Add(1)
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	r.Requests = requests.Load()
	r.Mismatches = mismatches.Load()
	after := stats()
	r.Gets = after.Gets.Get() - before.Gets.Get()
	r.CacheHits = after.CacheHits.Get() - before.CacheHits.Get()
	r.PeerLoads = after.PeerLoads.Get() - before.PeerLoads.Get()
	r.PeerErrors = after.PeerErrors.Get() - before.PeerErrors.Get()
	r.LocalLoads = after.LocalLoads.Get() - before.LocalLoads.Get()
	say("loaded")

	// Measure, once no node sends requests any more.
	if _, err := await("measure"); err != nil {
		return err
	}
	cs := g.(interface {
		CacheStats(groupcache.CacheType) groupcache.CacheStats
	})
	mainStats, hotStats := cs.CacheStats(groupcache.MainCache), cs.CacheStats(groupcache.HotCache)
	r.MainItems, r.HotItems = mainStats.Items, hotStats.Items
	r.MainBytes, r.HotBytes = mainStats.Bytes, hotStats.Bytes
	r.Evictions = mainStats.Evictions + hotStats.Evictions
	r.Rejected = mainStats.Rejected + hotStats.Rejected
	runtime.GC() // the load's garbage
	var times []time.Duration
	for range 5 {
		t := time.Now()
		runtime.GC()
		times = append(times, time.Since(t))
	}
	slices.Sort(times)
	r.ForcedGC = times[len(times)/2].Seconds()
	r.HeapObjects, r.HeapBytes = heap()
	r.RSS = rss()
	out, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	say("result %s", out)
	_, err = await("exit")
	return err
}

func cmp(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// heap returns the live heap objects and their bytes, as the last collection left them.
func heap() (objects, bytes uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/objects:objects"}, {Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		objects = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		bytes = s[1].Value.Uint64()
	}
	return
}

// rss returns the process's resident set size from /proc/self/status, or -1 where there is
// none (outside Linux).
func rss() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// child is a node process as the parent sees it.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func (c *child) send(line string) error {
	_, err := io.WriteString(c.stdin, line+"\n")
	return err
}

// expect reads the child's next line, which must start with word, and returns the rest.
func (c *child) expect(word string) (string, error) {
	if !c.out.Scan() {
		return "", fmt.Errorf("node exited before %q: %v", word, cmp(c.out.Err(), io.ErrUnexpectedEOF))
	}
	rest, ok := strings.CutPrefix(c.out.Text(), word)
	if !ok {
		return "", fmt.Errorf("node said %q, want %q", c.out.Text(), word)
	}
	return strings.TrimSpace(rest), nil
}

// runVariant starts three node processes of variant, takes them through the phases together,
// and returns their results.
func runVariant(variant string, o options) (res []*result, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	// The whole variant is bounded: a node that hangs is killed when this context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 2*o.timeout+2*time.Minute)
	defer cancel()
	var children []*child
	defer func() {
		for _, c := range children {
			_ = c.stdin.Close()
			if werr := c.cmd.Wait(); werr != nil && err == nil {
				err = fmt.Errorf("node: %v", werr)
			}
		}
	}()
	for i := range nodes {
		cmd := exec.CommandContext(ctx, exe, append([]string{"-node", variant, "-index", strconv.Itoa(i)}, o.args()...)...)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		children = append(children, &child{cmd: cmd, stdin: stdin, out: sc})
	}

	var addrs []string
	for _, c := range children {
		addr, err := c.expect("addr")
		if err != nil {
			return nil, err
		}
		addrs = append(addrs, addr)
	}
	// Every phase starts on every node at once, and the next waits for all of them: a node
	// must not get requests before its peers know each other, nor be measured while peers
	// still read through it.
	phase := func(cmd, reply string) ([]string, error) {
		for _, c := range children {
			if err := c.send(cmd); err != nil {
				return nil, err
			}
		}
		var replies []string
		for _, c := range children {
			r, err := c.expect(reply)
			if err != nil {
				return nil, err
			}
			replies = append(replies, r)
		}
		return replies, nil
	}
	fmt.Fprintf(os.Stderr, "%s: nodes on %s: warming...", variant, strings.Join(addrs, " "))
	if _, err := phase("peers "+strings.Join(addrs, ","), "ready"); err != nil {
		return nil, err
	}
	if _, err := phase("warm", "warmed"); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, " loading...")
	if _, err := phase("load", "loaded"); err != nil {
		return nil, err
	}
	// One node at a time: collections timed side by side would share the CPUs.
	var replies []string
	for _, c := range children {
		if err := c.send("measure"); err != nil {
			return nil, err
		}
		r, err := c.expect("result")
		if err != nil {
			return nil, err
		}
		replies = append(replies, r)
	}
	fmt.Fprintf(os.Stderr, " done\n")
	for _, line := range replies {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("node's result %q: %v", line, err)
		}
		if r.Mismatches != 0 {
			return nil, fmt.Errorf("node %d read %d wrong values", r.Node, r.Mismatches)
		}
		res = append(res, &r)
	}
	for _, c := range children {
		if err := c.send("exit"); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func printNodes(w io.Writer, variant string, res []*result) {
	var warm, load float64
	for _, r := range res {
		warm, load = max(warm, r.WarmSeconds), max(load, r.Seconds)
	}
	fmt.Fprintf(w, "%s (warm %.1f s, load %.1f s)\n", variantTitle[variant], warm, load)
	fmt.Fprintf(w, "%-6s %10s %8s %10s %10s %9s %9s %10s %9s %9s %12s %10s %10s %10s\n",
		"node", "reads/s", "hit", "gets", "peer", "loads", "warm", "main", "hot", "rejected", "heap", "heap", "forced", "RSS")
	fmt.Fprintf(w, "%-6s %10s %8s %10s %10s %9s %9s %10s %9s %9s %12s %10s %10s %10s\n",
		"", "", "ratio", "", "fetches", "", "loads", "items", "items", "", "objects", "bytes", "GC", "")
	for _, r := range res {
		fmt.Fprintf(w, "%-6d %10s %8s %10s %10s %9s %9s %10s %9s %9s %12s %10s %10s %10s\n",
			r.Node, thousands(int64(float64(r.Requests)/r.Seconds)), percent(r.CacheHits, r.Gets),
			thousands(r.Gets), thousands(r.PeerLoads), thousands(r.LocalLoads), thousands(r.WarmLoads),
			thousands(r.MainItems), thousands(r.HotItems), thousands(r.Rejected),
			thousands(int64(r.HeapObjects)), mib(int64(r.HeapBytes)), millis(r.ForcedGC), rssText(r.RSS))
	}
	var errs int64
	for _, r := range res {
		errs += r.PeerErrors
	}
	if errs != 0 {
		fmt.Fprintf(w, "peer errors: %d\n", errs)
	}
	fmt.Fprintln(w)
}

// printSummary prints the variants side by side as a markdown table: cluster totals, and the
// mean or the largest of the nodes' process figures.
func printSummary(w io.Writer, variants []string, all map[string][]*result) {
	type row struct {
		label string
		cell  func(res []*result) string
	}
	sum := func(res []*result, f func(*result) int64) int64 {
		var s int64
		for _, r := range res {
			s += f(r)
		}
		return s
	}
	rows := []row{
		{"throughput, reads/s (3 nodes)", func(res []*result) string {
			var longest float64
			for _, r := range res {
				longest = max(longest, r.Seconds)
			}
			return thousands(int64(float64(sum(res, func(r *result) int64 { return r.Requests })) / longest))
		}},
		{"hit ratio (main + hot, all gets)", func(res []*result) string {
			return percent(sum(res, func(r *result) int64 { return r.CacheHits }), sum(res, func(r *result) int64 { return r.Gets }))
		}},
		{"peer fetches", func(res []*result) string { return thousands(sum(res, func(r *result) int64 { return r.PeerLoads })) }},
		{"loads (getter calls)", func(res []*result) string { return thousands(sum(res, func(r *result) int64 { return r.LocalLoads })) }},
		{"items cached (main + hot, 3 nodes)", func(res []*result) string {
			return thousands(sum(res, func(r *result) int64 { return r.MainItems + r.HotItems }))
		}},
		{"heap objects per node (mean)", func(res []*result) string {
			return thousands(sum(res, func(r *result) int64 { return int64(r.HeapObjects) }) / int64(len(res)))
		}},
		{"forced GC per node (mean of medians)", func(res []*result) string {
			var s float64
			for _, r := range res {
				s += r.ForcedGC
			}
			return millis(s / float64(len(res)))
		}},
		{"RSS per node (mean)", func(res []*result) string {
			return rssText(sum(res, func(r *result) int64 { return r.RSS }) / int64(len(res)))
		}},
	}
	fmt.Fprint(w, "| |")
	for _, v := range variants {
		fmt.Fprintf(w, " %s |", variantTitle[v])
	}
	fmt.Fprint(w, "\n|---|")
	for range variants {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	for _, r := range rows {
		fmt.Fprintf(w, "| %s |", r.label)
		for _, v := range variants {
			fmt.Fprintf(w, " %s |", r.cell(all[v]))
		}
		fmt.Fprintln(w)
	}
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func percent(n, of int64) string {
	if of == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func millis(s float64) string { return fmt.Sprintf("%.2f ms", s*1000) }

func rssText(b int64) string {
	if b < 0 {
		return "-"
	}
	return mib(b)
}
