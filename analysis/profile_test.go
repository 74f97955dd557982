package analysis

import (
	"errors"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// TestLayerMACs binds the counting rule to ptflops' hooks, worked by hand
// from ptflops/pytorch_ops.py for a [1, 3, 8, 8] input.
func TestLayerMACs(t *testing.T) {
	cases := []struct {
		name string
		m    nn.Module
		in   []int
		want int64
	}{
		// 3*3*3*16 per position, 8*8 positions, + 16*8*8 bias.
		{"conv bias", nn.NewConv2d(3, 16, 3, nn.Padding(1)), []int{1, 3, 8, 8}, 27*16*64 + 16*64},
		{"conv no bias", nn.NewConv2d(3, 16, 3, nn.Padding(1), nn.NoBias()), []int{1, 3, 8, 8}, 27 * 16 * 64},
		// Depthwise: 3*3*1 per output channel and position.
		{"depthwise stride 2", nn.NewConv2d(4, 4, 3, nn.Padding(1), nn.Stride(2), nn.Groups(4), nn.NoBias()), []int{2, 4, 8, 8}, 2 * 9 * 4 * 16},
		{"linear", nn.NewLinear(10, 5), []int{2, 10}, 2 * (10*5 + 5)},
		{"linear no bias", nn.NewLinear(10, 5, nn.NoBias()), []int{1, 10}, 50},
		{"batchnorm", nn.NewBatchNorm2d(3), []int{1, 3, 8, 8}, 2 * 192},
		{"batchnorm no affine", nn.NewBatchNorm2d(3, nn.Affine(false)), []int{1, 3, 8, 8}, 192},
		{"relu", nn.NewReLU(), []int{1, 3, 8, 8}, 192},
		{"relu6", nn.NewReLU6(), []int{1, 3, 8, 8}, 192},
		{"maxpool counts its input", nn.NewMaxPool2d(2), []int{1, 3, 8, 8}, 192},
		{"avgpool", nn.NewAvgPool2d(3, nn.Stride(1), nn.Padding(1)), []int{1, 3, 8, 8}, 192},
		{"adaptive avgpool", nn.NewAdaptiveAvgPool2d(1, 1), []int{1, 3, 8, 8}, 192},
		{"dropout", nn.NewDropout(0.5), []int{1, 3, 8, 8}, 0},
		{"flatten", nn.NewFlatten(), []int{1, 3, 8, 8}, 0},
		{"lrn", nn.NewLocalResponseNorm(5), []int{1, 3, 8, 8}, 0},
	}
	for _, c := range cases {
		var r *Report
		var err error
		if len(c.in) == 2 {
			r, err = profileFlat(c.m, c.in)
		} else {
			r, err = Profile(c.m, c.in)
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(r.Layers) != 1 || r.MACs != c.want || r.Layers[0].MACs != c.want {
			t.Errorf("%s: MACs %d (%d rows), want %d", c.name, r.MACs, len(r.Layers), c.want)
		}
	}
}

// profileFlat profiles a module whose input is [N, features] behind a
// Flatten, and drops the Flatten row.
func profileFlat(m nn.Module, in []int) (*Report, error) {
	r, err := Profile(nn.NewSequential(nn.NewFlatten(), m), []int{in[0], in[1], 1, 1})
	if err != nil {
		return nil, err
	}
	r.Layers = r.Layers[1:]
	return r, nil
}

// residual is y = conv3x3(x) + conv1x1(x), then a 3x3 conv: a merge for
// the receptive field walk.
type residual struct {
	a, b, c *nn.Conv2d
}

func (r *residual) Children() []nn.Child {
	return []nn.Child{{Name: "a", Module: r.a}, {Name: "b", Module: r.b}, {Name: "c", Module: r.c}}
}

func (r *residual) Forward(x *autograd.Value) (*autograd.Value, error) {
	ya, err := nn.Call(r.a, x)
	if err != nil {
		return nil, err
	}
	yb, err := nn.Call(r.b, x)
	if err != nil {
		return nil, err
	}
	y, err := autograd.Add(ya, yb)
	if err != nil {
		return nil, err
	}
	return nn.Call(r.c, autograd.ReLU(y))
}

func TestReceptiveFieldThroughMerge(t *testing.T) {
	m := nn.NewSequential(
		nn.NewConv2d(3, 8, 7, nn.Stride(2), nn.Padding(3)), // rf 7, jump 2
		&residual{
			a: nn.NewConv2d(8, 8, 3, nn.Padding(1)), // rf 7+2*2 = 11
			b: nn.NewConv2d(8, 8, 1),                // rf 7
			c: nn.NewConv2d(8, 8, 3, nn.Padding(2), nn.Dilation(2)),
		},
		nn.NewMaxPool2d(3, nn.Stride(2), nn.Padding(1)),
	)
	r, err := Profile(m, []int{1, 3, 32, 32})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name     string
		rf, jump int
	}{
		{"0", 7, 2},
		{"1.a", 11, 2},
		{"1.b", 7, 2},
		{"1.c", 11 + 2*2*2, 2}, // max over the merge, then a dilated 3x3
		{"2", 19 + 2*2, 4},
	}
	if len(r.Layers) != len(want) {
		t.Fatalf("%d rows, want %d", len(r.Layers), len(want))
	}
	for i, w := range want {
		l := r.Layers[i]
		if l.Name != w.name || l.RF != [2]int{w.rf, w.rf} || l.Jump != [2]int{w.jump, w.jump} {
			t.Errorf("row %d: %s rf %v jump %v, want %s rf %d jump %d", i, l.Name, l.RF, l.Jump, w.name, w.rf, w.jump)
		}
	}
	if f := r.Layers[3].Formula; f != "(16-5+2*2)/1+1 = 16" {
		t.Errorf("dilated formula %q", f)
	}
	if f := r.Layers[4].Formula; f != "(16-3+2*1)/2+1 = 8" {
		t.Errorf("pool formula %q", f)
	}
	// Input plus five outputs; no row is in place.
	wantAct := int64(3*32*32 + 4*8*16*16 + 8*8*8)
	if r.ActivationElems != wantAct || r.ActivationBytes != 4*wantAct {
		t.Errorf("activations %d, want %d", r.ActivationElems, wantAct)
	}
}

func TestRectangularFormula(t *testing.T) {
	r, err := Profile(nn.NewConv2dHW(3, 4, 1, 7, nn.Padding2(0, 3)), []int{1, 3, 17, 17})
	if err != nil {
		t.Fatal(err)
	}
	l := r.Layers[0]
	if l.Formula != "H (17-1+2*0)/1+1 = 17; W (17-7+2*3)/1+1 = 17" || l.RF != [2]int{1, 7} {
		t.Errorf("1x7 conv: formula %q rf %v", l.Formula, l.RF)
	}
}

func TestTooSmallInputNamesLayer(t *testing.T) {
	m := nn.NewSequential(nn.NewConv2d(3, 8, 3), nn.NewMaxPool2d(2), nn.NewConv2d(8, 8, 5))
	_, err := Profile(m, []int{1, 3, 8, 8})
	var le *nn.LayerError
	if !errors.As(err, &le) || le.Path != "2" || !strings.Contains(err.Error(), "layer 2 (Conv2d)") {
		t.Fatalf("error %v, want a LayerError naming layer 2", err)
	}
	if _, err := Profile(m, []int{1, 3, 8}); err == nil {
		t.Error("3-D input accepted")
	}
	if _, err := Profile(m, []int{1, 3, 0, 8}); err == nil {
		t.Error("empty input accepted")
	}
}
