package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// ---- builders for hand-made checkpoints ----

type zipEntry struct {
	name   string
	data   []byte
	method uint16
}

func buildZip(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range entries {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: e.name, Method: e.method})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tdesc describes one tensor of a hand-made state dict pickle.
type tdesc struct {
	name, storage, key string
	numel, offset      int64
	size, stride       []int64
	legacyView         []any // legacy persistent id's view_metadata
}

// sdPickle writes {name: _rebuild_tensor_v2(...)} for each tensor, with
// zip-format (5 fields) or legacy (6 fields) persistent ids.
func sdPickle(legacy bool, ts ...tdesc) []byte {
	var p pickleWriter
	p.proto(2)
	p.op(opEMPTY_DICT, opMARK)
	for _, d := range ts {
		p.str(d.name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMARK, opMARK)
		p.str("storage")
		p.global("torch", d.storage)
		p.str(d.key)
		p.str("cpu")
		p.int(d.numel)
		if legacy {
			if d.legacyView == nil {
				p.op(opNONE)
			} else {
				p.str(d.legacyView[0].(string))
				p.int(d.legacyView[1].(int64))
				p.int(d.legacyView[2].(int64))
				p.op(opTUPLE3)
			}
		}
		p.op(opTUPLE, opBINPERSID)
		p.int(d.offset)
		p.ints(d.size)
		p.ints(d.stride)
		p.op(opNEWFALSE)
		p.global("collections", "OrderedDict")
		p.op(opEMPTY_TUPLE, opREDUCE, opTUPLE, opREDUCE)
	}
	p.op(opSETITEMS, opSTOP)
	return p.buf.Bytes()
}

func f32bytes(v ...float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// zipPth wraps a data.pkl and storage records as torch.save does.
func zipPth(t testing.TB, pkl []byte, records map[string][]byte) []byte {
	t.Helper()
	es := []zipEntry{{name: "archive/data.pkl", data: pkl}}
	keys := make([]string, 0, len(records))
	for k := range records {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		es = append(es, zipEntry{name: "archive/data/" + k, data: records[k]})
	}
	es = append(es, zipEntry{name: "archive/version", data: []byte("3\n")})
	return buildZip(t, es...)
}

type legacyStorage struct {
	key   string
	count int64
	data  []byte
}

// legacyPth assembles the legacy format: magic, protocol, sys_info, the
// object pickle, the storage keys and the storages.
func legacyPth(obj []byte, littleEndian bool, storages ...legacyStorage) []byte {
	var p pickleWriter
	p.proto(2)
	p.op(opLONG1, 10)
	p.buf.Write([]byte{0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19})
	p.op(opSTOP)
	p.proto(2)
	p.int(legacyProtocol)
	p.op(opSTOP)
	p.proto(2)
	p.op(opEMPTY_DICT)
	p.str("little_endian")
	if littleEndian {
		p.op(opNEWTRUE)
	} else {
		p.op(opNEWFALSE)
	}
	p.op(opSETITEM, opSTOP)
	p.buf.Write(obj)
	p.proto(2)
	p.op(opEMPTY_LIST, opMARK)
	for _, s := range storages {
		p.str(s.key)
	}
	p.op(opAPPENDS, opSTOP)
	for _, s := range storages {
		var n [8]byte
		if littleEndian {
			binary.LittleEndian.PutUint64(n[:], uint64(s.count))
		} else {
			binary.BigEndian.PutUint64(n[:], uint64(s.count))
		}
		p.buf.Write(n[:])
		p.buf.Write(s.data)
	}
	return p.buf.Bytes()
}

func readPthBytes(b []byte, name string) (*StateDict, error) {
	return ReadPth(bytes.NewReader(b), int64(len(b)), name)
}

// ---- fixtures written by PyTorch ----

func TestReadPthFixtures(t *testing.T) {
	exp := loadExpected(t)
	if len(exp.Pth) < 8 {
		t.Fatalf("expected.json lists only %d checkpoints", len(exp.Pth))
	}
	for name, want := range exp.Pth {
		t.Run(name, func(t *testing.T) {
			sd, err := LoadPth(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(sd.Keys, want.Keys) {
				t.Fatalf("keys %v, want %v", sd.Keys, want.Keys)
			}
			if err := sd.Validate(); err != nil {
				t.Fatal(err)
			}
			for _, k := range sd.Keys {
				w := want.Tensors[k]
				checkTensor(t, k, sd.Tensors[k], w)
				if got := string(sd.DType(k)); got != w.DType {
					t.Errorf("%s: dtype %s, want %s", k, got, w.DType)
				}
			}
		})
	}
}

func TestReadPthFixtureDetails(t *testing.T) {
	sd, err := LoadPth(filepath.Join("testdata", "convbn_zip.pth"))
	if err != nil {
		t.Fatal(err)
	}
	nbt := "bn.num_batches_tracked"
	if !sd.Int64(nbt) || sd.Int64("bn.weight") {
		t.Errorf("num_batches_tracked not marked int64: %v", sd.DTypes)
	}
	if s := sd.Tensors[nbt].Shape; s == nil || len(s) != 0 || sd.Tensors[nbt].Data[0] != 2 {
		t.Errorf("num_batches_tracked: shape %#v data %v", s, sd.Tensors[nbt].Data)
	}
	// The legacy and protocol-4 files hold the same state dict.
	for _, other := range []string{"convbn_legacy.pth", "convbn_proto4.pth", "checkpoint.pth", "checkpoint_model.pth"} {
		o, err := LoadPth(filepath.Join("testdata", other))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(o.Keys, sd.Keys) {
			t.Fatalf("%s: keys %v", other, o.Keys)
		}
		for _, k := range sd.Keys {
			if d, _ := tensor.MaxAbsDiff(o.Tensors[k], sd.Tensors[k]); d != 0 || o.DType(k) != sd.DType(k) {
				t.Errorf("%s: %s differs (%v)", other, k, d)
			}
		}
	}
	views, err := LoadPth(filepath.Join("testdata", "views_zip.pth"))
	if err != nil {
		t.Fatal(err)
	}
	// base = arange(24).reshape(4, 6)/8 - 1; transposed[i][j] = base[j][i].
	tr := views.Tensors["transposed"]
	for i := 0; i < 6; i++ {
		for j := 0; j < 4; j++ {
			if want := float32(j*6+i)/8 - 1; tr.Data[i*4+j] != want {
				t.Fatalf("transposed[%d][%d] = %v, want %v", i, j, tr.Data[i*4+j], want)
			}
		}
	}
}

func TestLoadPthSqueezenet(t *testing.T) {
	p := findUp(t, filepath.Join("shared", "pretrained", "squeezenet1_1.pth"))
	if p == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("shared/pretrained/squeezenet1_1.pth not found (CI has shared/ beside the clone)")
		}
		t.Skip("shared/pretrained/squeezenet1_1.pth not found")
	}
	sd, err := LoadPth(p)
	if err != nil {
		t.Fatal(err)
	}
	if sd.Len() != 52 {
		t.Fatalf("%d tensors, want 52", sd.Len())
	}
	for name, shape := range map[string][]int{
		"features.0.weight":            {64, 3, 3, 3},
		"features.0.bias":              {64},
		"features.3.squeeze.weight":    {16, 64, 1, 1},
		"features.12.expand3x3.weight": {256, 64, 3, 3},
		"classifier.1.weight":          {1000, 512, 1, 1},
		"classifier.1.bias":            {1000},
	} {
		got, ok := sd.Get(name)
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if !equalShape(got.Shape, shape) {
			t.Errorf("%s: shape %v, want %v", name, got.Shape, shape)
		}
	}
	if sd.Keys[0] != "features.0.weight" || sd.Keys[51] != "classifier.1.bias" {
		t.Errorf("order: first %s, last %s", sd.Keys[0], sd.Keys[51])
	}
	for _, k := range sd.Keys {
		if sd.DType(k) != Float32 {
			t.Errorf("%s: dtype %s", k, sd.DType(k))
		}
	}
	if s := sd.Tensors["features.0.weight"].Sum(); math.Abs(s-(-3.3502730664222327)) > 1e-3 {
		t.Errorf("features.0.weight sums to %v", s)
	}
}

