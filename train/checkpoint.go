package train

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/convnet/convnet/data"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/optim"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

// A checkpoint is two files in the run directory: the tensors (model
// state_dict and the optimizer's momentum buffers) in
// checkpoint-eNNNN.safetensors, and everything else in checkpoint.json,
// which names the tensors file and its SHA-256. Each is written to a
// temporary file, synced and renamed; checkpoint.json is written last and
// is the commit point: until it is renamed into place the previous
// checkpoint stays whole, and the previous tensors file is removed only
// after that.
const (
	checkpointJSON   = "checkpoint.json"
	checkpointFormat = "convnet-train-checkpoint/1"
	momentumPrefix   = "optimizer.momentum_buffer."
)

// checkpointState is checkpoint.json.
type checkpointState struct {
	Format string `json:"format"`
	// Epoch is the number of completed epochs; Step the optimizer steps.
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
	// Weights is the tensors file, relative to the run directory.
	Weights       string `json:"weights"`
	WeightsSHA256 string `json:"weights_sha256"`

	Config    Config           `json:"config"`
	Scheduler SchedulerState   `json:"scheduler"`
	Loader    data.LoaderState `json:"loader"`
	// Dropout holds each Dropout layer's generator (PCG MarshalBinary,
	// base64 in JSON) by state_dict path.
	Dropout map[string][]byte `json:"dropout_rng,omitempty"`
	History []EpochMetrics    `json:"history"`
	// Threads is the kernels' worker count: the sums inside the kernels
	// are split per worker, so a bit-exact resume needs the same count.
	Threads int      `json:"threads"`
	Classes []string `json:"classes"`
}

// writeHook, when set (by tests), wraps every writer of a checkpoint or
// metrics file, to inject failures.
var writeHook func(path string, w io.Writer) io.Writer

// writeFileAtomic is weights.WriteFileAtomic with the test hook in the
// write path.
func writeFileAtomic(path string, write func(w io.Writer) error) error {
	return weights.WriteFileAtomic(path, func(w io.Writer) error {
		if writeHook != nil {
			w = writeHook(path, w)
		}
		return write(w)
	})
}

// modelStateDict copies m's state_dict entries (not the tensors) into a
// weights.StateDict, int64 buffers marked.
func modelStateDict(m nn.Module) *weights.StateDict {
	sd := weights.NewStateDict()
	for _, e := range nn.StateDict(m) {
		sd.Set(e.Key, e.Tensor)
		if e.Int64 {
			sd.SetDType(e.Key, weights.Int64)
		}
	}
	return sd
}

// saveCheckpoint writes the tensors file and then checkpoint.json.
func saveCheckpoint(dir string, st *checkpointState, m nn.Module, opt *optim.SGD) error {
	sd := modelStateDict(m)
	for _, p := range nn.Parameters(m) {
		if b := opt.MomentumBuffer(p.Value); b != nil {
			sd.Set(momentumPrefix+p.Key, b)
		}
	}
	name := fmt.Sprintf("checkpoint-e%04d.safetensors", st.Epoch)
	path := filepath.Join(dir, name)
	h := sha256.New()
	meta := map[string]string{"format": checkpointFormat, "epoch": fmt.Sprint(st.Epoch), "model": st.Config.Model}
	err := writeFileAtomic(path, func(w io.Writer) error {
		return weights.WriteSafetensors(io.MultiWriter(w, h), sd, meta)
	})
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	st.Format = checkpointFormat
	st.Weights = name
	st.WeightsSHA256 = hex.EncodeToString(h.Sum(nil))
	prev, _ := readCheckpointState(dir)
	err = writeFileAtomic(filepath.Join(dir, checkpointJSON), func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	})
	if err != nil {
		if prev == nil || prev.Weights != name {
			os.Remove(path) // not committed; the previous checkpoint stays
		}
		return fmt.Errorf("checkpoint: %w", err)
	}
	// Committed: tensors files of older checkpoints can go.
	olds, _ := filepath.Glob(filepath.Join(dir, "checkpoint-e*.safetensors"))
	for _, o := range olds {
		if filepath.Base(o) != name {
			os.Remove(o)
		}
	}
	return nil
}

// readCheckpointState reads checkpoint.json.
func readCheckpointState(dir string) (*checkpointState, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointJSON))
	if err != nil {
		return nil, err
	}
	var st checkpointState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", filepath.Join(dir, checkpointJSON), err)
	}
	if st.Format != checkpointFormat {
		return nil, fmt.Errorf("checkpoint %s: format %q, want %q", filepath.Join(dir, checkpointJSON), st.Format, checkpointFormat)
	}
	if st.Weights == "" || strings.ContainsAny(st.Weights, `/\`) || st.Weights == "." || st.Weights == ".." {
		return nil, fmt.Errorf("checkpoint %s: bad tensors file name %q", filepath.Join(dir, checkpointJSON), st.Weights)
	}
	return &st, nil
}

// loadCheckpointTensors reads and verifies the tensors file named by st.
func loadCheckpointTensors(dir string, st *checkpointState) (*weights.StateDict, error) {
	path := filepath.Join(dir, st.Weights)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != st.WeightsSHA256 {
		return nil, fmt.Errorf("checkpoint: %s does not match the SHA-256 recorded in %s (file damaged or replaced)", path, checkpointJSON)
	}
	return weights.ReadSafetensors(bytes.NewReader(b), int64(len(b)), path)
}

// restoreTensors loads the model's state and the momentum buffers.
func restoreTensors(sd *weights.StateDict, m nn.Module, opt *optim.SGD) error {
	model := map[string]*tensor.Tensor{}
	bufs := map[string]*tensor.Tensor{}
	for _, k := range sd.Keys {
		t := sd.Tensors[k]
		if rest, ok := strings.CutPrefix(k, momentumPrefix); ok {
			bufs[rest] = t
		} else {
			model[k] = t
		}
	}
	if err := nn.LoadStateDict(m, model, true); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	params := map[string]bool{}
	for _, p := range nn.Parameters(m) {
		params[p.Key] = true
		b, ok := bufs[p.Key]
		if !ok {
			continue
		}
		if !tensor.SameShape(b.Shape, p.Value.T.Shape) {
			return fmt.Errorf("checkpoint: momentum buffer of %s has shape %v, parameter %v", p.Key, b.Shape, p.Value.T.Shape)
		}
		opt.SetMomentumBuffer(p.Value, b)
	}
	for k := range bufs {
		if !params[k] {
			return fmt.Errorf("checkpoint: momentum buffer for unknown parameter %s", k)
		}
	}
	return nil
}

// errNoCheckpoint is returned by Resume when the directory has none.
var errNoCheckpoint = errors.New("no checkpoint")
