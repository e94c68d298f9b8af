package caches

// FitHeadroom and FitOverhead size FitBudget: the budget is FitHeadroom times what the entries
// need, counting FitOverhead bytes per entry for the byte-bounded caches' own bookkeeping.
const (
	FitHeadroom = 1.25
	FitOverhead = 48
)

// FitBudget returns a budget under which cache p keeps n entries of entrySize bytes (key+value)
// with room to spare: a quarter more than the entries need, plus 48 bytes per entry of overhead
// for the byte-bounded caches, rounded up to a MiB, and at least the cache's minimum. Unbounded
// caches ignore it.
func FitBudget(p Peer, n, entrySize int) int64 {
	per := int64(entrySize)
	if p.Bound == Bytes {
		per += FitOverhead
	}
	raw := int64(float64(int64(n)*per) * FitHeadroom)
	return max((raw+mib-1)/mib*mib, p.MinBudget)
}
