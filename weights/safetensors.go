package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/convnet/convnet/tensor"
)

// maxSafetensorsHeader is the header size limit of the format's reference
// implementation (100 MB).
const maxSafetensorsHeader = 100_000_000

// safetensorsDTypes maps the format's dtype names to element types.
var safetensorsDTypes = map[string]DType{
	"F64": Float64, "F32": Float32, "F16": Float16, "BF16": BFloat16,
	"I64": Int64, "I32": Int32, "I16": Int16, "I8": Int8, "U8": Uint8, "BOOL": Bool,
}

func safetensorsName(d DType) string {
	for k, v := range safetensorsDTypes {
		if v == d {
			return k
		}
	}
	return ""
}

// LoadSafetensors reads the safetensors file at path (see ReadSafetensors).
func LoadSafetensors(path string) (*StateDict, error) {
	f, size, err := openFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer f.Close()
	return ReadSafetensors(f, size, path)
}

// ReadSafetensors reads a safetensors file of size bytes from r; name is used
// in errors. Tensors keep the order of the JSON header. F32 tensors are read
// as they are; F64, F16, BF16 and the integer and bool types are converted to
// float32, and StateDict.DTypes records the original type. The header's
// __metadata__ goes to StateDict.Metadata.
//
// As the format's specification requires, the header must be at most 100 MB,
// every tensor's data_offsets must lie in the data buffer and match its dtype
// and shape, and the tensors must cover the buffer exactly, without overlap
// or holes.
func ReadSafetensors(r io.ReaderAt, size int64, name string) (sd *StateDict, err error) {
	defer guard(&err, "safetensors: file "+name)
	sd, err = readSafetensors(r, size)
	if err != nil {
		return nil, fmt.Errorf("safetensors: file %s: %w", name, err)
	}
	return sd, nil
}

type stEntry struct {
	name       string
	dtype      DType
	shape      []int64
	begin, end int64
}

func readSafetensors(r io.ReaderAt, size int64) (*StateDict, error) {
	if size < 8 {
		return nil, fmt.Errorf("%d bytes is too short for a safetensors file", size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("reading header length: %w", readErr(err))
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > maxSafetensorsHeader {
		return nil, fmt.Errorf("header length %d exceeds the limit of %d bytes", n, maxSafetensorsHeader)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("header length %d runs past the end of the %d-byte file", n, size)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("reading header: %w", readErr(err))
	}
	entries, meta, err := parseSafetensorsHeader(header)
	if err != nil {
		return nil, err
	}
	bufStart := 8 + int64(n)
	bufLen := size - bufStart

	// Offsets: sorted by position, each tensor must start where the previous
	// one ended, and the last must end at the end of the file.
	sorted := make([]*stEntry, len(entries))
	copy(sorted, entries)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].begin != sorted[j].begin {
			return sorted[i].begin < sorted[j].begin
		}
		return sorted[i].end < sorted[j].end
	})
	end := int64(0)
	for _, e := range sorted {
		if e.begin != end {
			if e.begin < end {
				return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap the previous tensor", printable(e.name), e.begin, e.end)
			}
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a hole after offset %d", printable(e.name), e.begin, e.end, end)
		}
		if e.end < e.begin {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] end before they begin", printable(e.name), e.begin, e.end)
		}
		if e.end > bufLen {
			return nil, fmt.Errorf("tensor %q: data_offsets [%d, %d] run past the %d-byte data buffer", printable(e.name), e.begin, e.end, bufLen)
		}
		numel, err := shapeElems(e.shape, maxElements)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", printable(e.name), err)
		}
		if numel > bufLen || numel*int64(e.dtype.Size()) != e.end-e.begin {
			return nil, fmt.Errorf("tensor %q: shape %v of %s needs %d bytes but data_offsets [%d, %d] hold %d",
				printable(e.name), e.shape, e.dtype, numel*int64(e.dtype.Size()), e.begin, e.end, e.end-e.begin)
		}
		end = e.end
	}
	if end != bufLen {
		return nil, fmt.Errorf("tensors cover %d bytes of the %d-byte data buffer", end, bufLen)
	}

	sd := NewStateDict()
	sd.Metadata = meta
	var raw []byte
	for _, e := range entries {
		nb := e.end - e.begin
		if int64(cap(raw)) < nb {
			raw = make([]byte, nb)
		}
		raw = raw[:nb]
		if _, err := r.ReadAt(raw, bufStart+e.begin); err != nil {
			return nil, fmt.Errorf("tensor %q: reading data: %w", printable(e.name), readErr(err))
		}
		shape := make([]int, len(e.shape))
		for i, d := range e.shape {
			shape[i] = int(d)
		}
		t := &tensor.Tensor{Shape: shape, Data: make([]float32, nb/int64(e.dtype.Size()))}
		if err := decode(t.Data, raw, e.dtype, binary.LittleEndian, 1); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", printable(e.name), err)
		}
		sd.Set(e.name, t)
		sd.SetDType(e.name, e.dtype)
	}
	return sd, nil
}

