//go:build gc && !race

package mmcache

// x86 keeps loads in order with loads and stores in order with earlier loads (TSO), which is
// what a seqlock reader and a slot release need without fences.
const lockFreeReads = true

// releaseStore stores v at p with release semantics. On amd64 a plain store has them; an
// atomic store would be an XCHG, a full fence that waits for the reader's last cache miss.
// Readers of *p use atomic loads; the owner is the only writer.
func releaseStore(p *uint64, v uint64) { *p = v }

// orderLoads is nothing on amd64: x86 keeps loads in order with loads (TSO).
func (r *readerSlot) orderLoads() {}
