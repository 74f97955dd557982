// Package weights reads and writes model weights: PyTorch checkpoints
// (torch.save's zip format and its legacy format), safetensors files and
// NumPy .npy arrays.
//
// Every reader treats its input as hostile. PyTorch checkpoints are pickles,
// and a pickle is a small program; this package never runs one. It has its
// own restricted unpickler that knows only the opcodes torch.save emits and
// an allow-list of globals (OrderedDict, torch's tensor rebuild functions and
// the storage type tags); any other global, such as posix.system or
// builtins.eval, stops the load with an error that names it. Every size read
// from a file is checked against the file's size before anything is
// allocated, the total memory a load may allocate is capped by a fixed factor
// of the input size, and corrupt or truncated input gives an error that names
// the file and what is wrong. The public functions also recover from panics
// and turn them into errors, as a last line of defence only: the tests run
// with that recovery switched off.
package weights

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/convnet/convnet/tensor"
)

// DType is the element type a tensor had in the file it was read from. All
// tensors are held as float32 in memory; the DType tells callers what the
// values were (for example, to skip BatchNorm's int64 num_batches_tracked)
// and tells the writers what to write back for integer tensors.
type DType string

// The element types the readers understand. Complex types are recognised so
// that errors can name them, but they cannot be loaded.
const (
	Float32    DType = "float32"
	Float64    DType = "float64"
	Float16    DType = "float16"
	BFloat16   DType = "bfloat16"
	Int64      DType = "int64"
	Int32      DType = "int32"
	Int16      DType = "int16"
	Int8       DType = "int8"
	Uint8      DType = "uint8"
	Bool       DType = "bool"
	Complex64  DType = "complex64"
	Complex128 DType = "complex128"
)

// Size returns the number of bytes of one element, or 0 for an unknown type.
func (d DType) Size() int {
	switch d {
	case Float64, Int64, Complex64:
		return 8
	case Float32, Int32:
		return 4
	case Float16, BFloat16, Int16:
		return 2
	case Int8, Uint8, Bool:
		return 1
	case Complex128:
		return 16
	}
	return 0
}

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float32 || d == Float64 || d == Float16 || d == BFloat16
}

// IsInteger reports whether d is an integer or boolean type.
func (d DType) IsInteger() bool {
	switch d {
	case Int64, Int32, Int16, Int8, Uint8, Bool:
		return true
	}
	return false
}

// StateDict is an ordered map from parameter names to tensors, like a
// PyTorch state_dict. Keys holds the names in file order; Tensors holds the
// values; DTypes holds the element type each tensor had in the file (a name
// missing from DTypes is float32).
type StateDict struct {
	Keys    []string
	Tensors map[string]*tensor.Tensor
	DTypes  map[string]DType
	// Metadata is a safetensors file's __metadata__ (nil for other formats).
	Metadata map[string]string
}

// NewStateDict returns an empty state dict.
func NewStateDict() *StateDict {
	return &StateDict{Tensors: map[string]*tensor.Tensor{}, DTypes: map[string]DType{}}
}

// Set adds t under name, or replaces the tensor already there (keeping its
// position). The name's dtype becomes float32 unless SetDType changes it.
func (sd *StateDict) Set(name string, t *tensor.Tensor) {
	sd.init()
	if _, ok := sd.Tensors[name]; !ok {
		sd.Keys = append(sd.Keys, name)
	}
	sd.Tensors[name] = t
	delete(sd.DTypes, name)
}

// SetDType records the element type that name's tensor has (or should be
// written with, for integer types).
func (sd *StateDict) SetDType(name string, d DType) {
	sd.init()
	if d == Float32 || d == "" {
		delete(sd.DTypes, name)
		return
	}
	sd.DTypes[name] = d
}

func (sd *StateDict) init() {
	if sd.Tensors == nil {
		sd.Tensors = map[string]*tensor.Tensor{}
	}
	if sd.DTypes == nil {
		sd.DTypes = map[string]DType{}
	}
}

// Get returns the tensor stored under name.
func (sd *StateDict) Get(name string) (*tensor.Tensor, bool) {
	t, ok := sd.Tensors[name]
	return t, ok
}

// Len returns the number of tensors.
func (sd *StateDict) Len() int { return len(sd.Keys) }

