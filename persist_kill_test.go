//go:build linux && amd64

package mmcache

// The crash test execs the test binary again as a child process and kills it. It runs where
// the binary runs natively: under qemu-user (the 386 and arm64 runs of CI), a Go binary cannot
// start another one, so those runs leave it out by this file's build line.

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

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
	c, err := New(Config{Capacity: 16 << 20, Path: path})
	if err != nil {
		fmt.Println("child:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	r := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for v := 0; ; v++ {
		k := strconv.AppendInt(nil, int64(r.IntN(50000)), 10)
		_ = c.Set(k, valueFor(k, v, 16+r.IntN(400)))
		if v%3 == 0 {
			c.Get(nil, k)
		}
	}
}

// A process killed while it writes leaves a file that the next New does not trust: it starts
// empty, consistent, and serves only what it is given from then on.
func TestRestartAfterKill(t *testing.T) {
	leakCheck(t)
	path := cacheFilePath(t)
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		ready := make([]byte, 6)
		_, err = out.Read(ready)
		require.NoError(t, err)
		require.Equal(t, "ready\n", string(ready), "round %d", round)
		time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond) // a random moment of the writes
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()

		c, err := New(fileConfig(path))
		require.NoError(t, err, "round %d", round)
		require.Zero(t, c.Len(), "round %d: a file its process did not close is not trusted", round)
		mustCheck(t, c, "round %d", round)
		require.NoError(t, c.Set([]byte("after"), []byte("crash")))
		require.NoError(t, c.Close())
		c, err = New(fileConfig(path))
		require.NoError(t, err)
		require.Equal(t, map[string]string{"after": "crash"}, contents(c))
		c.Delete([]byte("after"))
		require.NoError(t, c.Close())
	}
}
