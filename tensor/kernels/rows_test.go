package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func rowImpls() []*rowKernels {
	impls := []*rowKernels{rowGeneric}
	if k := rowAsmKernels(); k != nil {
		impls = append(impls, k)
	}
	return impls
}

// rowLens are awkward row lengths around the vector widths (8, 16, 32).
var rowLens = []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 56, 57, 112, 113}

// sameFloat reports whether got equals want, NaN matching NaN.
func sameFloat(got, want float32, tol float64) bool {
	if got == want {
		return true
	}
	if math.IsNaN(float64(want)) || math.IsNaN(float64(got)) {
		return math.IsNaN(float64(want)) && math.IsNaN(float64(got))
	}
	return math.Abs(float64(got-want)) <= tol*math.Max(1, math.Abs(float64(want)))
}

// withNaNs returns random values with a NaN and infinities sprinkled in.
func withNaNs(rng *rand.Rand, n int) []float32 {
	s := convRand(rng, n)
	for i := range s {
		switch rng.IntN(17) {
		case 0:
			s[i] = float32(math.NaN())
		case 1:
			s[i] = float32(math.Inf(1 - 2*rng.IntN(2)))
		}
	}
	return s
}

// TestRowKernels binds every implementation of the row kernels to plain
// loops written here, on odd lengths, with NaNs and infinities in the
// input and guard bands around the output.
func TestRowKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, impl := range rowImpls() {
		for _, n := range rowLens {
			name := fmt.Sprintf("%s/n%d", impl.name, n)
			a, b := withNaNs(rng, 2*n+2), withNaNs(rng, 2*n+2)

			for _, act := range []Activation{ActNone, ActReLU, ActReLU6} {
				lo, hi := actBounds(act)
				buf, got := guarded(n)
				impl.affine(got, a[:n], 1.5, -0.25, lo, hi)
				checkGuards(t, name+"/affine", buf)
				for i := range got {
					want := activate(a[i]*1.5-0.25, act)
					if !sameFloat(got[i], want, 1e-6) {
						t.Fatalf("%s/affine act %d: [%d] = %g, want %g (x %g)", name, act, i, got[i], want, a[i])
					}
				}
			}

			buf, got := guarded(n)
			impl.max2(got, a[:n], b[:n])
			checkGuards(t, name+"/max2", buf)
			for i := range got {
				want := max(a[i], b[i]) // Go's max: NaN wins
				if !sameFloat(got[i], want, 0) {
					t.Fatalf("%s/max2: [%d] = %g, want max(%g, %g)", name, i, got[i], a[i], b[i])
				}
			}

			for _, kw := range []int{2, 3} {
				buf, got := guarded(n)
				impl.maxS2(got, a[:2*n+kw-2], kw)
				checkGuards(t, fmt.Sprintf("%s/maxS2/kw%d", name, kw), buf)
				for o := range got {
					want := float32(math.Inf(-1))
					for k := 0; k < kw; k++ {
						want = max(want, a[2*o+k])
					}
					if !sameFloat(got[o], want, 0) {
						t.Fatalf("%s/maxS2 kw %d: [%d] = %g, want %g (%v)", name, kw, o, got[o], want, a[2*o:2*o+kw])
					}
				}
			}

			c := withNaNs(rng, 2*n+2)
			for _, kw := range []int{2, 3} {
				m := 2*n + kw - 2
				for _, rows := range [][3][]float32{{a[:m], b[:m], c[:m]}, {c[:m], a[:m], a[:m]}} {
					buf, got := guarded(n)
					impl.maxS2R3(got, n, n, rows[0], rows[1], rows[2], 0, 1, kw)
					checkGuards(t, fmt.Sprintf("%s/maxS2R3/kw%d", name, kw), buf)
					for o := range got {
						want := float32(math.Inf(-1))
						for _, r := range rows {
							for k := 0; k < kw; k++ {
								want = max(want, r[2*o+k])
							}
						}
						if !sameFloat(got[o], want, 0) {
							t.Fatalf("%s/maxS2R3 kw %d: [%d] = %g, want %g", name, kw, o, got[o], want)
						}
					}
				}
				// Several output rows in one call: a plane of rows of
				// width w (longer than the windows need, or not), rows
				// 2i, 2i+1, 2i+2 (or 2i, 2i+1, 2i+1) for output row i,
				// written ldd apart; the gaps between output rows keep
				// their guard value.
				for _, g := range []struct{ extra, gap, nout, r2 int }{{0, 0, 3, 2}, {3, 5, 4, 2}, {1, 2, 2, 1}} {
					w := m + g.extra
					plane := withNaNs(rng, (2*g.nout+1)*w)
					ldd := n + g.gap
					buf, got := guarded((g.nout-1)*ldd + n)
					impl.maxS2R3(got, ldd, n, plane, plane[w:], plane[g.r2*w:], 2*w, g.nout, kw)
					what := fmt.Sprintf("%s/maxS2R3 rows %d step %d ldd %d kw %d r2 %d", name, g.nout, 2*w, ldd, kw, g.r2)
					checkGuards(t, what, buf)
					for i := 0; i < g.nout; i++ {
						for o := 0; o < ldd && i*ldd+o < len(got); o++ {
							want := float32(guardVal)
							if o < n {
								want = float32(math.Inf(-1))
								for _, r := range []int{0, 1, g.r2} {
									for k := 0; k < kw; k++ {
										want = max(want, plane[(2*i+r)*w+2*o+k])
									}
								}
							}
							if v := got[i*ldd+o]; !sameFloat(v, want, 0) {
								t.Fatalf("%s: row %d [%d] = %g, want %g", what, i, o, v, want)
							}
						}
					}
				}
			}

			e := withNaNs(rng, 2*n+16)
			for _, extra := range []int{0, 1, 17} {
				buf, got := guarded(n)
				impl.even(got, e[:2*n-1+extra])
				checkGuards(t, name+"/even", buf)
				for i := range got {
					if !sameFloat(got[i], e[2*i], 0) {
						t.Fatalf("%s/even (src %d): [%d] = %g, want %g", name, 2*n-1+extra, i, got[i], e[2*i])
					}
				}
			}

			buf, got = guarded(n)
			impl.avg2x2(got, a[:2*n], b[:2*n])
			checkGuards(t, name+"/avg2x2", buf)
			for o := range got {
				want := (a[2*o] + a[2*o+1] + b[2*o] + b[2*o+1]) / 4
				if !sameFloat(got[o], want, 1e-6) {
					t.Fatalf("%s/avg2x2: [%d] = %g, want %g", name, o, got[o], want)
				}
			}
		}
	}
}

// TestEpilogueRow checks the exported row epilogue in place and with a
// residual.
func TestEpilogueRow(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	for _, n := range rowLens {
		x, r := withNaNs(rng, n), convRand(rng, n)
		for _, act := range []Activation{ActNone, ActReLU, ActReLU6} {
			got := append([]float32(nil), x...)
			EpilogueRow(got, got, r, 0.5, act)
			for i := range got {
				want := activate(x[i]+0.5+r[i], act)
				if !sameFloat(got[i], want, 1e-6) {
					t.Fatalf("n %d act %d: [%d] = %g, want %g", n, act, i, got[i], want)
				}
			}
			got = append([]float32(nil), x...)
			EpilogueRow(got, got, nil, -1, act)
			for i := range got {
				if want := activate(x[i]-1, act); !sameFloat(got[i], want, 1e-6) {
					t.Fatalf("n %d act %d, no residual: [%d] = %g, want %g", n, act, i, got[i], want)
				}
			}
		}
	}
}