// Delete removes name, if present.
func (sd *StateDict) Delete(name string) {
	if _, ok := sd.Tensors[name]; !ok {
		return
	}
	delete(sd.Tensors, name)
	delete(sd.DTypes, name)
	for i, k := range sd.Keys {
		if k == name {
			sd.Keys = append(sd.Keys[:i:i], sd.Keys[i+1:]...)
			break
		}
	}
}

// DType returns the element type name's tensor had in the file (float32 for
// names without a recorded type, including unknown names).
func (sd *StateDict) DType(name string) DType {
	if d, ok := sd.DTypes[name]; ok && d != "" {
		return d
	}
	return Float32
}

// Int64 reports whether name's tensor was an int64 tensor in the file, as
// BatchNorm's num_batches_tracked is. Callers that map a state dict onto
// float parameters usually skip these.
func (sd *StateDict) Int64(name string) bool { return sd.DType(name) == Int64 }

// IsInteger reports whether name's tensor had an integer or bool type.
func (sd *StateDict) IsInteger(name string) bool { return sd.DType(name).IsInteger() }

// NumElements returns the total number of elements of all tensors.
func (sd *StateDict) NumElements() int {
	n := 0
	for _, k := range sd.Keys {
		if t := sd.Tensors[k]; t != nil {
			n += tensor.Numel(t.Shape)
		}
	}
	return n
}

// Validate checks that Keys and Tensors agree, that names are unique, and that every tensor has a valid shape and full storage.
func (sd *StateDict) Validate() error {
	if sd == nil {
		return errors.New("nil state dict")
	}
	seen := make(map[string]bool, len(sd.Keys))
	for _, k := range sd.Keys {
		if seen[k] {
			return fmt.Errorf("duplicate tensor name %q", k)
		}
		seen[k] = true
		t, ok := sd.Tensors[k]
		if !ok || t == nil {
			return fmt.Errorf("tensor %q is listed in Keys but missing from Tensors", k)
		}
		if err := tensor.CheckShape(t.Shape); err != nil {
			return fmt.Errorf("tensor %q: %v", k, err)
		}
		if t.Data == nil && tensor.Numel(t.Shape) > 0 {
			return fmt.Errorf("tensor %q is a meta tensor (no data)", k)
		}
		if len(t.Data) != tensor.Numel(t.Shape) {
			return fmt.Errorf("tensor %q: %d values for shape %v", k, len(t.Data), t.Shape)
		}
	}
	if len(sd.Tensors) != len(sd.Keys) {
		for k := range sd.Tensors {
			if !seen[k] {
				return fmt.Errorf("tensor %q is in Tensors but not in Keys", k)
			}
		}
	}
	return nil
}

// stripPrefix removes prefix from every key when all keys have it (as
// DataParallel's "module." does) and reports whether it did.
func (sd *StateDict) stripPrefix(prefix string) bool {
	if len(sd.Keys) == 0 {
		return false
	}
	for _, k := range sd.Keys {
		if !strings.HasPrefix(k, prefix) || len(k) == len(prefix) {
			return false
		}
	}
	tensors := make(map[string]*tensor.Tensor, len(sd.Tensors))
	dtypes := make(map[string]DType, len(sd.DTypes))
	for i, k := range sd.Keys {
		nk := k[len(prefix):]
		sd.Keys[i] = nk
		tensors[nk] = sd.Tensors[k]
		if d, ok := sd.DTypes[k]; ok {
			dtypes[nk] = d
		}
	}
	sd.Tensors, sd.DTypes = tensors, dtypes
	return true
}

// recoverPanics is the last line of defence of the public readers. Tests set
// it to false so that any panic on bad input fails them instead of being
// hidden.
var recoverPanics = true

// guard turns a panic into an error. It must be deferred directly.
func guard(err *error, prefix string) {
	if !recoverPanics {
		return
	}
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: internal error while reading: %v", prefix, r)
	}
}

// WriteFileAtomic writes a file through write into a temporary file in the
// same directory, flushes and syncs it, renames it over path and syncs the
// directory, so that readers never see a partial file and a failure leaves
// path untouched. Checkpoints, plots and metrics use it too.
func WriteFileAtomic(path string, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(0o644); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename durable; not every file system supports syncing a
	// directory, so failures here are not reported.
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// openFile opens path for one of the Read functions.
func openFile(path string) (*os.File, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is not a regular file", path)
	}
	return f, st.Size(), nil
}
