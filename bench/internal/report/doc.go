package report

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/mmcache/mmcache/bench/internal/caches"
	"github.com/mmcache/mmcache/bench/internal/measure"
	"github.com/mmcache/mmcache/bench/internal/stats"
)

// doc accumulates the markdown of benchmarks.md, the charts it refers to, and the workloads
// where mmcache loses.
type doc struct {
	d      *Data
	b      strings.Builder
	imgDir string
	losses []loss
	errs   []string // charts that could not be drawn
}

// loss is one workload where a peer beats mmcache.
type loss struct {
	section string
	what    string  // the workload
	peer    string  // who wins
	ratio   float64 // peer's advantage: > 1, in the direction of "better"
	metric  string  // what is compared, e.g. "ops/s"
	noise   bool    // within the run-to-run spread
	points  float64 // for hit ratios: the peer's lead in percentage points
}

func (w *doc) printf(format string, args ...any) { fmt.Fprintf(&w.b, format, args...) }

// para writes a paragraph.
func (w *doc) para(format string, args ...any) {
	w.printf(format, args...)
	w.b.WriteString("\n\n")
}

func (w *doc) heading(level int, text string) {
	w.printf("%s %s\n\n", strings.Repeat("#", level), text)
}

func (w *doc) table(t *table) {
	w.b.WriteString(t.String())
	w.b.WriteString("\n")
}

// chart draws with f and links the image, or notes the failure.
func (w *doc) chart(file, alt string, f func(dir string) error) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("drawing failed: %v", r)
			}
		}()
		return f(w.imgDir)
	}()
	if errors.Is(err, errNoData) {
		return
	}
	if err != nil {
		w.errs = append(w.errs, fmt.Sprintf("%s: %v", file, err))
		return
	}
	w.para("![%s](img/%s)", alt, file)
}

// details wraps body in a collapsed block.
func (w *doc) details(summary string, body func()) {
	w.printf("<details><summary>%s</summary>\n\n", summary)
	body()
	w.printf("</details>\n\n")
}

// lose records a loss, unless the "peer" is mmcache's own tuned configuration.
func (w *doc) lose(l loss) {
	if rival(l.peer) {
		w.losses = append(w.losses, l)
	}
}

// caches returns the names of the caches in report order, without the baseline.
func (w *doc) caches() []string {
	var out []string
	for _, p := range w.d.Peers {
		if !p.Baseline {
			out = append(out, p.Name)
		}
	}
	return out
}

// family returns the cache a configuration belongs to: its name without the tuned suffix.
func family(c string) string { return strings.TrimSuffix(c, caches.TunedSuffix) }

// rival reports whether configuration c belongs to another cache than mmcache. Every ratio
// compares with mmcache on its defaults; a rival that does better is a loss, while mmcache's
// own tuned configuration is shown beside its defaults and counts neither way.
func rival(c string) bool { return family(c) != "mmcache" }

// find returns the outcome with key k, or nil.
func find[K comparable, R any](list []Outcome[K, R], k K) *Outcome[K, R] {
	for i := range list {
		if list[i].Key == k {
			return &list[i]
		}
	}
	return nil
}

// note returns the skip or error text of an outcome without a result.
func note[K, R any](o *Outcome[K, R]) string {
	switch {
	case o == nil:
		return "not run"
	case o.Skip == measure.SameAsDefaults:
		return "= defaults"
	case o.Skip != "":
		return "n/a"
	case o.Err != "":
		return "error"
	}
	return ""
}

// summarize is stats.Summarize.
func summarize(xs []float64) stats.Summary { return stats.Summarize(xs) }

// nan is a missing value.
var nan = math.NaN()
