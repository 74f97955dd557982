package infer

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

func TestZZCPU2(t *testing.T) {
	for _, name := range strings.Split(os.Getenv("ZZ_MODELS"), ",") {
		m := newModel(t, name, 1)
		shape := []int{1, 3, 224, 224}
		p, _ := Compile(m, shape)
		q, _ := Compile(m, shape, NoWinograd())
		x := tensor.Randn(rand.New(rand.NewPCG(1, 1)), shape...)
		p.Run(x)
		q.Run(x)
		var a, b, c, w float64 = 1e18, 1e18, 1e18, 1e18
		for r := 0; r < 3; r++ {
			a = min(a, cpuTime(2, func() { p.Run(x) }))
			c = min(c, cpuTime(2, func() { q.Run(x) }))
			b = min(b, cpuTime(1, func() { nn.Infer(m, autograd.Input(x, nil, false)) }))
			w = min(w, minTime(2, func() { p.Run(x) }))
		}
		fmt.Printf("%-20s cpu: plan %7.1f ms  plan/nowino %7.1f ms  nn.Infer %7.1f ms  (x%.1f)   wall plan %.1f\n", name, a, c, b, b/a, w)
	}
}
