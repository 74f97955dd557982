package train

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
)

// The ResNet paper's degradation experiment (He et al. 2015, figures 1
// and 6): a deeper plain network ends with higher training error than a
// shallower one, which is not overfitting, and residual connections let
// the deeper network end lower instead.
var (
	DegradationPlain    = [2]string{"plain20", "plain56"}
	DegradationResidual = [2]string{"resnet20", "resnet56"}
)

// DegradationModels are the four networks in the order they are trained
// and drawn.
func DegradationModels() []string {
	return []string{DegradationPlain[0], DegradationPlain[1], DegradationResidual[0], DegradationResidual[1]}
}

// DegradationVerdict reads the four runs' final epochs and says, from the
// numbers, whether the deeper plain net degrades and whether the residual
// nets escape it. Training error decides (degradation is an optimisation
// effect); test errors are quoted alongside.
func DegradationVerdict(runs map[string][]EpochMetrics) (string, error) {
	final := map[string]EpochMetrics{}
	for _, name := range DegradationModels() {
		h := runs[name]
		if len(h) == 0 {
			return "", fmt.Errorf("degradation: no epochs for %s", name)
		}
		final[name] = h[len(h)-1]
	}
	pct := func(v float64) string { return fmt.Sprintf("%.2f%%", 100*v) }
	ps, pd := DegradationPlain[0], DegradationPlain[1]
	rs, rd := DegradationResidual[0], DegradationResidual[1]
	fps, fpd, frs, frd := final[ps], final[pd], final[rs], final[rd]
	var b strings.Builder
	degrades := fpd.TrainErr > fps.TrainErr
	if degrades {
		fmt.Fprintf(&b, "%s ends with higher training error than %s (%s vs %s): degradation.\n", pd, ps, pct(fpd.TrainErr), pct(fps.TrainErr))
	} else {
		fmt.Fprintf(&b, "%s ends with training error no higher than %s (%s vs %s): no degradation in this run.\n", pd, ps, pct(fpd.TrainErr), pct(fps.TrainErr))
	}
	fixes := frd.TrainErr < frs.TrainErr
	switch {
	case fixes && degrades:
		fmt.Fprintf(&b, "%s ends lower than %s (%s vs %s): residual learning fixes it.\n", rd, rs, pct(frd.TrainErr), pct(frs.TrainErr))
	case fixes:
		fmt.Fprintf(&b, "%s ends lower than %s (%s vs %s): the residual net gains from depth.\n", rd, rs, pct(frd.TrainErr), pct(frs.TrainErr))
	default:
		fmt.Fprintf(&b, "%s does not end lower than %s (%s vs %s): residual learning does not fix it in this run.\n", rd, rs, pct(frd.TrainErr), pct(frs.TrainErr))
	}
	if degrades && fixes && frd.TrainErr < fpd.TrainErr {
		fmt.Fprintf(&b, "As in the paper: at 56 layers the residual net trains better than the plain one (%s vs %s).\n", pct(frd.TrainErr), pct(fpd.TrainErr))
	}
	fmt.Fprintf(&b, "Final test error: %s %s, %s %s, %s %s, %s %s (after %d, %d, %d, %d epochs).\n",
		ps, pct(fps.TestErr), pd, pct(fpd.TestErr), rs, pct(frs.TestErr), rd, pct(frd.TestErr),
		fps.Epoch, fpd.Epoch, frs.Epoch, frd.Epoch)
	return b.String(), nil
}

// Continue opens the run in opts.RunDir: it resumes the checkpoint there
// (which must be of the same model and data, trained for at most
// cfg.Epochs) or starts a fresh run. Experiments use it so that an
// interrupted experiment picks up where it stopped.
func Continue(cfg Config, opts Options) (*Trainer, error) {
	st, err := readCheckpointState(opts.RunDir)
	if errors.Is(err, os.ErrNotExist) {
		return New(cfg, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	have, want := st.Config, cfg
	have.Epochs, want.Epochs = 0, 0
	hj, _ := json.Marshal(have)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(hj, wj) {
		return nil, fmt.Errorf("train: %s holds a run with another configuration (%s) than asked for (%s): choose another directory", opts.RunDir, hj, wj)
	}
	return Resume(opts.RunDir, cfg.Epochs, opts)
}
