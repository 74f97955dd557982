package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's first command, `convnet train` with no argument, shortened
// to one epoch on 512 images: it trains resnet20 on the embedded subset
// into runs/<timestamp> and says where the accuracy and the plots are.
func TestTrainNoArgumentsShort(t *testing.T) {
	t.Chdir(t.TempDir())
	out, stderr, err := run(t, "train", "--epochs", "1", "--limit-train", "512", "--limit-test", "256")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"training resnet20 on Fashion-MNIST (embedded subset)", "plateau schedule",
		"epoch 1/1", "test accuracy", "error.png", "error.svg", "filters.png"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	dirs, _ := filepath.Glob(filepath.Join("runs", "*"))
	if len(dirs) != 1 {
		t.Fatalf("run directories %v", dirs)
	}
	for _, f := range []string{"metrics.jsonl", "checkpoint.json", "checkpoint-e0001.safetensors", "model.safetensors", "error.png", "error.svg", "filters.png"} {
		if st, err := os.Stat(filepath.Join(dirs[0], f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(dirs[0], "metrics.jsonl"))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["epoch"] != 1.0 {
		t.Errorf("metrics.jsonl: %v %s", err, b)
	}
	// Not a terminal: no progress bar.
	if strings.Contains(stderr, "epoch 1/1") {
		t.Errorf("progress bar drawn on a non-terminal: %q", stderr)
	}
	// Resuming a finished run trains nothing more and rewrites the results.
	out, _, err = run(t, "train", "--resume", dirs[0])
	if err != nil || !strings.Contains(out, "resuming") || strings.Contains(out, "epoch 1/1") {
		t.Errorf("resume of a finished run: %v\n%s", err, out)
	}
}

func TestTrainErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "nosuchnet"}, "unknown model"},
		{[]string{"train", "--data", empty}, "cannot tell what"},
		{[]string{"train", "--resume", empty}, "no checkpoint.json"},
		{[]string{"train", "--resume", empty, "--lr", "0.1"}, "drop --lr"},
		{[]string{"train", "--schedule", "linear"}, "unknown schedule"},
		{[]string{"train", "--schedule", "onecycle", "--warmup-epochs", "2"}, "one-cycle warms up by itself"},
		{[]string{"train", "--batch", "0"}, "batch size must be positive"},
		{[]string{"train", "--epochs", "-1"}, "--epochs must be positive"},
	} {
		_, _, err := run(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if dirs, _ := filepath.Glob(filepath.Join("runs", "*", "checkpoint.json")); len(dirs) > 0 {
		t.Errorf("failed runs left checkpoints: %v", dirs)
	}
}
