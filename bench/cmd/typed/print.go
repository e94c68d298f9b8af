package main

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// printHeader prints the command, the machine and the settings.
func printHeader(j job) {
	fmt.Printf("%s    GOMAXPROCS=%d\n", strings.Join(append([]string{"cd bench && go run ./cmd/typed"}, os.Args[1:]...), " "), gomaxprocs())
	fmt.Printf("%d CPUs (%s), %s %s/%s, %s; otter %s, theine %s\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		moduleVersion("github.com/maypok86/otter/v2"), moduleVersion("github.com/Yiling-J/theine-go"))
	fmt.Printf("Load average at the start: %s\n", loadAvg())
}

// loadAvg returns the first three fields of /proc/loadavg, or "unknown".
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(data)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// printOps prints part A's table for n entries.
func printOps(j job, n int, rows []opsRow) {
	keys := "uniform"
	if j.Dist == "zipf" {
		keys = fmt.Sprintf("zipf %g", j.ZipfS)
	}
	fmt.Printf("\nA. Typed Get and Set, %s entries preloaded, each cache and value kind in a fresh process.\n", count(n))
	fmt.Printf("   16-byte string keys, %s; %d goroutines; ns/op = median of %d runs of %s (wall time over all goroutines' ops);\n", keys, j.Goroutines, j.Runs, j.Dur)
	fmt.Printf("   Gets hit preloaded keys, Sets overwrite them; allocs/op over all runs. After the preload and one forced GC:\n")
	fmt.Printf("   heap objects (/gc/heap/objects:objects), live heap (/gc/heap/live:bytes), GC ms = median wall time of 5 runtime.GC(),\n")
	fmt.Printf("   GC cpu = GC CPU time per forced GC (/cpu/classes/gc/total:cpu-seconds), RSS = VmRSS. value B: mmcache's encoded value.\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cache\tvalue\tvalue B\tpreload\tGet ns/op\tGet allocs/op\tSet ns/op\tSet allocs/op\theap objects\tlive heap\tGC ms\tGC cpu ms\tRSS\t")
	var notes []string
	var base []uint64
	for _, r := range rows {
		res := r.Res
		if res.Err != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t\n", r.Cache, r.Label, "error (see below)")
			notes = append(notes, fmt.Sprintf("%s %s: %s", r.Cache, r.Label, res.Err))
			continue
		}
		vb := "-"
		if res.ValueBytes > 0 {
			vb = fmt.Sprint(res.ValueBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2fs\t%.1f\t%.2f\t%.1f\t%.2f\t%s\t%s\t%.2f\t%.2f\t%s\t\n",
			r.Cache, r.Label, vb, res.PreloadSeconds,
			median(res.GetNs), res.GetAllocs, median(res.SetNs), res.SetAllocs,
			count(int(res.HeapObjects)), mib(int64(res.HeapLive)), median(res.GCMillis), res.GCCPUMillis, mib(res.RSS))
		base = append(base, res.BaseObjects)
		if res.Entries < n {
			notes = append(notes, fmt.Sprintf("%s %s: holds %d of the %d entries after the preload", r.Cache, r.Label, res.Entries, n))
		}
		if res.GetMisses > 0 {
			notes = append(notes, fmt.Sprintf("%s %s: %d Gets missed", r.Cache, r.Label, res.GetMisses))
		}
		if res.PreloadEvictions > 0 {
			notes = append(notes, fmt.Sprintf("%s %s: %d entries evicted during the preload", r.Cache, r.Label, res.PreloadEvictions))
		}
		if d := res.Evictions - max(res.PreloadEvictions, 0); res.Evictions >= 0 && d > 0 {
			notes = append(notes, fmt.Sprintf("%s %s: %s entries evicted during the Set runs (overwrites outrunning compaction), after the Get runs", r.Cache, r.Label, count(int(d))))
		}
	}
	tw.Flush()
	configs := map[string]string{}
	for _, r := range rows {
		if r.Res.Config != "" && configs[r.Cache] == "" {
			configs[r.Cache] = r.Res.Config
		}
	}
	var cfg []string
	for _, c := range []string{"mmcache", "otter", "theine"} {
		if configs[c] != "" {
			cfg = append(cfg, c+" "+configs[c])
		}
	}
	fmt.Printf("   Setup (struct rows; int64 alike, mmcache sized for its own payload): %s.\n", strings.Join(cfg, "; "))
	fmt.Printf("   otter and theine are preloaded with a key string of their own per entry; timed Gets and Sets pass keys without allocating.\n")
	if len(base) > 0 {
		lo, hi := base[0], base[0]
		for _, b := range base {
			lo, hi = min(lo, b), max(hi, b)
		}
		fmt.Printf("   Heap objects before each cache was made (runtime, harness, keys in one block): %s to %s.\n", count(int(lo)), count(int(hi)))
	}
	for _, s := range notes {
		fmt.Printf("   Note: %s\n", s)
	}
}

// printGC prints forced-GC time and heap objects side by side for every entry count.
func printGC(ns []int, rows []opsRow) {
	fmt.Printf("\nForced GC after the preload, by entry count: median wall time of 5 runtime.GC() (ms), GC CPU ms per GC, live heap objects.\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "cache\tvalue\t"
	for _, n := range ns {
		head += "GC ms @" + count(n) + "\t"
	}
	for _, n := range ns {
		head += "GC cpu ms @" + count(n) + "\t"
	}
	for _, n := range ns {
		head += "objects @" + count(n) + "\t"
	}
	fmt.Fprintln(tw, head)
	for _, s := range subjects {
		var gc, cpu, objs []string
		found := false
		for _, n := range ns {
			g, c, o := "-", "-", "-"
			for _, r := range rows {
				if r.subject == s && r.N == n && r.Res.Err == "" {
					g, c, o, found = fmt.Sprintf("%.2f", median(r.Res.GCMillis)), fmt.Sprintf("%.2f", r.Res.GCCPUMillis), count(int(r.Res.HeapObjects)), true
				}
			}
			gc, cpu, objs = append(gc, g), append(cpu, c), append(objs, o)
		}
		if found {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", s.Cache, s.Label, strings.Join(gc, "\t"), strings.Join(cpu, "\t"), strings.Join(objs, "\t"))
		}
	}
	tw.Flush()
}

// printStampede prints part B's table.
func printStampede(j job, rows []stampedeRow) {
	fmt.Printf("\nB. Stampede: %d goroutines released together, %d requests each for keys picked at random among %d missing keys;\n", j.Callers, j.Requests, j.HotKeys)
	fmt.Printf("   the loader sleeps %s; %d rounds after an untimed one, each on a fresh cache (a process per cache). Ideal: %d loads a round.\n", j.LoadDelay, j.Rounds, j.HotKeys)
	fmt.Printf("   mmcache Typed.GetOrLoad (BinaryCodec), otter Cache.Get(ctx, key, LoaderFunc), theine LoadingCache.Get; latency over every request of every round.\n")
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "cache\tloads per round\tp50\tp99\tmax\twall per round\terrors\t")
	for _, r := range rows {
		res := r.Res
		if res.Err != "" {
			fmt.Fprintf(tw, "%s\terror: %s\t\n", r.Cache, res.Err)
			continue
		}
		var loads, walls []string
		for i := range res.Loads {
			loads = append(loads, fmt.Sprint(res.Loads[i]))
			walls = append(walls, fmt.Sprintf("%.1f", res.WallMs[i]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s ms\t%d\t\n", r.Cache, strings.Join(loads, " "),
			dur(res.LatencyNs[0]), dur(res.LatencyNs[1]), dur(res.LatencyNs[2]), strings.Join(walls, " "), res.Errors)
	}
	tw.Flush()
	if slices.ContainsFunc(rows, func(r stampedeRow) bool { return r.Cache == "theine" && r.Res.Err == "" }) {
		fmt.Printf("   theine (%s) runs its loader under the key's shard lock, so loads of different keys in one shard run one after another.\n", moduleVersion("github.com/Yiling-J/theine-go"))
	}
}

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// mib writes a byte count in MiB.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// dur writes nanoseconds as a short duration.
func dur(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.0f ns", ns)
}
