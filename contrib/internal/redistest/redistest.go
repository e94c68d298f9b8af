// Package redistest starts a real redis-server for the tests of the contrib modules: on
// 127.0.0.1, on a free port, with no persistence, stopped when the test ends.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string // host:port, on 127.0.0.1
	cmd  *exec.Cmd
}

// Start starts a redis-server for t and stops it in t's cleanup. Without a redis-server binary
// on PATH the test is skipped with a message that says how to get one, unless the environment
// sets MMCACHE_REQUIRE_REDIS=1 (CI does), in which case it fails.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("MMCACHE_REQUIRE_REDIS") == "1" {
			t.Fatalf("redis-server is not on PATH, and MMCACHE_REQUIRE_REDIS=1 requires it")
		}
		t.Skip("redis-server is not on PATH: install it (apt-get install redis-server) to run this test")
	}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s, err := start(bin, port)
		if err == nil {
			t.Cleanup(s.stop)
			return s
		}
		if attempt == 4 {
			t.Fatalf("starting redis-server: %v", err)
		}
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func start(bin string, port int) (*Server, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin,
		"--bind", "127.0.0.1", "--port", fmt.Sprint(port),
		"--save", "", "--appendonly", "no", "--protected-mode", "yes",
		"--loglevel", "notice", "--dir", os.TempDir())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Addr: addr, cmd: cmd}
	// Ready once it logs that it accepts connections; its log is read to the end, so that the
	// server never blocks on a full pipe.
	ready, exited := make(chan struct{}), make(chan string, 1)
	go func(signal chan struct{}) {
		var out strings.Builder
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
			if signal != nil && strings.Contains(sc.Text(), "Ready to accept connections") {
				close(signal)
				signal = nil
			}
		}
		exited <- out.String()
	}(ready)
	select {
	case <-ready:
	case out := <-exited:
		_ = cmd.Wait()
		return nil, fmt.Errorf("redis-server exited: %s", out)
	case <-time.After(30 * time.Second):
		s.stop()
		return nil, errors.New("redis-server was not ready within 30 s")
	}
	if err := ping(addr); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func (s *Server) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}
