package mmcache

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// A snapshot is a cache's live entries as a stream of bytes that any cache can load, whatever
// its Capacity, shard count or platform. It is written by Save and read by Load; the format is
// documented in docs/persistence.md. All integers are little-endian.
//
//	header  | magic "mmcsnap\x00" | version u32 | flags u32 | saved i64 | check u64 |
//	block   | entries u32 | bytes u32 | payload (bytes) | check u64 |       (repeated)
//	end     | 0 u32       | 8 u32     | total entries u64 | check u64 |
//
//	payload: for each entry, uvarint key length, uvarint value length, uvarint time to live
//	         left in nanoseconds when the Save began (0: never expires), key, value
//
// saved is the wall clock (Unix nanoseconds) when the Save began; a loader takes the time
// since then off each time to live, so an entry that expired while the snapshot sat on disk is
// not loaded. Each check is the xxhash64 of everything before it in its header or block. A
// block is verified whole before any of its entries is stored, and the end block says how many
// entries the stream holds, so that a stream cut short at a block's boundary is caught too.

const (
	snapshotMagic   = "mmcsnap\x00"
	snapshotVersion = 1

	snapshotHeaderSize = 8 + 4 + 4 + 8 + 8
	blockHeadSize      = 4 + 4
	// blockTarget is the payload at which Save closes a block; a block holds at least one
	// entry, so one entry larger than this makes a block of its own.
	blockTarget = 1 << 20
	// maxBlockBytes bounds a block's payload: one entry as large as MaxEntrySize allows and its
	// lengths, well under what an int holds on 32-bit platforms.
	maxBlockBytes = maxMaxEntry + 3*binary.MaxVarintLen64
	// readChunk is the most Load reads into its buffer at a time, so that a corrupt length
	// costs no more memory than the stream really holds.
	readChunk = 1 << 20
)

// ErrBadSnapshot is wrapped by the error [Cache.Load] returns for a stream that is not a
// snapshot, is of an unknown version, is cut short or fails a checksum. The entries of the
// blocks before the bad one stay stored; none of the bad block's is.
var ErrBadSnapshot = errors.New("mmcache: bad snapshot")

