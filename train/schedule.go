package train

import (
	"fmt"
	"math"
	"slices"
)

// The learning-rate schedules, each with torch.optim.lr_scheduler's
// semantics (train/testdata/schedules.json holds values computed by
// PyTorch 1.13; scripts/torch_sched_ref.py writes it).
const (
	// SchedulePlateau is ReduceLROnPlateau(mode="max", factor,
	// patience, threshold 1e-4 rel, cooldown 0, min_lr 0) on the test
	// accuracy: the lecture's "divide by 10 when accuracy plateaus".
	SchedulePlateau = "plateau"
	// ScheduleStep is StepLR(step_size, gamma), or MultiStepLR(milestones,
	// gamma) when milestones are given.
	ScheduleStep = "step"
	// ScheduleCosine is CosineAnnealingLR(T_max = epochs - warm-up
	// epochs, eta_min 0).
	ScheduleCosine = "cosine"
	// ScheduleOneCycle is OneCycleLR(max_lr = LR, total_steps = epochs *
	// batches per epoch, pct_start 0.3, anneal_strategy "cos",
	// div_factor 25, final_div_factor 1e4), stepped after every batch,
	// with its momentum cycling between 0.95 and 0.85.
	ScheduleOneCycle = "onecycle"
	// ScheduleConstant keeps the learning rate.
	ScheduleConstant = "constant"
)

// Schedules lists the schedule names.
var Schedules = []string{SchedulePlateau, ScheduleStep, ScheduleCosine, ScheduleOneCycle, ScheduleConstant}