// ---- writing ----

func roundTripStateDict() *StateDict {
	sd := NewStateDict()
	sd.Set("conv.weight", tensor.Uniform(testRand(), -1, 1, 4, 3, 3, 3))
	sd.Set("bn.num_batches_tracked", &tensor.Tensor{Shape: []int{}, Data: []float32{7}})
	sd.SetDType("bn.num_batches_tracked", Int64)
	sd.Set("scalar", &tensor.Tensor{Shape: []int{}, Data: []float32{-2.5}})
	sd.Set("empty", tensor.New(0, 5))
	sd.Set("mask", &tensor.Tensor{Shape: []int{3}, Data: []float32{1, 0, 1}})
	sd.SetDType("mask", Bool)
	sd.Set("ints", &tensor.Tensor{Shape: []int{2}, Data: []float32{-7, 1 << 20}})
	sd.SetDType("ints", Int32)
	sd.Set("half", &tensor.Tensor{Shape: []int{2}, Data: []float32{0.5, -1}})
	sd.SetDType("half", Float16) // written as float32
	sd.Set("big.dims", tensor.Full(0.25, 2, 1, 3, 1, 2))
	sd.Set("naïve/ключ", tensor.Full(1.5, 70000)) // non-ASCII name, BININT for numel
	for i := 0; i < 1100; i++ {                   // more than one SETITEMS batch
		sd.Set(fmt.Sprintf("many.%d", i), &tensor.Tensor{Shape: []int{1}, Data: []float32{float32(i)}})
	}
	return sd
}

func sameStateDict(t *testing.T, got, want *StateDict, wantDType func(string) DType) {
	t.Helper()
	if !slices.Equal(got.Keys, want.Keys) {
		t.Fatalf("keys differ: %d vs %d", len(got.Keys), len(want.Keys))
	}
	for _, k := range want.Keys {
		g, w := got.Tensors[k], want.Tensors[k]
		if !equalShape(g.Shape, w.Shape) || !slices.Equal(g.Data, w.Data) {
			t.Errorf("%s: got %v %v, want %v %v", k, g.Shape, head(g.Data), w.Shape, head(w.Data))
		}
		if got.DType(k) != wantDType(k) {
			t.Errorf("%s: dtype %s, want %s", k, got.DType(k), wantDType(k))
		}
	}
}

func head(v []float32) []float32 { return v[:min(len(v), 4)] }

