package train

import (
	"fmt"
	"math"
	"slices"
)

// Config is everything that decides what a run computes. It is saved in
// every checkpoint, and a resumed run takes it from there.
type Config struct {
	// Model is a registered model name (models.Names).
	Model string `json:"model"`
	// Data is a dataset directory (see OpenData); empty means the
	// embedded Fashion-MNIST subset.
	Data string `json:"data"`
	// LimitTrain and LimitTest, when positive, keep that many samples of
	// each set, evenly spaced (a quick run, a test, a memory probe).
	LimitTrain int `json:"limit_train,omitempty"`
	LimitTest  int `json:"limit_test,omitempty"`
	// Size, when positive, resizes images (shorter side) and crops them
	// to Size x Size; 0 keeps the dataset's size (MNIST, CIFAR) or uses
	// the model's input size (ImageFolder).
	Size int `json:"size,omitempty"`
	// Augment adds the standard augmentation: random crops (padded by
	// an eighth of the side for small images, RandomResizedCrop for
	// ImageFolder at 224) and horizontal flips.
	Augment bool `json:"augment"`
	// StrictImages makes an unreadable image in an ImageFolder fatal;
	// otherwise it is skipped with a warning and counted.
	StrictImages bool `json:"strict_images,omitempty"`

	Epochs    int `json:"epochs"`
	BatchSize int `json:"batch_size"`
	// Seed decides the initial weights, the order of the batches, every
	// augmentation and every dropout mask.
	Seed uint64 `json:"seed"`

	// SGD: torch.optim.SGD's update with momentum and L2 weight decay.
	Momentum    float64 `json:"momentum"`
	Nesterov    bool    `json:"nesterov"`
	WeightDecay float64 `json:"weight_decay"`
	// NoDecayNormBias exempts BatchNorm weights and all biases (every
	// one-dimensional parameter) from weight decay, as torchvision's
	// norm_weight_decay=0 and bias_weight_decay=0.
	NoDecayNormBias bool `json:"no_decay_norm_bias,omitempty"`

	// Schedule holds the learning rate and its schedule; its Epochs and
	// StepsPerEpoch are filled in from the run.
	Schedule ScheduleConfig `json:"schedule"`

	// LabelSmoothing is cross_entropy's label_smoothing.
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	// AuxWeight weighs the auxiliary classifiers' losses of models that
	// have them (GoogLeNet, Inception v3): loss = main + AuxWeight * sum.
	AuxWeight float64 `json:"aux_weight"`
}

// Defaults returns the lecture's recipe (AlexNet's, as on the slide): SGD
// with momentum 0.9, weight decay 5e-4, learning rate 1e-2 divided by 10
// when the test accuracy has not improved for 2 epochs (the slide's
// "manually when accuracy plateaus" made automatic), batch 128, random
// crops and flips; the auxiliary losses weighted 0.3 as in the GoogLeNet
// paper. Dropout and BatchNorm come with the architectures and are in
// training mode while training. The default run is 3 epochs of resnet20
// on the embedded Fashion-MNIST subset, seed 1.
func Defaults() Config {
	return Config{
		Model:       "resnet20",
		Augment:     true,
		Epochs:      3,
		BatchSize:   128,
		Seed:        1,
		Momentum:    0.9,
		WeightDecay: 5e-4,
		Schedule:    ScheduleConfig{Kind: SchedulePlateau, LR: 0.01, Factor: 0.1, Patience: 2},
		AuxWeight:   0.3,
	}
}

// Validate reports settings that cannot work, before anything is loaded.
func (c Config) Validate() error {
	if c.Model == "" {
		return fmt.Errorf("no model given")
	}
	if c.Epochs <= 0 {
		return fmt.Errorf("epochs must be positive, got %d", c.Epochs)
	}
	if c.BatchSize <= 0 {
		return fmt.Errorf("batch size must be positive, got %d", c.BatchSize)
	}
	if c.LimitTrain < 0 || c.LimitTest < 0 || c.Size < 0 {
		return fmt.Errorf("limits and size cannot be negative")
	}
	bad := func(v float64) bool { return v < 0 || math.IsNaN(v) || math.IsInf(v, 0) }
	if bad(c.Momentum) || c.Momentum >= 1 || bad(c.WeightDecay) || bad(c.AuxWeight) {
		return fmt.Errorf("momentum must be in [0, 1), weight decay and aux weight non-negative: got %g, %g, %g", c.Momentum, c.WeightDecay, c.AuxWeight)
	}
	if c.Nesterov && c.Momentum == 0 {
		return fmt.Errorf("Nesterov momentum needs a momentum > 0")
	}
	if bad(c.LabelSmoothing) || c.LabelSmoothing > 1 {
		return fmt.Errorf("label smoothing must be in [0, 1], got %g", c.LabelSmoothing)
	}
	if !slices.Contains(Schedules, c.Schedule.Kind) {
		return fmt.Errorf("unknown schedule %q (want one of %v)", c.Schedule.Kind, Schedules)
	}
	s := c.Schedule
	s.Epochs = c.Epochs
	return s.Validate()
}
