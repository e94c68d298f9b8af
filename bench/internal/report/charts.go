package report

import (
	"errors"
	"image/color"
	"math"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// errNoData is returned for a chart without a single value to draw.
var errNoData = errors.New("no data to draw")

// series is one line or one set of bars of a chart.
type series struct {
	name string
	xs   []float64 // for line charts
	ys   []float64 // NaN: no value
}

// palette gives each cache a fixed colour across charts; mmcache is the strong red.
var palette = map[string]color.RGBA{
	"mmcache":     {214, 39, 40, 255},
	"freecache":   {31, 119, 180, 255},
	"fastcache":   {44, 160, 44, 255},
	"bigcache":    {255, 127, 14, 255},
	"ristretto":   {148, 103, 189, 255},
	"otter":       {140, 86, 75, 255},
	"go-cache":    {227, 119, 194, 255},
	"map+RWMutex": {127, 127, 127, 255},
	"sync.Map":    {188, 189, 34, 255},
	"LRU":         {23, 190, 207, 255},
}

// colorOf returns the colour of a configuration: its cache's, paler for a tuned one (whose
// lines are also dashed).
func colorOf(name string, i int) color.Color {
	c, ok := palette[family(name)]
	if !ok {
		return plotterColor(i)
	}
	if name != family(name) {
		pale := func(x uint8) uint8 { return x + (255-x)/2 }
		c = color.RGBA{pale(c.R), pale(c.G), pale(c.B), 255}
	}
	return c
}

func plotterColor(i int) color.Color {
	extra := []color.RGBA{{0, 0, 0, 255}, {100, 100, 255, 255}, {255, 100, 100, 255}}
	return extra[i%len(extra)]
}

// chartSpec describes a chart's frame.
type chartSpec struct {
	file, title, xLabel, yLabel string
	logX, logY                  bool
	yFrom0                      bool
	nominalX                    []string // category labels at x = 0, 1, 2...
}

func newPlot(c chartSpec) *plot.Plot {
	p := plot.New()
	p.Title.Text = c.title
	p.X.Label.Text = c.xLabel
	p.Y.Label.Text = c.yLabel
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
	if c.logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	if c.logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	return p
}

// lineChart draws one line with points per series and saves it as a PNG in dir.
func lineChart(dir string, c chartSpec, ss []series) error {
	p := newPlot(c)
	drawn := 0
	for i, s := range ss {
		var pts plotter.XYs
		for j := range s.xs {
			if j < len(s.ys) && !math.IsNaN(s.ys[j]) && (!c.logY || s.ys[j] > 0) {
				pts = append(pts, plotter.XY{X: s.xs[j], Y: s.ys[j]})
			}
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		col := colorOf(s.name, i)
		l.Color, sc.Color = col, col
		sc.Shape = draw.GlyphDrawer(shapes[i%len(shapes)])
		if family(s.name) == "mmcache" {
			l.Width = vg.Points(2.5)
		}
		if s.name != family(s.name) {
			l.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
		}
		p.Add(l, sc)
		p.Legend.Add(s.name, l, sc)
		drawn++
	}
	if drawn == 0 {
		return errNoData
	}
	if c.yFrom0 && !c.logY {
		p.Y.Min = 0
	}
	if len(c.nominalX) > 0 {
		p.NominalX(c.nominalX...)
	}
	legendRoom(p, c, 0.3)
	return p.Save(9*vg.Inch, 5*vg.Inch, filepath.Join(dir, c.file))
}

var shapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.BoxGlyph{}, draw.PlusGlyph{}, draw.CrossGlyph{}, draw.RingGlyph{}}

// barChart draws grouped bars on a linear scale: one group per label, one bar per series in
// each group. Missing values are drawn as empty.
func barChart(dir string, c chartSpec, groups []string, ss []series) error {
	p := newPlot(c)
	n := len(ss)
	w := vg.Points(math.Max(4, math.Min(18, 360/float64(max(n*len(groups), 1)))))
	for i, s := range ss {
		vals := make(plotter.Values, len(groups))
		for j := range vals {
			v := math.NaN()
			if j < len(s.ys) {
				v = s.ys[j]
			}
			if math.IsNaN(v) {
				v = 0
			}
			vals[j] = v
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		b.Color = colorOf(s.name, i)
		b.LineStyle.Width = 0
		b.Offset = vg.Length(float64(i)-float64(n-1)/2) * w
		p.Add(b)
		p.Legend.Add(s.name, b)
	}
	p.NominalX(groups...)
	p.Y.Min = math.Min(0, p.Y.Min)
	p.X.Max += 0.9 // room for the legend on the right
	return p.Save(9*vg.Inch, 5*vg.Inch, filepath.Join(dir, c.file))
}

// legendRoom widens the x range to the right by frac of its span (in log space for a log
// axis), so that the legend in the top right corner does not cover the data.
func legendRoom(p *plot.Plot, c chartSpec, frac float64) {
	if c.logX && p.X.Min > 0 {
		p.X.Max = math.Exp(math.Log(p.X.Max) + (math.Log(p.X.Max)-math.Log(p.X.Min))*frac)
		return
	}
	p.X.Max += (p.X.Max - p.X.Min) * frac
}
