package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// EpochMetrics is one line of metrics.jsonl. Errors are fractions in
// [0, 1]; the training figures are running averages over the epoch's
// batches in training mode (with augmentation and dropout), as the ResNet
// paper plots them; the test figures come from a pass in evaluation mode
// after the epoch.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"` // 1-based
	TrainLoss float64 `json:"train_loss"`
	TrainErr  float64 `json:"train_err"`
	TestLoss  float64 `json:"test_loss"`
	TestErr   float64 `json:"test_err"`
	// LR is the learning rate of the epoch's last step.
	LR float64 `json:"lr"`
	// Seconds is the epoch's wall time (training and test); ImgPerS
	// counts training images over the training part only.
	Seconds float64 `json:"seconds"`
	ImgPerS float64 `json:"img_per_s"`
	// Step is the number of optimizer steps done at the end of the
	// epoch.
	Step int `json:"step"`
	// Skipped counts unreadable images left out so far.
	Skipped int `json:"skipped,omitempty"`
}

// ReadMetrics reads a metrics.jsonl file.
func ReadMetrics(path string) ([]EpochMetrics, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseMetrics(b, path)
}

func parseMetrics(b []byte, name string) ([]EpochMetrics, error) {
	var out []EpochMetrics
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m EpochMetrics
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// writeMetrics writes one JSON object per line.
func writeMetrics(w io.Writer, ms []EpochMetrics) error {
	enc := json.NewEncoder(w)
	for _, m := range ms {
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

// appendMetrics adds one line to path, synced.
func appendMetrics(path string, m EpochMetrics) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := writeMetrics(f, []EpochMetrics{m}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
