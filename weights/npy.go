package weights

// This is a small NumPy .npy reader and writer of our own rather than
// codeberg.org/sbinet/npyio: we need one array type (float32, converted from
// a few others), strict and bounded handling of hostile input (a header that
// claims a huge shape must not make us allocate it before the data is seen)
// and no reflection. The format is simple: a magic string, a version, a
// header length, a Python dict literal, then the raw data. Keeping it to
// about 300 lines that the fuzzer exercises directly is simpler and safer
// than auditing a general-purpose library's behaviour on bad input.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/convnet/convnet/tensor"
)

const (
	npyMagic = "\x93NUMPY"
	// maxNpyHeader bounds the header; numpy itself refuses headers over
	// 10000 bytes by default when reading.
	maxNpyHeader = 1 << 20
	// readChunk is how much is read (and allocated) at a time when a size
	// comes from the file, so that a lying header cannot make the reader
	// allocate much more than the input holds.
	readChunk = 1 << 20
)

// LoadNpy reads the .npy file at path (see ReadNpy).
func LoadNpy(path string) (*tensor.Tensor, error) {
	f, _, err := openFile(path)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	defer f.Close()
	t, _, err := readNpy(f, "npy: file "+path)
	return t, err
}

// ReadNpy reads one .npy array from r as a float32 tensor. It accepts
// format versions 1.0, 2.0 and 3.0; C-order (fortran_order False) arrays of
// type f4, f8, f2, i8, i4, i2, i1, u1 or b1, little- or big-endian; types
// other than f4 are converted to float32. A 0-d array gives a
// tensor with an empty shape.
func ReadNpy(r io.Reader) (*tensor.Tensor, error) {
	t, _, err := readNpy(r, "npy")
	return t, err
}

func readNpy(r io.Reader, prefix string) (t *tensor.Tensor, d DType, err error) {
	defer guard(&err, prefix)
	t, d, err = readNpyArray(r)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", prefix, err)
	}
	return t, d, nil
}

func readNpyArray(r io.Reader) (*tensor.Tensor, DType, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, "", fmt.Errorf("reading magic: %w", readErr(err))
	}
	if string(pre[:6]) != npyMagic {
		return nil, "", fmt.Errorf("not a .npy file: wrong magic %q", pre[:6])
	}
	major, minor := pre[6], pre[7]
	if minor != 0 || major < 1 || major > 3 {
		return nil, "", fmt.Errorf("unsupported format version %d.%d", major, minor)
	}
	var hlen uint64
	if major == 1 {
		if _, err := io.ReadFull(r, pre[8:10]); err != nil {
			return nil, "", fmt.Errorf("reading header length: %w", readErr(err))
		}
		hlen = uint64(binary.LittleEndian.Uint16(pre[8:10]))
	} else {
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, "", fmt.Errorf("reading header length: %w", readErr(err))
		}
		hlen = uint64(binary.LittleEndian.Uint32(b[:]))
	}
	if hlen > maxNpyHeader {
		return nil, "", fmt.Errorf("header length %d exceeds the limit of %d bytes", hlen, maxNpyHeader)
	}
	hb, err := readBounded(r, int64(hlen))
	if err != nil {
		return nil, "", fmt.Errorf("reading %d-byte header: %w", hlen, err)
	}
	var header string
	if major == 3 {
		if !utf8.Valid(hb) {
			return nil, "", errors.New("header is not valid UTF-8")
		}
		header = string(hb)
	} else {
		// Versions 1 and 2 are latin-1; only ASCII matters to the parser.
		header = string(hb)
	}
	h, err := parseNpyHeader(header)
	if err != nil {
		return nil, "", fmt.Errorf("header: %w", err)
	}
	if h.fortran {
		return nil, "", errors.New("fortran_order True arrays are not supported (save a C-order array, e.g. np.ascontiguousarray)")
	}
	dtype, order, err := npyDType(h.descr)
	if err != nil {
		return nil, "", err
	}
	numel, err := shapeElems(h.shape, maxElements)
	if err != nil {
		return nil, "", err
	}
	data, err := readBounded(r, numel*int64(dtype.Size()))
	if err != nil {
		return nil, "", fmt.Errorf("reading data of shape %v (%s): %w", h.shape, h.descr, err)
	}
	shape := make([]int, len(h.shape))
	for i, s := range h.shape {
		shape[i] = int(s)
	}
	t := &tensor.Tensor{Shape: shape, Data: make([]float32, numel)}
	if err := decode(t.Data, data, dtype, order, 1); err != nil {
		return nil, "", err
	}
	return t, dtype, nil
}

