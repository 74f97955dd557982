package autograd

import (
	"fmt"

	"github.com/convnet/convnet/tensor"
)

// Reshape views x with a new shape (one dimension may be -1).
func Reshape(x *Value, shape ...int) (*Value, error) {
	var y *tensor.Tensor
	var err error
	if isMeta(x) {
		y, err = tensor.Meta(x.T.Shape...).Reshape(shape...)
		if err == nil {
			y.Data = nil
		}
	} else {
		y, err = x.T.Reshape(shape...)
	}
	if err != nil {
		return nil, fmt.Errorf("reshape: %w", err)
	}
	if y.Data != nil {
		// The output owns a copy so that in-place updates of one (an
		// optimizer step on a reshaped parameter) never alias the other.
		y.Data = append([]float32(nil), y.Data...)
	}
	return record(OpReshape, nil, y, func(g *tensor.Tensor) {
		accumulate(x, &tensor.Tensor{Shape: append([]int(nil), x.T.Shape...), Data: g.Data}, false)
	}, x), nil
}

// Flatten is torch.flatten(x, startDim): dimensions from startDim on are
// merged.
func Flatten(x *Value, startDim int) (*Value, error) {
	s := x.T.Shape
	if startDim < 0 {
		startDim += len(s)
	}
	if startDim < 0 || startDim >= len(s) {
		return nil, fmt.Errorf("flatten: start dim %d out of range for shape %v", startDim, s)
	}
	shape := append([]int(nil), s[:startDim]...)
	shape = append(shape, tensor.Numel(s[startDim:]))
	return Reshape(x, shape...)
}

// Concat joins 4-D tensors along the channel dimension (torch.cat(xs, 1)),
// DenseNet's and Inception's merge.
func Concat(xs ...*Value) (*Value, error) {
	if len(xs) == 0 {
		return nil, fmt.Errorf("concat: no inputs")
	}
	s0 := xs[0].T.Shape
	if len(s0) < 2 {
		return nil, fmt.Errorf("concat: inputs must have a channel dimension, got %v", s0)
	}
	c := 0
	for i, x := range xs {
		s := x.T.Shape
		ok := len(s) == len(s0) && s[0] == s0[0]
		for d := 2; ok && d < len(s); d++ {
			ok = s[d] == s0[d]
		}
		if !ok {
			return nil, fmt.Errorf("concat: input %d has shape %v, which does not match %v outside dimension 1", i, s, s0)
		}
		c += s[1]
	}
	shape := append([]int(nil), s0...)
	shape[1] = c
	if isMeta(xs...) {
		return record(OpConcat, nil, tensor.Meta(shape...), nil, xs...), nil
	}
	n := s0[0]
	inner := tensor.Numel(s0[2:])
	y := tensor.New(shape...)
	off := 0
	for _, x := range xs {
		ci := x.T.Shape[1]
		for b := 0; b < n; b++ {
			copy(y.Data[(b*c+off)*inner:(b*c+off+ci)*inner], x.T.Data[b*ci*inner:(b+1)*ci*inner])
		}
		off += ci
	}
	parents := append([]*Value(nil), xs...)
	return record(OpConcat, nil, y, func(g *tensor.Tensor) {
		off := 0
		for _, x := range parents {
			ci := x.T.Shape[1]
			if x.requiresGrad {
				dx := tensor.New(x.T.Shape...)
				for b := 0; b < n; b++ {
					copy(dx.Data[b*ci*inner:(b+1)*ci*inner], g.Data[(b*c+off)*inner:(b*c+off+ci)*inner])
				}
				accumulate(x, dx, true)
			}
			off += ci
		}
	}, parents...), nil
}

// ChannelShuffle is torch.nn.ChannelShuffle / ShuffleNet's shuffle: view
// channels as [groups, C/groups], transpose, flatten.
func ChannelShuffle(x *Value, groups int) (*Value, error) {
	s := x.T.Shape
	if len(s) != 4 {
		return nil, fmt.Errorf("channel_shuffle: input must be 4-D, got %v", s)
	}
	if groups <= 0 || s[1]%groups != 0 {
		return nil, fmt.Errorf("channel_shuffle: %d channels are not divisible by %d groups", s[1], groups)
	}
	if isMeta(x) {
		return record(OpChannelShuffle, groups, tensor.Meta(s...), nil, x), nil
	}
	n, c, inner := s[0], s[1], s[2]*s[3]
	per := c / groups
	// Output channel j*groups+i reads input channel i*per+j.
	perm := func(src, dst []float32, inverse bool) {
		for b := 0; b < n; b++ {
			for i := 0; i < groups; i++ {
				for j := 0; j < per; j++ {
					in := (b*c + i*per + j) * inner
					out := (b*c + j*groups + i) * inner
					if inverse {
						in, out = out, in
					}
					copy(dst[out:out+inner], src[in:in+inner])
				}
			}
		}
	}
	y := tensor.New(s...)
	perm(x.T.Data, y.Data, false)
	return record(OpChannelShuffle, groups, y, func(g *tensor.Tensor) {
		dx := tensor.New(s...)
		perm(g.Data, dx.Data, true)
		accumulate(x, dx, true)
	}, x), nil
}

// Chunk2 splits the channel dimension in two halves (ShuffleNetV2's
// x.chunk(2, dim=1)).
func Chunk2(x *Value) (*Value, *Value, error) {
	s := x.T.Shape
	if len(s) != 4 || s[1]%2 != 0 {
		return nil, nil, fmt.Errorf("chunk: cannot split channels of %v in two", s)
	}
	a, err := Narrow(x, 0, s[1]/2)
	if err != nil {
		return nil, nil, err
	}
	b, err := Narrow(x, s[1]/2, s[1]/2)
	return a, b, err
}

// Narrow returns channels [start, start+length) of a 4-D tensor.
func Narrow(x *Value, start, length int) (*Value, error) {
	s := x.T.Shape
	if len(s) != 4 || start < 0 || length < 0 || start+length > s[1] {
		return nil, fmt.Errorf("narrow: channels [%d, %d) out of range for %v", start, start+length, s)
	}
	shape := []int{s[0], length, s[2], s[3]}
	if isMeta(x) {
		return record(OpNarrow, [2]int{start, length}, tensor.Meta(shape...), nil, x), nil
	}
	n, c, inner := s[0], s[1], s[2]*s[3]
	y := tensor.New(shape...)
	for b := 0; b < n; b++ {
		copy(y.Data[b*length*inner:(b+1)*length*inner], x.T.Data[(b*c+start)*inner:(b*c+start+length)*inner])
	}
	return record(OpNarrow, [2]int{start, length}, y, func(g *tensor.Tensor) {
		dx := tensor.New(s...)
		for b := 0; b < n; b++ {
			copy(dx.Data[(b*c+start)*inner:(b*c+start+length)*inner], g.Data[b*length*inner:(b+1)*length*inner])
		}
		accumulate(x, dx, true)
	}, x), nil
}
