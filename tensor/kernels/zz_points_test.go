package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
)

// toomCook builds F(m,3) matrices for finite points pts (len m+1) plus infinity.
func toomCook(m int, pts []float64) wgMatrices {
	n := m + 2
	mt := wgMatrices{m: m}
	mt.AT = make([][]float64, m)
	for i := 0; i < m; i++ {
		mt.AT[i] = make([]float64, n)
		for j, p := range pts {
			v := 1.0
			for k := 0; k < i; k++ {
				v *= p
			}
			mt.AT[i][j] = v
		}
		if i == m-1 {
			mt.AT[i][n-1] = 1
		}
	}
	// M(x) = prod (x - p)
	poly := []float64{1}
	for _, p := range pts {
		np := make([]float64, len(poly)+1)
		for k, c := range poly {
			np[k+1] += c
			np[k] -= p * c
		}
		poly = np
	}
	mt.BT = make([][]float64, n)
	mt.G = make([][3]float64, n)
	for j, p := range pts {
		// M(x)/(x-p) by synthetic division (descending)
		q := make([]float64, n)
		deg := len(poly) - 1
		var carry float64
		for k := deg; k >= 1; k-- {
			carry = poly[k] + carry*p
			q[k-1] = carry
		}
		mt.BT[j] = q
		f := 1.0
		for l, pl := range pts {
			if l != j {
				f *= p - pl
			}
		}
		mt.G[j] = [3]float64{1 / f, p / f, p * p / f}
	}
	mt.BT[n-1] = append([]float64(nil), poly...)
	mt.G[n-1] = [3]float64{0, 0, 1}
	return mt
}

func TestZZPoints(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	sets := map[string][]float64{
		"lavin 0,1,-1,2,-2":    {0, 1, -1, 2, -2},
		"0,1,-1,.5,-.5":        {0, 1, -1, .5, -.5},
		"0,1,-1,2,-.5":         {0, 1, -1, 2, -.5},
		"0,1,-1,.5,-2":         {0, 1, -1, .5, -2},
		"0,-1,1,.5,-3":         {0, -1, 1, .5, -3},
		"0,1,-1,1.5,-1.5":      {0, 1, -1, 1.5, -1.5},
		"0,1,-1,.75,-.75":      {0, 1, -1, .75, -.75},
	}
	p := wgCase{1, 128, 14, 14, 32, 1}.params()
	rng := rand.New(rand.NewPCG(3, 9))
	x := reluRand(rng, p.C*p.H*p.W)
	w := kaiming(rng, p.Cout, p.C)
	want := refConvForward(&p, x, w, nil)
	for name, pts := range sets {
		mt := toomCook(4, pts)
		if e := relErr64(wgEmulate(&p, x, w, mt, false), want); e > 1e-10 {
			t.Errorf("%s: float64 err %g", name, e)
			continue
		}
		t.Logf("%-20s float32 err %.2g", name, relErr64(wgEmulate(&p, x, w, mt, true), want))
	}
	mt := toomCook(6, []float64{0, 1, -1, 2, -2, .5, -.5})
	t.Logf("F6 std: %.2g", relErr64(wgEmulate(&p, x, w, mt, true), want))
	mt = toomCook(2, []float64{0, 1, -1})
	t.Logf("F2 std: %.2g", relErr64(wgEmulate(&p, x, w, mt, true), want))
}

func TestZZPoints2(t *testing.T) {
	if os.Getenv("WGPROF") == "" {
		t.Skip()
	}
	sets := [][]float64{{0, 1, -1, 2, -2}, {0, 1, -1, 2, -.5}, {0, 1, -1, .5, -2}, {0, -1, 1, .5, -3}}
	for _, c := range []int{64, 256} {
		for seed := uint64(0); seed < 3; seed++ {
			p := wgCase{1, c, 12, 12, 16, 1}.params()
			rng := rand.New(rand.NewPCG(seed, 19))
			x := reluRand(rng, p.C*p.H*p.W)
			w := kaiming(rng, p.Cout, p.C)
			want := refConvForward(&p, x, w, nil)
			line := ""
			for _, pts := range sets {
				line += " " + fmtE(relErr64(wgEmulate(&p, x, w, toomCook(4, pts), true), want))
			}
			t.Logf("C=%d seed %d: %s", c, seed, line)
		}
	}
	mt := toomCook(4, []float64{0, 1, -1, 2, -.5})
	t.Logf("BT %v\nG %v\nAT %v", mt.BT, mt.G, mt.AT)
}

func fmtE(v float64) string { return fmt.Sprintf("%.2g", v) }

func fmtE0(v float64) string { return fmt.Sprintf("%.0f", v) }