func TestSavePthRoundTrip(t *testing.T) {
	sd := roundTripStateDict()
	p := filepath.Join(t.TempDir(), "rt.pth")
	if err := SavePth(p, sd); err != nil {
		t.Fatal(err)
	}
	back, err := LoadPth(p)
	if err != nil {
		t.Fatal(err)
	}
	sameStateDict(t, back, sd, func(k string) DType { return writeDType(sd.DType(k)) })
	// Data records start on 64-byte boundaries, as PyTorch writes them.
	b, _ := os.ReadFile(p)
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		off, err := f.DataOffset()
		if err != nil || off%64 != 0 {
			t.Errorf("%s: data at %d (%v)", f.Name, off, err)
		}
	}
	// Non-integral values cannot be written as integers.
	bad := NewStateDict()
	bad.Set("n", &tensor.Tensor{Shape: []int{1}, Data: []float32{1.5}})
	bad.SetDType("n", Int64)
	if err := SavePth(filepath.Join(t.TempDir(), "bad.pth"), bad); err == nil {
		t.Error("saved 1.5 as int64")
	}
	if err := SavePth(filepath.Join(t.TempDir(), "x.pth"), &StateDict{Keys: []string{"a"}}); err == nil {
		t.Error("saved an invalid state dict")
	}
}

// pythonWithTorch returns a python3 that can import torch and numpy, or
// skips (fails under CI).
func pythonWithTorch(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"/usr/bin/python3", "python3"} {
		path, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import torch, numpy").Run() == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("python3 with torch and numpy is needed (apt-get install python3-torch)")
	}
	t.Skip("python3 with torch and numpy not found")
	return ""
}

const pyDescribe = `
import json, sys, torch, numpy as np
out = {}
sd = torch.load(sys.argv[1], weights_only=True)
out["type"] = type(sd).__name__
out["pth"] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", ""),
                  "values": v.reshape(-1).to(torch.float64).tolist()} for k, v in sd.items()}
a = np.load(sys.argv[2])
out["npy"] = {"shape": list(a.shape), "descr": a.dtype.str, "values": a.reshape(-1).astype(float).tolist()}
json.dump(out, sys.stdout)
`

func TestSavePthTorchLoad(t *testing.T) {
	py := pythonWithTorch(t)
	dir := t.TempDir()
	sd := roundTripStateDict()
	pth, npy := filepath.Join(dir, "w.pth"), filepath.Join(dir, "a.npy")
	if err := SavePth(pth, sd); err != nil {
		t.Fatal(err)
	}
	arr := tensor.Uniform(testRand(), -3, 3, 2, 3, 4)
	if err := SaveNpy(npy, arr); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pyDescribe, pth, npy).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("python: %v\n%s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var got struct {
		Type string
		Pth  map[string]struct {
			Shape  []int
			DType  string
			Values []float64
		}
		Npy struct {
			Shape  []int
			Descr  string
			Values []float64
		}
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != "OrderedDict" || len(got.Pth) != sd.Len() {
		t.Fatalf("torch.load gave a %s of %d entries", got.Type, len(got.Pth))
	}
	for _, k := range sd.Keys {
		g, w := got.Pth[k], sd.Tensors[k]
		if !equalShape(g.Shape, w.Shape) {
			t.Errorf("%s: torch shape %v, want %v", k, g.Shape, w.Shape)
			continue
		}
		if want := string(writeDType(sd.DType(k))); g.DType != want {
			t.Errorf("%s: torch dtype %s, want %s", k, g.DType, want)
		}
		for i, v := range g.Values {
			if float32(v) != w.Data[i] {
				t.Errorf("%s[%d]: torch %v, want %v", k, i, v, w.Data[i])
				break
			}
		}
	}
	if !equalShape(got.Npy.Shape, arr.Shape) || got.Npy.Descr != "<f4" {
		t.Fatalf("numpy: shape %v descr %s", got.Npy.Shape, got.Npy.Descr)
	}
	for i, v := range got.Npy.Values {
		if float32(v) != arr.Data[i] {
			t.Fatalf("numpy [%d]: %v, want %v", i, v, arr.Data[i])
		}
	}
}

// ---- malicious checkpoints ----

// evilPickle calls module.name(arg) via GLOBAL (or STACK_GLOBAL) and REDUCE,
// as a malicious checkpoint does.
func evilPickle(module, name, arg string, stackGlobal bool) []byte {
	var p pickleWriter
	p.proto(2)
	if stackGlobal {
		p.proto(4)
		p.str(module)
		p.str(name)
		p.op(opSTACK_GLOBAL)
	} else {
		p.op(opGLOBAL)
		p.buf.WriteString(module + "\n" + name + "\n")
	}
	p.str(arg)
	p.op(opTUPLE1, opREDUCE, opSTOP)
	return p.buf.Bytes()
}

