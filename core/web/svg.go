package web

import (
	"encoding/xml"
	"html/template"
	"math"
	"strconv"
	"strings"
)

// Server-rendered SVG charts for the retention dashboard: a cohort heatmap
// triangle, line curves, grouped bars and the RFM 5×5 grid. Each chart is
// a self-contained <svg role="img"> with a title and description for
// screen readers, and a <title> on every mark, so hovering shows the exact
// number; pages put the same numbers in a table beside the chart, so
// nothing depends on seeing colour or on JavaScript.
//
// Colours are CSS classes (assets/static/dashboard.css), not attributes:
// the theme's variables decide them in light and dark mode, and the CSP
// (style-src 'self') forbids inline styles anyway. Every piece of text is
// XML-escaped here, once, by svgText/svgAttr; callers pass plain strings.

// svgBuf writes one SVG document.
type svgBuf struct{ b strings.Builder }

// text writes s as XML character data (also valid HTML text), with
// invalid UTF-8 replaced and direction overrides made visible (safeText).
func (w *svgBuf) text(s string) {
	_ = xml.EscapeText(&w.b, []byte(safeText(s)))
}

// raw writes markup the caller built from constants and numbers only.
func (w *svgBuf) raw(s ...string) {
	for _, x := range s {
		w.b.WriteString(x)
	}
}

// attr writes name="value" with value escaped.
func (w *svgBuf) attr(name, value string) {
	w.b.WriteString(" " + name + `="`)
	w.text(value)
	w.b.WriteString(`"`)
}

// open starts the document: viewBox of width×height, labelled by a title
// and a description (ids are prefixed by id so several charts can share a
// page).
func (w *svgBuf) open(id string, width, height float64, title, desc string) {
	w.raw(`<svg xmlns="http://www.w3.org/2000/svg" class="chart"`)
	w.attr("viewBox", "0 0 "+num(width)+" "+num(height))
	w.attr("width", num(width))
	w.attr("height", num(height))
	w.attr("id", id)
	w.raw(` role="img"`)
	w.attr("aria-labelledby", id+"-t "+id+"-d")
	w.raw(`><title`)
	w.attr("id", id+"-t")
	w.raw(">")
	w.text(title)
	w.raw(`</title><desc`)
	w.attr("id", id+"-d")
	w.raw(">")
	w.text(desc)
	w.raw("</desc>")
}

func (w *svgBuf) close() template.HTML {
	w.raw("</svg>")
	// Safe: every value above went through text/attr or is a number.
	return template.HTML(w.b.String())
}

// label writes a <text> element.
func (w *svgBuf) label(x, y float64, class, anchor, s string) {
	w.raw(`<text x="`, num(x), `" y="`, num(y), `"`)
	if class != "" {
		w.attr("class", class)
	}
	if anchor != "" {
		w.attr("text-anchor", anchor)
	}
	w.raw(">")
	w.text(s)
	w.raw("</text>")
}

// rect writes a rectangle with a hover title.
func (w *svgBuf) rect(x, y, width, height float64, class, tip string) {
	w.raw(`<rect x="`, num(x), `" y="`, num(y), `" width="`, num(math.Max(width, 0)), `" height="`, num(math.Max(height, 0)), `"`)
	if class != "" {
		w.attr("class", class)
	}
	if tip == "" {
		w.raw("/>")
		return
	}
	w.raw("><title>")
	w.text(tip)
	w.raw("</title></rect>")
}

// num formats a coordinate compactly.
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// niceMax rounds an axis maximum up to 1, 2, 2.5 or 5 times a power of
// ten, so the four grid lines fall on readable numbers.
func niceMax(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// heatStep maps v in [0, 1] to one of 10 classes of a single-hue scale.
func heatStep(v float64) int {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 9
	}
	return int(v * 10)
}

// heatCell is one cell of a heatmap row.
type heatCell struct {
	Value float64 // 0..1, decides the shade
	Text  string  // printed in the cell ("42%")
	Tip   string  // hover text
	// Partial marks a period still in progress: drawn outlined and pale,
	// its number in italics, so nobody reads it as a drop.
	Partial bool
}

// heatRow is a row label and its cells (a triangle has shorter rows later).
type heatRow struct {
	Label string
	Cells []heatCell
}

