package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/train"
)

func init() {
	commands = append(commands, newTrainCmd)
}

// recipeFlags are the flags that decide what a run computes, shared by
// train and experiment.
type recipeFlags struct {
	data                     string
	epochs, batch, size      int
	limitTrain, limitTest    int
	lr, momentum, wd, gamma  float64
	schedule                 string
	patience, stepSize       int
	milestones               []int
	warmup                   int
	warmupDecay              float64
	nesterov, noDecayBNBias  bool
	labelSmoothing, auxW     float64
	noAugment, strictImages  bool
	seed                     uint64
	workers, threads         int
	quiet                    bool
	cpuProfile               string
	defaultEpochsOnEmbedded  int
	defaultEpochsOnOtherData int
}

func (f *recipeFlags) register(cmd *cobra.Command) {
	d := train.Defaults()
	fs := cmd.Flags()
	fs.StringVar(&f.data, "data", "", "dataset directory: MNIST-style IDX files, CIFAR-10/100 binaries, or an ImageFolder root with train/ and val/ (default: the embedded Fashion-MNIST subset)")
	fs.IntVar(&f.epochs, "epochs", 0, fmt.Sprintf("epochs to train (default %d on the embedded subset, %d otherwise)", f.defaultEpochsOnEmbedded, f.defaultEpochsOnOtherData))
	fs.IntVar(&f.batch, "batch", d.BatchSize, "batch size")
	fs.Float64Var(&f.lr, "lr", d.Schedule.LR, "learning rate (the peak for onecycle)")
	fs.StringVar(&f.schedule, "schedule", d.Schedule.Kind, "learning-rate schedule: "+strings.Join(train.Schedules, ", "))
	fs.IntVar(&f.patience, "patience", d.Schedule.Patience, "plateau: epochs without a better test accuracy before the rate is cut")
	fs.Float64Var(&f.gamma, "gamma", 0.1, "factor the rate is multiplied by at a plateau or a step")
	fs.IntVar(&f.stepSize, "step-size", 0, "step: epochs between cuts (default a third of the run)")
	fs.IntSliceVar(&f.milestones, "milestones", nil, "step: epochs at which to cut (instead of --step-size)")
	fs.IntVar(&f.warmup, "warmup-epochs", 0, "epochs of linear warm-up (not with onecycle)")
	fs.Float64Var(&f.warmupDecay, "warmup-decay", 0.01, "warm-up's starting fraction of the rate")
	fs.Float64Var(&f.momentum, "momentum", d.Momentum, "SGD momentum")
	fs.BoolVar(&f.nesterov, "nesterov", false, "Nesterov momentum")
	fs.Float64Var(&f.wd, "weight-decay", d.WeightDecay, "L2 weight decay")
	fs.BoolVar(&f.noDecayBNBias, "no-decay-bn-bias", false, "no weight decay on BatchNorm weights and biases")
	fs.Float64Var(&f.labelSmoothing, "label-smoothing", 0, "cross-entropy label smoothing")
	fs.Float64Var(&f.auxW, "aux-weight", d.AuxWeight, "weight of the auxiliary classifiers' losses (GoogLeNet, Inception v3)")
	fs.BoolVar(&f.noAugment, "no-augment", false, "no random crops and flips")
	fs.IntVar(&f.size, "size", 0, "resize and crop images to this side (default: the data's own, or the model's input for ImageFolder)")
	fs.BoolVar(&f.strictImages, "strict-images", false, "stop at an unreadable image instead of skipping it")
	fs.IntVar(&f.limitTrain, "limit-train", 0, "use only this many training images, evenly spaced (0: all)")
	fs.IntVar(&f.limitTest, "limit-test", 0, "use only this many test images (0: all)")
	fs.Uint64Var(&f.seed, "seed", d.Seed, "seed of the weights, batch order, augmentation and dropout")
	fs.IntVar(&f.workers, "workers", 0, "goroutines preparing batches (default min(4, GOMAXPROCS))")
	fs.IntVar(&f.threads, "threads", 0, "kernel threads (GOMAXPROCS; default all cores). A bit-exact resume needs the same number")
	fs.BoolVar(&f.quiet, "quiet", false, "no progress bar")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile (pprof) of the run to this file")
}

// config returns the run's Config for model.
func (f *recipeFlags) config(model string) train.Config {
	c := train.Defaults()
	c.Model = model
	c.Data = f.data
	c.Epochs = f.epochs
	if c.Epochs == 0 {
		c.Epochs = f.defaultEpochsOnOtherData
		if f.data == "" {
			c.Epochs = f.defaultEpochsOnEmbedded
		}
	}
	c.BatchSize, c.Size = f.batch, f.size
	c.LimitTrain, c.LimitTest = f.limitTrain, f.limitTest
	c.Augment = !f.noAugment
	c.StrictImages = f.strictImages
	c.Seed = f.seed
	c.Momentum, c.Nesterov, c.WeightDecay, c.NoDecayNormBias = f.momentum, f.nesterov, f.wd, f.noDecayBNBias
	c.LabelSmoothing, c.AuxWeight = f.labelSmoothing, f.auxW
	c.Schedule = train.ScheduleConfig{Kind: f.schedule, LR: f.lr, Patience: f.patience, Factor: f.gamma, Gamma: f.gamma,
		StepSize: f.stepSize, Milestones: f.milestones, WarmupEpochs: f.warmup, WarmupDecay: f.warmupDecay}
	return c
}