// Save writes the cache's live entries to w as a snapshot that [Cache.Load] reads back, into
// this cache or any other. Each entry keeps the time to live it has left. The cache goes on
// serving while Save runs: it copies a batch of entries at a time under a shard's read lock,
// which readers never wait for and a writer of that shard waits for at most one batch. What it
// writes has the consistency of [Cache.All]: every entry live for the whole Save is in the
// snapshot, one written or removed meanwhile may be or not. A snapshot holds each key once.
//
// Several goroutines (up to GOMAXPROCS) copy and encode shards at once; only the calling
// goroutine writes to w. Save buffers its writes and returns the first error from w, or
// [ErrClosed] if the cache is closed before it ends; the snapshot is then incomplete, and Load
// rejects it.
func (c *Cache) Save(w io.Writer) error {
	e := c.engine()
	defer runtime.KeepAlive(c)
	if e.closing.Load() {
		return ErrClosed
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	var head [snapshotHeaderSize]byte
	copy(head[:], snapshotMagic)
	binary.LittleEndian.PutUint32(head[8:], snapshotVersion)
	sv := &saver{e: e, base: e.now()}
	binary.LittleEndian.PutUint64(head[16:], uint64(time.Now().UnixNano()))
	binary.LittleEndian.PutUint64(head[24:], xxhash.Sum64(head[:24]))
	if _, err := bw.Write(head[:]); err != nil {
		return err
	}
	workers := min(runtime.GOMAXPROCS(0), len(e.shards), 8)
	sv.full = make(chan *saveBlock, workers)
	sv.free = make(chan *saveBlock, 2*workers)
	for range 2 * workers {
		sv.free <- &saveBlock{buf: make([]byte, blockHeadSize, blockHeadSize+blockTarget+8)}
	}
	var wg sync.WaitGroup
	wg.Add(workers)
	for range workers {
		go func() {
			defer wg.Done()
			sv.work()
		}()
	}
	go func() {
		wg.Wait()
		close(sv.full)
	}()
	defer func() {
		if p := recover(); p != nil { // w panicked: stop the workers, let them finish, go on
			sv.stop.Store(true)
			go func() {
				for b := range sv.full {
					sv.free <- b
				}
			}()
			panic(p)
		}
	}()
	var err error
	total := uint64(0)
	for b := range sv.full {
		if err == nil {
			if err = writeBlock(bw, b.buf, b.n); err != nil {
				sv.stop.Store(true)
			}
			total += uint64(b.n)
		}
		b.buf, b.n = b.buf[:blockHeadSize], 0
		sv.free <- b
	}
	switch {
	case sv.panic != nil:
		panic(sv.panic)
	case err != nil:
		return err
	case sv.closed.Load():
		return ErrClosed
	}
	end := binary.LittleEndian.AppendUint64(make([]byte, blockHeadSize, blockHeadSize+16), total)
	if err := writeBlock(bw, end, 0); err != nil {
		return err
	}
	return bw.Flush()
}

// saver is the state that Save's goroutines share: each takes the next shard not taken, copies
// its entries a batch at a time and encodes them into blocks, which the caller writes.
type saver struct {
	e      *engine
	base   int64 // the cache's clock when the Save began: times to live are counted from it
	next   atomic.Int64
	full   chan *saveBlock // encoded, to be written
	free   chan *saveBlock // written, to be filled again
	stop   atomic.Bool     // w failed: the workers stop
	closed atomic.Bool     // the cache was closed during the Save
	mu     sync.Mutex
	panic  any // a worker's, raised again by Save
}

// saveBlock is a block being encoded: its head's room, then its payload.
type saveBlock struct {
	buf []byte
	n   uint32 // entries
}

func (sv *saver) work() {
	defer func() {
		if p := recover(); p != nil {
			sv.mu.Lock()
			sv.panic = p
			sv.mu.Unlock()
			sv.stop.Store(true)
		}
	}()
	it := newIterator()
	b := <-sv.free
	defer func() { sv.full <- b }() // the last block, even if empty or after a panic
	for !sv.stop.Load() {
		i := int(sv.next.Add(1) - 1)
		if i >= len(sv.e.shards) {
			return
		}
		open := sv.e.iterateShard(&sv.e.shards[i], it, true, func(k, v []byte, expire int64) bool {
			left := uint64(0)
			if expire != 0 {
				left = uint64(expire - sv.base) // positive: the batch was copied after base
			}
			if b.n > 0 && len(b.buf)-blockHeadSize+len(k)+len(v)+3*binary.MaxVarintLen64 > blockTarget {
				sv.full <- b
				b = <-sv.free
			}
			b.buf = binary.AppendUvarint(b.buf, uint64(len(k)))
			b.buf = binary.AppendUvarint(b.buf, uint64(len(v)))
			b.buf = binary.AppendUvarint(b.buf, left)
			b.buf = append(append(b.buf, k...), v...)
			b.n++
			return !sv.stop.Load()
		})
		if !open && !sv.stop.Load() {
			sv.closed.Store(true)
			return
		}
	}
}

// writeBlock fills in block's head (n entries, its payload's length), appends its checksum and
// writes it.
func writeBlock(w io.Writer, block []byte, n uint32) error {
	if n == 0 && len(block) == blockHeadSize {
		return nil // a worker's last block, empty
	}
	binary.LittleEndian.PutUint32(block[0:], n)
	binary.LittleEndian.PutUint32(block[4:], uint32(len(block)-blockHeadSize))
	block = binary.LittleEndian.AppendUint64(block, xxhash.Sum64(block))
	_, err := w.Write(block)
	return err
}

// Load reads a snapshot written by [Cache.Save] from r and stores its entries in c, each with
// the time to live it had left when the Save began, less the time since. Entries that have
// expired since are skipped, and so are entries larger than c's MaxEntrySize; a snapshot
// larger than c is stored all the same, and c evicts to make room as any Set would. Load
// overwrites entries of c under the same keys. It returns how many entries it stored.
//
// Load verifies each block of the stream before it stores any of its entries. A stream that
// is not a snapshot, is cut short or fails a checksum gives an error wrapping [ErrBadSnapshot]:
// the entries of the blocks before the bad one stay stored, and none of the bad block's.
// Errors from r are returned as they are (io.EOF before the end block is a cut-short stream),
// and so are the errors of the Sets Load makes ([ErrClosed], [ErrBusy]).
func (c *Cache) Load(r io.Reader) (int, error) {
	e := c.engine()
	defer runtime.KeepAlive(c)
	if e.closing.Load() {
		return 0, ErrClosed
	}
	var head [snapshotHeaderSize]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, cutShort(err, "header")
	}
	switch {
	case string(head[:8]) != snapshotMagic:
		return 0, fmt.Errorf("%w: not a snapshot (magic %q)", ErrBadSnapshot, head[:8])
	case binary.LittleEndian.Uint64(head[24:]) != xxhash.Sum64(head[:24]):
		return 0, fmt.Errorf("%w: header checksum mismatch", ErrBadSnapshot)
	case binary.LittleEndian.Uint32(head[8:]) != snapshotVersion:
		return 0, fmt.Errorf("%w: version %d, this package reads version %d", ErrBadSnapshot, binary.LittleEndian.Uint32(head[8:]), snapshotVersion)
	}
	elapsed := max(time.Now().UnixNano()-int64(binary.LittleEndian.Uint64(head[16:])), 0)
	l := newLoader(e, uint64(elapsed))
	defer l.stopWorkers() // also if r panics
	seen := uint64(0)     // entries in the blocks read so far
	for blocks := 0; ; blocks++ {
		b := l.buffer()
		var n uint32
		var err error
		if b.buf, n, err = readBlock(r, b.buf); err == nil {
			if payload := b.buf[blockHeadSize : len(b.buf)-8]; n == 0 { // the end block
				if len(payload) != 8 || binary.LittleEndian.Uint64(payload) != seen {
					err = fmt.Errorf("%w: the end block does not count the %d entries read", ErrBadSnapshot, seen)
				}
			} else {
				b.ents, err = parseBlock(b.ents[:0], payload, n)
				seen += uint64(n)
			}
		}
		if err != nil || n == 0 {
			if err != nil {
				err = fmt.Errorf("%w (block %d)", err, blocks)
			}
			return l.finish(err)
		}
		if !l.store(b) {
			return l.finish(nil)
		}
	}
}