func TestMaliciousPthRefused(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	cmd := "echo pwned > " + marker
	goodTensor := sdPickle(false, tdesc{name: "w", storage: "FloatStorage", key: "0", numel: 1, size: []int64{1}, stride: []int64{1}})
	// A state dict whose second value is the payload.
	var mixed pickleWriter
	mixed.buf.Write(goodTensor[:len(goodTensor)-2]) // drop SETITEMS, STOP
	mixed.str("evil")
	mixed.op(opGLOBAL)
	mixed.buf.WriteString("builtins\neval\n")
	mixed.str("__import__('os').system('" + cmd + "')")
	mixed.op(opTUPLE1, opREDUCE, opSETITEMS, opSTOP)

	cases := []struct {
		name, global string
		file         []byte
	}{
		{"posix.system", "posix.system", zipPth(t, evilPickle("posix", "system", cmd, false), nil)},
		{"os.system", "os.system", zipPth(t, evilPickle("os", "system", cmd, false), nil)},
		{"builtins.eval", "builtins.eval", zipPth(t, evilPickle("builtins", "eval", "__import__('os').system('"+cmd+"')", false), nil)},
		{"builtins.exec stack global", "builtins.exec", zipPth(t, evilPickle("builtins", "exec", "import os; os.system('"+cmd+"')", true), nil)},
		{"subprocess.Popen", "subprocess.Popen", zipPth(t, evilPickle("subprocess", "Popen", cmd, false), nil)},
		{"_load_from_bytes", "torch.storage._load_from_bytes", zipPth(t, evilPickle("torch.storage", "_load_from_bytes", "x", false), nil)},
		{"builtins.set", "builtins.set", zipPth(t, evilPickle("builtins", "set", "x", false), nil)},
		{"eval inside a state dict", "builtins.eval", zipPth(t, mixed.buf.Bytes(), map[string][]byte{"0": f32bytes(1)})},
		{"legacy posix.system", "posix.system", legacyPth(evilPickle("posix", "system", cmd, false), true)},
		{"legacy sys_info eval", "builtins.eval", func() []byte {
			b := legacyPth(sdPickle(true), true)
			ev := evilPickle("builtins", "eval", "1", false)
			// Replace the sys_info pickle (the third) by the payload.
			i := bytes.Index(b, []byte("little_endian")) - 8
			j := bytes.IndexByte(b[i:], opSTOP) + i + 1
			return append(append(append([]byte(nil), b[:i]...), ev...), b[j:]...)
		}()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, "evil.pth")
			if err := os.WriteFile(p, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			sd, err := LoadPth(p)
			if err == nil {
				t.Fatalf("loaded %v", sd.Keys)
			}
			var ge *UnsafeGlobalError
			if !errors.As(err, &ge) || ge.Module+"."+ge.Name != c.global {
				t.Fatalf("error %v does not name %s", err, c.global)
			}
			want := fmt.Sprintf("pth: file %s: refusing to load global %q: only tensors, storages and plain containers are allowed", p, c.global)
			if err.Error() != want {
				t.Fatalf("error\n%s\nwant\n%s", err, want)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the payload ran")
			}
		})
	}
	// The payload is live: Python's own pickle runs it (skipped without
	// python3; the point is only that the test above is not vacuous).
	if py, err := exec.LookPath("python3"); err == nil {
		pk := filepath.Join(dir, "evil.pkl")
		os.WriteFile(pk, evilPickle("posix", "system", cmd, false), 0o644)
		if err := exec.Command(py, "-c", "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))", pk).Run(); err != nil {
			t.Fatalf("python could not run the payload: %v", err)
		}
		if _, err := os.Stat(marker); err != nil {
			t.Fatal("python did not run the payload: the malicious test pickle is broken")
		}
	}
}

// ---- bad input ----

