package weights

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// Fuzz inputs are capped at maxFuzzInput. For each input the readers may
// allocate at most allocFactor bytes per input byte plus allocSlack in all.
// The factor covers the restricted unpickler's objects: a 1-byte opcode such
// as EMPTY_DICT makes a small heap object and a stack slot, about 75 bytes in
// all (TestReadPthAllocationPatterns measures the worst opcodes); it also
// covers conversions to float32 (4x for 1-byte types) and the load budget
// (outputFactor). The slack covers fixed buffers and outputSlack.
const (
	maxFuzzInput = 1 << 20
	allocFactor  = 100
	allocSlack   = 8 << 20
)

func checkAlloc(t *testing.T, before uint64, n int) {
	t.Helper()
	if got := heapAllocs() - before; got > uint64(allocFactor*n+allocSlack) {
		t.Fatalf("allocated %d bytes for a %d-byte input", got, n)
	}
}

// pthSeeds are small checkpoints: PyTorch's fixtures and hand-made ones
// that reach the unpickler's corners.
func pthSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, name := range []string{"convbn_zip.pth", "convbn_legacy.pth", "convbn_proto4.pth", "views_zip.pth",
		"views_legacy.pth", "dtypes.pth", "checkpoint.pth"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	data := f32bytes(0, 1, 2, 3, 4, 5)
	legacyObj := sdPickle(true,
		tdesc{name: "all", storage: "FloatStorage", key: "k", numel: 6, size: []int64{2, 3}, stride: []int64{1, 2}},
		tdesc{name: "view", storage: "HalfStorage", key: "k", numel: 12, size: []int64{2}, stride: []int64{2}, legacyView: []any{"kv", int64(2), int64(4)}})
	seeds = append(seeds,
		legacyPth(legacyObj, true, legacyStorage{"k", 6, data}),
		legacyPth(legacyObj, false, legacyStorage{"k", 6, data}),
		zipPth(t, sdPickle(false, tdesc{name: "module.w", storage: "LongStorage", key: "0", numel: 3, offset: 1, size: []int64{2}, stride: []int64{1}}),
			map[string][]byte{"0": data}),
		zipPth(t, evilPickle("posix", "system", "echo pwned", false), nil),
		zipPth(t, evilPickle("builtins", "eval", "1", true), nil),
	)
	return seeds
}

func FuzzReadPth(f *testing.F) {
	for _, s := range pthSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		before := heapAllocs()
		sd, err := ReadPth(bytes.NewReader(data), int64(len(data)), "fuzz.pth")
		checkAlloc(t, before, len(data))
		if err != nil {
			return
		}
		if err := sd.Validate(); err != nil {
			t.Fatalf("invalid state dict: %v", err)
		}
		// What was read can be written and read back unchanged.
		var buf bytes.Buffer
		if err := WritePth(&buf, sd); err != nil {
			t.Fatalf("cannot write back: %v", err)
		}
		back, err := ReadPth(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "back.pth")
		if err != nil {
			t.Fatalf("cannot read back: %v", err)
		}
		sameBits(t, back, sd)
	})
}