// loader stores verified blocks of a snapshot from several goroutines: Sets of keys chosen at
// random are bound by memory latency, and two cores make about twice as many as one.
type loader struct {
	e        *engine
	elapsed  uint64 // nanoseconds from the Save to the Load, taken off every time to live
	jobs     chan *loadBlock
	free     chan *loadBlock
	wg       sync.WaitGroup
	stopOnce sync.Once
	stored   atomic.Int64
	failed   atomic.Bool
	mu       sync.Mutex
	err      error // the first error of a Set
	panic    any   // the first panic of a Set (an OnRemoval callback's), raised again by finish
}

// loadBlock is a block read and verified, and its entries: slices of buf.
type loadBlock struct {
	buf  []byte
	ents []snapEntry
}

func newLoader(e *engine, elapsed uint64) *loader {
	workers := min(runtime.GOMAXPROCS(0), 8)
	l := &loader{e: e, elapsed: elapsed, jobs: make(chan *loadBlock), free: make(chan *loadBlock, workers+1)}
	for range workers + 1 {
		l.free <- &loadBlock{}
	}
	l.wg.Add(workers)
	for i := range workers {
		go l.work(i * len(e.shards) / workers)
	}
	return l
}

// buffer returns a block whose Sets are done, to read the next block into.
func (l *loader) buffer() *loadBlock { return <-l.free }

// store hands b to a worker; false once a Set has failed.
func (l *loader) store(b *loadBlock) bool {
	if l.failed.Load() {
		l.free <- b
		return false
	}
	l.jobs <- b
	return true
}

// finish waits for the workers and returns the count of entries stored and the first error:
// a Set's, else readErr. A panic in a Set goes on from here.
func (l *loader) finish(readErr error) (int, error) {
	l.stopWorkers()
	if l.panic != nil {
		panic(l.panic)
	}
	if l.err != nil {
		return int(l.stored.Load()), l.err
	}
	return int(l.stored.Load()), readErr
}

// stopWorkers lets the workers finish their blocks and end; it waits for them.
func (l *loader) stopWorkers() {
	l.stopOnce.Do(func() {
		close(l.jobs)
		l.wg.Wait()
	})
}