func TestReadPthBadInputs(t *testing.T) {
	one := func(d tdesc) tdesc {
		if d.name == "" {
			d.name = "w"
		}
		if d.storage == "" {
			d.storage = "FloatStorage"
		}
		if d.key == "" {
			d.key = "0"
		}
		return d
	}
	z := func(d tdesc, rec []byte) []byte {
		return zipPth(t, sdPickle(false, one(d)), map[string][]byte{"0": rec})
	}
	four := f32bytes(1, 2, 3, 4)
	pkl := func(ops ...byte) []byte { return zipPth(t, append([]byte{opPROTO, 2}, ops...), nil) }
	var deepMarks []byte
	for i := 0; i < maxPickleMarks+1; i++ {
		deepMarks = append(deepMarks, opMARK)
	}
	var hugeString pickleWriter
	hugeString.proto(2)
	hugeString.op(opBINUNICODE, 0xff, 0xff, 0xff, 0x7f, 'a', 'b', opSTOP)
	var hugeString8 pickleWriter
	hugeString8.proto(4)
	hugeString8.op(opBINUNICODE8, 0, 0, 0, 0, 0, 0, 0, 0x10, opSTOP)
	var notTensor pickleWriter
	notTensor.proto(2)
	notTensor.op(opEMPTY_DICT)
	notTensor.str("a")
	notTensor.int(1)
	notTensor.op(opSETITEM, opSTOP)
	var intKey pickleWriter
	intKey.proto(2)
	intKey.op(opEMPTY_DICT)
	intKey.int(1)
	intKey.op(opNONE, opSETITEM, opSTOP)
	var list pickleWriter
	list.proto(2)
	list.op(opEMPTY_LIST, opSTOP)
	tar := make([]byte, 1024)
	copy(tar, "model.pth")
	copy(tar[257:], "ustar")

	tsPkl := zipPth(t, sdPickle(false), nil)
	torchScript := buildZip(t, zipEntry{name: "m/data.pkl", data: sdPickle(false)},
		zipEntry{name: "m/constants.pkl", data: []byte{opPROTO, 2, opEMPTY_TUPLE, opSTOP}},
		zipEntry{name: "m/code/__torch__.py", data: []byte("x")})

	zipBytes, _ := os.ReadFile(filepath.Join("testdata", "convbn_zip.pth"))
	badCRC := slices.Clone(zipBytes)
	{
		zr, err := zip.NewReader(bytes.NewReader(zipBytes), int64(len(zipBytes)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			if strings.HasSuffix(f.Name, "/data/0") {
				off, _ := f.DataOffset()
				badCRC[off+3] ^= 0x40 // one bit of a float
			}
		}
		if bytes.Equal(badCRC, zipBytes) {
			t.Fatal("no storage found to corrupt")
		}
	}

	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "empty file"},
		{"wrong magic", []byte("hello, world"), "unknown magic"},
		{"tar", tar, "tar checkpoints"},
		{"pickle protocol 1", []byte{opPROTO, 1, opNONE, opSTOP}, "unsupported pickle protocol"},
		{"corrupt zip", append([]byte("PK\x03\x04"), bytes.Repeat([]byte{0xee}, 100)...), "corrupt zip"},
		{"zip without data.pkl", buildZip(t, zipEntry{name: "a/b.txt", data: []byte("x")}), "no <archive>/data.pkl"},
		{"crc mismatch", badCRC, "checksum"},
		{"torchscript", torchScript, "TorchScript"},
		{"not a dict", zipPth(t, list.buf.Bytes(), nil), "holds a list"},
		{"value not a tensor", zipPth(t, notTensor.buf.Bytes(), nil), `"a" is a int`},
		{"non-string key", zipPth(t, intKey.buf.Bytes(), nil), "key is a int"},
		{"empty state dict is fine", tsPkl, ""},
		{"missing storage record", zipPth(t, sdPickle(false, one(tdesc{numel: 4, size: []int64{4}, stride: []int64{1}})), nil), "has no record archive/data/0"},
		{"storage too small for shape", z(tdesc{numel: 4, size: []int64{10}, stride: []int64{1}}, four), "needs more than the storage's 4 elements"},
		{"stride past storage", z(tdesc{numel: 4, size: []int64{2, 2}, stride: []int64{3, 1}}, four), "needs more than"},
		{"offset past storage", z(tdesc{numel: 4, offset: 4, size: []int64{1}, stride: []int64{1}}, four), "needs more than"},
		{"huge offset", z(tdesc{numel: 4, offset: math.MaxInt64, size: []int64{2}, stride: []int64{1}}, four), "needs more than"},
		{"huge stride", z(tdesc{numel: 4, size: []int64{3}, stride: []int64{math.MaxInt64}}, four), "needs more than"},
		{"pid numel larger than record", z(tdesc{numel: 100, size: []int64{4}, stride: []int64{1}}, four), "do not fit its 16-byte record"},
		{"pid numel huge", z(tdesc{numel: math.MaxInt64 / 2, size: []int64{4}, stride: []int64{1}}, four), "do not fit"},
		{"negative size", z(tdesc{numel: 4, size: []int64{-1}, stride: []int64{1}}, four), "negative dimension"},
		{"negative stride", z(tdesc{numel: 4, size: []int64{2}, stride: []int64{-1}}, four), "negative stride"},
		{"negative offset", z(tdesc{numel: 4, offset: -1, size: []int64{2}, stride: []int64{1}}, four), "bad storage offset"},
		{"size/stride rank mismatch", z(tdesc{numel: 4, size: []int64{2, 2}, stride: []int64{1}}, four), "dimensions but stride has"},
		{"shape overflow", z(tdesc{numel: 4, size: []int64{1 << 32, 1 << 32, 1 << 32}, stride: []int64{0, 0, 0}}, four), "more than"},
		{"stride-0 expansion past budget", z(tdesc{numel: 1, size: []int64{1 << 30}, stride: []int64{0}}, f32bytes(1)), "may expand to"},
		{"unknown storage type", z(tdesc{storage: "QInt8Storage", numel: 4, size: []int64{4}, stride: []int64{1}}, four), `refusing to load global "torch.QInt8Storage"`},
		{"complex dtype", z(tdesc{storage: "ComplexFloatStorage", numel: 2, size: []int64{2}, stride: []int64{1}}, four), "dtype complex64 is not supported"},
		{"huge BINUNICODE", zipPth(t, hugeString.buf.Bytes(), nil), "runs past the end"},
		{"huge BINUNICODE8", zipPth(t, hugeString8.buf.Bytes(), nil), "runs past the end"},
		{"missing memo", pkl(opBINGET, 7, opSTOP), "memo index 7"},
		{"missing long memo", pkl(opLONG_BINGET, 1, 2, 3, 4, opSTOP), "memo index"},
		{"put on empty stack", pkl(opBINPUT, 0, opSTOP), "underflow"},
		{"stack underflow", pkl(opREDUCE), "underflow"},
		{"pop through mark", pkl(opNONE, opMARK, opTUPLE1), "underflow"},
		{"deep marks", pkl(deepMarks...), "nested MARKs"},
		{"unknown opcode", pkl(0xff), "unknown pickle opcode 0xff"},
		{"protocol 0 opcode", pkl('I', '1', '\n', opSTOP), "unsupported pickle opcode INT"},
		{"no STOP", pkl(opEMPTY_DICT), "unexpected end of data"},
		{"values left at STOP", pkl(opNONE, opNONE, opSTOP), "values left"},
		{"SETITEM on list", pkl(opEMPTY_LIST, opNONE, opNONE, opSETITEM, opSTOP), "SETITEM on a list"},
		{"APPEND to dict", pkl(opEMPTY_DICT, opNONE, opAPPEND, opSTOP), "APPEND to a dict"},
		{"odd SETITEMS", pkl(opEMPTY_DICT, opMARK, opNONE, opSETITEMS, opSTOP), "odd number"},
		{"REDUCE of non-global", pkl(opNONE, opEMPTY_TUPLE, opREDUCE, opSTOP), "REDUCE calls a None"},
		{"BUILD on int", pkl(opBININT1, 1, opEMPTY_DICT, opBUILD, opSTOP), "BUILD on a int"},
		{"persistent id in plain pickle", pkl(opNONE, opBINPERSID, opSTOP), "persistent id is a None"},
		{"global line too long", pkl(append([]byte{opGLOBAL}, bytes.Repeat([]byte{'a'}, 2000)...)...), "line longer"},
		{"frame past end", pkl(opFRAME, 0xff, 0xff, 0, 0, 0, 0, 0, 0, opSTOP), "frame of"},
		{"LONG4 too long", pkl(opLONG4, 0xff, 0xff, 0xff, 0xff), "LONG4"},
		{"storage call", pkl(opGLOBAL, 't', 'o', 'r', 'c', 'h', '\n', 'F', 'l', 'o', 'a', 't', 'S', 't', 'o', 'r', 'a', 'g', 'e', '\n', opEMPTY_TUPLE, opREDUCE, opSTOP), "cannot be called"},
		{"NEWOBJ of storage", pkl(opGLOBAL, 't', 'o', 'r', 'c', 'h', '\n', 'F', 'l', 'o', 'a', 't', 'S', 't', 'o', 'r', 'a', 'g', 'e', '\n', opEMPTY_TUPLE, opNEWOBJ, opSTOP), "cannot instantiate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd, err := readPthBytes(c.file, "bad.pth")
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error; loaded %v", sd.Keys)
			}
			if !strings.HasPrefix(err.Error(), "pth: file bad.pth: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestReadPthLegacyCrafted(t *testing.T) {
	// A storage of 6 floats; "v" is a legacy storage view of elements 2..5.
	data := f32bytes(0, 1, 2, 3, 4, 5)
	obj := sdPickle(true,
		tdesc{name: "all", storage: "FloatStorage", key: "k", numel: 6, size: []int64{2, 3}, stride: []int64{3, 1}},
		tdesc{name: "view", storage: "FloatStorage", key: "k", numel: 6, size: []int64{2}, stride: []int64{2}, legacyView: []any{"kv", int64(2), int64(4)}},
	)
	sd, err := readPthBytes(legacyPth(obj, true, legacyStorage{"k", 6, data}), "l.pth")
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.Tensors["view"].Data; !slices.Equal(got, []float32{2, 4}) {
		t.Fatalf("view %v", got)
	}
	// Big-endian legacy file.
	be := make([]byte, len(data))
	for i := 0; i < len(data); i += 4 {
		binary.BigEndian.PutUint32(be[i:], binary.LittleEndian.Uint32(data[i:]))
	}
	sd, err = readPthBytes(legacyPth(obj, false, legacyStorage{"k", 6, be}), "be.pth")
	if err != nil {
		t.Fatal(err)
	}
	if got := sd.Tensors["all"].Data; !slices.Equal(got, []float32{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("big-endian %v", got)
	}

	one := sdPickle(true, tdesc{name: "a", storage: "FloatStorage", key: "k", numel: 6, size: []int64{6}, stride: []int64{1}})
	var badMagic pickleWriter
	badMagic.proto(2)
	badMagic.int(12345)
	badMagic.op(opSTOP)
	good := legacyPth(one, true, legacyStorage{"k", 6, data})
	wrongProto := bytes.Replace(good, []byte{opBININT2, 0xe9, 0x03}, []byte{opBININT2, 0xea, 0x03}, 1)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"wrong magic number", append(badMagic.buf.Bytes(), good[15:]...), "wrong magic number"},
		{"wrong protocol version", wrongProto, "legacy protocol version"},
		{"count mismatch", legacyPth(one, true, legacyStorage{"k", 5, data[:20]}), "has 5 elements"},
		{"huge count", legacyPth(one, true, legacyStorage{"k", math.MaxInt64, nil}), "elements"},
		{"truncated storage", legacyPth(one, true, legacyStorage{"k", 6, data[:10]}), "runs past the end"},
		{"unknown key", legacyPth(one, true, legacyStorage{"zz", 6, data}), `"zz" is listed but never used`},
		{"key listed twice", legacyPth(one, true, legacyStorage{"k", 6, data}, legacyStorage{"k", 6, data}), "listed twice"},
		{"storage never written", legacyPth(one, true), "missing from the file"},
		{"pid numel past file", legacyPth(sdPickle(true, tdesc{name: "a", storage: "FloatStorage", key: "k", numel: 1 << 40, size: []int64{1}, stride: []int64{1}}), true), "cannot fit"},
		{"view out of range", legacyPth(sdPickle(true, tdesc{name: "a", storage: "FloatStorage", key: "k", numel: 6, size: []int64{1}, stride: []int64{1}, legacyView: []any{"v", int64(5), int64(4)}}), true, legacyStorage{"k", 6, data}), "view out of range"},
		{"zip-style pid in legacy file", legacyPth(sdPickle(false, tdesc{name: "a", storage: "FloatStorage", key: "k", numel: 6, size: []int64{1}, stride: []int64{1}}), true), "has 5 fields, want 6"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readPthBytes(c.file, "bad.pth")
			if err == nil || !strings.HasPrefix(err.Error(), "pth: file bad.pth: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not say %q", err, c.want)
			}
		})
	}
}

