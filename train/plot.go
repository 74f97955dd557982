package train

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/convnet/convnet/nn"
)

// Curve is one model's training and test error per epoch, in percent.
type Curve struct {
	Name        string
	Train, Test []float64
}

// curveColors are dark, distinct colours (the ResNet paper's figures use
// one colour per depth).
var curveColors = []color.Color{
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, // red
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}, // blue
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff}, // orange
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, // green
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff}, // purple
	color.RGBA{R: 0x8c, G: 0x56, B: 0x4b, A: 0xff}, // brown
}

// PlotErrors draws error against epoch like the ResNet paper's figures:
// thin dashed lines are training error, bold lines test error, one colour
// per curve. It writes base+".png" and base+".svg".
func PlotErrors(base, title string, curves []Curve) error {
	p := plot.New()
	p.Title.Text = title
	// gonum/plot puts the title's top at the canvas edge.
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "epoch"
	p.Y.Label.Text = "error (%)"
	p.Y.Min = 0
	p.Legend.Top = true
	ymax := 0.0
	for i, c := range curves {
		col := curveColors[i%len(curveColors)]
		for _, s := range []struct {
			ys   []float64
			test bool
		}{{c.Train, false}, {c.Test, true}} {
			if len(s.ys) == 0 {
				continue
			}
			xys := make(plotter.XYs, len(s.ys))
			for k, y := range s.ys {
				if math.IsNaN(y) || math.IsInf(y, 0) {
					y = 0
				}
				xys[k] = plotter.XY{X: float64(k + 1), Y: y}
				ymax = max(ymax, y)
			}
			// Points as well as lines, so that a one-epoch run shows.
			l, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return err
			}
			l.Color, pts.Color = col, col
			pts.Shape = draw.CircleGlyph{}
			name := c.Name + " train"
			if s.test {
				l.Width, pts.Radius = vg.Points(2.5), vg.Points(2.5)
				name = c.Name + " test"
			} else {
				l.Width, pts.Radius = vg.Points(0.8), vg.Points(1.2)
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			p.Add(l, pts)
			p.Legend.Add(name, l)
		}
	}
	p.Add(plotter.NewGrid())
	p.Y.Max = math.Max(1, ymax*1.1)
	p.X.Min, p.X.Max = 1, float64(maxLen(curves))
	if p.X.Max <= 1 {
		p.X.Min, p.X.Max = 0.5, 1.5
	}
	for _, ext := range []string{".png", ".svg"} {
		wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, ext[1:])
		if err != nil {
			return err
		}
		path := base + ext
		if err := writeFileAtomic(path, func(w io.Writer) error { _, err := wt.WriteTo(w); return err }); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return nil
}

func maxLen(cs []Curve) int {
	n := 0
	for _, c := range cs {
		n = max(n, len(c.Train), len(c.Test))
	}
	return n
}

// FirstConv returns the model's first convolution in module order.
func FirstConv(m nn.Module) *nn.Conv2d {
	var first *nn.Conv2d
	nn.Walk(m, func(_ string, l nn.Module) {
		if c, ok := l.(*nn.Conv2d); ok && first == nil {
			first = c
		}
	})
	return first
}

// FilterImage draws a convolution's filters as a grid, like the lecture's
// picture of AlexNet's first layer: each filter is normalised to [0, 255]
// on its own (its minimum black, its maximum white), shown in colour when
// it has three input channels and in grey otherwise (the mean over input
// channels), and enlarged so that the grid is about 512 pixels wide.
func FilterImage(c *nn.Conv2d) (*image.RGBA, error) {
	w := c.Weight.T
	if w == nil || w.Data == nil || len(w.Shape) != 4 {
		return nil, fmt.Errorf("filters: weight has no data")
	}
	out, in, kh, kw := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	cols := int(math.Ceil(math.Sqrt(float64(out))))
	rows := (out + cols - 1) / cols
	scale := max(1, 512/(cols*max(kh, kw)))
	gap := max(1, scale/4)
	cell := func(n int) int { return n*scale + gap }
	img := image.NewRGBA(image.Rect(0, 0, cols*cell(kw)+gap, rows*cell(kh)+gap))
	for i := range img.Pix {
		img.Pix[i] = 0xff // white background between filters
	}
	for f := range out {
		ws := w.Data[f*in*kh*kw : (f+1)*in*kh*kw]
		// pixel values per channel: 3 for colour, else the mean
		nc := 1
		if in == 3 {
			nc = 3
		}
		vals := make([]float64, nc*kh*kw)
		for y := range kh {
			for x := range kw {
				for ch := range in {
					v := float64(ws[(ch*kh+y)*kw+x])
					if nc == 3 {
						vals[(ch*kh+y)*kw+x] = v
					} else {
						vals[y*kw+x] += v / float64(in)
					}
				}
			}
		}
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		span := hi - lo
		level := func(v float64) uint8 {
			if !(span > 0) {
				return 128
			}
			return uint8(math.Round(255 * (v - lo) / span))
		}
		ox, oy := gap+(f%cols)*cell(kw), gap+(f/cols)*cell(kh)
		for y := range kh {
			for x := range kw {
				var px color.RGBA
				if nc == 3 {
					px = color.RGBA{level(vals[(0*kh+y)*kw+x]), level(vals[(1*kh+y)*kw+x]), level(vals[(2*kh+y)*kw+x]), 0xff}
				} else {
					g := level(vals[y*kw+x])
					px = color.RGBA{g, g, g, 0xff}
				}
				for dy := range scale {
					for dx := range scale {
						img.SetRGBA(ox+x*scale+dx, oy+y*scale+dy, px)
					}
				}
			}
		}
	}
	return img, nil
}

// SaveFilters writes the first convolution's filters as a PNG.
func SaveFilters(path string, m nn.Module) error {
	c := FirstConv(m)
	if c == nil {
		return fmt.Errorf("filters: the model has no convolution")
	}
	img, err := FilterImage(c)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error { return png.Encode(w, img) })
}
