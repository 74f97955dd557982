package models

import (
	"errors"
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// GoogLeNet (Inception v1, Szegedy et al. 2014, "Going Deeper with
// Convolutions"), as torchvision 0.14 builds it with weights=None:
// batch-normalised convolutions, max pools with ceil_mode, two auxiliary
// classifiers on by default and transform_input off.
//
// Each row is one Inception module: input channels, then the widths of
// its four branches (1x1 | 3x3 reduce, 3x3 | "5x5" reduce, "5x5" | pool
// projection), as in the paper's Table 1. Torchvision's "5x5" branch is a
// 3x3 convolution (pytorch/vision#906); we keep torchvision's layer so
// that its checkpoints load.
var googlenetInceptions = []struct {
	name                                                  string
	in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj int
}{
	{"inception3a", 192, 64, 96, 128, 16, 32, 32},
	{"inception3b", 256, 128, 128, 192, 32, 96, 64},
	{"inception4a", 480, 192, 96, 208, 16, 48, 64},
	{"inception4b", 512, 160, 112, 224, 24, 64, 64},
	{"inception4c", 512, 128, 128, 256, 24, 64, 64},
	{"inception4d", 512, 112, 144, 288, 32, 64, 64},
	{"inception4e", 528, 256, 160, 320, 32, 128, 128},
	{"inception5a", 832, 256, 160, 320, 32, 128, 128},
	{"inception5b", 832, 384, 192, 384, 48, 128, 128},
}

func init() {
	register(Spec{
		Name: "googlenet", Family: "googlenet", Input: 224, Torchvision: true,
		Build: func(cfg Config) (nn.Module, error) { return NewGoogLeNet(cfg), nil },
		Init:  initGoogLeNet,
	})
}

// BasicConv2d is the convolution unit of GoogLeNet and Inception v3:
// a bias-free convolution, BatchNorm with eps 0.001 (TensorFlow's default,
// which the ported weights were trained with) and ReLU.
type BasicConv2d struct {
	Conv *nn.Conv2d
	BN   *nn.BatchNorm2d
}

// NewBasicConv2d returns a BasicConv2d with a square kernel; opts are
// the convolution's (Stride, Padding).
func NewBasicConv2d(in, out, kernel int, opts ...nn.Option) *BasicConv2d {
	return NewBasicConv2dHW(in, out, kernel, kernel, opts...)
}

// NewBasicConv2dHW returns a BasicConv2d with a kh x kw kernel
// (Inception v3's factorised 1x7 and 7x1 convolutions).
func NewBasicConv2dHW(in, out, kh, kw int, opts ...nn.Option) *BasicConv2d {
	opts = append(opts[:len(opts):len(opts)], nn.NoBias())
	return &BasicConv2d{Conv: nn.NewConv2dHW(in, out, kh, kw, opts...), BN: nn.NewBatchNorm2d(out, nn.Eps(0.001))}
}

// Children lists conv and bn.
func (b *BasicConv2d) Children() []nn.Child {
	return []nn.Child{{Name: "conv", Module: b.Conv}, {Name: "bn", Module: b.BN}}
}

// Forward applies conv, bn and relu.
func (b *BasicConv2d) Forward(x *autograd.Value) (*autograd.Value, error) {
	x, err := nn.Call(b.Conv, x)
	if err != nil {
		return nil, err
	}
	if x, err = nn.Call(b.BN, x); err != nil {
		return nil, err
	}
	return autograd.ReLUInPlace(x), nil
}

// GoogLeNetInception is GoogLeNet's Inception module (torchvision's
// Inception): four parallel branches concatenated along channels.
type GoogLeNetInception struct {
	Branch1 *BasicConv2d
	Branch2 *nn.Sequential // 1x1 reduce, 3x3
	Branch3 *nn.Sequential // 1x1 reduce, 3x3 (the paper's 5x5)
	Branch4 *nn.Sequential // 3x3 max pool, 1x1 projection
}

// NewGoogLeNetInception returns an Inception module.
func NewGoogLeNetInception(in, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, poolProj int) *GoogLeNetInception {
	return &GoogLeNetInception{
		Branch1: NewBasicConv2d(in, ch1x1, 1),
		Branch2: nn.NewSequential(NewBasicConv2d(in, ch3x3red, 1), NewBasicConv2d(ch3x3red, ch3x3, 3, nn.Padding(1))),
		Branch3: nn.NewSequential(NewBasicConv2d(in, ch5x5red, 1), NewBasicConv2d(ch5x5red, ch5x5, 3, nn.Padding(1))),
		Branch4: nn.NewSequential(nn.NewMaxPool2d(3, nn.Stride(1), nn.Padding(1), nn.CeilMode()), NewBasicConv2d(in, poolProj, 1)),
	}
}

// Children lists branch1 to branch4.
func (m *GoogLeNetInception) Children() []nn.Child {
	return []nn.Child{{Name: "branch1", Module: m.Branch1}, {Name: "branch2", Module: m.Branch2},
		{Name: "branch3", Module: m.Branch3}, {Name: "branch4", Module: m.Branch4}}
}

// Forward runs the branches on x and concatenates their outputs.
func (m *GoogLeNetInception) Forward(x *autograd.Value) (*autograd.Value, error) {
	return concatBranches(x, m.Branch1, m.Branch2, m.Branch3, m.Branch4)
}

// concatBranches runs each branch on x and joins the outputs along
// channels, the merge of every Inception module.
func concatBranches(x *autograd.Value, branches ...nn.Module) (*autograd.Value, error) {
	outs := make([]*autograd.Value, len(branches))
	for i, b := range branches {
		y, err := nn.Call(b, x)
		if err != nil {
			return nil, err
		}
		outs[i] = y
	}
	return autograd.Concat(outs...)
}

// GoogLeNetAux is one of GoogLeNet's auxiliary classifiers (torchvision's
// InceptionAux): 4x4 adaptive average pool, 1x1 conv to 128 channels,
// fc 2048->1024, ReLU, dropout 0.7, fc to the classes.
type GoogLeNetAux struct {
	Conv     *BasicConv2d
	FC1, FC2 *nn.Linear
	Dropout  *nn.Dropout
}

// NewGoogLeNetAux returns an auxiliary classifier on in channels.
func NewGoogLeNetAux(in, classes int) *GoogLeNetAux {
	return &GoogLeNetAux{Conv: NewBasicConv2d(in, 128, 1), FC1: nn.NewLinear(2048, 1024),
		FC2: nn.NewLinear(1024, classes), Dropout: nn.NewDropout(0.7)}
}

// Children lists conv, fc1, fc2 and dropout (torchvision's order).
func (a *GoogLeNetAux) Children() []nn.Child {
	return []nn.Child{{Name: "conv", Module: a.Conv}, {Name: "fc1", Module: a.FC1},
		{Name: "fc2", Module: a.FC2}, {Name: "dropout", Module: a.Dropout}}
}

// Forward computes the auxiliary logits.
func (a *GoogLeNetAux) Forward(x *autograd.Value) (*autograd.Value, error) {
	x, err := autograd.AdaptiveAvgPool2d(x, 4, 4)
	if err != nil {
		return nil, err
	}
	if x, err = nn.Call(a.Conv, x); err != nil {
		return nil, err
	}
	if x, err = autograd.Flatten(x, 1); err != nil {
		return nil, err
	}
	if x, err = nn.Call(a.FC1, x); err != nil {
		return nil, err
	}
	if x, err = nn.Call(a.Dropout, autograd.ReLUInPlace(x)); err != nil {
		return nil, err
	}
	return nn.Call(a.FC2, x)
}

// GoogLeNet is torchvision's GoogLeNet. Its children, in state_dict
// order: conv1, maxpool1, conv2, conv3, maxpool2, inception3a,
// inception3b, maxpool3, inception4a..4e, maxpool4, inception5a,
// inception5b, aux1, aux2 (when built with aux logits), avgpool, dropout,
// fc.
//
// Forward returns the main logits only. In training mode torchvision also
// returns the auxiliary logits; ForwardAux gives them to a trainer.
type GoogLeNet struct {
	children []nn.Child
	// Aux1 (after inception4a) and Aux2 (after inception4d) are nil
	// without aux logits.
	Aux1, Aux2 *GoogLeNetAux
	training   bool
}

// NewGoogLeNet builds GoogLeNet for cfg (aux logits default on, as
// torchvision's constructor without weights).
func NewGoogLeNet(cfg Config) *GoogLeNet {
	aux := cfg.AuxLogits == nil || *cfg.AuxLogits
	m := &GoogLeNet{training: true}
	add := func(name string, l nn.Module) { m.children = append(m.children, nn.Child{Name: name, Module: l}) }
	pool := func(k int) nn.Module { return nn.NewMaxPool2d(k, nn.Stride(2), nn.CeilMode()) }
	add("conv1", NewBasicConv2d(cfg.InChannels, 64, 7, nn.Stride(2), nn.Padding(3)))
	add("maxpool1", pool(3))
	add("conv2", NewBasicConv2d(64, 64, 1))
	add("conv3", NewBasicConv2d(64, 192, 3, nn.Padding(1)))
	add("maxpool2", pool(3))
	for _, c := range googlenetInceptions {
		add(c.name, NewGoogLeNetInception(c.in, c.ch1x1, c.ch3x3red, c.ch3x3, c.ch5x5red, c.ch5x5, c.poolProj))
		switch c.name {
		case "inception3b":
			add("maxpool3", pool(3))
		case "inception4e":
			add("maxpool4", pool(2))
		}
	}
	if aux {
		m.Aux1 = NewGoogLeNetAux(512, cfg.NumClasses)
		m.Aux2 = NewGoogLeNetAux(528, cfg.NumClasses)
		add("aux1", m.Aux1)
		add("aux2", m.Aux2)
	}
	add("avgpool", nn.NewAdaptiveAvgPool2d(1, 1))
	add("dropout", nn.NewDropout(0.2))
	add("fc", nn.NewLinear(1024, cfg.NumClasses))
	return m
}

// Children lists the layers in torchvision's registration order.
func (m *GoogLeNet) Children() []nn.Child { return m.children }

// SetTraining records the mode that decides whether ForwardAux runs the
// auxiliary classifiers (nn.SetTraining calls it with every layer's).
func (m *GoogLeNet) SetTraining(t bool) { m.training = t }

// Forward returns the main logits; the auxiliary classifiers are not run.
func (m *GoogLeNet) Forward(x *autograd.Value) (*autograd.Value, error) {
	out, _, err := m.forward(x, false)
	return out, err
}

// ForwardAux returns the main logits and, in training mode with aux
// logits built, the auxiliary logits in network order: [aux1, aux2].
// That is also the positional order of torchvision's GoogLeNetOutputs
// (logits, aux1's, aux2's), whose field names aux_logits2 and aux_logits1
// are the other way round. Otherwise aux is nil. The paper weights each
// auxiliary loss by 0.3 in training. ForwardAux may be called as the entry
// point of a forward pass: errors then name their layer, as with nn.Run.
func (m *GoogLeNet) ForwardAux(x *autograd.Value) (out *autograd.Value, aux []*autograd.Value, err error) {
	err = runEntry(m, x, func(x *autograd.Value) (*autograd.Value, error) {
		out, aux, err = m.forward(x, m.training)
		return out, err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, aux, nil
}

func (m *GoogLeNet) forward(x *autograd.Value, withAux bool) (*autograd.Value, []*autograd.Value, error) {
	var aux []*autograd.Value
	var err error
	for _, c := range m.children {
		switch c.Name {
		case "aux1", "aux2":
			continue // run beside the trunk below
		case "fc":
			if x, err = autograd.Flatten(x, 1); err != nil {
				return nil, nil, err
			}
		}
		if x, err = nn.Call(c.Module, x); err != nil {
			return nil, nil, err
		}
		var head *GoogLeNetAux
		switch c.Name {
		case "inception4a":
			head = m.Aux1
		case "inception4d":
			head = m.Aux2
		}
		if withAux && head != nil {
			a, err := nn.Call(head, x)
			if err != nil {
				return nil, nil, err
			}
			aux = append(aux, a)
		}
	}
	return x, aux, nil
}

// runEntry runs fwd (a forward pass of net that does not go through
// net.Forward) so that errors name their layer: when x does not yet carry
// nn.Run's state, it starts a run on net. Inside a run it calls fwd
// directly, leaving the caller's tracer in place.
func runEntry(net nn.Module, x *autograd.Value, fwd func(*autograd.Value) (*autograd.Value, error)) error {
	if ctx := x.Ctx(); ctx != nil && ctx.Hook != nil {
		_, err := fwd(x)
		return err
	}
	_, err := nn.Run(&entryPoint{net: net, fwd: fwd}, x, nil)
	return err
}

// entryPoint stands in for a network as the root of nn.Run; its only
// child is the network under the empty name, so paths are unchanged.
type entryPoint struct {
	net nn.Module
	fwd func(*autograd.Value) (*autograd.Value, error)
}

func (e *entryPoint) Children() []nn.Child { return []nn.Child{{Name: "", Module: e.net}} }

func (e *entryPoint) Forward(x *autograd.Value) (*autograd.Value, error) {
	y, err := e.fwd(x)
	if err != nil {
		var le *nn.LayerError
		if !errors.As(err, &le) {
			err = &nn.LayerError{Type: nn.TypeName(e.net), Err: err}
		}
	}
	return y, err
}

// initGoogLeNet is torchvision's init_weights: every conv and linear
// weight from N(0, 0.01) truncated to [-2, 2] (absolute bounds, so in
// effect untruncated); BatchNorm weight 1, bias 0 (Materialize's
// defaults). Linear biases keep PyTorch's default.
func initGoogLeNet(m nn.Module, rng *rand.Rand) {
	nn.Walk(m, func(_ string, l nn.Module) {
		switch l := l.(type) {
		case *nn.Conv2d:
			nn.TruncNormal(l.Weight.T, 0, 0.01, -2, 2, rng)
		case *nn.Linear:
			nn.TruncNormal(l.Weight.T, 0, 0.01, -2, 2, rng)
		}
	})
}
