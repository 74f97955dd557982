package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/convnet/convnet/autograd"
	"github.com/convnet/convnet/data"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/optim"
	"github.com/convnet/convnet/tensor/kernels"
	"github.com/convnet/convnet/weights"
)

// Progress receives a run's events; the command line draws its progress
// bar from them. Methods are called from the training goroutine.
type Progress interface {
	// EpochStart: epoch is 1-based, batches the number of batches in
	// an epoch.
	EpochStart(epoch, epochs, batches int)
	// Batch follows every optimizer step: batch is 1-based, images the
	// batch's size, loss its mean loss.
	Batch(batch, images int, loss float64)
	// Evaluating marks the start of the test pass.
	Evaluating()
	EpochEnd(m EpochMetrics)
}

type noProgress struct{}

func (noProgress) EpochStart(int, int, int) {}
func (noProgress) Batch(int, int, float64)  {}
func (noProgress) Evaluating()              {}
func (noProgress) EpochEnd(EpochMetrics)    {}

// Options are the parts of a run that do not change what it computes.
type Options struct {
	// RunDir receives metrics.jsonl, checkpoints, the final weights and
	// the figures.
	RunDir string
	// Progress may be nil.
	Progress Progress
	// Warn receives warnings (skipped images, a thread count that differs
	// from the checkpoint's); nil drops them.
	Warn func(string)
	// Workers is the number of goroutines preparing batches (0: the
	// loader's default).
	Workers int
}

// Result is what a finished run produced.
type Result struct {
	RunDir  string
	History []EpochMetrics
	// Final is the last epoch's metrics.
	Final EpochMetrics
	// Files written at the end: final weights, error curves, filters.
	Weights, ErrorPNG, ErrorSVG, FiltersPNG string
	// Skipped counts unreadable images left out.
	Skipped int
}

// NonFiniteLossError stops a run whose loss became NaN or infinite.
type NonFiniteLossError struct {
	Loss         float64
	Step         int // 1-based optimizer step that produced it
	Epoch, Batch int // 1-based
	// LastGood is the number of epochs in the checkpoint left in the run
	// directory (0: none was written).
	LastGood int
	RunDir   string
}

func (e *NonFiniteLossError) Error() string {
	kept := "no checkpoint was written yet"
	if e.LastGood > 0 {
		kept = fmt.Sprintf("the last good checkpoint (after epoch %d) is kept in %s", e.LastGood, e.RunDir)
	}
	return fmt.Sprintf("loss is %v at step %d (epoch %d, batch %d): training stopped; %s", e.Loss, e.Step, e.Epoch, e.Batch, kept)
}

// auxForwarder is implemented by models with auxiliary classifiers.
type auxForwarder interface {
	ForwardAux(x *autograd.Value) (*autograd.Value, []*autograd.Value, error)
}

// newModel builds the model; tests replace it with small nets.
var newModel = func(cfg Config, classes, channels int) (nn.Module, error) {
	return models.New(cfg.Model, models.NumClasses(classes), models.InChannels(channels), models.Seed(cfg.Seed))
}

// Trainer runs the training loop of one run directory.
type Trainer struct {
	cfg    Config
	opts   Options
	data   *Dataset
	train  data.Dataset
	test   data.Dataset
	model  nn.Module
	opt    *optim.SGD
	sched  *Scheduler
	loader *data.Loader
	testLd *data.Loader

	epoch, step int
	history     []EpochMetrics
	progress    Progress

	// beforeStep, when set (by tests), runs before each optimizer step
	// with the 1-based step number.
	beforeStep func(step int)
}

