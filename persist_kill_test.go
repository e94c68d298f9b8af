//go:build linux && amd64

package mmcache

// The crash test execs the test binary again as a child process and kills it. It runs where
// the binary runs natively: under qemu-user (the 386 and arm64 runs of CI), a Go binary cannot
// start another one, so those runs leave it out by this file's build line.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// crashChildEnv names the file a child process writes into until it is killed.
const crashChildEnv = "MMCACHE_CRASH_CHILD_PATH"

// TestCrashChild is the child of TestRestartAfterKill: it writes at full speed into the cache
// file named by the environment until it is killed. Without that variable it returns at once.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashChildEnv)
	if path == "" {
		return
	}
	cfg := crashConfig(path)
	cfg.JanitorInterval = 0 // the default: the janitor writes too
	c, err := New(cfg)
	if err != nil {
		fmt.Println("child:", err)
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for v := 0; ; v++ {
		if v == 5000 {
			fmt.Println("ready")
		}
		k := strconv.AppendInt(nil, int64(r.IntN(50000)), 10)
		switch {
		case v%7 == 0:
			c.Delete(k)
		case v%3 == 0:
			c.Get(nil, k)
		default:
			_ = c.Set(k, crashValue(k, v, 16+r.IntN(400)))
		}
	}
}

// crashConfig is the Config of the crash test's cache file: more shards than a 16 MiB cache has
// by default, so that the shards kept far outnumber those a writer can hold.
func crashConfig(path string) Config {
	return Config{Capacity: 16 << 20, Shards: 16, Path: path, JanitorInterval: -1}
}

// crashValue is a value that proves itself: its first eight bytes are a version, the rest a
// function of the key and that version, so a torn value or one under another key fails
// crashValueOK.
func crashValue(key []byte, version, n int) []byte {
	v := make([]byte, n)
	binary.LittleEndian.PutUint64(v, uint64(version))
	fillValue(v[8:], key, version)
	return v
}

func crashValueOK(key, v []byte) bool {
	return len(v) >= 8 && bytes.Equal(v, crashValue(key, int(binary.LittleEndian.Uint64(v)), len(v)))
}

// dirtyShards counts the shards marked dirty in the cache file at path, laid out for cfg.
func dirtyShards(t *testing.T, path string, cfg Config) int {
	l, err := cfg.layout()
	require.NoError(t, err)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	// A copy aligned for the headers' words.
	file := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(make([]uint64, len(b)/8+1)))), len(b))
	copy(file, b)
	n := 0
	for i := range l.groups {
		part := file[l.base+i*l.groupSize : l.base+(i+1)*l.groupSize]
		for j := range l.shards / l.groups {
			if l.shardHeaderIn(part, j).dirty != 0 {
				n++
			}
		}
	}
	return n
}

// A process killed while it writes leaves a file in which only the shards it was writing are
// suspect: the next New empties those alone, and serves every other shard's entries, each of
// them intact. The shards kept pass the full check: none was half-written.
func TestRestartAfterKill(t *testing.T) {
	leakCheck(t)
	path := cacheFilePath(t)
	rounds := 100
	if testing.Short() || raceOn {
		rounds = 10
	}
	kept, emptied := 0, 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		ready := make([]byte, 6)
		_, err = io.ReadFull(out, ready)
		require.NoError(t, err)
		require.Equal(t, "ready\n", string(ready), "round %d", round)
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond) // a random moment of the writes
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		cfg := crashConfig(path)
		dirty := dirtyShards(t, path, cfg)
		// One writer, which may hold a second shard's lock to take a segment from it, and the
		// janitor.
		require.LessOrEqual(t, dirty, 3, "round %d", round)
		c, err := New(cfg)
		require.NoError(t, err, "round %d", round)
		require.Equal(t, int64(dirty), c.e.shardsEmptied.Load(), "round %d: the dirty shards are emptied", round)
		n := 0
		for k, v := range c.All() { // each shard verified first, its slots and entries
			require.True(t, crashValueOK(k, v), "round %d: key %q holds a value not written for it", round, k)
			n++
		}
		require.Equal(t, int64(dirty), c.e.shardsEmptied.Load(), "round %d: every clean shard passes its verification", round)
		if round%10 == 0 {
			mustCheck(t, c, "round %d", round) // and the whole cache every invariant
		}
		require.Equal(t, c.Len(), n, "round %d", round)
		require.Positive(t, n, "round %d: the clean shards are served", round)
		kept += n
		emptied += dirty
		if round%10 != 0 {
			require.NoError(t, c.Close())
			continue
		}
		// Now and then: the recovered cache writes, closes cleanly and is reattached.
		require.NoError(t, c.Set([]byte("after"), []byte("crash")))
		require.NoError(t, c.Close())
		c, err = New(cfg)
		require.NoError(t, err)
		v, ok := c.Get(nil, []byte("after"))
		require.True(t, ok)
		require.Equal(t, "crash", string(v))
		c.Delete([]byte("after"))
		require.NoError(t, c.Close())
	}
	t.Logf("%d rounds: %d entries served after the kills, %d dirty shards emptied", rounds, kept, emptied)
}