// parseSafetensorsHeader parses the JSON header, keeping the order of its
// keys.
func parseSafetensorsHeader(h []byte) ([]*stEntry, map[string]string, error) {
	// The format allows trailing spaces after the JSON object.
	h = bytes.TrimRight(h, " ")
	if len(h) == 0 || h[0] != '{' {
		return nil, nil, errors.New("header is not a JSON object")
	}
	if !utf8.Valid(h) {
		return nil, nil, errors.New("header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(h))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	var entries []*stEntry
	var meta map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("header: object key is not a string")
		}
		if seen[key] {
			return nil, nil, fmt.Errorf("header: duplicate key %q", printable(key))
		}
		seen[key] = true
		if key == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, fmt.Errorf("header: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var info struct {
			DType       *string        `json:"dtype"`
			Shape       *[]json.Number `json:"shape"`
			DataOffsets *[]json.Number `json:"data_offsets"`
		} // other fields are ignored, as by the reference implementation
		if err := dec.Decode(&info); err != nil {
			return nil, nil, fmt.Errorf("header: tensor %q: %w", printable(key), err)
		}
		if info.DType == nil || info.Shape == nil || info.DataOffsets == nil {
			return nil, nil, fmt.Errorf("header: tensor %q needs dtype, shape and data_offsets", printable(key))
		}
		d, ok := safetensorsDTypes[*info.DType]
		if !ok {
			return nil, nil, fmt.Errorf("tensor %q: unsupported dtype %q", printable(key), printable(*info.DType))
		}
		if len(*info.Shape) > maxDims {
			return nil, nil, fmt.Errorf("tensor %q: %d dimensions (at most %d)", printable(key), len(*info.Shape), maxDims)
		}
		shape, err := nonNegInts(*info.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: shape: %w", printable(key), err)
		}
		offs, err := nonNegInts(*info.DataOffsets)
		if err != nil || len(offs) != 2 {
			return nil, nil, fmt.Errorf("tensor %q: data_offsets must be two non-negative integers", printable(key))
		}
		entries = append(entries, &stEntry{name: key, dtype: d, shape: shape, begin: offs[0], end: offs[1]})
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if dec.More() {
		return nil, nil, errors.New("header: data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errors.New("header: data after the JSON object")
	}
	return entries, meta, nil
}

func nonNegInts(nums []json.Number) ([]int64, error) {
	out := make([]int64, len(nums))
	for i, n := range nums {
		v, err := strconv.ParseInt(string(n), 10, 64)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("%q is not a non-negative integer", printable(string(n)))
		}
		out[i] = v
	}
	return out, nil
}

// SaveSafetensors writes sd as a safetensors file with the given
// __metadata__ (may be nil), atomically (temporary file, sync, rename).
// Tensors are written in sd.Keys order as F32, except those whose DType is an
// integer type, which keep it.
func SaveSafetensors(path string, sd *StateDict, metadata map[string]string) error {
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("safetensors: save %s: %w", path, err)
	}
	err := WriteFileAtomic(path, func(w io.Writer) error { return writeSafetensors(w, sd, metadata) })
	if err != nil {
		return fmt.Errorf("safetensors: save %s: %w", path, err)
	}
	return nil
}

// WriteSafetensors writes sd to w in the safetensors format (see
// SaveSafetensors).
func WriteSafetensors(w io.Writer, sd *StateDict, metadata map[string]string) error {
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := writeSafetensors(w, sd, metadata); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

func writeSafetensors(w io.Writer, sd *StateDict, metadata map[string]string) error {
	var h bytes.Buffer
	h.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			h.WriteByte(',')
		}
		first = false
	}
	if len(metadata) > 0 {
		sep()
		h.WriteString(`"__metadata__":`)
		b, err := json.Marshal(metadata) // sorted keys
		if err != nil {
			return err
		}
		h.Write(b)
	}
	off := int64(0)
	for _, k := range sd.Keys {
		if k == "__metadata__" {
			return errors.New(`a tensor cannot be named "__metadata__"`)
		}
		t := sd.Tensors[k]
		d := writeDType(sd.DType(k))
		n := int64(len(t.Data) * d.Size())
		sep()
		kb, err := json.Marshal(k)
		if err != nil {
			return err
		}
		h.Write(kb)
		h.WriteString(`:{"dtype":"` + safetensorsName(d) + `","shape":[`)
		for i, s := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(s))
		}
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, off+n)
		off += n
	}
	h.WriteByte('}')
	for h.Len()%8 != 0 { // align the data buffer to 8 bytes, as the reference writer does
		h.WriteByte(' ')
	}
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(h.Len()))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(h.Bytes()); err != nil {
		return err
	}
	var buf []byte
	for _, k := range sd.Keys {
		t := sd.Tensors[k]
		d := writeDType(sd.DType(k))
		n := len(t.Data) * d.Size()
		if cap(buf) < n {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if err := encode(buf, t.Data, d); err != nil {
			return fmt.Errorf("tensor %q: %w", k, err)
		}
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}
