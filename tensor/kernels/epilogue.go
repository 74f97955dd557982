package kernels

// Activation is the pointwise function fused into a kernel's output stage.
type Activation uint8

const (
	ActNone  Activation = iota
	ActReLU             // max(x, 0)
	ActReLU6            // min(max(x, 0), 6)
)

// Epilogue is what a convolution or GEMM does to its output while it is
// still in registers or cache, instead of in separate passes over memory:
// y = act(y + bias[c] + residual). Fusing these is how an inference plan
// saves memory traffic (BatchNorm is folded into the weights and bias before).
type Epilogue struct {
	Bias     []float32 // per output channel; nil for none
	Residual []float32 // same layout as the output; nil for none
	Act      Activation
}

// Apply runs the epilogue on rows [c0, c0+len(y)/hw) of an output block
// laid out as channels x hw, contiguous; residual is indexed like y (it
// must be sliced by the caller to the same block).
func (e *Epilogue) Apply(y []float32, hw, c0 int, residual []float32) {
	if e == nil {
		return
	}
	rows := len(y) / hw
	for r := 0; r < rows; r++ {
		row := y[r*hw : (r+1)*hw]
		var b float32
		if e.Bias != nil {
			b = e.Bias[c0+r]
		}
		var res []float32
		if residual != nil {
			res = residual[r*hw : (r+1)*hw]
		}
		switch {
		case res != nil:
			for i := range row {
				row[i] = row[i] + b + res[i]
			}
		case e.Bias != nil:
			for i := range row {
				row[i] += b
			}
		}
		// max/min compile without branches; a data-dependent `if v < 0`
		// mispredicts on about half of a ReLU's inputs.
		switch e.Act {
		case ActReLU:
			for i, v := range row {
				row[i] = max(v, 0)
			}
		case ActReLU6:
			for i, v := range row {
				row[i] = min(max(v, 0), 6)
			}
		}
	}
}

// activate applies a to one value.
func activate(v float32, a Activation) float32 {
	switch a {
	case ActReLU:
		return max(v, 0)
	case ActReLU6:
		return min(max(v, 0), 6)
	}
	return v
}
