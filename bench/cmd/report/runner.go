package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// job is one measurement, run in a fresh process.
type job struct {
	name   string  // shown on the terminal
	weight float64 // estimated seconds, for the progress bar
	late   bool    // run after every other job: the heaviest, dropped first when time runs out
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
	took    []jobTime
	// deadline, when not zero, is the time after which remaining jobs are skipped.
	deadline time.Time
	overrun  int // jobs skipped for the deadline
}

// jobTime is how long a job took, for tuning the run's sizes.
type jobTime struct {
	name    string
	seconds float64
}

// slowest prints the n slowest jobs to w.
func (r *runner) slowest(w io.Writer, n int) {
	t := slices.Clone(r.took)
	slices.SortFunc(t, func(a, b jobTime) int { return cmp.Compare(b.seconds, a.seconds) })
	fmt.Fprintln(w, "slowest jobs:")
	for _, j := range t[:min(n, len(t))] {
		fmt.Fprintf(w, "  %6.1fs  %s\n", j.seconds, j.name)
	}
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

// order puts the late jobs after the others, keeping the order within each group.
func order(jobs []job) []job {
	out := make([]job, 0, len(jobs))
	for _, late := range []bool{false, true} {
		for _, j := range jobs {
			if j.late == late {
				out = append(out, j)
			}
		}
	}
	return out
}

// runAll runs the jobs, late ones last.
func (r *runner) runAll(jobs []job) {
	jobs = order(jobs)
	for i, j := range jobs {
		if r.bar != nil {
			r.bar.Describe(fmt.Sprintf("%-52s", truncate(j.name, 52)))
		} else {
			fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", i+1, len(jobs), j.name)
		}
		start := time.Now()
		params, skip := j.params()
		var resp response
		switch {
		case skip != "":
			resp.Skip = skip
		case !r.deadline.IsZero() && start.After(r.deadline):
			resp.Skip = "not run: the report reached its time limit"
			r.overrun++
		default:
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
		r.took = append(r.took, jobTime{j.name, time.Since(start).Seconds()})
		fmt.Fprintf(r.log, "job %s took %.1fs\n", j.name, time.Since(start).Seconds())
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
