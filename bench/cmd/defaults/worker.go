package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/mmcache/mmcache/bench/internal/measure"
	"github.com/mmcache/mmcache/bench/internal/sysinfo"
)

// workerFlag is the hidden first argument that makes the binary hold one cache and run cells
// on request.
const workerFlag = "-worker"

// setup is the first line the parent sends a worker.
type setup struct {
	Params measure.SideParams
	// Floor is the available memory (MemAvailable) under which the worker stops at once, so
	// that a cache growing toward its budget cannot push the machine into the OOM killer.
	Floor int64
}

// request asks for one timed run of a cell.
type request struct {
	ReadPct    int
	Goroutines int
	Duration   time.Duration
	Salt       uint64
}

// reply answers the setup (Ready, Skip or Err) or a request (Run).
type reply struct {
	Ready *measure.SideReady `json:",omitempty"`
	Run   *measure.SideRun   `json:",omitempty"`
	Skip  string             `json:",omitempty"`
	Err   string             `json:",omitempty"`
}

// runWorker opens and preloads the cache, then answers requests read from stdin, one JSON
// object a line, until stdin closes.
func runWorker() {
	in, out := json.NewDecoder(os.Stdin), json.NewEncoder(os.Stdout)
	var st setup
	if err := in.Decode(&st); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(2)
	}
	go guard(st.Floor)
	s, ready, err := measure.OpenSide(st.Params)
	if sk, ok := measure.AsSkip(err); ok {
		_ = out.Encode(reply{Skip: sk.Reason})
		return
	}
	if err != nil {
		_ = out.Encode(reply{Err: err.Error()})
		return
	}
	defer s.Close()
	if err := out.Encode(reply{Ready: &ready}); err != nil {
		return
	}
	for {
		var r request
		if err := in.Decode(&r); err != nil {
			return
		}
		run := s.Run(r.ReadPct, r.Goroutines, r.Duration, r.Salt)
		if err := out.Encode(reply{Run: &run}); err != nil {
			return
		}
	}
}

// guard ends the process when the machine's available memory falls under floor.
func guard(floor int64) {
	for range time.Tick(100 * time.Millisecond) {
		if a := sysinfo.MemAvailable(); a >= 0 && a < floor {
			fmt.Fprintf(os.Stderr, "stopped: the machine's available memory fell to %s, under the %s floor, with this cache's process at %s resident\n",
				gib(a), gib(floor), gib(sysinfo.RSS()))
			os.Exit(3)
		}
	}
}