// ScheduleConfig describes a learning-rate schedule. Zero fields take
// PyTorch's defaults where PyTorch has one (see Defaults for the recipe's).
type ScheduleConfig struct {
	Kind string `json:"kind"`
	// LR is the base learning rate; for one-cycle it is max_lr.
	LR            float64 `json:"lr"`
	Epochs        int     `json:"epochs"`
	StepsPerEpoch int     `json:"steps_per_epoch"`

	// Factor is plateau's factor and Gamma step's; 0 means 0.1.
	Factor float64 `json:"factor,omitempty"`
	Gamma  float64 `json:"gamma,omitempty"`
	// Patience is plateau's number of epochs without improvement that
	// are tolerated before the learning rate is cut.
	Patience int `json:"patience"`
	// Threshold is plateau's relative improvement that counts; 0 means
	// 1e-4.
	Threshold float64 `json:"threshold,omitempty"`
	// StepSize is step's period in epochs; Milestones, when set, are
	// MultiStepLR's epochs instead.
	StepSize   int   `json:"step_size,omitempty"`
	Milestones []int `json:"milestones,omitempty"`

	// PctStart, DivFactor and FinalDivFactor are one-cycle's (0 means
	// 0.3, 25 and 1e4). NoCycleMomentum keeps the optimizer's momentum
	// (cycle_momentum=False); otherwise it goes from MaxMomentum down to
	// BaseMomentum and back (0 means 0.95 and 0.85).
	PctStart        float64 `json:"pct_start,omitempty"`
	DivFactor       float64 `json:"div_factor,omitempty"`
	FinalDivFactor  float64 `json:"final_div_factor,omitempty"`
	NoCycleMomentum bool    `json:"no_cycle_momentum,omitempty"`
	BaseMomentum    float64 `json:"base_momentum,omitempty"`
	MaxMomentum     float64 `json:"max_momentum,omitempty"`

	// WarmupEpochs of linear warm-up precede the other schedules (not
	// one-cycle, which warms up by itself), as torchvision's reference
	// scripts do: SequentialLR([LinearLR(start_factor=WarmupDecay,
	// total_iters=WarmupEpochs), main], milestones=[WarmupEpochs]), the
	// main schedule counting its epochs from the end of the warm-up. A
	// plateau schedule starts watching the accuracy after the warm-up.
	// WarmupDecay 0 means 0.01.
	WarmupEpochs int     `json:"warmup_epochs,omitempty"`
	WarmupDecay  float64 `json:"warmup_decay,omitempty"`
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// Validate reports impossible settings. StepsPerEpoch may be 0 (not
// known yet); NewScheduler needs it.
func (c ScheduleConfig) Validate() error {
	if !slices.Contains(Schedules, c.Kind) {
		return fmt.Errorf("unknown schedule %q (want one of %v)", c.Kind, Schedules)
	}
	if !(c.LR > 0) || math.IsInf(c.LR, 0) {
		return fmt.Errorf("learning rate must be positive, got %g", c.LR)
	}
	if c.Epochs <= 0 || c.StepsPerEpoch < 0 {
		return fmt.Errorf("schedule needs positive epochs and steps per epoch, got %d and %d", c.Epochs, c.StepsPerEpoch)
	}
	if c.Patience < 0 || c.StepSize < 0 || c.WarmupEpochs < 0 {
		return fmt.Errorf("patience (%d), step size (%d) and warm-up epochs (%d) cannot be negative", c.Patience, c.StepSize, c.WarmupEpochs)
	}
	if c.Factor < 0 || c.Factor >= 1 || c.Gamma < 0 {
		return fmt.Errorf("plateau factor must be in (0, 1) and gamma positive, got %g and %g", c.Factor, c.Gamma)
	}
	if c.WarmupDecay < 0 || c.WarmupDecay > 1 {
		return fmt.Errorf("warm-up decay must be in (0, 1], got %g", c.WarmupDecay)
	}
	if c.Kind == ScheduleOneCycle {
		if c.WarmupEpochs > 0 {
			return fmt.Errorf("one-cycle warms up by itself (pct_start): drop the warm-up epochs")
		}
		if p := orDefault(c.PctStart, 0.3); p <= 0 || p >= 1 {
			return fmt.Errorf("one-cycle pct_start must be in (0, 1), got %g", p)
		}
		if c.StepsPerEpoch > 0 && c.Epochs*c.StepsPerEpoch < 2 {
			return fmt.Errorf("one-cycle needs at least 2 steps, got %d", c.Epochs*c.StepsPerEpoch)
		}
	}
	if c.Kind == ScheduleCosine && c.Epochs-c.WarmupEpochs < 1 {
		return fmt.Errorf("cosine schedule needs more epochs (%d) than warm-up epochs (%d)", c.Epochs, c.WarmupEpochs)
	}
	for i, m := range c.Milestones {
		if m <= 0 || (i > 0 && m <= c.Milestones[i-1]) {
			return fmt.Errorf("milestones must be positive and increasing, got %v", c.Milestones)
		}
	}
	return nil
}

// SchedulerState is a scheduler's position and memory, saved in
// checkpoints.
type SchedulerState struct {
	Epoch int `json:"epoch"` // epochs completed (StepEpoch calls)
	Step  int `json:"step"`  // batches completed (StepBatch calls)
	// Plateau's memory, as ReduceLROnPlateau keeps it; Best is valid
	// when HaveBest (it starts at -inf, which JSON cannot hold).
	PlateauLR       float64 `json:"plateau_lr"`
	Best            float64 `json:"best"`
	HaveBest        bool    `json:"have_best"`
	NumBadEpochs    int     `json:"num_bad_epochs"`
	CooldownCounter int     `json:"cooldown_counter"`
}

// Scheduler computes the learning rate (and one-cycle's momentum) for
// every optimizer step. Epoch schedules change the rate between epochs
// (StepEpoch); one-cycle changes it after every batch (StepBatch).
type Scheduler struct {
	cfg ScheduleConfig
	st  SchedulerState
}

// NewScheduler returns a scheduler at the start of training.
func NewScheduler(cfg ScheduleConfig) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StepsPerEpoch <= 0 {
		return nil, fmt.Errorf("schedule needs a positive number of steps per epoch, got %d", cfg.StepsPerEpoch)
	}
	return &Scheduler{cfg: cfg, st: SchedulerState{PlateauLR: cfg.LR}}, nil
}

// State returns the scheduler's state for a checkpoint.
func (s *Scheduler) State() SchedulerState { return s.st }

// Restore sets the state saved by State.
func (s *Scheduler) Restore(st SchedulerState) { s.st = st }

// Config returns the schedule's configuration.
func (s *Scheduler) Config() ScheduleConfig { return s.cfg }

