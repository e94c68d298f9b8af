package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

// workerFlag is the hidden first argument that makes the binary run one job and exit.
const workerFlag = "-worker"

// request is what the parent sends a worker on stdin.
type request struct {
	Kind   string
	Params json.RawMessage
}

// response is what a worker prints on stdout.
type response struct {
	Result json.RawMessage `json:",omitempty"`
	Skip   string          `json:",omitempty"`
	Err    string          `json:",omitempty"`
}

// runWorker executes one job read from stdin and writes its response to stdout.
func runWorker() {
	var req request
	data, err := io.ReadAll(os.Stdin)
	if err == nil {
		err = json.Unmarshal(data, &req)
	}
	var resp response
	if err == nil {
		var result any
		result, err = dispatch(req)
		if err == nil {
			resp.Result, err = json.Marshal(result)
		}
	}
	if s, ok := measure.AsSkip(err); ok {
		resp.Skip = s.Reason
	} else if err != nil {
		resp.Err = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(resp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run decodes the parameters of kind P and calls f.
func run[P, R any](raw json.RawMessage, f func(P) (R, error)) (any, error) {
	var p P
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, err
	}
	return f(p)
}

func dispatch(req request) (any, error) {
	switch req.Kind {
	case "speed":
		return run(req.Params, measure.RunSpeed)
	case "throughput":
		return run(req.Params, measure.RunThroughput)
	case "gc":
		return run(req.Params, measure.RunGC)
	case "memory":
		return run(req.Params, measure.RunMemory)
	case "hit":
		return run(req.Params, measure.RunHitRatio)
	case "rssfill":
		return run(req.Params, measure.RunRSSFill)
	case "hitmem":
		return run(req.Params, measure.RunHitMem)
	case "latency":
		return run(req.Params, measure.RunLatency)
	}
	return nil, fmt.Errorf("unknown job kind %q", req.Kind)
}