func TestReadPthZipVariants(t *testing.T) {
	data := f32bytes(1, 2, 3, 4)
	pkl := sdPickle(false, tdesc{name: "module.w", storage: "FloatStorage", key: "0", numel: 4, size: []int64{2, 2}, stride: []int64{1, 2}})
	// Any archive folder name, deflated records, big-endian byte order,
	// DataParallel prefix.
	be := make([]byte, 16)
	for i := 0; i < 16; i += 4 {
		binary.BigEndian.PutUint32(be[i:], binary.LittleEndian.Uint32(data[i:]))
	}
	for _, c := range []struct {
		name string
		file []byte
	}{
		{"deflate", buildZip(t, zipEntry{name: "my model/data.pkl", data: pkl, method: zip.Deflate},
			zipEntry{name: "my model/data/0", data: data, method: zip.Deflate})},
		{"big endian", buildZip(t, zipEntry{name: "x/data.pkl", data: pkl}, zipEntry{name: "x/byteorder", data: []byte("big")},
			zipEntry{name: "x/data/0", data: be})},
	} {
		sd, err := readPthBytes(c.file, c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := sd.Tensors["w"]; got == nil || !slices.Equal(got.Data, []float32{1, 3, 2, 4}) {
			t.Fatalf("%s: %v %v", c.name, sd.Keys, got)
		}
	}
	bad := buildZip(t, zipEntry{name: "x/data.pkl", data: pkl}, zipEntry{name: "x/byteorder", data: []byte("middle")})
	if _, err := readPthBytes(bad, "b.pth"); err == nil || !strings.Contains(err.Error(), "unknown byteorder") {
		t.Fatalf("got %v", err)
	}
	// A deflate bomb: a record that claims to inflate far beyond the file.
	bomb := buildZip(t, zipEntry{name: "x/data.pkl", data: pkl},
		zipEntry{name: "x/data/0", data: make([]byte, 4<<20), method: zip.Deflate})
	if _, err := readPthBytes(bomb, "bomb.pth"); err == nil || !strings.Contains(err.Error(), "inflate") && !strings.Contains(err.Error(), "impossible") {
		t.Fatalf("bomb: %v", err)
	}
}

// TestReadPthOverlappingZipEntries checks that a central directory whose
// entries all point at the same data cannot make the reader read (and
// allocate) more than the file holds.
func TestReadPthOverlappingZipEntries(t *testing.T) {
	const n = 64
	big := make([]byte, 256<<10)
	var ts []tdesc
	for i := 0; i < n; i++ {
		ts = append(ts, tdesc{name: fmt.Sprintf("t%02d", i), storage: "FloatStorage", key: fmt.Sprintf("%02d", i),
			numel: int64(len(big) / 4), size: []int64{int64(len(big) / 4)}, stride: []int64{1}})
	}
	file := buildZip(t, zipEntry{name: "x/data.pkl", data: sdPickle(false, ts...)}, zipEntry{name: "x/data/00", data: big})
	// Duplicate the central directory record of x/data/00 as x/data/01...
	eocd := bytes.LastIndex(file, []byte("PK\x05\x06"))
	cdSize := binary.LittleEndian.Uint32(file[eocd+12:])
	cdOff := binary.LittleEndian.Uint32(file[eocd+16:])
	cd := file[cdOff : cdOff+cdSize]
	i := bytes.Index(cd, []byte("x/data/00"))
	start := bytes.LastIndex(cd[:i], []byte("PK\x01\x02"))
	one := cd[start : i+len("x/data/00")]
	var newCD []byte
	newCD = append(newCD, cd...)
	for k := 1; k < n; k++ {
		r := slices.Clone(one)
		copy(r[len(r)-2:], fmt.Sprintf("%02d", k))
		newCD = append(newCD, r...)
	}
	out := append([]byte(nil), file[:cdOff]...)
	out = append(out, newCD...)
	end := slices.Clone(file[eocd : eocd+22])
	binary.LittleEndian.PutUint16(end[8:], uint16(2+n-1))
	binary.LittleEndian.PutUint16(end[10:], uint16(2+n-1))
	binary.LittleEndian.PutUint32(end[12:], uint32(len(newCD)))
	out = append(out, end...)
	zr, err := zip.NewReader(bytes.NewReader(out), int64(len(out)))
	if err != nil || len(zr.File) != n+1 {
		t.Fatalf("crafted zip: %v", err)
	}
	before := heapAllocs()
	_, err = readPthBytes(out, "overlap.pth")
	alloc := heapAllocs() - before
	if err == nil || !strings.Contains(err.Error(), "overlapping entries") {
		t.Fatalf("got %v", err)
	}
	if alloc > uint64(4*len(out))+(8<<20) {
		t.Fatalf("allocated %d bytes for a %d-byte file", alloc, len(out))
	}
}

// TestReadPthTruncated cuts the fixtures at every offset: every prefix is an
// error, never a panic, and never a big allocation.
func TestReadPthTruncated(t *testing.T) {
	for _, name := range []string{"convbn_zip.pth", "convbn_legacy.pth", "views_legacy.pth", "convbn_proto4.pth"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n++ {
			sd, err := readPthBytes(b[:n], name)
			if err == nil {
				t.Fatalf("%s cut at %d: loaded %v", name, n, sd.Keys)
			}
			if !strings.HasPrefix(err.Error(), "pth: file "+name+": ") {
				t.Fatalf("%s cut at %d: error %q does not name the file", name, n, err)
			}
		}
	}
}

// TestReadPthCorrupted flips every byte of small fixtures: no panics, and a
// load either fails or gives a valid state dict.
func TestReadPthCorrupted(t *testing.T) {
	for _, name := range []string{"convbn_legacy.pth", "views_zip.pth"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		c := slices.Clone(b)
		for i := range c {
			for _, x := range []byte{0xff, 0x01, 0x80} {
				c[i] ^= x
				if sd, err := readPthBytes(c, name); err == nil {
					if err := sd.Validate(); err != nil {
						t.Fatalf("%s byte %d ^ %#x: invalid state dict: %v", name, i, x, err)
					}
				}
				c[i] ^= x
			}
		}
	}
}

func testRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

// TestReadPthAmplification feeds pickles that reuse memoised values to
// multiply work: each must fail fast with bounded allocation.
func TestReadPthAmplification(t *testing.T) {
	const reps = 50000
	// OrderedDict(d) over and over on a dict of 5000 entries.
	var od pickleWriter
	od.proto(2)
	od.op(opEMPTY_DICT, opMARK)
	for i := 0; i < 5000; i++ {
		od.str(fmt.Sprint(i))
		od.op(opNONE)
	}
	od.op(opSETITEMS, opTUPLE1, opLONG_BINPUT, 0, 1, 0, 0, opPOP)
	od.global("collections", "OrderedDict") // memo 0
	od.op(opPOP)
	for i := 0; i < reps; i++ {
		od.op(opBINGET, 0, opLONG_BINGET, 0, 1, 0, 0, opREDUCE, opPOP)
	}
	od.op(opEMPTY_DICT, opSTOP)

	// One 100 KB string used as a dict key again and again.
	var key pickleWriter
	key.proto(2)
	key.str(strings.Repeat("k", 100<<10))
	key.op(opBINPUT, 0, opPOP, opEMPTY_DICT)
	for i := 0; i < reps; i++ {
		key.op(opBINGET, 0, opNONE, opSETITEM)
	}
	key.op(opSTOP)

	// A long storage key repeated in persistent ids.
	var pid pickleWriter
	pid.proto(2)
	pid.op(opMARK)
	pid.str("storage")
	pid.global("torch", "FloatStorage")
	pid.str(strings.Repeat("0", 100<<10))
	pid.str("cpu")
	pid.int(0)
	pid.op(opTUPLE, opBINPUT, 9)
	for i := 0; i < reps; i++ {
		pid.op(opBINGET, 9, opBINPERSID, opPOP)
	}
	pid.op(opEMPTY_DICT, opSTOP)

	for _, c := range []struct {
		name string
		pkl  []byte
		want string
	}{
		{"OrderedDict copies", od.buf.Bytes(), "OrderedDict called with 1 arguments"},
		{"long dict key", key.buf.Bytes(), "more work"},
		{"long storage key", pid.buf.Bytes(), "malformed storage persistent id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			file := zipPth(t, c.pkl, nil)
			before := heapAllocs()
			_, err := readPthBytes(file, "amp.pth")
			alloc := heapAllocs() - before
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v does not say %q", err, c.want)
			}
			if alloc > uint64(allocFactor*len(file)+allocSlack) {
				t.Fatalf("allocated %d bytes for a %d-byte file", alloc, len(file))
			}
		})
	}
}

