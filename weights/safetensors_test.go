package weights

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/convnet/convnet/tensor"
)

// stFile assembles a safetensors file from a header string and data.
func stFile(header string, data []byte) []byte {
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func readSTBytes(b []byte) (*StateDict, error) {
	return ReadSafetensors(bytes.NewReader(b), int64(len(b)), "bad.safetensors")
}

func TestSafetensorsRoundTrip(t *testing.T) {
	sd := roundTripStateDict()
	meta := map[string]string{"format": "pt", "note": `quotes " and \ and ü`}
	p := filepath.Join(t.TempDir(), "m.safetensors")
	if err := SaveSafetensors(p, sd, meta); err != nil {
		t.Fatal(err)
	}
	back, err := LoadSafetensors(p)
	if err != nil {
		t.Fatal(err)
	}
	sameStateDict(t, back, sd, func(k string) DType { return writeDType(sd.DType(k)) })
	if len(back.Metadata) != 2 || back.Metadata["note"] != meta["note"] {
		t.Fatalf("metadata %v", back.Metadata)
	}
	// The header is padded so that the data starts 8-byte aligned.
	b, _ := os.ReadFile(p)
	if n := binary.LittleEndian.Uint64(b); (8+n)%8 != 0 {
		t.Fatalf("header length %d", n)
	}
	// No metadata, no tensors.
	var buf bytes.Buffer
	if err := WriteSafetensors(&buf, NewStateDict(), nil); err != nil {
		t.Fatal(err)
	}
	if e, err := readSTBytes(buf.Bytes()); err != nil || e.Len() != 0 || e.Metadata != nil {
		t.Fatalf("empty: %v %v", e, err)
	}
	bad := NewStateDict()
	bad.Set("__metadata__", tensor.New(1))
	if err := WriteSafetensors(&buf, bad, nil); err == nil {
		t.Fatal("wrote a tensor named __metadata__")
	}
}

func TestReadSafetensorsDTypes(t *testing.T) {
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c, 0x01, 0x00} // 1, -2, +inf, smallest subnormal
	bf16 := []byte{0x80, 0x3f, 0x20, 0xc1}                        // 1, -10
	f64 := binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1))
	i64 := binary.LittleEndian.AppendUint64(nil, uint64(1<<40))
	var data []byte
	data = append(data, f16...)
	data = append(data, bf16...)
	data = append(data, f64...)
	data = append(data, i64...)
	data = append(data, 1, 0, 1)
	h := `{"half":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},` +
		`"brain":{"dtype":"BF16","shape":[2],"data_offsets":[8,12]},` +
		`"__metadata__":{"a":"b"},` +
		`"dbl":{"dtype":"F64","shape":[],"data_offsets":[12,20],"extra":"ignored"},` +
		`"steps":{"dtype":"I64","shape":[1],"data_offsets":[20,28]},` +
		`"mask":{"dtype":"BOOL","shape":[3],"data_offsets":[28,31]}}   `
	sd, err := readSTBytes(stFile(h, data))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sd.Keys, []string{"half", "brain", "dbl", "steps", "mask"}) {
		t.Fatalf("keys %v", sd.Keys)
	}
	want := map[string][]float32{
		"half":  {1, -2, float32(math.Inf(1)), float32(math.Ldexp(1, -24))},
		"brain": {1, -10},
		"dbl":   {0.1},
		"steps": {1 << 40},
		"mask":  {1, 0, 1},
	}
	for k, w := range want {
		if !slices.Equal(sd.Tensors[k].Data, w) {
			t.Errorf("%s: %v, want %v", k, sd.Tensors[k].Data, w)
		}
	}
	if len(sd.Tensors["dbl"].Shape) != 0 || !sd.Int64("steps") || sd.DType("half") != Float16 || sd.DType("mask") != Bool {
		t.Errorf("shapes/dtypes: %v %v", sd.Tensors["dbl"].Shape, sd.DTypes)
	}
	if sd.Metadata["a"] != "b" {
		t.Errorf("metadata %v", sd.Metadata)
	}
}