// heatmapSVG draws rows × columns of shaded cells with their numbers
// printed in them; cols labels the columns.
func heatmapSVG(id, title, desc string, cols []string, rows []heatRow) template.HTML {
	const labelW, headH, cellW, cellH = 96.0, 22.0, 46.0, 24.0
	width := labelW + cellW*float64(max(len(cols), 1)) + 4
	height := headH + cellH*float64(max(len(rows), 1)) + 4
	var w svgBuf
	w.open(id, width, height, title, desc)
	for j, c := range cols {
		w.label(labelW+cellW*float64(j)+cellW/2, headH-7, "axis", "middle", c)
	}
	for i, r := range rows {
		y := headH + cellH*float64(i)
		w.label(labelW-6, y+cellH/2+4, "axis", "end", r.Label)
		for j, c := range r.Cells {
			if j >= len(cols) {
				break
			}
			x := labelW + cellW*float64(j)
			st := heatStep(c.Value)
			cls, tc := "h"+strconv.Itoa(st), "cv"
			if c.Partial {
				cls, tc, st = "partial", "cv partial", 0
			}
			w.raw(`<g class="cell">`)
			w.rect(x+1, y+1, cellW-2, cellH-2, cls, c.Tip)
			if st >= 6 {
				tc = "cv on-dark"
			}
			w.label(x+cellW/2, y+cellH/2+4, tc, "middle", c.Text)
			w.raw(`</g>`)
		}
	}
	return w.close()
}

// lineSeries is one curve; NaN values are gaps.
type lineSeries struct {
	Name   string
	Values []float64
}

// lineChartSVG draws curves over the x labels with the y axis from 0 to
// yMax (yFmt formats ticks and tips). Series get distinct dash patterns and
// markers as well as colours, and a direct label at their last point.
func lineChartSVG(id, title, desc string, xLabels []string, series []lineSeries, yMax float64, yFmt func(float64) string) template.HTML {
	const padL, padR, padT, padB, width, height = 48.0, 120.0, 12.0, 28.0, 640.0, 260.0
	if !(yMax > 0) {
		yMax = 1
	}
	plotW, plotH := width-padL-padR, height-padT-padB
	n := max(len(xLabels), 2)
	xAt := func(i int) float64 { return padL + plotW*float64(i)/float64(n-1) }
	yAt := func(v float64) float64 { return padT + plotH*(1-math.Min(v, yMax)/yMax) }
	var w svgBuf
	w.open(id, width, height, title, desc)
	for k := 0; k <= 4; k++ {
		v := yMax * float64(k) / 4
		y := yAt(v)
		w.raw(`<line class="grid" x1="`, num(padL), `" x2="`, num(padL+plotW), `" y1="`, num(y), `" y2="`, num(y), `"/>`)
		w.label(padL-6, y+4, "axis", "end", yFmt(v))
	}
	step := max(1, len(xLabels)/12)
	for i, l := range xLabels {
		if i%step == 0 || i == len(xLabels)-1 {
			w.label(xAt(i), height-8, "axis", "middle", l)
		}
	}
	for si, s := range series {
		cls := "s" + strconv.Itoa(si%6)
		var pts []string
		lastX, lastY, have := 0.0, 0.0, false
		w.raw(`<g`)
		w.attr("class", "series "+cls)
		w.raw(">")
		flush := func() {
			if len(pts) > 1 {
				w.raw(`<polyline fill="none" points="`, strings.Join(pts, " "), `"/>`)
			}
			pts = pts[:0]
		}
		for i, v := range s.Values {
			if i >= len(xLabels) || math.IsNaN(v) || math.IsInf(v, 0) {
				flush()
				continue
			}
			x, y := xAt(i), yAt(v)
			pts = append(pts, num(x)+","+num(y))
			lastX, lastY, have = x, y, true
		}
		flush()
		for i, v := range s.Values {
			if i >= len(xLabels) || math.IsNaN(v) || math.IsInf(v, 0) {
				continue
			}
			w.raw(`<circle r="3" cx="`, num(xAt(i)), `" cy="`, num(yAt(v)), `"><title>`)
			w.text(s.Name + ", " + xLabels[i] + ": " + yFmt(v))
			w.raw(`</title></circle>`)
		}
		_, _ = lastX, lastY
		if have {
			// The legend: a sample of the line's pattern and its name, in
			// a column to the right (labels at line ends collide when
			// curves meet).
			ly := padT + 8 + float64(si)*16
			lx := padL + plotW + 12
			w.raw(`<polyline fill="none" points="`, num(lx)+","+num(ly-4)+" "+num(lx+22)+","+num(ly-4), `"/>`)
			w.label(lx+28, ly, "end-label", "", s.Name)
		}
		w.raw(`</g>`)
	}
	return w.close()
}

// barSeries is one set of bars (one per category).
type barSeries struct {
	Name   string
	Values []float64
}

