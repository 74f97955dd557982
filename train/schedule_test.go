package train

import (
	"encoding/json"
	"math"
	"os"
	"testing"
)

// schedRef is train/testdata/schedules.json, written by
// scripts/torch_sched_ref.py with PyTorch's schedulers.
type schedRef struct {
	Torch string `json:"torch"`
	Cases []struct {
		Name     string         `json:"name"`
		Config   ScheduleConfig `json:"config"`
		Metrics  []float64      `json:"metrics"`
		LR       []float64      `json:"lr"`
		Momentum []float64      `json:"momentum"`
	} `json:"cases"`
}

func close(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12+1e-9*math.Abs(b)
}

func TestSchedulesMatchPyTorch(t *testing.T) {
	b, err := os.ReadFile("testdata/schedules.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref schedRef
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Cases) < 10 {
		t.Fatalf("only %d cases", len(ref.Cases))
	}
	for _, c := range ref.Cases {
		t.Run(c.Name, func(t *testing.T) {
			s, err := NewScheduler(c.Config)
			if err != nil {
				t.Fatal(err)
			}
			if c.Config.Kind == ScheduleOneCycle {
				if len(c.LR) != c.Config.Epochs*c.Config.StepsPerEpoch {
					t.Fatalf("%d values for %d steps", len(c.LR), c.Config.Epochs*c.Config.StepsPerEpoch)
				}
				for i, want := range c.LR {
					if got := s.LR(); !close(got, want) {
						t.Errorf("step %d: lr %.17g, torch %.17g", i, got, want)
					}
					if got, want := s.Momentum(0.9), c.Momentum[i]; !close(got, want) {
						t.Errorf("step %d: momentum %.17g, torch %.17g", i, got, want)
					}
					s.StepBatch()
					if (i+1)%c.Config.StepsPerEpoch == 0 {
						s.StepEpoch(0.5) // ignored by one-cycle
					}
				}
				return
			}
			if len(c.LR) != c.Config.Epochs {
				t.Fatalf("%d values for %d epochs", len(c.LR), c.Config.Epochs)
			}
			for e, want := range c.LR {
				for range c.Config.StepsPerEpoch {
					if got := s.LR(); !close(got, want) {
						t.Fatalf("epoch %d: lr %.17g, torch %.17g", e, got, want)
					}
					if got := s.Momentum(0.9); got != 0.9 {
						t.Fatalf("epoch %d: momentum %g changed by a %s schedule", e, got, c.Config.Kind)
					}
					s.StepBatch()
				}
				acc := 0.0
				if c.Metrics != nil {
					acc = c.Metrics[e]
				}
				s.StepEpoch(acc)
			}
		})
	}
}

// A scheduler restored from its state (through JSON, as in a checkpoint)
// continues exactly as the original.
func TestSchedulerStateRoundTrip(t *testing.T) {
	accs := []float64{0.5, 0.6, 0.6, 0.6, 0.6, 0.7, 0.7, 0.7, 0.7, 0.7}
	for _, kind := range Schedules {
		cfg := ScheduleConfig{Kind: kind, LR: 0.1, Epochs: 10, StepsPerEpoch: 3, Patience: 1, WarmupEpochs: 1}
		if kind == ScheduleOneCycle {
			cfg.WarmupEpochs = 0
		}
		a, err := NewScheduler(cfg)
		if err != nil {
			t.Fatal(kind, err)
		}
		var b *Scheduler
		for e := range 10 {
			if e == 4 {
				js, _ := json.Marshal(a.State())
				var st SchedulerState
				if err := json.Unmarshal(js, &st); err != nil {
					t.Fatal(err)
				}
				b, _ = NewScheduler(cfg)
				b.Restore(st)
			}
			for range 3 {
				if b != nil && (a.LR() != b.LR() || a.Momentum(0.9) != b.Momentum(0.9)) {
					t.Fatalf("%s epoch %d: restored scheduler gives %g, original %g", kind, e, b.LR(), a.LR())
				}
				a.StepBatch()
				if b != nil {
					b.StepBatch()
				}
			}
			a.StepEpoch(accs[e])
			if b != nil {
				b.StepEpoch(accs[e])
			}
		}
	}
}

func TestScheduleValidate(t *testing.T) {
	ok := ScheduleConfig{Kind: SchedulePlateau, LR: 0.01, Epochs: 3, StepsPerEpoch: 10, Patience: 2}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*ScheduleConfig){
		"unknown":         func(c *ScheduleConfig) { c.Kind = "linear" },
		"zero lr":         func(c *ScheduleConfig) { c.LR = 0 },
		"nan lr":          func(c *ScheduleConfig) { c.LR = math.NaN() },
		"onecycle warmup": func(c *ScheduleConfig) { c.Kind = ScheduleOneCycle; c.WarmupEpochs = 1 },
		"cosine warmup":   func(c *ScheduleConfig) { c.Kind = ScheduleCosine; c.WarmupEpochs = 3 },
		"milestones":      func(c *ScheduleConfig) { c.Kind = ScheduleStep; c.Milestones = []int{3, 2} },
		"factor":          func(c *ScheduleConfig) { c.Factor = 1.5 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
