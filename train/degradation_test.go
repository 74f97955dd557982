package train

import (
	"context"
	"strings"
	"testing"
)

func finalRuns(trainErr map[string]float64) map[string][]EpochMetrics {
	out := map[string][]EpochMetrics{}
	for name, e := range trainErr {
		out[name] = []EpochMetrics{{Epoch: 1, TrainErr: 0.9, TestErr: 0.9}, {Epoch: 2, TrainErr: e, TestErr: e + 0.01}}
	}
	return out
}

func TestDegradationVerdict(t *testing.T) {
	for _, tc := range []struct {
		name      string
		errs      map[string]float64
		want, not []string
	}{
		{"paper", map[string]float64{"plain20": 0.08, "plain56": 0.12, "resnet20": 0.07, "resnet56": 0.05},
			[]string{"plain56 ends with higher training error than plain20 (12.00% vs 8.00%): degradation",
				"resnet56 ends lower than resnet20 (5.00% vs 7.00%): residual learning fixes it",
				"As in the paper", "plain56 13.00%"},
			[]string{"no degradation"}},
		{"opposite", map[string]float64{"plain20": 0.12, "plain56": 0.10, "resnet20": 0.05, "resnet56": 0.06},
			[]string{"plain56 ends with training error no higher than plain20 (10.00% vs 12.00%): no degradation",
				"resnet56 does not end lower than resnet20 (6.00% vs 5.00%)"},
			[]string{"fixes it", "As in the paper"}},
		{"degrades, residual does not help", map[string]float64{"plain20": 0.08, "plain56": 0.12, "resnet20": 0.05, "resnet56": 0.05},
			[]string{"degradation.", "does not fix it"}, []string{"fixes it.", "As in the paper"}},
	} {
		v, err := DegradationVerdict(finalRuns(tc.errs))
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tc.want {
			if !strings.Contains(v, w) {
				t.Errorf("%s: verdict lacks %q:\n%s", tc.name, w, v)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(v, w) {
				t.Errorf("%s: verdict has %q:\n%s", tc.name, w, v)
			}
		}
	}
	runs := finalRuns(map[string]float64{"plain20": 0.1, "plain56": 0.1, "resnet20": 0.1})
	if _, err := DegradationVerdict(runs); err == nil || !strings.Contains(err.Error(), "resnet56") {
		t.Errorf("missing run: %v", err)
	}
}

// Continue starts a run, resumes it with more epochs, and refuses a
// directory that holds a differently configured run.
func TestContinue(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.Epochs = 1
	tr, err := Continue(cfg, Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Epochs = 2
	tr, err = Continue(cfg, Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if tr.Epoch() != 1 {
		t.Errorf("continued at epoch %d, want 1", tr.Epoch())
	}
	tr.Close()
	cfg.Schedule.LR = 0.1
	if _, err := Continue(cfg, Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), "another configuration") {
		t.Errorf("different learning rate: %v", err)
	}
}