// New prepares a fresh run in opts.RunDir (created if needed; it must not
// hold a checkpoint already).
func New(cfg Config, opts Options) (*Trainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.RunDir == "" {
		return nil, errors.New("train: no run directory")
	}
	if _, err := os.Stat(filepath.Join(opts.RunDir, checkpointJSON)); err == nil {
		return nil, fmt.Errorf("train: %s already holds a run: resume it (--resume %s) or choose another directory", opts.RunDir, opts.RunDir)
	}
	if err := os.MkdirAll(opts.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	t, err := setup(cfg, opts)
	if err != nil {
		return nil, err
	}
	// A fresh run starts a fresh metrics file.
	if err := writeFileAtomic(filepath.Join(opts.RunDir, "metrics.jsonl"), func(io.Writer) error { return nil }); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return t, nil
}

// Resume continues the run in runDir from its checkpoint: the model, the
// optimizer's momentum, the scheduler, the loader's position and every
// random generator are restored, so that the run ends with the same
// weights, bit for bit, as one never interrupted (with the same number of
// kernel threads). epochs, when positive, changes the number of epochs
// (not for cosine and one-cycle, whose shape depends on it).
func Resume(runDir string, epochs int, opts Options) (*Trainer, error) {
	st, err := readCheckpointState(runDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("train: %s has no %s to resume from (%w)", runDir, checkpointJSON, errNoCheckpoint)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	cfg := st.Config
	if epochs > 0 && epochs != cfg.Epochs {
		if k := cfg.Schedule.Kind; k == ScheduleCosine || k == ScheduleOneCycle {
			return nil, fmt.Errorf("train: cannot change the epochs of a %s schedule on resume (%d to %d): its shape depends on them", k, cfg.Epochs, epochs)
		}
		if epochs < st.Epoch {
			return nil, fmt.Errorf("train: the checkpoint has %d epochs already, more than %d", st.Epoch, epochs)
		}
		cfg.Epochs = epochs
	}
	opts.RunDir = runDir
	t, err := setup(cfg, opts)
	if err != nil {
		return nil, err
	}
	if th := kernels.Workers(); st.Threads != 0 && th != st.Threads {
		t.warn(fmt.Sprintf("the checkpoint was written with %d kernel threads, this process has %d: the run continues, but not bit for bit as it would have", st.Threads, th))
	}
	sd, err := loadCheckpointTensors(runDir, st)
	if err != nil {
		return nil, err
	}
	if err := restoreTensors(sd, t.model, t.opt); err != nil {
		return nil, err
	}
	if err := restoreDropout(t.model, st.Dropout); err != nil {
		return nil, err
	}
	if err := t.loader.Restore(st.Loader); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	t.sched.Restore(st.Scheduler)
	t.epoch, t.step = st.Epoch, st.Step
	t.history = append([]EpochMetrics(nil), st.History...)
	// Lines written after the checkpoint (an epoch that was cut short)
	// are dropped: metrics.jsonl is the checkpoint's history.
	err = writeFileAtomic(filepath.Join(runDir, "metrics.jsonl"), func(w io.Writer) error { return writeMetrics(w, t.history) })
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return t, nil
}

// setup opens the data and builds the model, optimizer, scheduler and
// loaders of a run at its start.
func setup(cfg Config, opts Options) (*Trainer, error) {
	t := &Trainer{cfg: cfg, opts: opts, progress: opts.Progress}
	if t.progress == nil {
		t.progress = noProgress{}
	}
	ds, err := OpenData(cfg.Data, DataOptions{StrictImages: cfg.StrictImages, Warn: t.warn})
	if err != nil {
		return nil, err
	}
	t.data = ds
	t.train, t.test = limit(ds.Train, cfg.LimitTrain), limit(ds.Test, cfg.LimitTest)
	if t.train.Len() == 0 || t.test.Len() == 0 {
		return nil, fmt.Errorf("train: empty dataset (%d training and %d test samples)", t.train.Len(), t.test.Len())
	}
	input := 224
	if spec, err := models.Lookup(cfg.Model); err == nil {
		input = spec.Input
	}
	trainT, testT := ds.Transforms(cfg.Size, input, cfg.Augment)
	t.model, err = newModel(cfg, len(ds.Classes), ds.Channels)
	if err != nil {
		return nil, err
	}
	params := nn.Parameters(t.model)
	t.opt, err = optim.NewSGD(params, float32(cfg.Schedule.LR), float32(cfg.Momentum), float32(cfg.WeightDecay), cfg.Nesterov)
	if err != nil {
		return nil, err
	}
	if cfg.NoDecayNormBias {
		for _, p := range params {
			if p.Value.T.Dim() <= 1 {
				t.opt.NoDecay[p.Key] = true
			}
		}
	}
	t.loader, err = data.NewLoader(t.train, data.LoaderOptions{BatchSize: cfg.BatchSize, Shuffle: true, Seed: cfg.Seed,
		Transform: trainT, Workers: opts.Workers})
	if err != nil {
		return nil, err
	}
	t.testLd, err = data.NewLoader(t.test, data.LoaderOptions{BatchSize: cfg.BatchSize, Seed: cfg.Seed, Transform: testT, Workers: opts.Workers})
	if err != nil {
		return nil, err
	}
	sc := cfg.Schedule
	sc.Epochs, sc.StepsPerEpoch = cfg.Epochs, t.loader.Len()
	if t.sched, err = NewScheduler(sc); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Trainer) warn(msg string) {
	if t.opts.Warn != nil {
		t.opts.Warn(msg)
	}
}

// Model returns the model being trained.
func (t *Trainer) Model() nn.Module { return t.model }

// Config returns the run's configuration.
func (t *Trainer) Config() Config { return t.cfg }

// Data returns the run's dataset.
func (t *Trainer) Data() *Dataset { return t.data }

// Epoch returns the number of completed epochs.
func (t *Trainer) Epoch() int { return t.epoch }

// Close stops the loaders' goroutines.
func (t *Trainer) Close() error {
	t.loader.Close()
	t.testLd.Close()
	return nil
}

// Run trains until the configured number of epochs is done, writing a
// checkpoint and a metrics line after every epoch, and the final weights
// and figures at the end. When ctx is cancelled the run stops at once;
// the last checkpoint (the last completed epoch) stays and Resume
// continues from it.
func (t *Trainer) Run(ctx context.Context) (*Result, error) {
	defer t.Close()
	for t.epoch < t.cfg.Epochs {
		m, err := t.runEpoch(ctx)
		if err != nil {
			return nil, err
		}
		t.history = append(t.history, m)
		if err := t.checkpoint(); err != nil {
			return nil, err // the previous checkpoint is intact
		}
		if err := appendMetrics(filepath.Join(t.opts.RunDir, "metrics.jsonl"), m); err != nil {
			return nil, fmt.Errorf("train: metrics: %w", err)
		}
		t.progress.EpochEnd(m)
	}
	return t.finish()
}

func (t *Trainer) runEpoch(ctx context.Context) (EpochMetrics, error) {
	epoch := t.epoch + 1
	nb := t.loader.Len()
	t.progress.EpochStart(epoch, t.cfg.Epochs, nb)
	nn.SetTraining(t.model, true)
	start := time.Now()
	var lossSum float64
	var wrong, seen int
	classes := len(t.data.Classes)
	lr := t.sched.LR()
	for batch := 1; ; batch++ {
		if err := ctx.Err(); err != nil {
			return EpochMetrics{}, err
		}
		b, err := t.loader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return EpochMetrics{}, fmt.Errorf("train: %w", err)
		}
		n := len(b.Labels)
		if n == 0 { // every sample of the batch was skipped
			t.step++
			t.sched.StepBatch()
			continue
		}
		for k, l := range b.Labels {
			if l < 0 || l >= classes {
				return EpochMetrics{}, fmt.Errorf("train: %s of the training set has label %d, outside [0, %d) (%w)", describe(t.train, b.Indices[k]), l, classes, errBadLabel)
			}
		}
		lr = t.sched.LR()
		t.opt.LR = float32(lr)
		t.opt.Momentum = float32(t.sched.Momentum(t.cfg.Momentum))
		if t.beforeStep != nil {
			t.beforeStep(t.step + 1)
		}
		loss, out, err := t.forwardLoss(b)
		if err != nil {
			return EpochMetrics{}, fmt.Errorf("train: epoch %d batch %d: %w", epoch, batch, err)
		}
		lv := float64(loss.T.Data[0])
		if math.IsNaN(lv) || math.IsInf(lv, 0) {
			return EpochMetrics{}, &NonFiniteLossError{Loss: lv, Step: t.step + 1, Epoch: epoch, Batch: batch, LastGood: t.epoch, RunDir: t.opts.RunDir}
		}
		t.opt.ZeroGrad()
		// The step's activations and gradients go back to the tensor
		// pool for the next step; only the logits are read afterwards.
		if err := loss.BackwardRelease(out); err != nil {
			return EpochMetrics{}, fmt.Errorf("train: epoch %d batch %d: backward: %w", epoch, batch, err)
		}
		t.opt.Step()
		t.step++
		t.sched.StepBatch()
		lossSum += lv * float64(n)
		wrong += countWrong(out.T.Data, b.Labels, out.T.Shape[1])
		seen += n
		t.progress.Batch(batch, n, lv)
	}
	trainTime := time.Since(start)
	t.progress.Evaluating()
	testLoss, testErr, err := t.evaluate(ctx)
	if err != nil {
		return EpochMetrics{}, err
	}
	t.sched.StepEpoch(1 - testErr)
	t.epoch++
	m := EpochMetrics{Epoch: epoch, TestLoss: testLoss, TestErr: testErr, LR: lr, Step: t.step,
		Seconds: time.Since(start).Seconds(), Skipped: t.data.Skipped()}
	if seen > 0 {
		m.TrainLoss, m.TrainErr = lossSum/float64(seen), float64(wrong)/float64(seen)
		m.ImgPerS = float64(seen) / trainTime.Seconds()
	}
	return m, nil
}

// forwardLoss runs the model in training mode and returns the loss (with
// the auxiliary classifiers' losses when the model has them) and the main
// logits.
func (t *Trainer) forwardLoss(b *data.Batch) (loss, out *autograd.Value, err error) {
	x := autograd.Input(b.X, nil, false)
	ls := float32(t.cfg.LabelSmoothing)
	var aux []*autograd.Value
	if fa, ok := t.model.(auxForwarder); ok {
		out, aux, err = fa.ForwardAux(x)
	} else {
		out, err = nn.Run(t.model, x, nil)
	}
	if err != nil {
		return nil, nil, err
	}
	if loss, err = autograd.CrossEntropy(out, b.Labels, ls); err != nil {
		return nil, nil, err
	}
	for _, a := range aux {
		al, err := autograd.CrossEntropy(a, b.Labels, ls)
		if err != nil {
			return nil, nil, fmt.Errorf("auxiliary classifier: %w", err)
		}
		if loss, err = autograd.Add(loss, autograd.Scale(al, float32(t.cfg.AuxWeight))); err != nil {
			return nil, nil, err
		}
	}
	return loss, out, nil
}

// evaluate runs the test set in evaluation mode and returns the mean loss
// and the error rate.
func (t *Trainer) evaluate(ctx context.Context) (loss, errRate float64, err error) {
	nn.SetTraining(t.model, false)
	defer nn.SetTraining(t.model, true)
	classes := len(t.data.Classes)
	var sum float64
	var wrong, seen int
	for {
		if err := ctx.Err(); err != nil {
			return 0, 0, err
		}
		b, err := t.testLd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, fmt.Errorf("train: test set: %w", err)
		}
		if len(b.Labels) == 0 {
			continue
		}
		for k, l := range b.Labels {
			if l < 0 || l >= classes {
				return 0, 0, fmt.Errorf("train: %s of the test set has label %d, outside [0, %d) (%w)", describe(t.test, b.Indices[k]), l, classes, errBadLabel)
			}
		}
		out, err := nn.Infer(t.model, autograd.Input(b.X, nil, false))
		if err != nil {
			return 0, 0, fmt.Errorf("train: test set: %w", err)
		}
		l, err := autograd.CrossEntropy(out, b.Labels, float32(t.cfg.LabelSmoothing))
		if err != nil {
			return 0, 0, err
		}
		sum += float64(l.T.Data[0]) * float64(len(b.Labels))
		wrong += countWrong(out.T.Data, b.Labels, out.T.Shape[1])
		seen += len(b.Labels)
	}
	if seen == 0 {
		return 0, 0, errors.New("train: every test image was skipped")
	}
	return sum / float64(seen), float64(wrong) / float64(seen), nil
}