// TestReadPthAllocationPatterns measures what the cheapest opcodes make the
// unpickler allocate per input byte: a long run of each must stay within
// the fuzzers' allocFactor.
func TestReadPthAllocationPatterns(t *testing.T) {
	const n = 200000
	pats := map[string]func(i int) []byte{
		"EMPTY_DICT":    func(int) []byte { return []byte{opEMPTY_DICT} },
		"dict of one":   func(int) []byte { return []byte{opEMPTY_DICT, opBININT1, 1, opNONE, opSETITEM} },
		"TUPLE1 chain":  func(int) []byte { return []byte{opTUPLE1} },
		"EMPTY_LIST":    func(int) []byte { return []byte{opEMPTY_LIST} },
		"EMPTY_TUPLE":   func(int) []byte { return []byte{opEMPTY_TUPLE} },
		"short strings": func(int) []byte { return []byte{opSHORT_BINUNICODE, 1, 'a'} },
		"memo": func(i int) []byte {
			return binary.LittleEndian.AppendUint32([]byte{opLONG_BINPUT}, uint32(i))
		},
	}
	for name, f := range pats {
		p := []byte{opPROTO, 4, opNONE}
		for i := 0; len(p) < n; i++ {
			p = append(p, f(i)...)
		}
		file := zipPth(t, p, nil)
		before := heapAllocs()
		_, err := readPthBytes(file, "x.pth")
		alloc := heapAllocs() - before
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if perByte := float64(alloc) / float64(len(file)); perByte > allocFactor {
			t.Errorf("%s: %.1f bytes allocated per input byte (limit %d)", name, perByte, allocFactor)
		}
	}
}
