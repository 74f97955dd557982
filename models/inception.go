package models

import (
	"math/rand/v2"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/nn"
)

// Inception v3 (Szegedy et al. 2015, "Rethinking the Inception
// Architecture for Computer Vision"), as torchvision 0.14 builds it with
// weights=None: BasicConv2d units (BatchNorm eps 0.001), the auxiliary
// classifier on by default, transform_input off, 299x299 input.
//
// The trunk, with output sizes at 299:
//
//	Conv2d_1a_3x3  3x3/2        32 x 149 x 149
//	Conv2d_2a_3x3  3x3          32 x 147 x 147
//	Conv2d_2b_3x3  3x3 pad 1    64 x 147 x 147
//	maxpool1       3x3/2        64 x 73 x 73
//	Conv2d_3b_1x1  1x1          80 x 73 x 73
//	Conv2d_4a_3x3  3x3         192 x 71 x 71
//	maxpool2       3x3/2       192 x 35 x 35
//	Mixed_5b..5d   InceptionA  256, 288, 288 x 35 x 35
//	Mixed_6a       InceptionB  768 x 17 x 17 (grid reduction)
//	Mixed_6b..6e   InceptionC  768 x 17 x 17 (factorised 7x7)
//	AuxLogits      InceptionAux, on Mixed_6e's output, training only
//	Mixed_7a       InceptionD  1280 x 8 x 8 (grid reduction)
//	Mixed_7b, 7c   InceptionE  2048 x 8 x 8 (expanded 3x3)
//	avgpool, dropout 0.5, fc 2048 -> classes
//
// The stem has no padding, so inputs much smaller than 299 run out of
// spatial size (torchvision's weights list 75x75 as the minimum).

func init() {
	register(Spec{
		Name: "inception_v3", Family: "inception", Input: 299, Torchvision: true,
		Top1Err: 22.55, Top5Err: 6.44,
		Build: func(cfg Config) (nn.Module, error) { return NewInception3(cfg), nil },
		Init:  initInception3,
	})
}

// Inception3 is torchvision's Inception3. Forward returns the main logits
// only; ForwardAux also returns AuxLogits' output in training mode.
type Inception3 struct {
	children []nn.Child
	// AuxLogits is nil without aux logits.
	AuxLogits *InceptionAux
	training  bool
}

// NewInception3 builds Inception v3 for cfg (aux logits default on, as
// torchvision's constructor).
func NewInception3(cfg Config) *Inception3 {
	m := &Inception3{training: true}
	add := func(name string, l nn.Module) { m.children = append(m.children, nn.Child{Name: name, Module: l}) }
	add("Conv2d_1a_3x3", NewBasicConv2d(cfg.InChannels, 32, 3, nn.Stride(2)))
	add("Conv2d_2a_3x3", NewBasicConv2d(32, 32, 3))
	add("Conv2d_2b_3x3", NewBasicConv2d(32, 64, 3, nn.Padding(1)))
	add("maxpool1", nn.NewMaxPool2d(3, nn.Stride(2)))
	add("Conv2d_3b_1x1", NewBasicConv2d(64, 80, 1))
	add("Conv2d_4a_3x3", NewBasicConv2d(80, 192, 3))
	add("maxpool2", nn.NewMaxPool2d(3, nn.Stride(2)))
	add("Mixed_5b", NewInceptionA(192, 32))
	add("Mixed_5c", NewInceptionA(256, 64))
	add("Mixed_5d", NewInceptionA(288, 64))
	add("Mixed_6a", NewInceptionB(288))
	add("Mixed_6b", NewInceptionC(768, 128))
	add("Mixed_6c", NewInceptionC(768, 160))
	add("Mixed_6d", NewInceptionC(768, 160))
	add("Mixed_6e", NewInceptionC(768, 192))
	if cfg.AuxLogits == nil || *cfg.AuxLogits {
		m.AuxLogits = NewInceptionAux(768, cfg.NumClasses)
		add("AuxLogits", m.AuxLogits)
	}
	add("Mixed_7a", NewInceptionD(768))
	add("Mixed_7b", NewInceptionE(1280))
	add("Mixed_7c", NewInceptionE(2048))
	add("avgpool", nn.NewAdaptiveAvgPool2d(1, 1))
	add("dropout", nn.NewDropout(0.5))
	add("fc", nn.NewLinear(2048, cfg.NumClasses))
	return m
}

