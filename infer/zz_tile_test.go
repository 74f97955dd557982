package infer

import (
	"fmt"
	"testing"

	"github.com/convnet/convnet/tensor/kernels"
)

func TestZZTile(t *testing.T) {
	for _, p := range []kernels.ConvParams{cp(3, 64, 224, 7, 2), cp(64, 256, 56, 1, 1), cp(16, 96, 112, 1, 1), cp(128, 128, 56, 3, 2), cp(256, 512, 56, 1, 2)} {
		a := algoGEMM
		if p.KH == 1 && p.SH == 1 {
			a = algoPointwise
		}
		s, _, _ := mkConvP(p, a)
		n := p.OH * p.OW
		m := p.Cout
		fmt.Printf("%dx%d/%d %d->%d @%d:", p.KH, p.KW, p.SH, p.C, p.Cout, p.H)
		for _, nb := range []int{128, 256, 512, 1024, 2048, n} {
			for _, mb := range []int{m} {
				if mb > m || nb > n {
					continue
				}
				s.mb, s.nb = mb, nb
				s.mw, s.nw = (m+mb-1)/mb, (n+nb-1)/nb
				s.total = s.mw * s.nw
				s.slots = 1
				s.wsPer = p.C * p.KH * p.KW * nb
				s.ws = make([]float32, s.wsPer)
				tp := cpuTime(5, func() { s.run() })
				fmt.Printf(" %dx%d:%.2f", mb, nb, tp)
			}
		}
		fmt.Println()
	}
}