// work stores blocks until there are no more. It visits the shards from first on, round the
// ring: workers that start at different shards do not queue for the same lock block after
// block.
func (l *loader) work(first int) {
	defer l.wg.Done()
	w := loadWork{first: first}
	for b := range l.jobs {
		if !l.failed.Load() {
			l.setAll(&w, b.ents)
		}
		l.free <- b
	}
}

// loadWork is a worker's scratch space, reused from block to block.
type loadWork struct {
	hashes []uint64
	expire []int64
	order  []int32 // entries by shard
	start  []int32 // where each shard's entries begin in order
	next   []int32 // where the next entry of each shard goes in order
	// touched keeps the loads of setRun's first pass from being optimized away.
	touched byte
	first   int // the shard the worker visits first
}

// loadRun is how many entries of a shard a worker stores under one hold of its lock: enough to
// spare most of the lock's cost, few enough that readers of the shard, which retry while a
// writer holds it, wait a few microseconds at most.
const loadRun = 32

// setAll stores ents, stopping at the first Set that fails. Without OnRemoval, it stores them
// shard by shard, loadRun at a time under one hold of the shard's lock, and looks each key up
// only under it: a snapshot's keys are mostly new, so the lock-free look ahead that a Set
// makes would mostly find nothing.
func (l *loader) setAll(w *loadWork, ents []snapEntry) {
	defer func() {
		if p := recover(); p != nil {
			l.fail(nil, p)
		}
	}()
	e := l.e
	if e.reportsRemovals {
		for _, en := range ents {
			if ttl, live := l.ttl(&en); live {
				if !l.stored1(e.set(en.key, en.value, ttl)) {
					return
				}
			}
		}
		return
	}
	// Bucket the live entries that fit by shard: a counting sort on the shard's bits.
	n := len(e.shards)
	w.hashes, w.expire = slices.Grow(w.hashes[:0], len(ents))[:len(ents)], slices.Grow(w.expire[:0], len(ents))[:len(ents)]
	w.order = slices.Grow(w.order[:0], len(ents))[:len(ents)]
	w.start = slices.Grow(w.start[:0], n+1)[:n+1]
	clear(w.start)
	for i := range ents {
		en := &ents[i]
		ttl, live := l.ttl(en)
		if !live || len(en.key) > maxKeyLen || len(en.value) > e.lay.maxEntry-len(en.key) {
			w.expire[i] = -1 // skipped
			continue
		}
		h := e.hash(en.key)
		w.hashes[i], w.expire[i] = h, e.expiry(ttl)
		w.start[h&e.mask+1]++
	}
	for i := 1; i <= n; i++ {
		w.start[i] += w.start[i-1]
	}
	w.next = append(w.next[:0], w.start[:n]...)
	for i := range ents {
		if w.expire[i] >= 0 {
			si := w.hashes[i] & e.mask
			w.order[w.next[si]] = int32(i)
			w.next[si]++
		}
	}
	for k := range n {
		si := (w.first + k) % n
		for lo := int(w.start[si]); lo < int(w.start[si+1]); lo += loadRun {
			hi := min(lo+loadRun, int(w.start[si+1]))
			stored, err := e.shards[si].setRun(ents, w, w.order[lo:hi])
			l.stored.Add(int64(stored))
			if err != nil && !l.stored1(err) {
				return
			}
		}
	}
}

// setRun stores the entries of ents that run names, all of shard s, under one hold of its lock.
// It returns how many it stored and the error that stopped it.
func (s *shard) setRun(ents []snapEntry, w *loadWork, run []int32) (stored int, err error) {
	s.lock()
	defer s.unlock()
	mayPanic(pointWriteLocked)
	if s.closed {
		return 0, ErrClosed
	}
	// First each entry's home bucket, in a loop of independent loads that the processor
	// overlaps: the keys are random, so each bucket is a cache miss, and the stores below
	// would otherwise take them one after another.
	touched := byte(0)
	for _, i := range run {
		fp := fingerprint(w.hashes[i])
		if pg, ok := s.idx.page(fp); ok {
			touched |= s.data[home(pg, fp)]
		}
	}
	w.touched = touched
	for _, i := range run {
		en, h := &ents[i], w.hashes[i]
		sl, pos, old, found := s.lookup(h, en.key)
		if err := s.storeLocked(h, en.key, en.value, w.expire[i], sl, pos, old, found); err != nil {
			return stored, err
		}
		stored++
	}
	return stored, nil
}