// readBounded reads exactly n bytes, allocating as data arrives rather than
// trusting n up front.
func readBounded(r io.Reader, n int64) ([]byte, error) {
	if n <= readChunk {
		b := make([]byte, n)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, readErr(err)
		}
		return b, nil
	}
	var buf bytes.Buffer
	if _, err := io.CopyN(&buf, r, n); err != nil {
		return nil, readErr(err)
	}
	return buf.Bytes(), nil
}

// npyDType maps a descr such as "<f4" to an element type and byte order.
func npyDType(descr string) (DType, binary.ByteOrder, error) {
	if len(descr) < 3 {
		return "", nil, fmt.Errorf("unsupported dtype %q", printable(descr))
	}
	var order binary.ByteOrder
	switch descr[0] {
	case '<', '|', '=':
		order = binary.LittleEndian
	case '>':
		order = binary.BigEndian
	default:
		return "", nil, fmt.Errorf("unsupported dtype %q", printable(descr))
	}
	d, ok := map[string]DType{
		"f2": Float16, "f4": Float32, "f8": Float64,
		"i1": Int8, "i2": Int16, "i4": Int32, "i8": Int64,
		"u1": Uint8, "b1": Bool,
	}[descr[1:]]
	if !ok {
		return "", nil, fmt.Errorf("unsupported dtype %q", printable(descr))
	}
	return d, order, nil
}

type npyHeader struct {
	descr   string
	fortran bool
	shape   []int64
}

// parseNpyHeader parses the header's Python dict literal, e.g.
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseNpyHeader(s string) (*npyHeader, error) {
	p := &pyLit{s: s}
	h := &npyHeader{}
	seen := map[string]bool{}
	p.ws()
	if !p.eat('{') {
		return nil, errors.New("not a dict")
	}
	for {
		p.ws()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.ws()
		if !p.eat(':') {
			return nil, fmt.Errorf("missing ':' after %q", printable(key))
		}
		p.ws()
		if seen[key] {
			return nil, fmt.Errorf("duplicate key %q", printable(key))
		}
		seen[key] = true
		switch key {
		case "descr":
			if p.peek() == '[' {
				return nil, errors.New("structured dtypes are not supported")
			}
			if h.descr, err = p.str(); err != nil {
				return nil, fmt.Errorf("descr: %w", err)
			}
		case "fortran_order":
			switch {
			case strings.HasPrefix(s[p.i:], "True"):
				h.fortran, p.i = true, p.i+4
			case strings.HasPrefix(s[p.i:], "False"):
				h.fortran, p.i = false, p.i+5
			default:
				return nil, errors.New("fortran_order is not True or False")
			}
		case "shape":
			if h.shape, err = p.intTuple(); err != nil {
				return nil, fmt.Errorf("shape: %w", err)
			}
		default:
			return nil, fmt.Errorf("unexpected key %q", printable(key))
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		p.ws()
		if !p.eat('}') {
			return nil, errors.New("expected ',' or '}'")
		}
		break
	}
	p.ws()
	if p.i != len(s) {
		return nil, errors.New("data after the dict")
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, fmt.Errorf("missing key %q", k)
		}
	}
	return h, nil
}

