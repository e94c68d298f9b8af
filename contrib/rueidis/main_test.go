package mmrueidis_test

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mmcache/mmcache/contrib/internal/redistest"
)

// redisAddr is the address of the redis-server that TestMain starts for the examples, which
// cannot start one themselves: they have no testing.TB.
var redisAddr string

func TestMain(m *testing.M) {
	flag.Parse()
	srv, stop, why := startRedis()
	switch {
	case srv != nil:
		redisAddr = srv.Addr
	case os.Getenv("MMCACHE_REQUIRE_REDIS") == "1":
		fmt.Fprintln(os.Stderr, "starting redis-server for the examples:", why)
		os.Exit(1)
	default:
		// The tests skip themselves without a redis-server; the examples cannot, so skip them.
		fmt.Fprintln(os.Stderr, "examples skipped:", why)
		_ = flag.Set("test.skip", "^Example")
	}
	code := m.Run()
	stop()
	if leaks := leakedGoroutines(); code == 0 && leaks != "" {
		fmt.Fprintf(os.Stderr, "goroutines left behind by the tests:\n\n%s\n", leaks)
		code = 1
	}
	os.Exit(code)
}

// mainTB is the little of testing.TB that redistest.Start uses, for TestMain, which has no
// testing.TB of its own. Any other method panics on the nil embedded TB: a change in
// redistest shows at once. Fatal and Skip end the goroutine, as testing's do.
type mainTB struct {
	testing.TB
	cleanups []func()
	why      string
}

func (t *mainTB) Helper()                      {}
func (t *mainTB) Cleanup(f func())             { t.cleanups = append(t.cleanups, f) }
func (t *mainTB) Fatal(args ...any)            { t.why = fmt.Sprint(args...); runtime.Goexit() }
func (t *mainTB) Fatalf(f string, args ...any) { t.why = fmt.Sprintf(f, args...); runtime.Goexit() }
func (t *mainTB) Skip(args ...any)             { t.why = fmt.Sprint(args...); runtime.Goexit() }

// startRedis starts a redis-server through redistest, or says why it could not; stop stops it.
func startRedis() (srv *redistest.Server, stop func(), why string) {
	tb := &mainTB{}
	done := make(chan *redistest.Server)
	go func() {
		var s *redistest.Server
		defer func() { done <- s }() // runs on Goexit too
		s = redistest.Start(tb)
	}()
	srv = <-done
	return srv, func() {
		for i := len(tb.cleanups) - 1; i >= 0; i-- {
			tb.cleanups[i]()
		}
	}, tb.why
}

// leakedGoroutines returns the stacks of the goroutines of rueidis, mmcache or this module
// still running once the tests are done, after giving those that are ending 5 s to end; "" if
// none.
func leakedGoroutines() string {
	deadline := time.Now().Add(5 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaks []string
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i == 0 {
				continue // this goroutine
			}
			if strings.Contains(g, "github.com/redis/rueidis") || strings.Contains(g, "github.com/mmcache/mmcache") {
				leaks = append(leaks, g)
			}
		}
		if len(leaks) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaks, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