// StepBatch records a finished optimizer step.
func (s *Scheduler) StepBatch() { s.st.Step++ }

// StepEpoch records a finished epoch and its test accuracy (used by the
// plateau schedule only), like scheduler.step(metric) at the end of an
// epoch.
func (s *Scheduler) StepEpoch(accuracy float64) {
	done := s.st.Epoch
	s.st.Epoch++
	if s.cfg.Kind != SchedulePlateau || done < s.cfg.WarmupEpochs {
		return
	}
	st := &s.st
	threshold := orDefault(s.cfg.Threshold, 1e-4)
	if !st.HaveBest || accuracy > st.Best*(1+threshold) {
		st.Best, st.HaveBest = accuracy, true
		st.NumBadEpochs = 0
	} else {
		st.NumBadEpochs++
	}
	if st.CooldownCounter > 0 { // cooldown 0: never, kept for the state's sake
		st.CooldownCounter--
		st.NumBadEpochs = 0
	}
	if st.NumBadEpochs > s.cfg.Patience {
		nl := st.PlateauLR * orDefault(s.cfg.Factor, 0.1)
		if st.PlateauLR-nl > 1e-8 {
			st.PlateauLR = nl
		}
		st.NumBadEpochs = 0
	}
}

// LR returns the learning rate for the next optimizer step.
func (s *Scheduler) LR() float64 {
	c := s.cfg
	if c.Kind == ScheduleOneCycle {
		lr, _ := s.oneCycle()
		return lr
	}
	e := s.st.Epoch
	if e < c.WarmupEpochs {
		d := orDefault(c.WarmupDecay, 0.01)
		return c.LR * (d + (1-d)*float64(e)/float64(c.WarmupEpochs))
	}
	e -= c.WarmupEpochs
	gamma := orDefault(c.Gamma, 0.1)
	switch c.Kind {
	case SchedulePlateau:
		return s.st.PlateauLR
	case ScheduleStep:
		k := 0
		if len(c.Milestones) > 0 {
			for _, m := range c.Milestones {
				if e >= m {
					k++
				}
			}
		} else {
			k = e / c.stepSize()
		}
		return c.LR * math.Pow(gamma, float64(k))
	case ScheduleCosine:
		t := float64(c.Epochs - c.WarmupEpochs)
		return c.LR * (1 + math.Cos(math.Pi*float64(e)/t)) / 2
	}
	return c.LR
}

// stepSize is StepLR's period: StepSize, or a third of the run.
func (c ScheduleConfig) stepSize() int {
	if c.StepSize > 0 {
		return c.StepSize
	}
	return max(1, (c.Epochs-c.WarmupEpochs+2)/3)
}

// Momentum returns the momentum for the next step: one-cycle's cycled
// momentum, or base.
func (s *Scheduler) Momentum(base float64) float64 {
	if s.cfg.Kind != ScheduleOneCycle || s.cfg.NoCycleMomentum {
		return base
	}
	_, m := s.oneCycle()
	return m
}

// oneCycle is OneCycleLR.get_lr at the current step, two phases.
func (s *Scheduler) oneCycle() (lr, momentum float64) {
	c := s.cfg
	total := c.Epochs * c.StepsPerEpoch
	maxLR := c.LR
	initial := maxLR / orDefault(c.DivFactor, 25)
	minLR := initial / orDefault(c.FinalDivFactor, 1e4)
	maxM, baseM := orDefault(c.MaxMomentum, 0.95), orDefault(c.BaseMomentum, 0.85)
	end1 := orDefault(c.PctStart, 0.3)*float64(total) - 1
	end2 := float64(total - 1)
	step := float64(min(s.st.Step, total))
	cos := func(start, end, pct float64) float64 {
		return end + (start-end)/2*(math.Cos(math.Pi*pct)+1)
	}
	if step <= end1 && end1 > 0 {
		pct := step / end1
		return cos(initial, maxLR, pct), cos(maxM, baseM, pct)
	}
	pct := (step - end1) / (end2 - end1)
	return cos(maxLR, minLR, pct), cos(baseM, maxM, pct)
}
