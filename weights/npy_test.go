package weights

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

func TestReadNpyFixtures(t *testing.T) {
	exp := loadExpected(t)
	if len(exp.Npy) < 8 {
		t.Fatalf("expected.json lists only %d arrays", len(exp.Npy))
	}
	for name, want := range exp.Npy {
		t.Run(name, func(t *testing.T) {
			got, err := LoadNpy(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			checkTensor(t, name, got, want)
		})
	}
	_, err := LoadNpy(filepath.Join("testdata", "fortran.npy"))
	if err == nil || !strings.Contains(err.Error(), "fortran_order") || !strings.Contains(err.Error(), "fortran.npy") {
		t.Fatalf("fortran: %v", err)
	}
}

func TestNpyRoundTrip(t *testing.T) {
	for _, tt := range []*tensor.Tensor{
		tensor.Uniform(testRand(), -1, 1, 2, 3, 4),
		tensor.Full(3, 7),
		{Shape: []int{}, Data: []float32{-1.25}},
		tensor.New(0, 3),
		tensor.Full(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
	} {
		var buf bytes.Buffer
		if err := WriteNpy(&buf, tt); err != nil {
			t.Fatal(err)
		}
		hl := int(binary.LittleEndian.Uint16(buf.Bytes()[8:]))
		if (10+hl)%64 != 0 || buf.Bytes()[10+hl-1] != '\n' {
			t.Errorf("shape %v: header of %d bytes is not padded to 64", tt.Shape, hl)
		}
		got, err := ReadNpy(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !equalShape(got.Shape, tt.Shape) || !slices.Equal(got.Data, tt.Data) || got.Shape == nil {
			t.Errorf("round trip of %v gave %v", tt.Shape, got.Shape)
		}
	}
	p := filepath.Join(t.TempDir(), "a.npy")
	want := tensor.Full(2, 3, 3)
	if err := SaveNpy(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := LoadNpy(p)
	if err != nil || !slices.Equal(got.Data, want.Data) {
		t.Fatalf("%v %v", got, err)
	}
	if err := WriteNpy(&bytes.Buffer{}, &tensor.Tensor{Shape: []int{3}, Data: []float32{1}}); err == nil {
		t.Error("wrote a short tensor")
	}
	if err := WriteNpy(&bytes.Buffer{}, nil); err == nil {
		t.Error("wrote nil")
	}
}

func npyFile(major byte, header string, data []byte) []byte {
	b := []byte(npyMagic)
	b = append(b, major, 0)
	if major == 1 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(header)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(header)))
	}
	return append(append(b, header...), data...)
}

func TestReadNpyHeaders(t *testing.T) {
	four := make([]byte, 16)
	good := []struct {
		name, header string
		shape        []int
	}{
		{"double quotes, no trailing comma", `{"descr": "<f4", "shape": (2, 2), "fortran_order": False}`, []int{2, 2}},
		{"python 2 longs", "{'descr': '<f4', 'fortran_order': False, 'shape': (4L,), }   \n", []int{4}},
		{"native order", "{'descr': '=f4', 'fortran_order': False, 'shape': (), }", []int{}},
		{"single byte", "{'descr': '|u1', 'fortran_order': False, 'shape': (16,), }", []int{16}},
	}
	for _, c := range good {
		got, err := ReadNpy(bytes.NewReader(npyFile(1, c.header, four)))
		if err != nil || !equalShape(got.Shape, c.shape) {
			t.Errorf("%s: %v %v", c.name, got, err)
		}
	}
	if _, err := ReadNpy(bytes.NewReader(npyFile(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", four))); err != nil {
		t.Errorf("version 2: %v", err)
	}

	hdr := func(descr, shape string) string {
		return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }"
	}
	huge := []byte(npyMagic)
	huge = append(huge, 2, 0)
	huge = binary.LittleEndian.AppendUint32(huge, 0xffffffff)
	bad := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "reading magic"},
		{"wrong magic", []byte("\x93NUMPZ\x01\x00\x00\x00"), "wrong magic"},
		{"version 4", npyFile(1, "", nil)[:6:6], "reading magic"},
		{"unsupported version", append([]byte(npyMagic), 4, 0, 0, 0), "unsupported format version 4.0"},
		{"minor version", append([]byte(npyMagic), 1, 1, 0, 0), "unsupported format version 1.1"},
		{"header length huge", huge, "exceeds the limit"},
		{"header truncated", npyFile(1, hdr("<f4", "(4,)"), nil)[:30], "reading"},
		{"data truncated", npyFile(1, hdr("<f4", "(4,)"), four[:15]), "reading data"},
		{"huge shape, little data", npyFile(1, hdr("<f4", "(1000000000, 1000)"), four), "reading data"},
		{"shape overflow", npyFile(1, hdr("<f4", "(4294967296, 4294967296, 4294967296)"), four), "more than"},
		{"dimension too big", npyFile(1, hdr("<f4", "(99999999999999999999,)"), four), "dimension"},
		{"fortran", npyFile(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", four), "fortran_order True"},
		{"complex", npyFile(1, hdr("<c8", "(2,)"), four), `unsupported dtype "<c8"`},
		{"object", npyFile(1, hdr("|O", "(2,)"), four), `unsupported dtype "|O"`},
		{"bad byte order", npyFile(1, hdr("!f4", "(2,)"), four), "unsupported dtype"},
		{"structured", npyFile(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", four), "structured"},
		{"not a dict", npyFile(1, "[1, 2]", four), "not a dict"},
		{"missing key", npyFile(1, "{'descr': '<f4', 'shape': (2,), }", four), `missing key "fortran_order"`},
		{"extra key", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", four), `unexpected key "x"`},
		{"duplicate key", npyFile(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", four), "duplicate key"},
		{"negative dim", npyFile(1, hdr("<f4", "(-2,)"), four), "non-negative"},
		{"unterminated string", npyFile(1, "{'descr: 1", four), "unterminated"},
		{"escape", npyFile(1, `{'des\'cr': '<f4'}`, four), "escape"},
		{"bad bool", npyFile(1, "{'descr': '<f4', 'fortran_order': Nope, 'shape': (2,)}", four), "True or False"},
		{"unclosed tuple", npyFile(1, hdr("<f4", "(2, 3"), four), "expected"},
		{"junk after dict", npyFile(1, hdr("<f4", "(2,)")+" x", four), "after the dict"},
		{"missing colon", npyFile(1, "{'descr' '<f4'}", four), "missing ':'"},
		{"v3 invalid utf8", npyFile(3, "{'descr': '\xff'}", four), "UTF-8"},
		{"too many dims", npyFile(1, hdr("<f4", "("+strings.Repeat("1, ", 70)+")"), four), "dimensions"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			got, err := ReadNpy(bytes.NewReader(c.file))
			if err == nil {
				t.Fatalf("no error; read %v", got.Shape)
			}
			if !strings.HasPrefix(err.Error(), "npy: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestReadNpyTruncatedAndCorrupted(t *testing.T) {
	ents, err := filepath.Glob(filepath.Join("testdata", "*.npy"))
	if err != nil || len(ents) == 0 {
		t.Fatal("no npy fixtures")
	}
	for _, p := range ents {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(b); n++ {
			if got, err := ReadNpy(bytes.NewReader(b[:n])); err == nil && !strings.HasSuffix(p, "empty.npy") {
				t.Fatalf("%s cut at %d: read %v", p, n, got.Shape)
			}
		}
		c := slices.Clone(b)
		for i := range c {
			c[i] ^= 0xff
			if got, err := ReadNpy(bytes.NewReader(c)); err == nil && len(got.Data) != tensor.Numel(got.Shape) {
				t.Fatalf("%s byte %d: inconsistent tensor", p, i)
			}
			c[i] ^= 0xff
		}
	}
}
