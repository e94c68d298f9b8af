package mmcache

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/mmcache/mmcache/arena"
)

// A cache with Config.Path keeps its mapping in a file. The mapping holds offsets and no
// pointers, so the next process that maps the same file finds the index and the entries where
// the last one left them: reattaching costs a validation, not a rebuild.
//
//	file: | file header (a page) | group 0 | group 1 | ... |      groups laid out as in memory
//
// The file header names the layout, so that a file is reattached only by a cache that reads it
// the same way, and says whether its last cache closed cleanly. New marks the file open before
// it serves anything; Close, once no call touches the mapping, writes each shard's counters into
// its header, the clocks, and marks the file clean.
//
// A file found open was left by a process that died. Each shard's header carries a dirty mark,
// set while a writer holds the shard's lock: the shards found dirty may be half-written and are
// emptied; every other shard is served (recoverGroup). What the shards share, each group's pool
// of segments and index pages, is rebuilt around the shards kept, since a shard's writer may
// have died inside it. Their counters, which only Close writes, are counted again when each
// shard is verified.
//
// Expiry carries over on the wall clock. Entries keep their expiry on the cache's monotonic
// clock (nanoseconds since New, plus one); Close records that clock and the wall clock, and
// the next New starts its clock where the last one stopped plus the wall-clock time between,
// so an entry that expired while no process had the file is not served. A wall clock set back
// meanwhile counts as no time passed; one set forward expires entries early. After a crash,
// the clock and wall clock recorded when the file was opened stand in for those of Close: a
// wall clock stepped while the process ran shifts expiry by that step.

// Errors of Config.Path.
var (
	// ErrIncompatible is wrapped by the error New returns for a file at Config.Path that this
	// cache cannot reattach: another layout (the message names the field), another format
	// version, not a cache file, or a file that fails validation. Config.ResetIncompatible
	// starts empty over it instead.
	ErrIncompatible = errors.New("mmcache: incompatible cache file")
	// ErrFileLocked is wrapped by the error New returns for a file at Config.Path that another
	// cache, in this process or another, has open.
	ErrFileLocked = errors.New("mmcache: cache file is in use by another cache")
	// ErrUnsafeFile is wrapped by the error New returns for a path that another local user
	// could have planted or could change: not a regular file, owned by another user, or
	// writable by group or others.
	ErrUnsafeFile = errors.New("mmcache: unsafe cache file")
)

const (
	fileMagic   = "mmcache\x00"
	fileVersion = 2

	fileOpen  = 1 // a cache has the file mapped, or died with it mapped
	fileClean = 2 // the last cache closed it
)

// fileHeader is the first bytes of a cache file. Every field but State and the clocks
// describes the layout; Check covers all of them.
type fileHeader struct {
	Magic       [8]byte
	Version     uint32
	State       uint32
	PageSize    uint32
	Shards      uint32
	Groups      uint32
	Segments    uint32
	MapSize     uint64
	GroupSize   uint64
	SegSize     uint64
	MaxEntry    uint64
	DirDepth    uint64
	HeadBytes   uint64
	ArenaOff    uint64
	Seed        uint64
	ClosedWall  int64 // Unix nanoseconds at the last Close
	ClosedClock int64 // the cache's clock at the last Close
	OpenedWall  int64 // Unix nanoseconds when the last cache opened the file
	OpenedClock int64 // the cache's clock then
	Check       uint64
}

// sum is the checksum of every field before Check.
func (h *fileHeader) sum() uint64 {
	b := unsafe.Slice((*byte)(unsafe.Pointer(h)), unsafe.Offsetof(h.Check))
	return xxhash.Sum64(b)
}

