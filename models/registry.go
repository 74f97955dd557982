// Package models is convnet's model zoo: every architecture of the lecture,
// structurally identical to torchvision's (same layers, same order, same
// state_dict keys), one file per family, and a registry by name like
// torchvision's get_model.
package models

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/convnet/convnet/nn"
)

// Config holds the knobs every builder understands.
type Config struct {
	NumClasses int
	InChannels int
	// Seed drives weight initialisation.
	Seed uint64
	// Meta builds the structure only (shape-only tensors), for analysis.
	Meta bool
	// AuxLogits turns the auxiliary classifiers of GoogLeNet and
	// Inception v3 on or off; nil means the family's torchvision default.
	AuxLogits *bool
}

// Option changes a Config.
type Option func(*Config)

// NumClasses sets the classifier's output size (default 1000, or 10 for
// the CIFAR-style nets).
func NumClasses(n int) Option { return func(c *Config) { c.NumClasses = n } }

// InChannels sets the number of input channels (default 3).
func InChannels(n int) Option { return func(c *Config) { c.InChannels = n } }

// Seed sets the initialisation seed.
func Seed(s uint64) Option { return func(c *Config) { c.Seed = s } }

// Meta builds without allocating weights.
func Meta() Option { return func(c *Config) { c.Meta = true } }

// AuxLogits sets whether auxiliary classifiers are built.
func AuxLogits(on bool) Option { return func(c *Config) { c.AuxLogits = &on } }

// Spec describes a registered model.
type Spec struct {
	Name   string
	Family string
	// Input is the default square input resolution (224, 299, 32, ...).
	Input int
	// DefaultClasses is the default NumClasses (1000 for ImageNet nets).
	DefaultClasses int
	// Torchvision reports whether torchvision 0.14 has this model.
	Torchvision bool
	// Top1Err and Top5Err are torchvision's reference ImageNet errors (%)
	// for its pretrained weights; 0 when unknown.
	Top1Err, Top5Err float64
	// Build constructs the structure; Init (may be nil) applies the
	// family's weight initialisation after nn.Materialize.
	Build func(cfg Config) (nn.Module, error)
	Init  func(m nn.Module, rng *rand.Rand)
}

var registry = map[string]Spec{}

func register(s Spec) {
	if _, dup := registry[s.Name]; dup {
		panic("models: duplicate registration of " + s.Name)
	}
	if s.Input == 0 {
		s.Input = 224
	}
	if s.DefaultClasses == 0 {
		s.DefaultClasses = 1000
	}
	registry[s.Name] = s
}

// Names lists the registered models, sorted.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns a model's Spec.
func Lookup(name string) (Spec, error) {
	s, ok := registry[name]
	if !ok {
		return Spec{}, fmt.Errorf("unknown model %q; known models: %s", name, strings.Join(Names(), ", "))
	}
	return s, nil
}

// New builds a model by name (torchvision's get_model) and initialises
// its weights unless Meta is given.
func New(name string, opts ...Option) (nn.Module, error) {
	s, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	cfg := Config{NumClasses: s.DefaultClasses, InChannels: 3}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.NumClasses <= 0 || cfg.InChannels <= 0 {
		return nil, fmt.Errorf("model %s: classes (%d) and input channels (%d) must be positive", name, cfg.NumClasses, cfg.InChannels)
	}
	m, err := s.Build(cfg)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", name, err)
	}
	if !cfg.Meta {
		rng := rand.New(rand.NewPCG(cfg.Seed, 0x636e6e))
		nn.Materialize(m, rng)
		if s.Init != nil {
			s.Init(m, rng)
		}
	}
	// Each Dropout draws its masks from a stream of its own, keyed by the
	// model seed and the layer's path, so that two layers with the same p
	// never share masks and a run is reproducible from the seed alone.
	nn.Walk(m, func(path string, l nn.Module) {
		if d, ok := l.(*nn.Dropout); ok {
			h := fnv.New64a()
			h.Write([]byte(path))
			d.Seed(cfg.Seed, h.Sum64())
		}
	})
	return m, nil
}