// ttl is the time to live to give en, and false if it has expired since the Save.
func (l *loader) ttl(en *snapEntry) (time.Duration, bool) {
	if en.left == 0 {
		return 0, true
	}
	if en.left <= l.elapsed {
		return 0, false
	}
	return time.Duration(min(en.left-l.elapsed, math.MaxInt64)), true
}

// stored1 counts the outcome of one Set: a store, or an entry too large for this cache, which
// is skipped. It returns false, after recording the error, for any other failure.
func (l *loader) stored1(err error) bool {
	switch {
	case err == nil:
		l.stored.Add(1)
	case errors.Is(err, ErrEntryTooLarge):
	default:
		l.fail(err, nil)
		return false
	}
	return true
}

func (l *loader) fail(err error, p any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && l.panic == nil {
		l.err, l.panic = err, p
	}
	l.failed.Store(true)
}

// cutShort turns a read that ended early into ErrBadSnapshot, and leaves other errors of the
// reader as they are.
func cutShort(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: cut short in its %s", ErrBadSnapshot, what)
	}
	return err
}

// readBlock reads one block into buf, head and checksum included, and verifies its checksum.
// It reads the payload a chunk at a time, so that a corrupt length costs no more memory than
// the stream holds.
func readBlock(r io.Reader, buf []byte) ([]byte, uint32, error) {
	buf = slices.Grow(buf[:0], blockHeadSize)[:blockHeadSize]
	if _, err := io.ReadFull(r, buf); err != nil {
		return buf, 0, cutShort(err, "block head")
	}
	n := binary.LittleEndian.Uint32(buf[0:])
	size := int64(binary.LittleEndian.Uint32(buf[4:]))
	if size > maxBlockBytes {
		return buf, 0, fmt.Errorf("%w: a block of %d bytes, more than any Save writes", ErrBadSnapshot, size)
	}
	for rest := size + 8; rest > 0; {
		chunk := int(min(rest, readChunk))
		at := len(buf)
		buf = slices.Grow(buf, chunk)[:at+chunk]
		if _, err := io.ReadFull(r, buf[at:]); err != nil {
			return buf, 0, cutShort(err, "block")
		}
		rest -= int64(chunk)
	}
	end := len(buf) - 8
	if binary.LittleEndian.Uint64(buf[end:]) != xxhash.Sum64(buf[:end]) {
		return buf, 0, fmt.Errorf("%w: block checksum mismatch", ErrBadSnapshot)
	}
	return buf, n, nil
}

// snapEntry is one entry of a block: slices of its payload.
type snapEntry struct {
	key, value []byte
	left       uint64
}

// parseBlock splits a verified block's payload into its n entries, appended to ents. A
// checksum that matches does not make the lengths sane (the stream may have been crafted), so
// each is checked against what is left of the payload.
func parseBlock(ents []snapEntry, p []byte, n uint32) ([]snapEntry, error) {
	// Each entry takes at least three bytes, so n bounds the slice by the payload's size.
	if uint64(n) > uint64(len(p))/3 {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", ErrBadSnapshot, n, len(p))
	}
	ents = slices.Grow(ents, int(n))
	for range n {
		kl, a := binary.Uvarint(p)
		if a <= 0 {
			return nil, fmt.Errorf("%w: bad key length", ErrBadSnapshot)
		}
		vl, b := binary.Uvarint(p[a:])
		if b <= 0 {
			return nil, fmt.Errorf("%w: bad value length", ErrBadSnapshot)
		}
		left, c := binary.Uvarint(p[a+b:])
		if c <= 0 {
			return nil, fmt.Errorf("%w: bad time to live", ErrBadSnapshot)
		}
		p = p[a+b+c:]
		if kl > MaxKeySize || kl > uint64(len(p)) || vl > uint64(len(p))-kl {
			return nil, fmt.Errorf("%w: entry of %d+%d bytes with %d left in its block", ErrBadSnapshot, kl, vl, len(p))
		}
		ents = append(ents, snapEntry{p[:kl:kl], p[kl : kl+vl : kl+vl], left})
		p = p[kl+vl:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the block's last entry", ErrBadSnapshot, len(p))
	}
	return ents, nil
}