// layoutHeader is the header of a file for layout l and hash seed seed, marked open.
func layoutHeader(l *layout, seed uint64, pageSize int) fileHeader {
	h := fileHeader{
		Version: fileVersion, State: fileOpen, PageSize: uint32(pageSize),
		Shards: uint32(l.shards), Groups: uint32(l.groups), Segments: uint32(l.segments),
		MapSize: uint64(l.mapSize), GroupSize: uint64(l.groupSize), SegSize: uint64(l.segSize),
		MaxEntry: uint64(l.maxEntry), DirDepth: uint64(l.dirDepth), HeadBytes: uint64(l.headBytes),
		ArenaOff: uint64(l.arenaOff), Seed: seed,
	}
	copy(h.Magic[:], fileMagic)
	return h
}

// mismatch names the first layout field in which the file's header f differs from want.
func (f *fileHeader) mismatch(want *fileHeader) string {
	fields := []struct {
		name      string
		got, want uint64
	}{
		{"page size", uint64(f.PageSize), uint64(want.PageSize)},
		{"mapping size (Capacity)", f.MapSize, want.MapSize},
		{"shards", uint64(f.Shards), uint64(want.Shards)},
		{"groups", uint64(f.Groups), uint64(want.Groups)},
		{"group size", f.GroupSize, want.GroupSize},
		{"segment size", f.SegSize, want.SegSize},
		{"segments per group", uint64(f.Segments), uint64(want.Segments)},
		{"MaxEntrySize", f.MaxEntry, want.MaxEntry},
		{"directory depth", f.DirDepth, want.DirDepth},
		{"header bytes", f.HeadBytes, want.HeadBytes},
		{"arena offset", f.ArenaOff, want.ArenaOff},
	}
	for _, x := range fields {
		if x.got != x.want {
			return fmt.Sprintf("%s is %d in the file, %d in this Config", x.name, x.got, x.want)
		}
	}
	return ""
}

func incompatible(path, format string, args ...any) error {
	return fmt.Errorf("%w %s: "+format, append([]any{ErrIncompatible, path}, args...)...)
}

// fileRegion opens or creates the file at cfg.Path for layout l and maps it. attach reports a
// file to reattach: its header matched, and it was closed cleanly or its process died (its
// State says which). Otherwise the region is zeroed, for New to format.
func fileRegion(cfg *Config, l *layout, pageSize int) (f *cacheFile, region []byte, hdr *fileHeader, attach bool, err error) {
	if !cacheFilesSupported {
		return nil, nil, nil, false, invalid("Config.Path is supported on Linux only")
	}
	f, err = openCacheFile(cfg.Path, l.mapSize)
	var wrong errWrongSize
	if errors.As(err, &wrong) {
		if !cfg.ResetIncompatible {
			_ = f.close()
			return nil, nil, nil, false, incompatible(cfg.Path, "the file has %d bytes, this Config maps %d", wrong.got, l.mapSize)
		}
		if err = f.recreate(l.mapSize); err != nil {
			_ = f.close()
			return nil, nil, nil, false, fmt.Errorf("mmcache: rewriting cache file %s: %w", cfg.Path, err)
		}
		f.created = true
	} else if err != nil {
		return nil, nil, nil, false, err
	}
	region, err = f.mapFile(l.mapSize)
	if err != nil {
		_ = f.close()
		return nil, nil, nil, false, fmt.Errorf("mmcache: mapping cache file %s: %w", cfg.Path, err)
	}
	hdr = (*fileHeader)(unsafe.Pointer(&region[0]))
	if f.created {
		return f, region, hdr, false, nil
	}
	fail := func(err error) (*cacheFile, []byte, *fileHeader, bool, error) {
		_ = freeRegion(region)
		_ = f.close()
		return nil, nil, nil, false, err
	}
	want := layoutHeader(l, 0, pageSize)
	var why error
	switch {
	case string(hdr.Magic[:]) != fileMagic:
		why = incompatible(cfg.Path, "not a cache file")
	case hdr.Check != hdr.sum():
		why = incompatible(cfg.Path, "its header fails its checksum")
	case hdr.Version != fileVersion:
		why = incompatible(cfg.Path, "format version %d, this package writes version %d", hdr.Version, fileVersion)
	case hdr.mismatch(&want) != "":
		why = incompatible(cfg.Path, "%s", hdr.mismatch(&want))
	case hdr.State != fileClean && hdr.State != fileOpen:
		why = incompatible(cfg.Path, "state %d is neither open nor clean", hdr.State)
	default:
		return f, region, hdr, true, nil
	}
	if why != nil && !cfg.ResetIncompatible {
		return fail(why)
	}
	// Start afresh: a file of zeros, as New formats it.
	if err := freeRegion(region); err != nil {
		return fail(err)
	}
	if err := f.recreate(l.mapSize); err != nil {
		_ = f.close()
		return nil, nil, nil, false, fmt.Errorf("mmcache: rewriting cache file %s: %w", cfg.Path, err)
	}
	if region, err = f.mapFile(l.mapSize); err != nil {
		_ = f.close()
		return nil, nil, nil, false, fmt.Errorf("mmcache: mapping cache file %s: %w", cfg.Path, err)
	}
	f.created = true
	return f, region, (*fileHeader)(unsafe.Pointer(&region[0])), false, nil
}

