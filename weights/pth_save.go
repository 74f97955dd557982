package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
)

// SavePth writes sd as a PyTorch checkpoint in torch.save's zip format: an
// OrderedDict of tensors that torch.load reads (also with weights_only=True,
// and PyTorch 1.13). Float tensors are written as float32; tensors whose
// DType is an integer type (such as BatchNorm's int64 num_batches_tracked)
// are written with that type. The file is written atomically: to a temporary
// file in the same directory that is synced and then renamed over path.
func SavePth(path string, sd *StateDict) error {
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("pth: save %s: %w", path, err)
	}
	if err := WriteFileAtomic(path, func(w io.Writer) error { return writePth(w, sd) }); err != nil {
		return fmt.Errorf("pth: save %s: %w", path, err)
	}
	return nil
}

// WritePth writes sd to w in torch.save's zip format (see SavePth).
func WritePth(w io.Writer, sd *StateDict) error {
	if err := sd.Validate(); err != nil {
		return fmt.Errorf("pth: %w", err)
	}
	if err := writePth(w, sd); err != nil {
		return fmt.Errorf("pth: %w", err)
	}
	return nil
}

// storageNames are torch's storage classes by element type, for writing.
var storageNames = map[DType]string{
	Float32: "FloatStorage",
	Int64:   "LongStorage",
	Int32:   "IntStorage",
	Int16:   "ShortStorage",
	Int8:    "CharStorage",
	Uint8:   "ByteStorage",
	Bool:    "BoolStorage",
}

// pthArchive is the folder name inside the zip; torch accepts any.
const pthArchive = "archive"

func writePth(w io.Writer, sd *StateDict) error {
	cw := &countingWriter{w: w}
	zw := &pthZipWriter{cw: cw, zw: zip.NewWriter(cw)}

	// data.pkl: the OrderedDict, one persistent storage id per tensor.
	var p pickleWriter
	p.proto(2)
	p.global("collections", "OrderedDict")
	p.op(opEMPTY_TUPLE, opREDUCE)
	const batch = 1000 // as pickle batches SETITEMS
	for i, k := range sd.Keys {
		if i%batch == 0 {
			p.op(opMARK)
		}
		t := sd.Tensors[k]
		d := writeDType(sd.DType(k))
		p.str(k)
		p.global("torch._utils", "_rebuild_tensor_v2")
		p.op(opMARK, opMARK)
		p.str("storage")
		p.global("torch", storageNames[d])
		p.str(strconv.Itoa(i))
		p.str("cpu")
		p.int(int64(len(t.Data)))
		p.op(opTUPLE, opBINPERSID)
		p.int(0)
		shape := make([]int64, len(t.Shape))
		stride := make([]int64, len(t.Shape))
		s := int64(1)
		for j := len(t.Shape) - 1; j >= 0; j-- {
			shape[j], stride[j] = int64(t.Shape[j]), s
			s *= int64(t.Shape[j])
		}
		p.ints(shape)
		p.ints(stride)
		p.op(opNEWFALSE)
		p.global("collections", "OrderedDict")
		p.op(opEMPTY_TUPLE, opREDUCE, opTUPLE, opREDUCE)
		if i%batch == batch-1 || i == len(sd.Keys)-1 {
			p.op(opSETITEMS)
		}
	}
	p.op(opSTOP)

	if err := zw.add(pthArchive+"/data.pkl", p.buf.Bytes()); err != nil {
		return err
	}
	if err := zw.add(pthArchive+"/byteorder", []byte("little")); err != nil {
		return err
	}
	var buf []byte
	for i, k := range sd.Keys {
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
		if err := zw.add(pthArchive+"/data/"+strconv.Itoa(i), buf); err != nil {
			return err
		}
	}
	if err := zw.add(pthArchive+"/version", []byte("3\n")); err != nil {
		return err
	}
	return zw.zw.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	return n, err
}

// pthZipWriter writes uncompressed records whose data starts on a 64-byte
// boundary, as PyTorch's own writer does (so that readers may mmap them).
type pthZipWriter struct {
	cw *countingWriter
	zw *zip.Writer
}

func (z *pthZipWriter) add(name string, data []byte) error {
	if err := z.zw.Flush(); err != nil {
		return err
	}
	start := z.cw.n + 30 + int64(len(name)) // where the data would start
	var extra []byte
	if start%64 != 0 {
		pad := (64 - (start+4)%64) % 64
		extra = make([]byte, 4+pad)
		extra[0], extra[1] = 'F', 'B' // PyTorch's padding field id
		binary.LittleEndian.PutUint16(extra[2:], uint16(pad))
	}
	fw, err := z.zw.CreateRaw(&zip.FileHeader{
		Name:               name,
		Method:             zip.Store,
		CRC32:              crc32.ChecksumIEEE(data),
		CompressedSize64:   uint64(len(data)),
		UncompressedSize64: uint64(len(data)),
		Extra:              extra,
	})
	if err != nil {
		return err
	}
	_, err = fw.Write(data)
	return err
}

// pickleWriter emits protocol 2 pickles with only the opcodes that torch's
// weights_only unpickler accepts.
type pickleWriter struct {
	buf  bytes.Buffer
	memo map[string]uint32
}

func (p *pickleWriter) op(ops ...byte) { p.buf.Write(ops) }

func (p *pickleWriter) proto(v byte) { p.op(opPROTO, v) }

func (p *pickleWriter) str(s string) {
	var b [5]byte
	b[0] = opBINUNICODE
	binary.LittleEndian.PutUint32(b[1:], uint32(len(s)))
	p.buf.Write(b[:])
	p.buf.WriteString(s)
}

func (p *pickleWriter) int(v int64) {
	var b [9]byte
	switch {
	case v >= 0 && v < 1<<8:
		p.op(opBININT1, byte(v))
	case v >= 0 && v < 1<<16:
		b[0] = opBININT2
		binary.LittleEndian.PutUint16(b[1:], uint16(v))
		p.buf.Write(b[:3])
	case v >= -1<<31 && v < 1<<31:
		b[0] = opBININT
		binary.LittleEndian.PutUint32(b[1:], uint32(v))
		p.buf.Write(b[:5])
	default:
		p.op(opLONG1, 8)
		binary.LittleEndian.PutUint64(b[:], uint64(v))
		p.buf.Write(b[:8])
	}
}

func (p *pickleWriter) ints(v []int64) {
	if len(v) == 0 {
		p.op(opEMPTY_TUPLE)
		return
	}
	if len(v) > 3 {
		p.op(opMARK)
	}
	for _, x := range v {
		p.int(x)
	}
	switch len(v) {
	case 1:
		p.op(opTUPLE1)
	case 2:
		p.op(opTUPLE2)
	case 3:
		p.op(opTUPLE3)
	default:
		p.op(opTUPLE)
	}
}

// global pushes module.name, memoised after its first use.
func (p *pickleWriter) global(module, name string) {
	key := module + "\n" + name
	if i, ok := p.memo[key]; ok {
		if i < 256 {
			p.op(opBINGET, byte(i))
		} else {
			var b [5]byte
			b[0] = opLONG_BINGET
			binary.LittleEndian.PutUint32(b[1:], i)
			p.buf.Write(b[:])
		}
		return
	}
	p.op(opGLOBAL)
	p.buf.WriteString(key + "\n")
	if p.memo == nil {
		p.memo = map[string]uint32{}
	}
	i := uint32(len(p.memo))
	p.memo[key] = i
	p.op(opBINPUT, byte(i)) // at most a handful of globals: always < 256
}
