package nn

// Option sets a hyper-parameter of a layer constructor, in the spirit of
// PyTorch's keyword arguments: NewConv2d(3, 64, 7, Stride(2), Padding(3),
// NoBias()). Options a layer does not use are ignored.
type Option func(*config)

type config struct {
	kernel          [2]int
	stride          [2]int
	padding         [2]int
	dilation        [2]int
	groups          int
	bias            bool
	ceilMode        bool
	countIncludePad bool
	eps             float32
	momentum        float32
	affine          bool
	strideSet       bool
}

func newConfig(opts []Option) config {
	c := config{dilation: [2]int{1, 1}, stride: [2]int{1, 1}, groups: 1, bias: true, countIncludePad: true, eps: 1e-5, momentum: 0.1, affine: true}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Stride sets the same stride for height and width.
func Stride(s int) Option { return Stride2(s, s) }

// Stride2 sets (height, width) strides.
func Stride2(h, w int) Option {
	return func(c *config) { c.stride = [2]int{h, w}; c.strideSet = true }
}

// Padding sets the same zero padding on each side.
func Padding(p int) Option { return Padding2(p, p) }

// Padding2 sets (height, width) padding.
func Padding2(h, w int) Option { return func(c *config) { c.padding = [2]int{h, w} } }

// Dilation sets the dilation of a convolution or max pooling.
func Dilation(d int) Option { return func(c *config) { c.dilation = [2]int{d, d} } }

// Groups sets the number of convolution groups (in channels for
// depthwise).
func Groups(g int) Option { return func(c *config) { c.groups = g } }

// NoBias drops a convolution's or linear layer's bias (bias=False).
func NoBias() Option { return func(c *config) { c.bias = false } }

// Bias sets bias on or off.
func Bias(b bool) Option { return func(c *config) { c.bias = b } }

// CeilMode makes pooling round output sizes up (ceil_mode=True).
func CeilMode() Option { return func(c *config) { c.ceilMode = true } }

// CountIncludePad sets AvgPool2d's count_include_pad (default true).
func CountIncludePad(b bool) Option { return func(c *config) { c.countIncludePad = b } }

// Eps sets BatchNorm2d's epsilon (default 1e-5).
func Eps(e float32) Option { return func(c *config) { c.eps = e } }

// Momentum sets BatchNorm2d's running-average momentum (default 0.1).
func Momentum(m float32) Option { return func(c *config) { c.momentum = m } }

// Affine sets whether BatchNorm2d has weight and bias (default true).
func Affine(a bool) Option { return func(c *config) { c.affine = a } }
