package caches

// FitBudget returns a budget under which cache p keeps n entries of entrySize bytes (key+value)
// with room to spare: a quarter more than the entries need, plus 48 bytes per entry of overhead
// for the byte-bounded caches, rounded up to a MiB, and at least the cache's minimum. Unbounded
// caches ignore it.
func FitBudget(p Peer, n, entrySize int) int64 {
	per := int64(entrySize)
	if p.Bound == Bytes {
		per += 48
	}
	raw := int64(n) * per * 5 / 4
	return max((raw+mib-1)/mib*mib, p.MinBudget)
}
