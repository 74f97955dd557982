package main

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/data"
	"github.com/convnet/convnet/infer"
	"github.com/convnet/convnet/internal/imagenet"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

// This file holds what run, predict and eval share: reading a checkpoint,
// building the model it fits, running it, and naming its classes.

// loadedModel is a model with its weights, in evaluation mode.
type loadedModel struct {
	Name       string
	Weights    string // the file its weights came from
	Spec       models.Spec
	NumClasses int
	Module     nn.Module
	training   bool
	// plans holds the compiled inference plan of each input shape seen
	// (eval mode only).
	plans map[string]*infer.Plan
}

// loadModel builds model name and loads the checkpoint at path into it,
// strictly: every key of the model present, none extra, all shapes equal.
// numClasses 0 means the checkpoint's: when its classifier has another size
// than the model's default, the model is built with that size. Auxiliary
// classifiers (GoogLeNet, Inception v3) are built only when the checkpoint
// has their weights.
func loadModel(name, path string, numClasses int) (*loadedModel, error) {
	spec, err := models.Lookup(name)
	if err != nil {
		return nil, err
	}
	if numClasses < 0 {
		return nil, fmt.Errorf("--num-classes must be positive, got %d", numClasses)
	}
	sd, err := weights.Load(path)
	if err != nil {
		return nil, err
	}
	opts, classes, err := fitOptions(name, spec, sd, numClasses)
	if err != nil {
		return nil, err
	}
	m, err := models.New(name, append(opts, models.Meta())...)
	if err != nil {
		return nil, err
	}
	if err := nn.LoadStateDict(m, sd.Tensors, true); err != nil {
		msg := fmt.Sprintf("weights %s do not fit %s (%d classes): %v", path, name, classes, err)
		if fits := modelsFitting(sd); len(fits) > 0 && !slices.Contains(fits, name) {
			msg += fmt.Sprintf("; the checkpoint fits %s", strings.Join(fits, ", "))
		}
		return nil, errors.New(msg)
	}
	nn.SetTraining(m, false)
	return &loadedModel{Name: name, Weights: path, Spec: spec, NumClasses: classes, Module: m}, nil
}

// fitOptions chooses the build options for a checkpoint: the number of
// classes (given, or read from the classifier's weights) and whether the
// auxiliary classifiers exist.
func fitOptions(name string, spec models.Spec, sd *weights.StateDict, numClasses int) ([]models.Option, int, error) {
	ref, err := models.New(name, models.Meta())
	if err != nil {
		return nil, 0, err
	}
	entries := nn.StateDict(ref)
	if numClasses == 0 {
		numClasses = spec.DefaultClasses
		// The classifier's tensors are those with the default class
		// count as their first dimension; the checkpoint's may differ
		// there only. All of them must agree on the new count.
		found := map[int]bool{}
		for _, e := range entries {
			t, ok := sd.Tensors[e.Key]
			if !ok || len(e.Tensor.Shape) == 0 || e.Tensor.Shape[0] != spec.DefaultClasses {
				continue
			}
			if len(t.Shape) == len(e.Tensor.Shape) && slices.Equal(t.Shape[1:], e.Tensor.Shape[1:]) && t.Shape[0] > 0 {
				found[t.Shape[0]] = true
			}
		}
		if len(found) == 1 {
			for n := range found {
				numClasses = n
			}
		}
	}
	opts := []models.Option{models.NumClasses(numClasses)}
	if hasAux(entries) && !slices.ContainsFunc(sd.Keys, isAuxKey) {
		opts = append(opts, models.AuxLogits(false))
	}
	return opts, numClasses, nil
}

// isAuxKey reports whether a state_dict key belongs to an auxiliary
// classifier (GoogLeNet's aux1 and aux2, Inception v3's AuxLogits).
func isAuxKey(k string) bool {
	return strings.HasPrefix(k, "aux1.") || strings.HasPrefix(k, "aux2.") || strings.HasPrefix(k, "AuxLogits.")
}