// markOpen writes a fresh file's header: the layout, open.
func (e *engine) markOpen(pageSize int) {
	*e.fileHdr = layoutHeader(&e.lay, e.seed, pageSize)
	e.stampOpen()
}

// stampOpen marks the file open, with the clocks a recovery after a crash starts from.
func (e *engine) stampOpen() {
	e.fileHdr.State = fileOpen
	e.fileHdr.OpenedWall = time.Now().UnixNano()
	e.fileHdr.OpenedClock = e.now()
	e.fileHdr.Check = e.fileHdr.sum()
}

// attach takes over the state the last cache left in the file: the hash seed, the clock, each
// group's arena and each shard's queues, index and counters, after verifying all of it. A file
// whose process died keeps its clean shards (recoverGroup). An error wraps ErrIncompatible.
func (e *engine) attach(path string) (err error) {
	hdr := e.fileHdr
	crashed := hdr.State != fileClean
	e.seed = hdr.Seed
	wall, clock := hdr.ClosedWall, hdr.ClosedClock
	if crashed {
		wall, clock = hdr.OpenedWall, hdr.OpenedClock
	}
	away := max(time.Now().UnixNano()-wall, 0)
	e.start = time.Now().Add(-time.Duration(max(clock-1, 0) + away))
	// The checks walk every structure with bounds-checked slices: a crafted file makes them
	// report, or at worst panic on an index out of range, which is a corrupt file too.
	defer func() {
		if p := recover(); p != nil {
			err = incompatible(path, "corrupt: %v", p)
		}
	}()
	l := &e.lay
	for i := range e.groups {
		part := e.region[l.base+i*l.groupSize : l.base+(i+1)*l.groupSize : l.base+(i+1)*l.groupSize]
		var err error
		if crashed {
			err = e.recoverGroup(i, part)
		} else {
			err = e.initGroup(i, part, true)
		}
		if err != nil {
			return incompatible(path, "group %d is corrupt: %v", i, err)
		}
	}
	for i := range e.groups {
		if err := e.groups[i].checkPool(); err != nil {
			return incompatible(path, "group %d is corrupt: %v", i, err)
		}
	}
	// The structure that emptying a shard walks, now; the slots and entries, which take time
	// in proportion to the entries, when the shard is first used (verifyLocked).
	for i := range e.shards {
		s := &e.shards[i]
		if err := s.checkStructureLocked(); err != nil {
			return incompatible(path, "shard %d is corrupt: %v", i, err)
		}
	}
	e.stampOpen()
	return nil
}