// barChartSVG draws grouped bars per category, with a legend that names
// each series next to a swatch of its pattern.
func barChartSVG(id, title, desc string, cats []string, series []barSeries, yFmt func(float64) string) template.HTML {
	const padL, padR, padT, padB, width, height = 48.0, 8.0, 28.0, 28.0, 520.0, 240.0
	yMax := 0.0
	for _, s := range series {
		for _, v := range s.Values {
			if v > yMax && !math.IsInf(v, 0) {
				yMax = v
			}
		}
	}
	if !(yMax > 0) {
		yMax = 1
	}
	yMax = niceMax(yMax * 1.05)
	plotW, plotH := width-padL-padR, height-padT-padB
	yAt := func(v float64) float64 { return padT + plotH*(1-math.Max(0, math.Min(v, yMax))/yMax) }
	var w svgBuf
	w.open(id, width, height, title, desc)
	for k := 0; k <= 4; k++ {
		v := yMax * float64(k) / 4
		y := yAt(v)
		w.raw(`<line class="grid" x1="`, num(padL), `" x2="`, num(padL+plotW), `" y1="`, num(y), `" y2="`, num(y), `"/>`)
		w.label(padL-6, y+4, "axis", "end", yFmt(v))
	}
	for si, s := range series {
		x := padL + float64(si)*130
		w.rect(x, 6, 12, 12, "bar b"+strconv.Itoa(si%4), "")
		w.label(x+16, 16, "axis", "", s.Name)
	}
	groupW := plotW / float64(max(len(cats), 1))
	barW := groupW * 0.8 / float64(max(len(series), 1))
	for ci, c := range cats {
		gx := padL + groupW*float64(ci) + groupW*0.1
		for si, s := range series {
			if ci >= len(s.Values) {
				continue
			}
			v := s.Values[ci]
			y := yAt(v)
			w.rect(gx+barW*float64(si), y, barW-1, padT+plotH-y, "bar b"+strconv.Itoa(si%4), s.Name+", "+c+": "+yFmt(v))
		}
		w.label(gx+groupW*0.4, height-8, "axis", "middle", c)
	}
	return w.close()
}

// rfmCell is one cell of the RFM grid.
type rfmCell struct {
	R, F      int
	Customers int
	Revenue   string // formatted money
	Segment   string
	Share     float64 // of all scored customers, decides the shade
}

// rfmGridSVG draws the 5×5 recency × frequency grid: recency 5 (most
// recent) at the top, frequency 5 at the right; each cell prints its count
// and revenue, and names its segment on hover.
func rfmGridSVG(id, title, desc string, grid [5][5]rfmCell) template.HTML {
	const padL, padT, padB, cellW, cellH = 40.0, 8.0, 36.0, 92.0, 46.0
	width, height := padL+cellW*5+4, padT+cellH*5+padB
	maxShare := 0.0
	for r := range grid {
		for f := range grid[r] {
			maxShare = math.Max(maxShare, grid[r][f].Share)
		}
	}
	var w svgBuf
	w.open(id, width, height, title, desc)
	for row := 0; row < 5; row++ {
		r := 5 - row
		y := padT + cellH*float64(row)
		w.label(padL-8, y+cellH/2+4, "axis", "end", "R"+strconv.Itoa(r))
		for f := 1; f <= 5; f++ {
			c := grid[r-1][f-1]
			x := padL + cellW*float64(f-1)
			st := 0
			if maxShare > 0 {
				st = heatStep(c.Share / maxShare)
			}
			w.raw(`<g class="cell">`)
			w.rect(x+1, y+1, cellW-2, cellH-2, "h"+strconv.Itoa(st),
				c.Segment+" (R"+strconv.Itoa(r)+" F"+strconv.Itoa(f)+"): "+strconv.Itoa(c.Customers)+" customers, "+c.Revenue)
			tc := "cv"
			if st >= 6 {
				tc = "cv on-dark"
			}
			w.label(x+cellW/2, y+cellH/2-2, tc, "middle", strconv.Itoa(c.Customers))
			w.label(x+cellW/2, y+cellH/2+13, tc+" small", "middle", c.Revenue)
			w.raw(`</g>`)
		}
	}
	for f := 1; f <= 5; f++ {
		w.label(padL+cellW*float64(f-1)+cellW/2, padT+cellH*5+16, "axis", "middle", "F"+strconv.Itoa(f))
	}
	w.label(padL+cellW*2.5, height-4, "axis", "middle", "frequency score → (recency score ↑)")
	return w.close()
}
