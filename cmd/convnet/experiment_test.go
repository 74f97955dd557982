package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The degradation experiment end to end on a sliver of the embedded data
// (the verdict's logic is tested on synthetic metrics in package train):
// four runs, one figure, a verdict computed from the numbers; run again, it
// resumes the finished runs instead of training them anew.
func TestExperimentDegradationShort(t *testing.T) {
	if testing.Short() {
		t.Skip("trains four networks")
	}
	dir := filepath.Join(t.TempDir(), "deg")
	args := []string{"experiment", "degradation", "--epochs", "1", "--limit-train", "32", "--limit-test", "16", "--batch", "16", "--out", dir}
	out, stderr, err := run(t, args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"plain20: epoch 1/1", "resnet56: epoch 1/1", "plain56 ends with", "resnet56 ", "Final test error", "degradation.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"degradation.png", "degradation.svg", "verdict.txt", "plain56/metrics.jsonl", "resnet20/model.safetensors"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "degradation.svg"))
	for _, m := range []string{"plain20", "plain56", "resnet20", "resnet56"} {
		if !strings.Contains(string(svg), m+" test") || !strings.Contains(string(svg), m+" train") {
			t.Errorf("figure lacks %s's curves", m)
		}
	}
	out, _, err = run(t, args...)
	if err != nil || strings.Count(out, "resumed after epoch 1") != 4 || strings.Contains(out, "epoch 1/1 ") {
		t.Errorf("second run should only reread the finished runs: %v\n%s", err, out)
	}
}
