package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// table is a markdown table built row by row.
type table struct {
	head  []string
	right []bool // right-align column
	rows  [][]string
}

func newTable(head ...string) *table {
	t := &table{head: head, right: make([]bool, len(head))}
	for i := 1; i < len(head); i++ {
		t.right[i] = true
	}
	return t
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) String() string {
	var b strings.Builder
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	b.WriteString("|")
	for _, h := range t.head {
		b.WriteString(" " + esc(h) + " |")
	}
	b.WriteString("\n|")
	for i := range t.head {
		if t.right[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.rows {
		b.WriteString("|")
		for i := range t.head {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			b.WriteString(" " + esc(c) + " |")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// num formats a number with three significant digits and an SI suffix (k, M, G).
func num(x float64) string {
	ax := math.Abs(x)
	switch {
	case ax >= 1e9:
		return sig(x/1e9) + " G"
	case ax >= 1e6:
		return sig(x/1e6) + " M"
	case ax >= 1e4:
		return sig(x/1e3) + " k"
	}
	return sig(x)
}

// sig formats x with about three significant digits.
func sig(x float64) string {
	ax := math.Abs(x)
	switch {
	case ax == 0:
		return "0"
	case ax >= 100:
		return fmt.Sprintf("%.0f", x)
	case ax >= 10:
		return fmt.Sprintf("%.1f", x)
	case ax >= 1:
		return fmt.Sprintf("%.2f", x)
	case ax >= 0.01:
		return fmt.Sprintf("%.3f", x)
	}
	return fmt.Sprintf("%.2g", x)
}

// mops formats operations per second in millions.
func mops(x float64) string { return sig(x / 1e6) }

// bytes formats a byte count in binary units.
func bytes(n float64) string {
	an := math.Abs(n)
	switch {
	case an >= 1<<30:
		return sig(n/(1<<30)) + " GiB"
	case an >= 1<<20:
		return sig(n/(1<<20)) + " MiB"
	case an >= 1<<10:
		return sig(n/(1<<10)) + " KiB"
	}
	return fmt.Sprintf("%.0f B", n)
}

// dur formats seconds as a duration with three significant digits.
func dur(sec float64) string {
	switch {
	case sec >= 1:
		return sig(sec) + " s"
	case sec >= 1e-3:
		return sig(sec*1e3) + " ms"
	case sec >= 1e-6:
		return sig(sec*1e6) + " µs"
	}
	return sig(sec*1e9) + " ns"
}

// ns formats nanoseconds.
func ns(x float64) string { return dur(x / 1e9) }

// ratio formats a ratio as 1.23×.
func ratio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	return sig(r) + "×"
}

// pct formats a fraction as a percentage.
func pct(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) }

// spread formats a relative half-range as ±x%.
func spread(f float64) string {
	if f == 0 || f > 10 {
		return "–"
	}
	return fmt.Sprintf("±%.0f%%", 100*f)
}

// count formats an entry count as 1M, 250k or 1500.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%d M", n/1_000_000)
	case n >= 1_000_000:
		return fmt.Sprintf("%.1f M", float64(n)/1e6)
	case n >= 10_000 && n%1000 == 0:
		return fmt.Sprintf("%d k", n/1000)
	}
	return fmt.Sprint(n)
}

// duration formats a wall time like 23m14s.
func duration(sec float64) string {
	return time.Duration(sec * float64(time.Second)).Round(time.Second).String()
}

// slug makes a file-name-safe form of s.
func slug(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '.':
			b.WriteRune('_')
		default:
			b.WriteRune('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// times formats a repeat count: "once", "5 times".
func times(n int) string {
	if n == 1 {
		return "once"
	}
	return fmt.Sprintf("%d times", n)
}

// runs formats a run count: "1 run", "5 runs".
func runs(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}