func hasAux(entries []nn.Entry) bool {
	return slices.ContainsFunc(entries, func(e nn.Entry) bool { return isAuxKey(e.Key) })
}

// modelsFitting lists the registered models whose state_dict the checkpoint
// matches key for key and shape for shape (with the classifier size and
// auxiliary classifiers it implies), for the error of a checkpoint given
// to the wrong model. It builds meta models only.
func modelsFitting(sd *weights.StateDict) []string {
	var out []string
	for _, name := range models.Names() {
		spec, err := models.Lookup(name)
		if err != nil {
			continue
		}
		opts, _, err := fitOptions(name, spec, sd, 0)
		if err != nil {
			continue
		}
		m, err := models.New(name, append(opts, models.Meta())...)
		if err != nil {
			continue
		}
		entries := nn.StateDict(m)
		if len(entries) != len(sd.Keys) {
			continue
		}
		ok := true
		for _, e := range entries {
			t, found := sd.Tensors[e.Key]
			if !found || !slices.Equal(t.Shape, e.Tensor.Shape) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, name)
		}
	}
	return out
}

// loadModels loads one model per checkpoint (an ensemble when there are
// several).
func loadModels(name string, paths []string, numClasses int) ([]*loadedModel, error) {
	if len(paths) == 0 {
		return nil, errors.New("no weights: give --weights FILE (several for an ensemble)")
	}
	var out []*loadedModel
	for _, p := range paths {
		m, err := loadModel(name, p, numClasses)
		if err != nil {
			return nil, err
		}
		if len(out) > 0 && m.NumClasses != out[0].NumClasses {
			return nil, fmt.Errorf("ensemble members disagree on the number of classes: %s has %d, %s has %d", out[0].Weights, out[0].NumClasses, p, m.NumClasses)
		}
		out = append(out, m)
	}
	return out, nil
}

// setTraining switches the model to training mode (BatchNorm on batch
// statistics, Dropout on) or back.
func (m *loadedModel) setTraining(training bool) {
	nn.SetTraining(m.Module, training)
	m.training = training
}

// forward runs a batch [N,C,H,W] through the model and returns its logits.
// In evaluation mode it runs the model's compiled inference plan for x's
// shape (BatchNorm folded, activations fused), compiled on first use; in
// training mode, which a plan does not have, it runs the layers one by one.
func (m *loadedModel) forward(x *tensor.Tensor) (*tensor.Tensor, error) {
	if len(x.Shape) != 4 {
		return nil, fmt.Errorf("input of shape %s: want a batch [N,C,H,W]", tensor.ShapeString(x.Shape))
	}
	if x.Shape[0] == 0 {
		return nil, errors.New("empty batch")
	}
	if m.training {
		y, err := nn.Infer(m.Module, autograd.Input(x, nil, false))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		return y.T, nil
	}
	key := tensor.ShapeString(x.Shape)
	p := m.plans[key]
	if p == nil {
		var err error
		if p, err = infer.Compile(m.Module, x.Shape); err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		if m.plans == nil {
			m.plans = map[string]*infer.Plan{}
		}
		m.plans[key] = p
	}
	y := tensor.New(p.OutputShape()...)
	if err := p.RunInto(x, y); err != nil {
		return nil, fmt.Errorf("%s: %w", m.Name, err)
	}
	return y, nil
}

// probabilities runs x through the model and returns the softmax of its
// logits, one row of NumClasses per sample, in float64.
func (m *loadedModel) probabilities(x *tensor.Tensor) ([][]float64, error) {
	y, err := m.forward(x)
	if err != nil {
		return nil, err
	}
	if len(y.Shape) != 2 || y.Shape[0] != x.Shape[0] {
		return nil, fmt.Errorf("%s: output of shape %s, want [%d,classes]", m.Name, tensor.ShapeString(y.Shape), x.Shape[0])
	}
	n, c := y.Shape[0], y.Shape[1]
	out := make([][]float64, n)
	for i := range out {
		out[i] = softmax(y.Data[i*c : (i+1)*c])
	}
	return out, nil
}