// FuzzReadPthPickle fuzzes the unpickler and the tensor materialisation
// behind a valid zip archive: mutations of data.pkl inside a real
// checkpoint rarely survive the zip CRC, so FuzzReadPth alone reaches them
// seldom. The input is data.pkl; the archive has storages "0" to "3" of 64
// bytes.
func FuzzReadPthPickle(f *testing.F) {
	for _, s := range pthSeeds(f) {
		zr, err := zip.NewReader(bytes.NewReader(s), int64(len(s)))
		if err != nil {
			continue // a legacy file
		}
		for _, e := range zr.File {
			if strings.HasSuffix(e.Name, "/data.pkl") {
				rc, err := e.Open()
				if err != nil {
					f.Fatal(err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	f.Add(sdPickle(false,
		tdesc{name: "a", storage: "HalfStorage", key: "1", numel: 32, offset: 3, size: []int64{2, 3, 2}, stride: []int64{1, 4, 9}},
		tdesc{name: "b", storage: "DoubleStorage", key: "2", numel: 8, size: []int64{}, stride: []int64{}}))
	records := map[string][]byte{}
	for i := 0; i < 4; i++ {
		b := make([]byte, 64)
		for j := range b {
			b[j] = byte(i*64 + j)
		}
		records[fmt.Sprint(i)] = b
	}
	f.Fuzz(func(t *testing.T, pkl []byte) {
		if len(pkl) > maxFuzzInput {
			return
		}
		data := zipPth(t, pkl, records)
		before := heapAllocs()
		sd, err := ReadPth(bytes.NewReader(data), int64(len(data)), "fuzz.pth")
		checkAlloc(t, before, len(data))
		if err != nil {
			return
		}
		if err := sd.Validate(); err != nil {
			t.Fatalf("invalid state dict: %v", err)
		}
	})
}

func FuzzReadSafetensors(f *testing.F) {
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, roundTripStateDict(), map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(stFile(`{"half":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},`+
		`"__metadata__":{"a":"b"},"d":{"dtype":"F64","shape":[],"data_offsets":[6,14]},"m":{"dtype":"BOOL","shape":[1,1],"data_offsets":[14,15]}}  `,
		make([]byte, 15)))
	f.Add(stFile(`{}`, nil))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		before := heapAllocs()
		sd, err := ReadSafetensors(bytes.NewReader(data), int64(len(data)), "fuzz.safetensors")
		checkAlloc(t, before, len(data))
		if err != nil {
			return
		}
		if err := sd.Validate(); err != nil {
			t.Fatalf("invalid state dict: %v", err)
		}
		var buf bytes.Buffer
		if err := WriteSafetensors(&buf, sd, sd.Metadata); err != nil {
			t.Fatalf("cannot write back: %v", err)
		}
		back, err := ReadSafetensors(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "back.safetensors")
		if err != nil {
			t.Fatalf("cannot read back: %v", err)
		}
		sameBits(t, back, sd)
	})
}

func FuzzReadNpy(f *testing.F) {
	ents, _ := filepath.Glob(filepath.Join("testdata", "*.npy"))
	for _, p := range ents {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(npyFile(1, "{'descr': '>f2', 'fortran_order': False, 'shape': (2L, 1), }", make([]byte, 4)))
	f.Add(npyFile(2, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", []byte{0, 1, 2}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		before := heapAllocs()
		got, err := ReadNpy(bytes.NewReader(data))
		checkAlloc(t, before, len(data))
		if err != nil {
			return
		}
		if err := tensor.CheckShape(got.Shape); err != nil || len(got.Data) != tensor.Numel(got.Shape) || got.Shape == nil {
			t.Fatalf("inconsistent tensor: shape %v, %d values", got.Shape, len(got.Data))
		}
		var buf bytes.Buffer
		if err := WriteNpy(&buf, got); err != nil {
			t.Fatalf("cannot write back: %v", err)
		}
		back, err := ReadNpy(&buf)
		if err != nil {
			t.Fatalf("cannot read back: %v", err)
		}
		a, b := NewStateDict(), NewStateDict()
		a.Set("x", back)
		b.Set("x", got)
		sameBits(t, a, b)
	})
}

// sameBits compares two state dicts bit for bit (NaNs included).
func sameBits(t *testing.T, got, want *StateDict) {
	t.Helper()
	if len(got.Keys) != len(want.Keys) {
		t.Fatalf("%d keys, want %d", len(got.Keys), len(want.Keys))
	}
	for i, k := range want.Keys {
		if got.Keys[i] != k {
			t.Fatalf("key %d is %q, want %q", i, got.Keys[i], k)
		}
		g, w := got.Tensors[k], want.Tensors[k]
		if !equalShape(g.Shape, w.Shape) || len(g.Data) != len(w.Data) {
			t.Fatalf("%q: shape %v, want %v", k, g.Shape, w.Shape)
		}
		for j := range w.Data {
			if math.Float32bits(g.Data[j]) != math.Float32bits(w.Data[j]) {
				t.Fatalf("%q[%d] = %v, want %v", k, j, g.Data[j], w.Data[j])
			}
		}
		if writeDType(got.DType(k)) != writeDType(want.DType(k)) {
			t.Fatalf("%q: dtype %s, want %s", k, got.DType(k), want.DType(k))
		}
	}
}

// TestWriteFuzzCorpus writes the hand-made seeds into testdata/fuzz in Go's
// corpus format when WEIGHTS_WRITE_CORPUS=1 (the committed corpus was made
// this way, plus whatever the fuzzers found).
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("WEIGHTS_WRITE_CORPUS") == "" {
		t.Skip("set WEIGHTS_WRITE_CORPUS=1 to rewrite the seed corpus")
	}
	write := func(fuzz string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("seed-%x", sha256.Sum256(data))[:21]
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range pthSeeds(t)[7:] { // the hand-made ones; fixtures are added by f.Add
		write("FuzzReadPth", s)
	}
	four := f32bytes(1, 2, 3, 4)
	write("FuzzReadPth", zipPth(t, sdPickle(false, tdesc{name: "w", storage: "FloatStorage", key: "0", numel: 1,
		size: []int64{1 << 20}, stride: []int64{0}}), map[string][]byte{"0": four[:4]}))
	write("FuzzReadPth", zipPth(t, sdPickle(false, tdesc{name: "w", storage: "BoolStorage", key: "0", numel: 16,
		size: []int64{2, 2, 2}, stride: []int64{1, 4, 2}}), map[string][]byte{"0": four}))
	write("FuzzReadPthPickle", sdPickle(false, tdesc{name: "t", storage: "FloatStorage", key: "3", numel: 16, offset: 2,
		size: []int64{3, 2, 2}, stride: []int64{0, 5, 2}}))
	write("FuzzReadPthPickle", evilPickle("posix", "system", "echo pwned", false))
	write("FuzzReadSafetensors", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I8","shape":[0],"data_offsets":[8,8]}}`, four[:8]))
	write("FuzzReadSafetensors", stFile(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, []byte{0, 0, 0, 0, 0, 0, 0, 0x80}))
	write("FuzzReadNpy", npyFile(3, "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1, 1), }", []byte{0, 0, 0, 0, 0, 0, 0, 0x80}))
	write("FuzzReadNpy", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 100000000000), }", nil))
}
