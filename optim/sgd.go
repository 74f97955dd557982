// Package optim holds optimizers that update parameters from their
// gradients, with torch.optim's update rules.
package optim

import (
	"fmt"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// SGD is torch.optim.SGD (dampening 0): with momentum m and weight decay
// wd, d = g + wd*p; buf = m*buf + d (buf = d at the first step); the step
// uses d + m*buf with Nesterov, buf otherwise; p -= lr * step.
type SGD struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
	params                    []nn.NamedParam
	// NoDecay lists parameter keys exempt from weight decay (BN and bias,
	// when the recipe asks for it).
	NoDecay map[string]bool
	bufs    map[*autograd.Value]*tensor.Tensor
}

// NewSGD returns an optimizer over params.
func NewSGD(params []nn.NamedParam, lr, momentum, weightDecay float32, nesterov bool) (*SGD, error) {
	if lr < 0 || momentum < 0 || weightDecay < 0 {
		return nil, fmt.Errorf("sgd: lr %g, momentum %g and weight decay %g must be non-negative", lr, momentum, weightDecay)
	}
	if nesterov && momentum == 0 {
		return nil, fmt.Errorf("sgd: Nesterov momentum requires a momentum > 0")
	}
	return &SGD{LR: lr, Momentum: momentum, WeightDecay: weightDecay, Nesterov: nesterov, params: params,
		bufs: map[*autograd.Value]*tensor.Tensor{}, NoDecay: map[string]bool{}}, nil
}

// Step applies one update to every parameter that has a gradient.
func (o *SGD) Step() {
	for _, np := range o.params {
		p := np.Value
		if p.Grad == nil {
			continue
		}
		w, g := p.T.Data, p.Grad.Data
		wd := o.WeightDecay
		if o.NoDecay[np.Key] {
			wd = 0
		}
		if o.Momentum == 0 {
			for i := range w {
				w[i] -= o.LR * (g[i] + wd*w[i])
			}
			continue
		}
		buf, ok := o.bufs[p]
		if !ok {
			buf = tensor.New(p.T.Shape...)
			o.bufs[p] = buf
		}
		b := buf.Data
		m := o.Momentum
		for i := range w {
			d := g[i] + wd*w[i]
			if ok {
				b[i] = m*b[i] + d
			} else {
				b[i] = d
			}
			if o.Nesterov {
				d += m * b[i]
			} else {
				d = b[i]
			}
			w[i] -= o.LR * d
		}
	}
}

// ZeroGrad drops all gradients.
func (o *SGD) ZeroGrad() {
	for _, p := range o.params {
		p.Value.ZeroGrad()
	}
}

// MomentumBuffer returns the momentum buffer of a parameter (nil before
// its first step), for checkpoints.
func (o *SGD) MomentumBuffer(p *autograd.Value) *tensor.Tensor { return o.bufs[p] }

// SetMomentumBuffer restores a momentum buffer from a checkpoint.
func (o *SGD) SetMomentumBuffer(p *autograd.Value, t *tensor.Tensor) { o.bufs[p] = t }