// Children lists the layers in torchvision's registration order.
func (m *Inception3) Children() []nn.Child { return m.children }

// SetTraining records the mode that decides whether ForwardAux runs the
// auxiliary classifier.
func (m *Inception3) SetTraining(t bool) { m.training = t }

// Forward returns the main logits; the auxiliary classifier is not run.
func (m *Inception3) Forward(x *autograd.Value) (*autograd.Value, error) {
	out, _, err := m.forward(x, false)
	return out, err
}

// ForwardAux returns the main logits and, in training mode with aux
// logits built, AuxLogits' output as the one element of aux (the second
// element of torchvision's InceptionOutputs); otherwise aux is nil.
// torchvision's reference recipe adds 0.4 times the auxiliary loss. Like
// nn.Run, ForwardAux may start a forward pass: errors name their layer.
func (m *Inception3) ForwardAux(x *autograd.Value) (out *autograd.Value, aux []*autograd.Value, err error) {
	err = runEntry(m, x, func(x *autograd.Value) (*autograd.Value, error) {
		out, aux, err = m.forward(x, m.training)
		return out, err
	})
	if err != nil {
		return nil, nil, err
	}
	return out, aux, nil
}

func (m *Inception3) forward(x *autograd.Value, withAux bool) (*autograd.Value, []*autograd.Value, error) {
	var aux []*autograd.Value
	var err error
	for _, c := range m.children {
		switch c.Name {
		case "AuxLogits":
			if withAux {
				a, err := nn.Call(c.Module, x)
				if err != nil {
					return nil, nil, err
				}
				aux = append(aux, a)
			}
			continue
		case "fc":
			if x, err = autograd.Flatten(x, 1); err != nil {
				return nil, nil, err
			}
		}
		if x, err = nn.Call(c.Module, x); err != nil {
			return nil, nil, err
		}
	}
	return x, aux, nil
}