// recoverGroup takes over group i of a file whose process died, part being its share of the
// mapping. Shards marked dirty are emptied, before anything reads their structures; the pool
// of segments and of index pages is rebuilt around the others (arena.Recover), whose counters
// their verification counts (verifyLocked). What the caller's checks refuse afterwards makes
// the whole file incompatible.
func (e *engine) recoverGroup(i int, part []byte) error {
	l := &e.lay
	perGroup := l.shards / l.groups
	segs := l.segments
	pagesPerSeg := l.segSize / indexPageSize
	npages := uint32(segs * pagesPerSeg)
	pageSeg := make([]bool, segs) // segments holding a page of a kept shard's index
	queues := make([]*arena.Queue, 0, 2*perGroup)
	for j := range perGroup {
		hdr := l.shardHeaderIn(part, j)
		x := index{hdr: &hdr.idx, dir: l.dirIn(part, j), maxDepth: l.dirDepth, npages: npages}
		ok := hdr.dirty == 0 && hdr.idx.depth <= l.dirDepth
		if ok {
			x.eachPage(func(p uint32) { ok = ok && p < npages })
		}
		if !ok {
			*hdr = shardHeader{}
			x.reset(true)
			e.shardsEmptied.Add(1)
			continue
		}
		x.eachPage(func(p uint32) { pageSeg[int(p)/pagesPerSeg] = true })
		hdr.entries, hdr.liveBytes = 0, 0 // unknown: counted by verifyLocked
		queues = append(queues, &hdr.q, &hdr.sq)
	}
	ar, err := arena.Recover(l.arenaIn(part), l.segSize, func(id arena.ID) bool { return pageSeg[id] }, queues...)
	if err != nil {
		return err
	}
	if ar.Len() != segs {
		return fmt.Errorf("arena of %d segments, layout says %d", ar.Len(), segs)
	}
	e.setUpGroup(i, part, ar, true)
	g := &e.groups[i]
	for j := range g.shards {
		g.shards[j].recount = true
	}
	g.rebuildPages(pageSeg)
	return g.checkPool()
}

// verifyLocked checks a reattached shard's slots and entries before anything reads them. A
// shard that fails is emptied (its structure, which emptying walks, was verified by attach):
// it serves nothing from the file rather than anything wrong. Write lock held.
func (s *shard) verifyLocked() {
	defer s.verified.Store(true)
	if s.closed {
		return
	}
	// The shard's segments and index pages, faulted in at once: verifying reads them all.
	for _, q := range s.queues() {
		for id := q.Head(); id != arena.None; id = s.ar.Next(id) {
			prefault(s.ar.Bytes(id))
		}
	}
	s.idx.eachPage(func(p uint32) { prefault(s.data[int(p)*indexPageSize : int(p+1)*indexPageSize]) })
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%v", p)
			}
		}()
		if !s.recount {
			return s.checkContentsLocked()
		}
		entries, liveBytes, err := s.countContentsLocked()
		s.entries, s.liveBytes = entries, liveBytes
		return err
	}()
	s.recount = false
	if err != nil {
		s.e.shardsEmptied.Add(1)
		s.resetLocked()
		// A lookup made without the lock before this one (warm) is stale now: moving seq on
		// by two, still odd, tells it so, as another writer's hold would have.
		releaseStore(&s.seq, s.seq+2)
	}
}

// attachGroup makes the arena of a group of a file, part being the group's share of it,
// verified against the queues in its shards' headers.
func attachGroup(l *layout, part []byte) (*arena.Arena, error) {
	queues := make([]*arena.Queue, 0, 2*l.shards/l.groups)
	for j := range l.shards / l.groups {
		hdr := l.shardHeaderIn(part, j)
		queues = append(queues, &hdr.q, &hdr.sq)
	}
	return arena.Attach(l.arenaIn(part), l.segSize, queues...)
}

// markClean records in the file what the next cache needs: each shard's counters, the clocks,
// and that the file was closed cleanly. Called once nothing touches the mapping any more.
func (e *engine) markClean() {
	for i := range e.shards {
		s := &e.shards[i]
		s.head.entries, s.head.liveBytes = uint64(s.entries), uint64(s.liveBytes)
	}
	e.fileHdr.ClosedWall = time.Now().UnixNano()
	e.fileHdr.ClosedClock = e.now()
	e.fileHdr.State = fileClean
	e.fileHdr.Check = e.fileHdr.sum()
}