// countWrong counts rows of logits whose arg-max (first on ties, as
// torch.argmax) is not the label.
func countWrong(logits []float32, labels []int, c int) int {
	wrong := 0
	for i, l := range labels {
		row := logits[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best != l {
			wrong++
		}
	}
	return wrong
}

func (t *Trainer) checkpoint() error {
	st := &checkpointState{
		Epoch: t.epoch, Step: t.step, Config: t.cfg, Scheduler: t.sched.State(),
		Loader: t.loader.State(), History: t.history, Threads: kernels.Workers(), Classes: t.data.Classes,
	}
	var err error
	if st.Dropout, err = dropoutStates(t.model); err != nil {
		return err
	}
	return saveCheckpoint(t.opts.RunDir, st, t.model, t.opt)
}

// dropoutStates returns every Dropout layer's generator state by path.
func dropoutStates(m nn.Module) (map[string][]byte, error) {
	out := map[string][]byte{}
	var err error
	nn.Walk(m, func(path string, l nn.Module) {
		d, ok := l.(*nn.Dropout)
		if !ok || err != nil || d.Source == nil {
			return
		}
		var b []byte
		if b, err = d.Source.MarshalBinary(); err != nil {
			err = fmt.Errorf("train: dropout %s: %w", path, err)
		}
		out[path] = b
	})
	return out, err
}

func restoreDropout(m nn.Module, states map[string][]byte) error {
	var err error
	nn.Walk(m, func(path string, l nn.Module) {
		d, ok := l.(*nn.Dropout)
		if !ok || err != nil || d.Source == nil {
			return
		}
		b, ok := states[path]
		if !ok {
			err = fmt.Errorf("train: checkpoint has no generator state for dropout %s", path)
			return
		}
		if e := d.Source.UnmarshalBinary(b); e != nil {
			err = fmt.Errorf("train: dropout %s: %w", path, e)
		}
	})
	return err
}

// finish writes the final weights and the figures.
func (t *Trainer) finish() (*Result, error) {
	dir := t.opts.RunDir
	r := &Result{RunDir: dir, History: t.history, Skipped: t.data.Skipped(),
		Weights:    filepath.Join(dir, "model.safetensors"),
		ErrorPNG:   filepath.Join(dir, "error.png"),
		ErrorSVG:   filepath.Join(dir, "error.svg"),
		FiltersPNG: filepath.Join(dir, "filters.png")}
	if n := len(t.history); n > 0 {
		r.Final = t.history[n-1]
	}
	meta := map[string]string{"model": t.cfg.Model, "epochs": fmt.Sprint(t.epoch)}
	if cj, err := json.Marshal(t.cfg); err == nil {
		meta["config"] = string(cj)
	}
	if err := weights.SaveSafetensors(r.Weights, modelStateDict(t.model), meta); err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	curve := Curve{Name: t.cfg.Model}
	for _, m := range t.history {
		curve.Train = append(curve.Train, 100*m.TrainErr)
		curve.Test = append(curve.Test, 100*m.TestErr)
	}
	title := fmt.Sprintf("%s on %s", t.cfg.Model, t.data.Name())
	if err := PlotErrors(filepath.Join(dir, "error"), title, []Curve{curve}); err != nil {
		return nil, fmt.Errorf("train: plot: %w", err)
	}
	if err := SaveFilters(r.FiltersPNG, t.model); err != nil {
		r.FiltersPNG = "" // a model without a convolution
	}
	return r, nil
}

// Name describes the dataset for titles.
func (d *Dataset) Name() string {
	switch d.Kind {
	case KindEmbedded:
		return "Fashion-MNIST (embedded subset)"
	case KindIDX:
		return filepath.Base(d.Root)
	case KindCIFAR10:
		return "CIFAR-10"
	case KindCIFAR100:
		return "CIFAR-100"
	}
	return filepath.Base(filepath.Clean(d.Root))
}
