package parity

import (
	"testing"

	"github.com/convnet/convnet/infer"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// comparePlan compiles the model for the reference input into infer's
// inference plan (BatchNorm folded, activations fused, convolution
// algorithms chosen per layer) and compares its logits with torchvision's
// eval-mode ones, under the same bound as the layer-by-layer path.
func comparePlan(t *testing.T, m nn.Module, x, want *tensor.Tensor) error {
	t.Helper()
	p, err := infer.Compile(m, x.Shape)
	if err != nil {
		return err
	}
	got, err := p.Run(x)
	if err != nil {
		return err
	}
	compare(t, "plan", got, want)
	return nil
}