func TestHalfToFloat(t *testing.T) {
	for h, want := range map[uint16]float32{
		0x0000: 0, 0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0400: float32(math.Ldexp(1, -14)),
		0x03ff: float32(math.Ldexp(1023, -24)), 0x0001: float32(math.Ldexp(1, -24)),
		0x7c00: float32(math.Inf(1)), 0xfc00: float32(math.Inf(-1)), 0x3555: 0.33325195,
	} {
		if got := halfToFloat(h); got != want {
			t.Errorf("halfToFloat(%#04x) = %v, want %v", h, got, want)
		}
	}
	if got := halfToFloat(0x7e00); !math.IsNaN(float64(got)) {
		t.Errorf("NaN became %v", got)
	}
	if got := halfToFloat(0x8000); got != 0 || !math.Signbit(float64(got)) {
		t.Errorf("-0 became %v", got)
	}
}

func TestReadSafetensorsBadInputs(t *testing.T) {
	four := make([]byte, 16)
	ok := `{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}`
	hugeLen := binary.LittleEndian.AppendUint64(nil, 1<<62)
	overLimit := binary.LittleEndian.AppendUint64(nil, maxSafetensorsHeader+1)
	overLimit = append(overLimit, make([]byte, 64)...)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"short", []byte{1, 2, 3}, "too short"},
		{"header length huge", append(hugeLen, "{}"...), "exceeds the limit"},
		{"header length over 100MB", overLimit, "exceeds the limit"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "runs past the end"},
		{"not json", stFile("hello", nil), "not a JSON object"},
		{"json array", stFile("[1,2]", nil), "not a JSON object"},
		{"broken json", stFile(`{"a":`, nil), "header"},
		{"trailing garbage", stFile(`{} x`, nil), "after the JSON object"},
		{"invalid utf8", stFile("{\"\xff\":1}", nil), "UTF-8"},
		{"unknown dtype", stFile(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), `unsupported dtype "F8_E4M3"`},
		{"missing field", stFile(`{"a":{"dtype":"F32","shape":[1]}}`, four[:4]), "needs dtype, shape and data_offsets"},
		{"negative dim", stFile(`{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, four[:4]), "non-negative"},
		{"fractional dim", stFile(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, four[:4]), "non-negative"},
		{"three offsets", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, four[:4]), "data_offsets must be"},
		{"offsets out of range", stFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, four[:8]), "run past the 8-byte data buffer"},
		{"offsets huge", stFile(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,9223372036854775807]}}`, four), "run past"},
		{"offsets reversed", stFile(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[1],"data_offsets":[16,12]}}`, four), "hole"},
		{"end before begin", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, four[:4]), "end before they begin"},
		{"overlap", stFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, four[:12]), "overlap"},
		{"hole", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, four[:12]), "hole"},
		{"buffer not covered", stFile(ok, append(four, 0)), "cover 16 bytes of the 17-byte"},
		{"shape/size mismatch", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}}`, four), "needs 12 bytes"},
		{"shape overflow", stFile(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}}`, four), "more than"},
		{"duplicate key", stFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, four[:8]), "duplicate key"},
		{"metadata not strings", stFile(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"too many dims", stFile(`{"a":{"dtype":"F32","shape":[`+strings.Repeat("1,", 70)+`1],"data_offsets":[0,4]}}`, four[:4]), "dimensions"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd, err := readSTBytes(c.file)
			if err == nil {
				t.Fatalf("no error; loaded %v", sd.Keys)
			}
			if !strings.HasPrefix(err.Error(), "safetensors: file bad.safetensors: ") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
	if _, err := readSTBytes(stFile(ok, four)); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
}

func TestReadSafetensorsTruncated(t *testing.T) {
	var buf bytes.Buffer
	sd := NewStateDict()
	sd.Set("a", tensor.Full(1, 3, 4))
	sd.Set("b", tensor.Full(2, 5))
	if err := WriteSafetensors(&buf, sd, map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	for n := 0; n < len(b); n++ {
		if _, err := readSTBytes(b[:n]); err == nil {
			t.Fatalf("cut at %d: no error", n)
		}
	}
	c := slices.Clone(b)
	for i := range c {
		for _, x := range []byte{0xff, 0x01, 0x20} {
			c[i] ^= x
			if sd, err := readSTBytes(c); err == nil {
				if err := sd.Validate(); err != nil {
					t.Fatalf("byte %d ^ %#x: %v", i, x, err)
				}
			}
			c[i] ^= x
		}
	}
}
