package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// job is one measurement, run in a fresh process.
type job struct {
	name   string  // shown on the terminal
	weight float64 // estimated seconds, for the progress bar
	kind   string
	// params returns the job's parameters, or a reason to skip it (computed just before the job
	// runs, so that it can use earlier jobs' results).
	params func() (any, string)
	// store records the response.
	store func(response)
}

// runner executes jobs one after another, each in a child process of this binary.
type runner struct {
	exe     string
	log     io.Writer // the children's stderr
	timeout time.Duration
	bar     *progressbar.ProgressBar
	tty     bool
	failed  int
}

func newRunner(exe string, log io.Writer, jobs []job) *runner {
	total := 0.0
	for _, j := range jobs {
		total += j.weight
	}
	r := &runner{exe: exe, log: log, timeout: 15 * time.Minute, tty: term.IsTerminal(int(os.Stderr.Fd()))}
	if r.tty {
		r.bar = progressbar.NewOptions64(int64(total*1000),
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetWidth(30),
			progressbar.OptionShowElapsedTimeOnFinish(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionSetDescription("starting"),
		)
	}
	return r
}

// runAll runs the jobs in order.
func (r *runner) runAll(jobs []job) {
	for i, j := range jobs {
		if r.bar != nil {
			r.bar.Describe(fmt.Sprintf("%-52s", truncate(j.name, 52)))
		} else {
			fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", i+1, len(jobs), j.name)
		}
		params, skip := j.params()
		var resp response
		if skip != "" {
			resp.Skip = skip
		} else {
			resp = r.exec(j.kind, params)
		}
		if resp.Err != "" {
			r.failed++
			if r.bar != nil {
				_ = r.bar.Clear()
			}
			fmt.Fprintf(os.Stderr, "error in %s: %s\n", j.name, resp.Err)
		}
		j.store(resp)
		if r.bar != nil {
			_ = r.bar.Add64(int64(j.weight * 1000))
		}
	}
	if r.bar != nil {
		_ = r.bar.Finish()
	}
}

// exec runs one job in a child process.
func (r *runner) exec(kind string, params any) response {
	p, err := json.Marshal(params)
	if err != nil {
		return response{Err: err.Error()}
	}
	in, _ := json.Marshal(request{Kind: kind, Params: p})
	ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.exe, workerFlag)
	cmd.Stdin = bytes.NewReader(in)
	var out, errBuf bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.MultiWriter(r.log, &errBuf)
	if err := cmd.Run(); err != nil {
		return response{Err: fmt.Sprintf("%v: %s", err, lastLines(errBuf.String(), 5))}
	}
	var resp response
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil {
		return response{Err: fmt.Sprintf("bad worker output: %v", err)}
	}
	return resp
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func lastLines(s string, n int) string {
	lines := bytes.Split(bytes.TrimSpace([]byte(s)), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}
