package infer

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/convnet/convnet/tensor"
)

func minTime(n int, f func()) float64 {
	var ts []float64
	for i := 0; i < n; i++ {
		t := time.Now()
		f()
		ts = append(ts, float64(time.Since(t).Microseconds())/1e3)
	}
	sort.Float64s(ts)
	return ts[0]
}

func TestZZAB(t *testing.T) {
	names := strings.Split(os.Getenv("ZZ_MODELS"), ",")
	for _, name := range names {
		m := newModel(t, name, 1)
		shape := []int{1, 3, 224, 224}
		p, _ := Compile(m, shape)
		x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), shape...)
		p.Run(x)
		tp := cpuTime(3, func() { p.Run(x) })
		fmt.Printf("%s plan %.1f ms\n", name, tp)
		tot := 0.0
		type st struct {
			d  string
			ms float64
		}
		var sts []st
		kinds := map[string]float64{}
		for _, s := range p.steps {
			ms := cpuTime(3, func() { s.run() })
			tot += ms
			d := s.describe()
			sts = append(sts, st{d, ms})
			k := d[strings.Index(d, " ")+1:]
			if i := strings.Index(k, "["); i >= 0 {
				k = k[i:strings.Index(k, "]")+1]
			} else {
				k = strings.Fields(k)[0]
			}
			kinds[k] += ms
		}
		sort.Slice(sts, func(i, j int) bool { return sts[i].ms > sts[j].ms })
		for _, s := range sts[:min(6, len(sts))] {
			fmt.Printf("   %6.2f ms %s\n", s.ms, s.d)
		}
		fmt.Printf("   sum %.1f: %v\n", tot, kinds)
	}
}