// callChain runs modules one after the other (one branch of a block).
func callChain(x *autograd.Value, ms ...nn.Module) (*autograd.Value, error) {
	var err error
	for _, m := range ms {
		if x, err = nn.Call(m, x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

// poolBranch is the pooling branch of an Inception block: a functional
// pool (no module of its own in torchvision) and then proj, if any.
func poolBranch(x *autograd.Value, maxPool bool, proj nn.Module) (*autograd.Value, error) {
	var y *autograd.Value
	var err error
	if maxPool {
		y, err = autograd.MaxPool2d(x, autograd.PoolOpts{Kernel: [2]int{3, 3}, Stride: [2]int{2, 2}})
	} else {
		y, err = autograd.AvgPool2d(x, autograd.PoolOpts{Kernel: [2]int{3, 3}, Stride: [2]int{1, 1},
			Padding: [2]int{1, 1}, CountIncludePad: true})
	}
	if err != nil || proj == nil {
		return y, err
	}
	return nn.Call(proj, y)
}

// InceptionA is the 35x35 module (paper's Figure 5): 1x1 | 1x1, 5x5 |
// 1x1, 3x3, 3x3 | avg pool, 1x1. Out: 224 + poolFeatures channels.
type InceptionA struct {
	Branch1x1                                      *BasicConv2d
	Branch5x5_1, Branch5x5_2                       *BasicConv2d
	Branch3x3dbl_1, Branch3x3dbl_2, Branch3x3dbl_3 *BasicConv2d
	BranchPool                                     *BasicConv2d
}

// NewInceptionA returns an InceptionA on in channels.
func NewInceptionA(in, poolFeatures int) *InceptionA {
	return &InceptionA{
		Branch1x1:      NewBasicConv2d(in, 64, 1),
		Branch5x5_1:    NewBasicConv2d(in, 48, 1),
		Branch5x5_2:    NewBasicConv2d(48, 64, 5, nn.Padding(2)),
		Branch3x3dbl_1: NewBasicConv2d(in, 64, 1),
		Branch3x3dbl_2: NewBasicConv2d(64, 96, 3, nn.Padding(1)),
		Branch3x3dbl_3: NewBasicConv2d(96, 96, 3, nn.Padding(1)),
		BranchPool:     NewBasicConv2d(in, poolFeatures, 1),
	}
}

// Children lists the convolutions in torchvision's order.
func (b *InceptionA) Children() []nn.Child {
	return []nn.Child{{Name: "branch1x1", Module: b.Branch1x1},
		{Name: "branch5x5_1", Module: b.Branch5x5_1}, {Name: "branch5x5_2", Module: b.Branch5x5_2},
		{Name: "branch3x3dbl_1", Module: b.Branch3x3dbl_1}, {Name: "branch3x3dbl_2", Module: b.Branch3x3dbl_2},
		{Name: "branch3x3dbl_3", Module: b.Branch3x3dbl_3}, {Name: "branch_pool", Module: b.BranchPool}}
}

// Forward concatenates the four branches.
func (b *InceptionA) Forward(x *autograd.Value) (*autograd.Value, error) {
	b1, err := callChain(x, b.Branch1x1)
	if err != nil {
		return nil, err
	}
	b5, err := callChain(x, b.Branch5x5_1, b.Branch5x5_2)
	if err != nil {
		return nil, err
	}
	b3, err := callChain(x, b.Branch3x3dbl_1, b.Branch3x3dbl_2, b.Branch3x3dbl_3)
	if err != nil {
		return nil, err
	}
	bp, err := poolBranch(x, false, b.BranchPool)
	if err != nil {
		return nil, err
	}
	return autograd.Concat(b1, b5, b3, bp)
}

// InceptionB is the 35x35 -> 17x17 grid reduction (paper's Figure 10):
// 3x3/2 | 1x1, 3x3, 3x3/2 | max pool 3x3/2. Out: 480 + in channels.
type InceptionB struct {
	Branch3x3                                      *BasicConv2d
	Branch3x3dbl_1, Branch3x3dbl_2, Branch3x3dbl_3 *BasicConv2d
}

// NewInceptionB returns an InceptionB on in channels.
func NewInceptionB(in int) *InceptionB {
	return &InceptionB{
		Branch3x3:      NewBasicConv2d(in, 384, 3, nn.Stride(2)),
		Branch3x3dbl_1: NewBasicConv2d(in, 64, 1),
		Branch3x3dbl_2: NewBasicConv2d(64, 96, 3, nn.Padding(1)),
		Branch3x3dbl_3: NewBasicConv2d(96, 96, 3, nn.Stride(2)),
	}
}

// Children lists the convolutions in torchvision's order.
func (b *InceptionB) Children() []nn.Child {
	return []nn.Child{{Name: "branch3x3", Module: b.Branch3x3},
		{Name: "branch3x3dbl_1", Module: b.Branch3x3dbl_1}, {Name: "branch3x3dbl_2", Module: b.Branch3x3dbl_2},
		{Name: "branch3x3dbl_3", Module: b.Branch3x3dbl_3}}
}

// Forward concatenates the three branches.
func (b *InceptionB) Forward(x *autograd.Value) (*autograd.Value, error) {
	b3, err := callChain(x, b.Branch3x3)
	if err != nil {
		return nil, err
	}
	bd, err := callChain(x, b.Branch3x3dbl_1, b.Branch3x3dbl_2, b.Branch3x3dbl_3)
	if err != nil {
		return nil, err
	}
	bp, err := poolBranch(x, true, nil)
	if err != nil {
		return nil, err
	}
	return autograd.Concat(b3, bd, bp)
}

// InceptionC is the 17x17 module with factorised 7x7 convolutions (paper's
// Figure 6, n = 7): 1x1 | 1x1, 1x7, 7x1 | 1x1, 7x1, 1x7, 7x1, 1x7 |
// avg pool, 1x1. c7 is the width inside the 7x7 branches. Out: 768.
type InceptionC struct {
	Branch1x1                             *BasicConv2d
	Branch7x7_1, Branch7x7_2, Branch7x7_3 *BasicConv2d
	Branch7x7dbl_1, Branch7x7dbl_2        *BasicConv2d
	Branch7x7dbl_3, Branch7x7dbl_4        *BasicConv2d
	Branch7x7dbl_5                        *BasicConv2d
	BranchPool                            *BasicConv2d
}

// NewInceptionC returns an InceptionC on in channels.
func NewInceptionC(in, c7 int) *InceptionC {
	row := func(in, out int) *BasicConv2d { return NewBasicConv2dHW(in, out, 1, 7, nn.Padding2(0, 3)) }
	col := func(in, out int) *BasicConv2d { return NewBasicConv2dHW(in, out, 7, 1, nn.Padding2(3, 0)) }
	return &InceptionC{
		Branch1x1:      NewBasicConv2d(in, 192, 1),
		Branch7x7_1:    NewBasicConv2d(in, c7, 1),
		Branch7x7_2:    row(c7, c7),
		Branch7x7_3:    col(c7, 192),
		Branch7x7dbl_1: NewBasicConv2d(in, c7, 1),
		Branch7x7dbl_2: col(c7, c7),
		Branch7x7dbl_3: row(c7, c7),
		Branch7x7dbl_4: col(c7, c7),
		Branch7x7dbl_5: row(c7, 192),
		BranchPool:     NewBasicConv2d(in, 192, 1),
	}
}

// Children lists the convolutions in torchvision's order.
func (b *InceptionC) Children() []nn.Child {
	return []nn.Child{{Name: "branch1x1", Module: b.Branch1x1},
		{Name: "branch7x7_1", Module: b.Branch7x7_1}, {Name: "branch7x7_2", Module: b.Branch7x7_2},
		{Name: "branch7x7_3", Module: b.Branch7x7_3},
		{Name: "branch7x7dbl_1", Module: b.Branch7x7dbl_1}, {Name: "branch7x7dbl_2", Module: b.Branch7x7dbl_2},
		{Name: "branch7x7dbl_3", Module: b.Branch7x7dbl_3}, {Name: "branch7x7dbl_4", Module: b.Branch7x7dbl_4},
		{Name: "branch7x7dbl_5", Module: b.Branch7x7dbl_5}, {Name: "branch_pool", Module: b.BranchPool}}
}

// Forward concatenates the four branches.
func (b *InceptionC) Forward(x *autograd.Value) (*autograd.Value, error) {
	b1, err := callChain(x, b.Branch1x1)
	if err != nil {
		return nil, err
	}
	b7, err := callChain(x, b.Branch7x7_1, b.Branch7x7_2, b.Branch7x7_3)
	if err != nil {
		return nil, err
	}
	bd, err := callChain(x, b.Branch7x7dbl_1, b.Branch7x7dbl_2, b.Branch7x7dbl_3, b.Branch7x7dbl_4, b.Branch7x7dbl_5)
	if err != nil {
		return nil, err
	}
	bp, err := poolBranch(x, false, b.BranchPool)
	if err != nil {
		return nil, err
	}
	return autograd.Concat(b1, b7, bd, bp)
}

// InceptionD is the 17x17 -> 8x8 grid reduction: 1x1, 3x3/2 |
// 1x1, 1x7, 7x1, 3x3/2 | max pool 3x3/2. Out: 512 + in channels.
type InceptionD struct {
	Branch3x3_1, Branch3x3_2                                   *BasicConv2d
	Branch7x7x3_1, Branch7x7x3_2, Branch7x7x3_3, Branch7x7x3_4 *BasicConv2d
}

// NewInceptionD returns an InceptionD on in channels.
func NewInceptionD(in int) *InceptionD {
	return &InceptionD{
		Branch3x3_1:   NewBasicConv2d(in, 192, 1),
		Branch3x3_2:   NewBasicConv2d(192, 320, 3, nn.Stride(2)),
		Branch7x7x3_1: NewBasicConv2d(in, 192, 1),
		Branch7x7x3_2: NewBasicConv2dHW(192, 192, 1, 7, nn.Padding2(0, 3)),
		Branch7x7x3_3: NewBasicConv2dHW(192, 192, 7, 1, nn.Padding2(3, 0)),
		Branch7x7x3_4: NewBasicConv2d(192, 192, 3, nn.Stride(2)),
	}
}

// Children lists the convolutions in torchvision's order.
func (b *InceptionD) Children() []nn.Child {
	return []nn.Child{{Name: "branch3x3_1", Module: b.Branch3x3_1}, {Name: "branch3x3_2", Module: b.Branch3x3_2},
		{Name: "branch7x7x3_1", Module: b.Branch7x7x3_1}, {Name: "branch7x7x3_2", Module: b.Branch7x7x3_2},
		{Name: "branch7x7x3_3", Module: b.Branch7x7x3_3}, {Name: "branch7x7x3_4", Module: b.Branch7x7x3_4}}
}

// Forward concatenates the three branches.
func (b *InceptionD) Forward(x *autograd.Value) (*autograd.Value, error) {
	b3, err := callChain(x, b.Branch3x3_1, b.Branch3x3_2)
	if err != nil {
		return nil, err
	}
	b7, err := callChain(x, b.Branch7x7x3_1, b.Branch7x7x3_2, b.Branch7x7x3_3, b.Branch7x7x3_4)
	if err != nil {
		return nil, err
	}
	bp, err := poolBranch(x, true, nil)
	if err != nil {
		return nil, err
	}
	return autograd.Concat(b3, b7, bp)
}

// InceptionE is the 8x8 module with expanded filter banks (paper's
// Figure 7): 1x1 | 1x1, (1x3 ‖ 3x1) | 1x1, 3x3, (1x3 ‖ 3x1) | avg pool,
// 1x1, where ‖ concatenates two convolutions of the same input.
// Out: 320 + 768 + 768 + 192 = 2048.
type InceptionE struct {
	Branch1x1                               *BasicConv2d
	Branch3x3_1, Branch3x3_2a, Branch3x3_2b *BasicConv2d
	Branch3x3dbl_1, Branch3x3dbl_2          *BasicConv2d
	Branch3x3dbl_3a, Branch3x3dbl_3b        *BasicConv2d
	BranchPool                              *BasicConv2d
}

// NewInceptionE returns an InceptionE on in channels.
func NewInceptionE(in int) *InceptionE {
	row := func(in, out int) *BasicConv2d { return NewBasicConv2dHW(in, out, 1, 3, nn.Padding2(0, 1)) }
	col := func(in, out int) *BasicConv2d { return NewBasicConv2dHW(in, out, 3, 1, nn.Padding2(1, 0)) }
	return &InceptionE{
		Branch1x1:       NewBasicConv2d(in, 320, 1),
		Branch3x3_1:     NewBasicConv2d(in, 384, 1),
		Branch3x3_2a:    row(384, 384),
		Branch3x3_2b:    col(384, 384),
		Branch3x3dbl_1:  NewBasicConv2d(in, 448, 1),
		Branch3x3dbl_2:  NewBasicConv2d(448, 384, 3, nn.Padding(1)),
		Branch3x3dbl_3a: row(384, 384),
		Branch3x3dbl_3b: col(384, 384),
		BranchPool:      NewBasicConv2d(in, 192, 1),
	}
}

// Children lists the convolutions in torchvision's order.
func (b *InceptionE) Children() []nn.Child {
	return []nn.Child{{Name: "branch1x1", Module: b.Branch1x1},
		{Name: "branch3x3_1", Module: b.Branch3x3_1}, {Name: "branch3x3_2a", Module: b.Branch3x3_2a},
		{Name: "branch3x3_2b", Module: b.Branch3x3_2b},
		{Name: "branch3x3dbl_1", Module: b.Branch3x3dbl_1}, {Name: "branch3x3dbl_2", Module: b.Branch3x3dbl_2},
		{Name: "branch3x3dbl_3a", Module: b.Branch3x3dbl_3a}, {Name: "branch3x3dbl_3b", Module: b.Branch3x3dbl_3b},
		{Name: "branch_pool", Module: b.BranchPool}}
}

// Forward concatenates the four branches (six convolution outputs).
func (b *InceptionE) Forward(x *autograd.Value) (*autograd.Value, error) {
	b1, err := callChain(x, b.Branch1x1)
	if err != nil {
		return nil, err
	}
	b3, err := callChain(x, b.Branch3x3_1)
	if err != nil {
		return nil, err
	}
	if b3, err = concatBranches(b3, b.Branch3x3_2a, b.Branch3x3_2b); err != nil {
		return nil, err
	}
	bd, err := callChain(x, b.Branch3x3dbl_1, b.Branch3x3dbl_2)
	if err != nil {
		return nil, err
	}
	if bd, err = concatBranches(bd, b.Branch3x3dbl_3a, b.Branch3x3dbl_3b); err != nil {
		return nil, err
	}
	bp, err := poolBranch(x, false, b.BranchPool)
	if err != nil {
		return nil, err
	}
	return autograd.Concat(b1, b3, bd, bp)
}

// InceptionAux is Inception v3's auxiliary classifier on the 17x17 grid:
// avg pool 5x5/3 (17 -> 5), 1x1 conv to 128, 5x5 conv to 768 (5 -> 1),
// global average pool, fc 768 -> classes.
type InceptionAux struct {
	Conv0, Conv1 *BasicConv2d
	FC           *nn.Linear
}

// NewInceptionAux returns an InceptionAux on in channels.
func NewInceptionAux(in, classes int) *InceptionAux {
	return &InceptionAux{Conv0: NewBasicConv2d(in, 128, 1), Conv1: NewBasicConv2d(128, 768, 5),
		FC: nn.NewLinear(768, classes)}
}

// Children lists conv0, conv1 and fc.
func (a *InceptionAux) Children() []nn.Child {
	return []nn.Child{{Name: "conv0", Module: a.Conv0}, {Name: "conv1", Module: a.Conv1}, {Name: "fc", Module: a.FC}}
}

// Forward computes the auxiliary logits.
func (a *InceptionAux) Forward(x *autograd.Value) (*autograd.Value, error) {
	x, err := autograd.AvgPool2d(x, autograd.PoolOpts{Kernel: [2]int{5, 5}, Stride: [2]int{3, 3}, CountIncludePad: true})
	if err != nil {
		return nil, err
	}
	if x, err = callChain(x, a.Conv0, a.Conv1); err != nil {
		return nil, err
	}
	if x, err = autograd.AdaptiveAvgPool2d(x, 1, 1); err != nil {
		return nil, err
	}
	if x, err = autograd.Flatten(x, 1); err != nil {
		return nil, err
	}
	return nn.Call(a.FC, x)
}

// initInception3 is torchvision's init_weights: conv and linear weights
// from N(0, stddev) truncated to [-2, 2], BatchNorm weight 1, bias 0.
// torchvision reads stddev from a module attribute that only
// AuxLogits.fc (0.001) effectively carries: the 0.01 it sets on
// AuxLogits.conv1 lands on the BasicConv2d wrapper, not on its Conv2d, so
// that convolution gets the default 0.1 like every other layer. We
// reproduce what torchvision does, not what it meant. Linear biases keep
// PyTorch's default.
func initInception3(m nn.Module, rng *rand.Rand) {
	var auxFC *nn.Linear
	nn.Walk(m, func(_ string, l nn.Module) {
		switch l := l.(type) {
		case *InceptionAux:
			auxFC = l.FC
		case *nn.Conv2d:
			nn.TruncNormal(l.Weight.T, 0, 0.1, -2, 2, rng)
		case *nn.Linear:
			std := 0.1
			if l == auxFC {
				std = 0.001
			}
			nn.TruncNormal(l.Weight.T, 0, std, -2, 2, rng)
		}
	})
}