// start applies --threads and --cpuprofile; the returned function stops
// the profile.
func (f *recipeFlags) start() (stop func(), err error) {
	if f.threads < 0 {
		return nil, fmt.Errorf("--threads must be positive, got %d", f.threads)
	}
	if f.threads > 0 {
		runtime.GOMAXPROCS(f.threads)
	}
	if os.Getenv("GOGC") == "" {
		// Training's heap is a step's activations (recycled from step to
		// step) and little else; Go's default lets garbage grow to the
		// live size before a collection, which would double the peak
		// memory. The buffers hold no pointers, so collecting more often
		// costs next to nothing.
		debug.SetGCPercent(20)
	}
	if f.cpuProfile == "" {
		return func() {}, nil
	}
	pf, err := os.Create(f.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); pf.Close() }, nil
}

// defaultRunDir is runs/<prefix><timestamp>, made unique.
func defaultRunDir(prefix string) string {
	base := filepath.Join("runs", prefix+time.Now().Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return dir
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}

// The flags a resumed run may change: they do not change what it
// computes.
var resumeFlags = map[string]bool{"resume": true, "epochs": true, "workers": true, "threads": true, "quiet": true, "cpuprofile": true}

func newTrainCmd() *cobra.Command {
	f := &recipeFlags{defaultEpochsOnEmbedded: 8, defaultEpochsOnOtherData: 30}
	var out, resume string
	cmd := &cobra.Command{
		Use:   "train [MODEL]",
		Short: "Train a model with the lecture's recipe (default: resnet20 on embedded Fashion-MNIST)",
		Long: `train trains MODEL (default resnet20) with the lecture's recipe: SGD with
momentum 0.9 and weight decay 5e-4, learning rate 0.01 divided by 10 when the
test accuracy stops improving (--schedule plateau; also step, cosine and
onecycle, with PyTorch's semantics), batch 128, random crops and flips,
BatchNorm and dropout in training mode, auxiliary losses for GoogLeNet and
Inception v3.

--data takes an MNIST-style IDX directory (e.g. /usr/share/datasets/fashion-mnist),
a CIFAR-10 or CIFAR-100 binary directory, or an ImageFolder root with train/ and
val/ sub-folders; without it, the Fashion-MNIST subset built into the binary
(6000 training and 1000 test images) is used and no download is needed: 8
epochs by default, the learning rate cut after two epochs without a better
test accuracy (--patience 1; 2 otherwise), about two minutes on two cores.

The run directory (--out, default runs/<timestamp>) receives metrics.jsonl
(one JSON object per epoch), a checkpoint after every epoch (written
atomically), and at the end model.safetensors, error.png and error.svg
(training and test error per epoch) and filters.png (the first layer's
filters). --resume RUN_DIR continues a stopped run from its last checkpoint
and ends with the same weights, bit for bit, as a run never stopped (with the
same --threads).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			w, ew := cmd.OutOrStdout(), cmd.ErrOrStderr()
			if f.epochs < 0 {
				return fmt.Errorf("--epochs must be positive, got %d", f.epochs)
			}
			stopProfile, err := f.start()
			if err != nil {
				return err
			}
			defer stopProfile()
			prog := newBarProgress(ew, f.quiet, w)
			opts := train.Options{Progress: prog, Workers: f.workers, Warn: prog.warn}
			var tr *train.Trainer
			if resume != "" {
				var changed []string
				cmd.Flags().Visit(func(fl *pflag.Flag) {
					if !resumeFlags[fl.Name] {
						changed = append(changed, "--"+fl.Name)
					}
				})
				if len(args) > 0 || len(changed) > 0 {
					return fmt.Errorf("--resume continues the run as it was configured: drop %s", strings.Join(append(args, changed...), " "))
				}
				if tr, err = train.Resume(resume, f.epochs, opts); err != nil {
					return err
				}
				fmt.Fprintf(w, "resuming %s after epoch %d of %d\n", resume, tr.Epoch(), tr.Config().Epochs)
			} else {
				model := "resnet20"
				if len(args) == 1 {
					model = args[0]
				}
				if _, err := models.Lookup(model); err != nil {
					return err
				}
				if out == "" {
					out = defaultRunDir("")
				}
				if f.data == "" && !cmd.Flags().Changed("patience") {
					// The embedded subset's short run: its test error is
					// noisy enough that patience 2 rarely fires in 8 epochs.
					f.patience = 1
				}
				opts.RunDir = out
				if tr, err = train.New(f.config(model), opts); err != nil {
					return err
				}
			}
			describeRun(w, tr, opts.RunDir, resume)
			r, err := tr.Run(ctx)
			prog.clear()
			dir := resume
			if dir == "" {
				dir = out
			}
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("interrupted; the last checkpoint is in %s: continue with 'convnet train --resume %s'", dir, dir)
				}
				return err
			}
			printResult(w, r)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "run directory (default runs/<timestamp>)")
	cmd.Flags().StringVar(&resume, "resume", "", "continue the run in this directory from its last checkpoint")
	return cmd
}

func describeRun(w io.Writer, tr *train.Trainer, dir, resume string) {
	c := tr.Config()
	ds := tr.Data()
	if resume != "" {
		dir = resume
	}
	fmt.Fprintf(w, "training %s on %s: %d classes, %d epochs, batch %d, run directory %s\n",
		c.Model, ds.Name(), len(ds.Classes), c.Epochs, c.BatchSize, dir)
	nest := ""
	if c.Nesterov {
		nest = " (Nesterov)"
	}
	fmt.Fprintf(w, "SGD lr %g momentum %g%s weight decay %g, %s schedule\n", c.Schedule.LR, c.Momentum, nest, c.WeightDecay, c.Schedule.Kind)
}

func printResult(w io.Writer, r *train.Result) {
	m := r.Final
	fmt.Fprintf(w, "test accuracy %.2f%% (error %.2f%%) after %d epochs\n", 100*(1-m.TestErr), 100*m.TestErr, m.Epoch)
	if r.Skipped > 0 {
		fmt.Fprintf(w, "%d unreadable images were skipped\n", r.Skipped)
	}
	fmt.Fprintf(w, "plots: %s %s\n", r.ErrorPNG, r.ErrorSVG)
	if r.FiltersPNG != "" {
		fmt.Fprintf(w, "first-layer filters: %s\n", r.FiltersPNG)
	}
	fmt.Fprintf(w, "weights: %s, metrics: %s\n", r.Weights, filepath.Join(r.RunDir, "metrics.jsonl"))
}

func epochLine(m train.EpochMetrics, epochs int) string {
	return fmt.Sprintf("epoch %d/%d  train loss %.4f err %.2f%%  test loss %.4f err %.2f%%  lr %.3g  %.1f s  %.0f img/s",
		m.Epoch, epochs, m.TrainLoss, 100*m.TrainErr, m.TestLoss, 100*m.TestErr, m.LR, m.Seconds, m.ImgPerS)
}

// barProgress draws a progress bar on a terminal (images/s, loss, ETA)
// and prints one line per epoch to out. Warnings may come from the
// loader's goroutines, hence the lock.
type barProgress struct {
	mu        sync.Mutex
	errw, out io.Writer
	tty       bool
	bar       *progressbar.ProgressBar
	epoch     int
	epochs    int
	imgs      int
	t0        time.Time
	prefix    string // printed before epoch lines and warnings
}

func newBarProgress(errw io.Writer, quiet bool, out io.Writer) *barProgress {
	p := &barProgress{errw: errw, out: out}
	if f, ok := errw.(*os.File); ok && !quiet && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

func (p *barProgress) EpochStart(epoch, epochs, batches int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.epoch, p.epochs = epoch, epochs
	if !p.tty {
		return
	}
	// One unit more than the batches: the test pass after them.
	p.bar = progressbar.NewOptions(batches+1,
		progressbar.OptionSetWriter(p.errw),
		progressbar.OptionSetDescription(fmt.Sprintf("epoch %d/%d", epoch, epochs)),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish(),
	)
	p.bar.RenderBlank()
	p.imgs, p.t0 = 0, time.Now()
}

func (p *barProgress) Batch(batch, images int, loss float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar == nil {
		return
	}
	p.imgs += images
	rate := float64(p.imgs) / time.Since(p.t0).Seconds()
	p.bar.Describe(fmt.Sprintf("epoch %d/%d loss %.4f %.0f img/s", p.epoch, p.epochs, loss, rate))
	p.bar.Add(1)
}

func (p *barProgress) Evaluating() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Describe(fmt.Sprintf("epoch %d/%d testing", p.epoch, p.epochs))
		p.bar.RenderBlank()
	}
}

func (p *barProgress) EpochEnd(m train.EpochMetrics) {
	p.clear()
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.out, p.prefix+epochLine(m, p.epochs))
}

func (p *barProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
		p.bar.Clear()
		p.bar = nil
	}
}

func (p *barProgress) warn(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Clear()
	}
	fmt.Fprintln(p.errw, "warning: "+p.prefix+msg)
}