// pyLit scans the small subset of Python literals in .npy headers.
type pyLit struct {
	s string
	i int
}

func (p *pyLit) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\n' || p.s[p.i] == '\t' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *pyLit) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *pyLit) eat(c byte) bool {
	if p.peek() == c && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

// str scans a quoted string without escapes (numpy writes none).
func (p *pyLit) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", errors.New("expected a quoted string")
	}
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	if strings.IndexByte(v, '\\') >= 0 {
		return "", errors.New("escapes in strings are not supported")
	}
	p.i += end + 2
	return v, nil
}

// intTuple scans (a, b, ...), allowing a trailing comma and Python 2's L
// suffix.
func (p *pyLit) intTuple() ([]int64, error) {
	if !p.eat('(') {
		return nil, errors.New("expected a tuple")
	}
	var out []int64
	for {
		p.ws()
		if p.eat(')') {
			return out, nil
		}
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		if j == p.i {
			return nil, errors.New("expected a non-negative integer")
		}
		v, err := strconv.ParseInt(p.s[p.i:j], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dimension %q: %w", printable(p.s[p.i:j]), err)
		}
		if len(out) >= maxDims {
			return nil, fmt.Errorf("more than %d dimensions", maxDims)
		}
		out = append(out, v)
		p.i = j
		if p.peek() == 'L' {
			p.i++
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		p.ws()
		if !p.eat(')') {
			return nil, errors.New("expected ',' or ')'")
		}
		return out, nil
	}
}

// SaveNpy writes t to path as a version 1.0 .npy file of little-endian
// float32 (version 2.0 if the header needs it), atomically (temporary file,
// sync, rename).
func SaveNpy(path string, t *tensor.Tensor) error {
	if err := WriteFileAtomic(path, func(w io.Writer) error { return WriteNpy(w, t) }); err != nil {
		return fmt.Errorf("npy: save %s: %w", path, err)
	}
	return nil
}

// WriteNpy writes t to w as a .npy array of little-endian float32, readable
// by numpy.load.
func WriteNpy(w io.Writer, t *tensor.Tensor) error {
	if t == nil {
		return errors.New("npy: nil tensor")
	}
	if err := tensor.CheckShape(t.Shape); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if len(t.Data) != tensor.Numel(t.Shape) {
		return fmt.Errorf("npy: %d values for shape %v", len(t.Data), t.Shape)
	}
	var sb strings.Builder
	sb.WriteString("{'descr': '<f4', 'fortran_order': False, 'shape': (")
	for i, s := range t.Shape {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(s))
	}
	if len(t.Shape) == 1 {
		sb.WriteByte(',')
	}
	sb.WriteString("), }")
	// Pad with spaces and a newline so that the data starts on a 64-byte
	// boundary, as numpy does.
	major, pre := byte(1), 10
	if sb.Len()+1+pre > 1<<16 {
		major, pre = 2, 12
	}
	for (pre+sb.Len()+1)%64 != 0 {
		sb.WriteByte(' ')
	}
	sb.WriteByte('\n')
	header := make([]byte, 0, pre+sb.Len())
	header = append(header, npyMagic...)
	header = append(header, major, 0)
	if major == 1 {
		header = binary.LittleEndian.AppendUint16(header, uint16(sb.Len()))
	} else {
		header = binary.LittleEndian.AppendUint32(header, uint32(sb.Len()))
	}
	header = append(header, sb.String()...)
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	buf := make([]byte, 4*min(len(t.Data), 1<<16))
	for i := 0; i < len(t.Data); i += 1 << 16 {
		chunk := t.Data[i:min(i+1<<16, len(t.Data))]
		if err := encode(buf, chunk, Float32); err != nil {
			return fmt.Errorf("npy: %w", err)
		}
		if _, err := w.Write(buf[:4*len(chunk)]); err != nil {
			return fmt.Errorf("npy: %w", err)
		}
	}
	return nil
}
