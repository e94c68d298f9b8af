package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mmcache/mmcache/bench/internal/measure"
)

// Write renders benchmarks.md, summary.md and the charts (in img/) into dir.
func Write(d *Data, dir string) error {
	imgDir := filepath.Join(dir, "img")
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	w := &doc{d: d, imgDir: imgDir}
	// The body is rendered first: it records the losses the summary and the loss list need.
	body := &doc{d: d, imgDir: imgDir}
	body.configuration()
	body.speed()
	body.throughput()
	body.gc()
	body.memory()
	body.hitRatio()
	body.latency()
	body.lossesSection()
	body.skipped()

	w.header()
	summary := body.summary()
	w.heading(2, "Summary")
	w.para("The table between the markers below is meant to be copied into the README's comparison table (it is also written alone to [summary.md](summary.md)).")
	w.printf("<!-- summary:begin -->\n%s<!-- summary:end -->\n\n", strings.SplitN(summary, "\n\n", 2)[1])
	w.para("%s", body.lossHeadline())
	w.machine()
	w.howToRead()
	w.b.WriteString(body.b.String())
	for _, e := range append(w.errs, body.errs...) {
		fmt.Fprintln(os.Stderr, "chart:", e)
	}
	if err := os.WriteFile(filepath.Join(dir, "benchmarks.md"), []byte(w.b.String()), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "summary.md"), []byte("# Benchmark summary\n\n"+summary), 0o644); err != nil {
		return err
	}
	return updateReadme(filepath.Join(dir, "..", "README.md"), summary)
}

// updateReadme puts the summary between the summary markers of the README beside dir, so the
// README's numbers come from the same run. A README without the markers is left alone.
func updateReadme(path, summary string) error {
	const begin, end = "<!-- summary:begin -->\n", "<!-- summary:end -->"
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	text := string(b)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		return nil
	}
	text = text[:i+len(begin)] + summary + text[j:]
	return os.WriteFile(path, []byte(text), 0o644)
}

// lossHeadline says in a sentence where mmcache loses.
func (w *doc) lossHeadline() string {
	if len(w.losses) == 0 {
		return "In this run mmcache was not beaten on any measured workload."
	}
	counts := map[string]int{}
	for _, l := range w.losses {
		counts[l.section]++
	}
	var parts []string
	for _, s := range lossSections {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", strings.ToLower(s), counts[s]))
		}
	}
	return fmt.Sprintf("**mmcache does not win everywhere.** Workloads where a peer did better in this run (%s) are listed in [Where mmcache loses](#where-mmcache-loses).", strings.Join(parts, "; "))
}

// skipped lists the jobs that did not run, and errors.
func (w *doc) skipped() {
	var lines []string
	add := func(what, skip, err string) {
		switch {
		case skip == measure.SameAsDefaults:
			// said once in the configuration section
		case err != "":
			lines = append(lines, fmt.Sprintf("- %s: **error**: %s", what, err))
		case skip != "":
			lines = append(lines, fmt.Sprintf("- %s: %s", what, skip))
		}
	}
	for _, o := range w.d.Speed {
		add("speed "+o.Key.Cache, o.Skip, o.Err)
	}
	for _, o := range w.d.Throughput {
		add(fmt.Sprintf("throughput %s %s", o.Key.Cache, groupName(o.Key.Keys, o.Key.ValueSize)), o.Skip, o.Err)
	}
	for _, o := range w.d.GC {
		add(fmt.Sprintf("GC %s N = %s", o.Key.Cache, count(o.Key.Entries)), o.Skip, o.Err)
	}
	for _, o := range w.d.Memory {
		add(fmt.Sprintf("memory %s %s 16+%d B", o.Key.Cache, bytes(float64(o.Key.Budget)), o.Key.ValueSize), o.Skip, o.Err)
	}
	for _, o := range w.d.Hit {
		add(fmt.Sprintf("hit ratio %s on %s", o.Key.Cache, o.Key.Workload), o.Skip, o.Err)
	}
	for _, o := range w.d.Latency {
		add(fmt.Sprintf("latency %s (TTL %v)", o.Key.Cache, o.Key.TTL), o.Skip, o.Err)
	}
	if len(lines) == 0 {
		return
	}
	w.heading(2, "Not run")
	w.para("Jobs that could not run for a cache, and why (hit-ratio cells that were n/a at some sizes are explained in the hit-ratio details).")
	w.printf("%s\n\n", strings.Join(lines, "\n"))
}
