package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

// worker is the parent's handle on a process holding one cache.
type worker struct {
	res    *result
	cmd    *exec.Cmd
	in     io.WriteCloser
	enc    *json.Encoder
	dec    *json.Decoder
	stderr *tail
}

// startWorker starts a process for res's cache and waits for its preload. It returns nil,
// with the reason in res.Note, when the cache cannot run.
func startWorker(exe string, s settings, c *combo, res *result) *worker {
	progress("  %s: preloading %s keys into %s", res.Cache, count(c.Keys), size(c.Budget))
	w := &worker{res: res, stderr: &tail{}}
	w.cmd = exec.Command(exe, workerFlag)
	w.cmd.Stderr = w.stderr
	var err error
	if w.in, err = w.cmd.StdinPipe(); err != nil {
		res.Note = err.Error()
		return nil
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		res.Note = err.Error()
		return nil
	}
	if err := w.cmd.Start(); err != nil {
		res.Note = err.Error()
		return nil
	}
	w.enc, w.dec = json.NewEncoder(w.in), json.NewDecoder(out)
	p := measure.SideParams{Cache: res.Cache, Keys: c.Keys, ValueSize: c.ValueSize, Budget: c.Budget, ZipfS: s.ZipfS, SeqLen: s.SeqLen}
	var rep reply
	err = w.enc.Encode(setup{Params: p, Floor: s.Floor})
	if err == nil {
		err = w.dec.Decode(&rep)
	}
	switch {
	case err != nil:
		w.stop(err)
	case rep.Skip != "":
		res.Note = "not run: " + rep.Skip
	case rep.Err != "":
		res.Note = "error: " + rep.Err
	case rep.Ready == nil:
		res.Note = "error: the worker did not report its preload"
	default:
		res.Config, res.PreloadSeconds, res.Len, res.MaxRSS = rep.Ready.Config, rep.Ready.PreloadSeconds, rep.Ready.Len, rep.Ready.RSS
		progress("  %s: preloaded in %.1fs, %s resident", res.Cache, res.PreloadSeconds, size(res.MaxRSS))
		return w
	}
	w.close()
	return nil
}

// request sends one run request and waits for its result.
func (w *worker) request(r request) (measure.SideRun, error) {
	var rep reply
	if err := w.enc.Encode(r); err != nil {
		return measure.SideRun{}, err
	}
	if err := w.dec.Decode(&rep); err != nil {
		return measure.SideRun{}, err
	}
	if rep.Run == nil {
		return measure.SideRun{}, errors.New("the worker sent no run")
	}
	return *rep.Run, nil
}

// stop records why the worker's process ended early and ends it.
func (w *worker) stop(err error) {
	w.close()
	msg := strings.TrimSpace(w.stderr.String())
	if i := strings.LastIndex(msg, "stopped:"); i >= 0 {
		msg = msg[i:]
	} else if msg == "" {
		msg = err.Error()
	} else {
		msg = err.Error() + ": " + msg
	}
	w.res.Note = msg
	progress("  %s: %s", w.res.Cache, msg)
}

func (w *worker) stopped() bool { return w.cmd.ProcessState != nil }

// close ends the worker: stdin closed, so it closes its cache and exits; killed if it has not
// within a minute.
func (w *worker) close() {
	if w.stopped() {
		return
	}
	_ = w.in.Close()
	done := make(chan struct{})
	go func() {
		_ = w.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-done
	}
}

// tail keeps the last few KiB written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
