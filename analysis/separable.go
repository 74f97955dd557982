package analysis

import (
	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// Separable is a depthwise-separable pair (MobileNet): a depthwise
// convolution (groups == in channels, one filter per channel) whose
// output, through BatchNorm/ReLU only, feeds a 1x1 pointwise convolution.
// The lecture compares it with a standard convolution of the same shape
// (Dk x Dk, M -> N, output Dg x Dg): both the cost and the parameters
// shrink by 1/N + 1/Dk^2.
type Separable struct {
	Depthwise string `json:"depthwise"`
	Pointwise string `json:"pointwise"`
	// M and N are the input and output channels, Kernel is Dk (height,
	// width) and Output is Dg (height, width).
	M      int    `json:"m"`
	N      int    `json:"n"`
	Kernel [2]int `json:"kernel"`
	Output [2]int `json:"output"`
	// MACs and Params are the pair's measured counts (both rows);
	// StandardMACs and StandardParams are those of the standard
	// convolution, counted by the same rules (with a bias if the
	// pointwise convolution has one).
	MACs           int64 `json:"macs"`
	StandardMACs   int64 `json:"standard_macs"`
	Params         int64 `json:"params"`
	StandardParams int64 `json:"standard_params"`
	// Formula is 1/N + 1/Dk^2 (Dk^2 = KH*KW); MACsRatio and ParamsRatio
	// are the measured ratios. Biases and BatchNorm are outside the
	// lecture's formula, so the measured ratios differ from it by their
	// share only.
	Formula     float64 `json:"formula"`
	MACsRatio   float64 `json:"macs_ratio"`
	ParamsRatio float64 `json:"params_ratio"`
}

// separable pairs each depthwise convolution with the 1x1 convolution it
// feeds.
func (t *tracer) separable() []Separable {
	var out []Separable
	for j, m := range t.rowMod {
		pw, ok := m.(*nn.Conv2d)
		if !ok || pw.KernelSize != [2]int{1, 1} || pw.Opts.Groups != 1 {
			continue
		}
		i := t.producerConv(t.rowIn[j])
		if i < 0 {
			continue
		}
		dw := t.rowMod[i].(*nn.Conv2d)
		if dw.Opts.Groups != dw.InChannels || dw.OutChannels != dw.InChannels || dw.InChannels < 2 {
			continue
		}
		di, pj := t.rows[i], t.rows[j]
		if len(pj.Output) != 4 {
			continue
		}
		s := Separable{Depthwise: di.Name, Pointwise: pj.Name, M: dw.InChannels, N: pw.OutChannels,
			Kernel: dw.KernelSize, Output: [2]int{pj.Output[2], pj.Output[3]},
			MACs: di.MACs + pj.MACs, Params: di.Params + pj.Params}
		k2 := int64(s.Kernel[0]) * int64(s.Kernel[1])
		positions := int64(pj.Output[0]) * int64(s.Output[0]) * int64(s.Output[1])
		s.StandardParams = k2 * int64(s.M) * int64(s.N)
		s.StandardMACs = s.StandardParams * positions
		if pw.Bias != nil {
			s.StandardParams += int64(s.N)
			s.StandardMACs += int64(s.N) * positions
		}
		s.Formula = 1/float64(s.N) + 1/float64(k2)
		s.MACsRatio = float64(s.MACs) / float64(s.StandardMACs)
		s.ParamsRatio = float64(s.Params) / float64(s.StandardParams)
		out = append(out, s)
	}
	return out
}

// producerConv follows v back through layers that are not convolutions
// (BatchNorm, ReLU) and single-input functional operations to the
// convolution that made it; -1 if there is none or the path merges.
func (t *tracer) producerConv(v *autograd.Value) int {
	for steps := 0; steps < 64 && v != nil; steps++ {
		if i, ok := t.rowOf[v]; ok {
			if _, conv := t.rowMod[i].(*nn.Conv2d); conv {
				return i
			}
			v = t.rowIn[i]
			continue
		}
		var next *autograd.Value
		n := 0
		for _, p := range v.Parents() {
			if p == nil {
				continue
			}
			if _, known := t.rfs[p]; known || len(p.Parents()) > 0 {
				next = p
				n++
			}
		}
		if n != 1 {
			return -1
		}
		v = next
	}
	return -1
}