// ensembleProbabilities averages the members' softmax outputs (each
// model's probabilities, not its logits, as the lecture's ensembles do).
// It also returns each member's own probabilities.
func ensembleProbabilities(ms []*loadedModel, x *tensor.Tensor) (avg [][]float64, each [][][]float64, err error) {
	for _, m := range ms {
		p, err := m.probabilities(x)
		if err != nil {
			return nil, nil, err
		}
		each = append(each, p)
	}
	avg = make([][]float64, len(each[0]))
	for i := range avg {
		row := make([]float64, len(each[0][i]))
		for _, p := range each {
			for j, v := range p[i] {
				row[j] += v
			}
		}
		for j := range row {
			row[j] /= float64(len(each))
		}
		avg[i] = row
	}
	return avg, each, nil
}

// softmax of float32 logits, computed in float64 after subtracting the
// maximum.
func softmax(logits []float32) []float64 {
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = max(mx, float64(v))
	}
	out := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		out[i] = math.Exp(float64(v) - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// topK returns the indices of the k largest values, largest first (ties
// by lower index).
func topK(p []float64, k int) []int {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case p[a] > p[b]:
			return -1
		case p[a] < p[b]:
			return 1
		}
		return 0
	})
	return idx[:min(k, len(idx))]
}

// className names class i of a model with n classes: ImageNet's names for
// 1000 classes, CIFAR-10's for the 10-class CIFAR nets.
func className(spec models.Spec, n, i int) string {
	switch {
	case n == imagenet.NumClasses:
		return imagenet.Name(i)
	case n == len(data.CIFAR10Classes) && spec.Input == 32:
		return data.CIFAR10Classes[i]
	}
	return fmt.Sprintf("class %d", i)
}

// evalTransform is the model's standard evaluation preprocessing:
// torchvision's ImageNet one (resize the shorter side to 256, centre crop
// 224; 342 and 299 for Inception v3) for ImageNet-sized inputs, and
// CIFAR's normalisation at 32x32 for the CIFAR nets.
func evalTransform(spec models.Spec) data.Transform {
	if spec.Input <= 32 {
		return data.Compose{data.Resize{Size: spec.Input}, data.CenterCrop{Size: spec.Input}, data.ToTensor{},
			data.Normalize{Mean: data.CIFAR10Mean, Std: data.CIFAR10Std}}
	}
	crop := spec.Input
	// torchvision's presets: resize 256 for a 224 crop, 342 for 299.
	resize := int(math.Floor(float64(crop) * 256 / 224))
	if crop == 299 {
		resize = 342
	}
	return data.ImageNetEvalTransform(resize, crop)
}

// loadImages decodes and preprocesses image files into one batch; errors
// name the file.
func loadImages(paths []string, t data.Transform, maxPixels int) (*tensor.Tensor, error) {
	var rows []*tensor.Tensor
	for _, p := range paths {
		img, err := data.LoadImage(p, maxPixels)
		if err != nil {
			return nil, err
		}
		s, err := t.Apply(data.Sample{Image: img}, nil)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", p, err)
		}
		rows = append(rows, s.Tensor)
	}
	return stack(rows)
}

// stack joins [C,H,W] tensors of one shape into [N,C,H,W].
func stack(rows []*tensor.Tensor) (*tensor.Tensor, error) {
	if len(rows) == 0 {
		return nil, errors.New("no images")
	}
	shape := rows[0].Shape
	out := tensor.New(append([]int{len(rows)}, shape...)...)
	n := tensor.Numel(shape)
	for i, r := range rows {
		if !slices.Equal(r.Shape, shape) {
			return nil, fmt.Errorf("image %d has shape %v, the first %v", i, r.Shape, shape)
		}
		copy(out.Data[i*n:], r.Data)
	}
	return out, nil
}
