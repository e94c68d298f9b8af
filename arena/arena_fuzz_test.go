package arena

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzArena decodes its input into arena operations and runs them against a model: the queue
// as a list, the pin counts, and the set of retired segments. After every operation the arena's
// own Check must pass and its queue must equal the model's.
func FuzzArena(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 2, 3, 4, 5, 6, 7})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 1, 5})
	f.Add([]byte{0, 4, 0, 0, 4, 1, 3, 0, 6, 5, 5, 0, 0, 7})
	f.Add([]byte{0, 0, 4, 0, 3, 1, 6, 0, 5, 2, 6, 1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		const nsegs = 6
		a := newArena(t, nsegs)
		var queue []ID             // the model queue, head first
		pins := make([]int, nsegs) // pins per segment
		retired := map[ID]bool{}
		arg := func(i int) int {
			if i+1 < len(ops) {
				return int(ops[i+1])
			}
			return 0
		}
		for i := 0; i < len(ops); i++ {
			switch op := ops[i] % 8; op {
			case 0: // Grab
				id, ok := a.Grab()
				if len(queue)+len(retired) == nsegs {
					require.False(t, ok)
					break
				}
				require.True(t, ok)
				require.NotContains(t, queue, id)
				require.False(t, retired[id])
				queue = append(queue, id)
			case 1: // Release a queued segment
				if len(queue) == 0 {
					break
				}
				k := arg(i) % len(queue)
				i++
				if pins[queue[k]] != 0 {
					break // the owner never releases a pinned segment
				}
				a.Release(queue[k])
				queue = slices.Delete(queue, k, k+1)
			case 2: // MoveToTail
				if len(queue) == 0 {
					break
				}
				k := arg(i) % len(queue)
				i++
				id := queue[k]
				a.MoveToTail(id)
				queue = append(slices.Delete(queue, k, k+1), id)
			case 3: // Pin a queued segment
				if len(queue) == 0 {
					break
				}
				k := arg(i) % len(queue)
				i++
				a.Pin(queue[k])
				pins[queue[k]]++
			case 4: // Unpin some pinned segment
				for id := range pins {
					if pins[id] == 0 {
						continue
					}
					pins[id]--
					last := a.Unpin(ID(id))
					require.Equal(t, pins[id] == 0 && retired[ID(id)], last)
					if last {
						a.Release(ID(id))
						delete(retired, ID(id))
					}
					break
				}
			case 5: // Retire a queued segment
				if len(queue) == 0 {
					break
				}
				k := arg(i) % len(queue)
				i++
				id := queue[k]
				unpinned := a.Retire(id)
				queue = slices.Delete(queue, k, k+1)
				require.Equal(t, pins[id] == 0, unpinned)
				if unpinned {
					a.Release(id)
				} else {
					retired[id] = true
				}
			case 6: // Reset
				a.Reset()
				queue = queue[:0]
				for id := range pins {
					if pins[id] != 0 {
						retired[ID(id)] = true
					} else {
						delete(retired, ID(id))
					}
				}
			case 7: // Used and Live of the tail
				if t := a.Tail(); t != None {
					s := a.Seg(t)
					s.Used = uint32(arg(i) % (a.Size() + 1))
					s.Live = s.Used / 2
					i++
				}
			}
			require.NoError(t, a.Check(), "after op %d of %v", i, ops)
			got := []ID{}
			for id := a.Head(); id != None; id = a.Next(id) {
				got = append(got, id)
			}
			require.Equal(t, append([]ID{}, queue...), got)
			require.Equal(t, len(retired), a.Retired())
		}
	})
}
