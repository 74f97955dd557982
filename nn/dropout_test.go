package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// dropoutOnce runs a Dropout on n ones and backward with upstream
// gradient 1..n, returning the output and the input gradient.
func dropoutOnce(t *testing.T, d *nn.Dropout, n int) (y, dx []float32) {
	t.Helper()
	x := autograd.Input(tensor.Full(1, n), nil, true)
	out, err := nn.Run(d, x, nil)
	if err != nil {
		t.Fatal(err)
	}
	g := tensor.New(n)
	for i := range g.Data {
		g.Data[i] = float32(i + 1)
	}
	if err := out.BackwardWith(g); err != nil {
		t.Fatal(err)
	}
	return out.T.Data, x.Grad.Data
}

// TestDropoutStatistics: in training mode each element is zeroed with
// probability p and the survivors are scaled by exactly 1/(1-p), the
// gradient goes through the same mask and scale, and the mean is preserved;
// the fraction of zeros must be within 5 standard deviations of p.
func TestDropoutStatistics(t *testing.T) {
	const n = 100000
	for _, p := range []float32{0.5, 0.2, 0.9} {
		d := nn.NewDropout(p)
		y, dx := dropoutOnce(t, d, n)
		scale := 1 / (1 - p)
		zeros := 0
		var sum float64
		for i, v := range y {
			switch v {
			case 0:
				zeros++
				if dx[i] != 0 {
					t.Fatalf("p=%g: element %d dropped but its gradient is %g", p, i, dx[i])
				}
			case scale:
				if want := float32(i+1) * scale; dx[i] != want {
					t.Fatalf("p=%g: element %d kept, gradient %g, want %g", p, i, dx[i], want)
				}
			default:
				t.Fatalf("p=%g: element %d is %g, want 0 or %g", p, i, v, scale)
			}
			sum += float64(v)
		}
		frac := float64(zeros) / n
		sigma := math.Sqrt(float64(p) * float64(1-p) / n)
		if math.Abs(frac-float64(p)) > 5*sigma {
			t.Errorf("p=%g: dropped fraction %.4f, more than 5 sigma (%.4f) from p", p, frac, 5*sigma)
		}
		// The mean of y is (1-p)*scale = 1 in expectation; its standard
		// deviation is scale*sigma.
		if mean := sum / n; math.Abs(mean-1) > 5*float64(scale)*sigma {
			t.Errorf("p=%g: mean %.4f, want 1 +- %.4f", p, mean, 5*float64(scale)*sigma)
		}
	}
}

// TestDropoutSeeding: the same seed gives the same masks (call after call),
// a different seed or the next call gives different ones.
func TestDropoutSeeding(t *testing.T) {
	const n = 4096
	a, b := nn.NewDropout(0.5), nn.NewDropout(0.5)
	a.Seed(7, 11)
	b.Seed(7, 11)
	ya1, _ := dropoutOnce(t, a, n)
	yb1, _ := dropoutOnce(t, b, n)
	ya2, _ := dropoutOnce(t, a, n)
	yb2, _ := dropoutOnce(t, b, n)
	same := func(u, v []float32) bool {
		for i := range u {
			if u[i] != v[i] {
				return false
			}
		}
		return true
	}
	if !same(ya1, yb1) || !same(ya2, yb2) {
		t.Error("equal seeds gave different masks")
	}
	if same(ya1, ya2) {
		t.Error("two calls gave the same mask")
	}
	c := nn.NewDropout(0.5)
	c.Seed(7, 12)
	if yc, _ := dropoutOnce(t, c, n); same(ya1, yc) {
		t.Error("different seeds gave the same mask")
	}
	// Reseeding restarts the stream.
	a.Seed(7, 11)
	if y, _ := dropoutOnce(t, a, n); !same(y, ya1) {
		t.Error("reseeding did not reproduce the first mask")
	}
}

// TestDropoutIdentity: eval mode and p=0 pass values and gradients
// through unchanged; p=1 zeroes everything (PyTorch does the same).
func TestDropoutIdentity(t *testing.T) {
	x := tensor.Randn(rand.New(rand.NewPCG(1, 2)), 3, 4)
	for _, c := range []struct {
		p     float32
		train bool
	}{{0.5, false}, {0, true}, {0.9, false}} {
		d := nn.NewDropout(c.p)
		d.SetTraining(c.train)
		in := autograd.Input(x, nil, true)
		y, err := nn.Run(d, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range y.T.Data {
			if v != x.Data[i] {
				t.Fatalf("p=%g training=%v: element %d changed", c.p, c.train, i)
			}
		}
	}
	d := nn.NewDropout(1)
	y, err := nn.Run(d, autograd.Input(x, nil, true), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range y.T.Data {
		if v != 0 {
			t.Fatalf("p=1 kept %g", v)
		}
	}
}
