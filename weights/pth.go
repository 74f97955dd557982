package weights

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"path"
	"strings"

	"github.com/convnet/convnet/tensor"
)

// Load budgets. A checkpoint may only make the reader allocate a fixed
// factor of its own size: raw storages are read from the file (at most its
// size), and the float32 tensors built from them may take at most
// outputFactor times the file size plus outputSlack bytes. The factor leaves
// room for float16/int8 storages (which grow when widened to float32) and for
// several views of one storage (tied weights); stride-0 views that would
// expand a tiny storage into a huge tensor are refused.
const (
	outputFactor = 8
	outputSlack  = 4 << 20
	// deflateFactor bounds what compressed zip entries (torch writes none,
	// but a re-zipped checkpoint may have them) may inflate to, in total.
	deflateFactor = 8
	// maxElements caps one tensor's element count before any budget
	// arithmetic (so that products cannot overflow).
	maxElements = 1 << 40
	// maxFileSize keeps the budget arithmetic far from overflow.
	maxFileSize = 1 << 50
)

// LoadPth reads the PyTorch checkpoint at path (see ReadPth).
func LoadPth(path string) (*StateDict, error) {
	f, size, err := openFile(path)
	if err != nil {
		return nil, fmt.Errorf("pth: %w", err)
	}
	defer f.Close()
	return ReadPth(f, size, path)
}

// ReadPth reads a PyTorch checkpoint of size bytes from r; name is used in
// errors. It accepts what torch.save writes: the zip format (PyTorch >= 1.6)
// and the legacy format (_use_new_zipfile_serialization=False). The
// checkpoint must hold a dict of tensors (a state_dict), or a dict that
// wraps one under "state_dict", "model" or "model_state_dict" (other entries,
// such as "epoch", are ignored). A "module." prefix on every key, as
// DataParallel adds, is removed.
//
// Tensors of any real dtype are converted to float32; StateDict.DTypes
// records the original type. Only the allow-listed globals of a state dict
// are accepted (see UnsafeGlobalError); nothing in the file is executed.
func ReadPth(r io.ReaderAt, size int64, name string) (sd *StateDict, err error) {
	defer guard(&err, "pth: file "+name)
	l := &pthLoader{r: r, size: size, name: name, outBudget: outputFactor*size + outputSlack}
	obj, err := l.load()
	if err != nil {
		return nil, l.wrap(err)
	}
	sd, err = l.stateDict(obj)
	if err != nil {
		return nil, l.wrap(err)
	}
	return sd, nil
}

type pthLoader struct {
	r    io.ReaderAt
	size int64
	name string

	// Zip format.
	prefix   string               // "archive/"
	entries  map[string]*zip.File // by full name
	inflated int64                // bytes inflated from compressed entries
	stored   int64                // bytes read from stored entries
	bigEnd   bool                 // byteorder record says "big"

	// Legacy format.
	legacy map[string]*legacyRoot

	pickleSize int64             // length of the object pickle (bounds)
	raw        map[string][]byte // storages read so far
	outBudget  int64             // bytes of float32 output still allowed
	storages   map[string]*pyStorage
}

type legacyRoot struct {
	dtype DType
	numel int64
	data  []byte
	read  bool
}

func (l *pthLoader) wrap(err error) error {
	return fmt.Errorf("pth: file %s: %w", l.name, err)
}

func (l *pthLoader) load() (any, error) {
	if l.size < 0 {
		return nil, fmt.Errorf("negative size %d", l.size)
	}
	if l.size == 0 {
		return nil, errors.New("empty file")
	}
	if l.size > maxFileSize {
		return nil, fmt.Errorf("size %d is too large", l.size)
	}
	var head [512]byte
	n, err := l.r.ReadAt(head[:min(int64(len(head)), l.size)], 0)
	if n < int(min(int64(len(head)), l.size)) {
		if err == nil || err == io.EOF {
			err = errTruncated
		}
		return nil, fmt.Errorf("reading header: %w", err)
	}
	switch {
	case n >= 4 && string(head[:4]) == "PK\x03\x04":
		return l.loadZip()
	case n >= 2 && head[0] == opPROTO && head[1] >= 2 && head[1] <= 5:
		return l.loadLegacy()
	case n >= 262 && string(head[257:262]) == "ustar":
		return nil, errors.New("tar checkpoints (PyTorch < 0.4) are not supported; load and re-save it with a newer PyTorch")
	case n >= 2 && head[0] == opPROTO:
		return nil, fmt.Errorf("unsupported pickle protocol %d", head[1])
	}
	return nil, fmt.Errorf("not a PyTorch checkpoint: unknown magic % x", head[:min(n, 4)])
}

// ---- zip format ----

func (l *pthLoader) loadZip() (any, error) {
	zr, err := zip.NewReader(l.r, l.size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("corrupt zip archive: %w", err)
	}
	l.entries = make(map[string]*zip.File, len(zr.File))
	var pkl *zip.File
	for _, f := range zr.File {
		if _, dup := l.entries[f.Name]; dup {
			continue
		}
		l.entries[f.Name] = f
		dir, base := path.Split(f.Name)
		if pkl == nil && base == "data.pkl" && strings.Count(dir, "/") == 1 {
			pkl = f
			l.prefix = dir
		}
	}
	if pkl == nil {
		return nil, errors.New("zip archive has no <archive>/data.pkl: not a torch.save checkpoint")
	}
	if _, ok := l.entries[l.prefix+"constants.pkl"]; ok {
		if _, ok := l.entries[l.prefix+"code/"]; ok || l.hasDir(l.prefix+"code/") {
			return nil, errors.New("this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint")
		}
	}
	if f, ok := l.entries[l.prefix+"byteorder"]; ok {
		b, err := l.readEntry(f, 16)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "little":
		case "big":
			l.bigEnd = true
		default:
			return nil, fmt.Errorf("unknown byteorder %q", printable(string(b)))
		}
	}
	data, err := l.readEntry(pkl, l.size)
	if err != nil {
		return nil, err
	}
	l.storages = map[string]*pyStorage{}
	l.pickleSize = int64(len(data))
	in := newPickleInput(bytes.NewReader(data), 0, int64(len(data)))
	v, err := unpickle(in, l.zipPersistentLoad)
	if err != nil {
		var ge *UnsafeGlobalError
		if errors.As(err, &ge) {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", pkl.Name, err)
	}
	return v, nil
}

func (l *pthLoader) hasDir(dir string) bool {
	for n := range l.entries {
		if strings.HasPrefix(n, dir) {
			return true
		}
	}
	return false
}

// readEntry reads a whole zip entry, refusing entries larger than max (or,
// for compressed entries, than the remaining inflate budget) before
// allocating, and checking the CRC.
func (l *pthLoader) readEntry(f *zip.File, max int64) ([]byte, error) {
	n := f.UncompressedSize64
	switch f.Method {
	case zip.Store:
		if f.CompressedSize64 != n {
			return nil, fmt.Errorf("zip entry %s: stored entry with compressed size %d != size %d", f.Name, f.CompressedSize64, n)
		}
		// Entries of a well-formed archive do not overlap, so all that is
		// read from them together fits in the file; a crafted central
		// directory that points many entries at the same data does not.
		if n > uint64(l.size-l.stored) {
			return nil, fmt.Errorf("zip entry %s: %d more bytes than the %d-byte file holds (overlapping entries?)", f.Name, n, l.size)
		}
		l.stored += int64(n)
	case zip.Deflate:
		if f.CompressedSize64 > uint64(l.size) {
			return nil, fmt.Errorf("zip entry %s: compressed size %d exceeds the file size %d", f.Name, f.CompressedSize64, l.size)
		}
		// Deflate cannot compress better than about 1032:1.
		if n/1032 > f.CompressedSize64 {
			return nil, fmt.Errorf("zip entry %s: size %d is impossible for %d compressed bytes", f.Name, n, f.CompressedSize64)
		}
		if n > uint64(deflateFactor*l.size-l.inflated) {
			return nil, fmt.Errorf("zip entry %s: inflates to %d bytes, more than the reader allows for a %d-byte file", f.Name, n, l.size)
		}
		l.inflated += int64(n)
	default:
		return nil, fmt.Errorf("zip entry %s: unsupported compression method %d", f.Name, f.Method)
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("zip entry %s: size %d is larger than expected (%d)", f.Name, n, max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("zip entry %s: %w", f.Name, readErr(err))
	}
	// Reading on to the end makes the zip reader verify the CRC-32.
	var one [1]byte
	if k, err := rc.Read(one[:]); k != 0 || err != io.EOF {
		if err == nil || err == io.EOF {
			return nil, fmt.Errorf("zip entry %s: longer than its recorded size", f.Name)
		}
		return nil, fmt.Errorf("zip entry %s: %w", f.Name, err)
	}
	return b, nil
}

// parseStoragePid checks a persistent id ('storage', storage_type, key,
// location, numel[, view_metadata]) with want elements.
func parseStoragePid(pid any, want int) (t pyTuple, g *pyGlobal, key, location string, numel int64, err error) {
	t, ok := pid.(pyTuple)
	if !ok {
		return nil, nil, "", "", 0, fmt.Errorf("persistent id is a %s, not a tuple", typeName(pid))
	}
	if len(t) == 0 {
		return nil, nil, "", "", 0, errors.New("empty persistent id")
	}
	if s, _ := shortString(t[0], 64); s != "storage" {
		return nil, nil, "", "", 0, fmt.Errorf("persistent id of type %s is not a storage", printable(s))
	}
	if len(t) != want {
		return nil, nil, "", "", 0, fmt.Errorf("storage persistent id has %d fields, want %d", len(t), want)
	}
	g, ok = t[1].(*pyGlobal)
	if !ok || g.kind != gStorageType {
		return nil, nil, "", "", 0, fmt.Errorf("storage type is a %s", typeName(t[1]))
	}
	key, ok1 := shortString(t[2], maxStorageKey)
	location, ok2 := shortString(t[3], maxStorageKey)
	numel, ok3 := asInt(t[4])
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, nil, "", "", 0, errors.New("malformed storage persistent id")
	}
	return t, g, key, location, numel, nil
}

// maxStorageKey bounds storage keys and locations (torch writes short
// decimal keys and names like "cuda:0"). Keys are copied and concatenated
// per persistent id, and a pickle can repeat an id for a few bytes, so
// their length must be bounded.
const maxStorageKey = 1024

// shortString returns v as a string if it is a str (or bytes) of at most max
// bytes.
func shortString(v any, max int) (string, bool) {
	switch v := v.(type) {
	case string:
		if len(v) <= max {
			return v, true
		}
	case []byte:
		if len(v) <= max {
			return string(v), true
		}
	}
	return "", false
}

func (l *pthLoader) zipPersistentLoad(pid any) (any, error) {
	_, g, key, location, numel, err := parseStoragePid(pid, 5)
	if err != nil {
		return nil, err
	}
	f, ok := l.entries[l.prefix+"data/"+key]
	if !ok {
		return nil, fmt.Errorf("storage %q has no record %sdata/%s", printable(key), l.prefix, printable(key))
	}
	// The record must hold numel elements; checking now (against the
	// directory, without reading) keeps bad numels out of later arithmetic.
	if es := int64(max(g.dtype.Size(), 1)); numel > l.size/es || uint64(numel*es) > f.UncompressedSize64 {
		return nil, fmt.Errorf("storage %q: %d elements of %s do not fit its %d-byte record", printable(key), numel, g.dtype, f.UncompressedSize64)
	}
	// Identical ids give the same storage; one key may be viewed with
	// several dtypes (torch >= 2 keeps untyped storages).
	ck := key + "\x00" + string(g.dtype)
	if st, ok := l.storages[ck]; ok {
		return st, nil
	}
	st := &pyStorage{key: key, dtype: g.dtype, numel: numel, location: location}
	l.storages[ck] = st
	return st, nil
}

// rawStorage returns the bytes of storage key.
func (l *pthLoader) rawStorage(key string) ([]byte, error) {
	if b, ok := l.raw[key]; ok {
		return b, nil
	}
	if l.raw == nil {
		l.raw = map[string][]byte{}
	}
	if l.legacy != nil {
		root, ok := l.legacy[key]
		if !ok || !root.read {
			return nil, fmt.Errorf("storage %q is missing from the file", printable(key))
		}
		return root.data, nil
	}
	f := l.entries[l.prefix+"data/"+key]
	b, err := l.readEntry(f, l.size)
	if err != nil {
		return nil, err
	}
	l.raw[key] = b
	return b, nil
}

// ---- legacy format ----

// legacyMagic is torch.serialization's MAGIC_NUMBER.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

const legacyProtocol = 1001

func (l *pthLoader) loadLegacy() (any, error) {
	in := newPickleInput(io.NewSectionReader(l.r, 0, l.size), 0, l.size)
	magic, err := unpickle(in, nil)
	if err != nil {
		return nil, stageErr("magic number", err)
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, errors.New("wrong magic number: not a legacy torch.save checkpoint")
	}
	proto, err := unpickle(in, nil)
	if err != nil {
		return nil, stageErr("protocol version", err)
	}
	if p, ok := proto.(int64); !ok || p != legacyProtocol {
		return nil, fmt.Errorf("unsupported legacy protocol version (%s)", typeName(proto))
	}
	sysInfo, err := unpickle(in, nil)
	if err != nil {
		return nil, stageErr("sys_info", err)
	}
	info, ok := sysInfo.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("sys_info is a %s, not a dict", typeName(sysInfo))
	}
	if v, ok := info.get("little_endian"); ok && v == false {
		l.bigEnd = true
	}
	l.legacy = map[string]*legacyRoot{}
	l.storages = map[string]*pyStorage{}
	l.pickleSize = l.size
	obj, err := unpickle(in, l.legacyPersistentLoad)
	if err != nil {
		return nil, err
	}
	keysObj, err := unpickle(in, nil)
	if err != nil {
		return nil, stageErr("storage keys", err)
	}
	keys, ok := keysObj.(*pyList)
	if !ok {
		return nil, fmt.Errorf("storage keys are a %s, not a list", typeName(keysObj))
	}
	var order binary.ByteOrder = binary.LittleEndian
	if l.bigEnd {
		order = binary.BigEndian
	}
	for _, k := range keys.items {
		key, ok := shortString(k, maxStorageKey)
		if !ok {
			return nil, fmt.Errorf("storage key is a %s, not a short string", typeName(k))
		}
		root, ok := l.legacy[key]
		if !ok {
			return nil, fmt.Errorf("storage %q is listed but never used", printable(key))
		}
		if root.read {
			return nil, fmt.Errorf("storage %q is listed twice", printable(key))
		}
		at := in.base + in.off
		b, err := in.read(8)
		if err != nil {
			return nil, fmt.Errorf("storage %q at offset %d: %w", printable(key), at, err)
		}
		count := int64(order.Uint64(b))
		if count != root.numel {
			return nil, fmt.Errorf("storage %q at offset %d: has %d elements, its persistent id says %d", printable(key), at, count, root.numel)
		}
		// root.numel was checked against the file size by the persistent
		// load, so this product cannot overflow.
		if root.data, err = in.read(count * int64(root.dtype.Size())); err != nil {
			return nil, fmt.Errorf("storage %q at offset %d: %w", printable(key), at, err)
		}
		root.read = true
	}
	return obj, nil
}

// stageErr says which pickle of a legacy file failed; refused globals are
// reported as they are.
func stageErr(stage string, err error) error {
	var ge *UnsafeGlobalError
	if errors.As(err, &ge) {
		return err
	}
	return fmt.Errorf("%s: %w", stage, err)
}

func (l *pthLoader) legacyPersistentLoad(pid any) (any, error) {
	t, g, key, location, numel, err := parseStoragePid(pid, 6)
	if err != nil {
		return nil, err
	}
	es := int64(g.dtype.Size())
	if es == 0 {
		return nil, fmt.Errorf("storage %q: unknown element size", printable(key))
	}
	if numel > l.size/es {
		return nil, fmt.Errorf("storage %q: %d elements of %s cannot fit in a %d-byte file", printable(key), numel, g.dtype, l.size)
	}
	root, ok := l.legacy[key]
	if !ok {
		root = &legacyRoot{dtype: g.dtype, numel: numel}
		l.legacy[key] = root
	}
	st := &pyStorage{key: key, dtype: g.dtype, numel: root.numel * int64(root.dtype.Size()) / es, location: location}
	if t[5] != nil {
		vm, ok := t[5].(pyTuple)
		if !ok || len(vm) != 3 {
			return nil, fmt.Errorf("storage %q: malformed view metadata (%s)", printable(key), typeName(t[5]))
		}
		viewKey, ok1 := shortString(vm[0], maxStorageKey)
		off, ok2 := asInt(vm[1])
		size, ok3 := asInt(vm[2])
		if !ok1 || !ok2 || !ok3 || off < 0 || size < 0 || off > st.numel || size > st.numel-off {
			return nil, fmt.Errorf("storage %q: view out of range", printable(key))
		}
		ck := "view\x00" + viewKey
		if v, ok := l.storages[ck]; ok {
			return v, nil
		}
		v := &pyStorage{key: key, dtype: g.dtype, byteOffset: off * es, numel: size, location: location}
		l.storages[ck] = v
		return v, nil
	}
	return st, nil
}

// ---- building the state dict ----

// wrapperKeys are the dict keys under which training scripts commonly store
// the state_dict in a checkpoint.
var wrapperKeys = []string{"state_dict", "model", "model_state_dict"}

func (l *pthLoader) stateDict(obj any) (*StateDict, error) {
	d, ok := obj.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("checkpoint holds a %s, not a dict of tensors", typeName(obj))
	}
	for depth := 0; depth < 3; depth++ {
		var inner *pyDict
		for _, k := range wrapperKeys {
			if v, ok := d.get(k); ok {
				if dd, ok := v.(*pyDict); ok {
					inner = dd
					break
				}
			}
		}
		if inner == nil {
			break
		}
		d = inner
	}
	sd := NewStateDict()
	var order binary.ByteOrder = binary.LittleEndian
	if l.bigEnd {
		order = binary.BigEndian
	}
	// Names are hashed and stored; the memo could repeat one long name
	// cheaply, so their total length is bounded by the pickle's.
	nameBytes := int64(0)
	for _, it := range d.items {
		name, ok := it.k.(string)
		if !ok {
			return nil, fmt.Errorf("state dict key is a %s, not a string", typeName(it.k))
		}
		if nameBytes += int64(len(name)); nameBytes > workFactor*l.pickleSize+workSlack {
			return nil, errors.New("state dict names are longer in total than the pickle justifies")
		}
		pt, ok := it.v.(*pyTensor)
		if !ok {
			return nil, fmt.Errorf("state dict entry %q is a %s, not a tensor", printable(name), typeName(it.v))
		}
		if _, dup := sd.Tensors[name]; dup {
			return nil, fmt.Errorf("duplicate state dict key %q", printable(name))
		}
		t, err := l.materialise(pt, order)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", printable(name), err)
		}
		sd.Set(name, t)
		sd.SetDType(name, pt.storage.dtype)
	}
	sd.stripPrefix("module.")
	return sd, nil
}

// materialise copies a tensor view out of its storage into a contiguous
// float32 tensor, following size, stride and storage offset.
func (l *pthLoader) materialise(pt *pyTensor, order binary.ByteOrder) (*tensor.Tensor, error) {
	st := pt.storage
	if !supported(st.dtype) {
		return nil, fmt.Errorf("dtype %s is not supported", st.dtype)
	}
	numel, err := shapeElems(pt.size, maxElements)
	if err != nil {
		return nil, err
	}
	for _, s := range pt.stride {
		if s < 0 {
			return nil, fmt.Errorf("negative stride in %v", pt.stride)
		}
	}
	if numel*4 > l.outBudget {
		return nil, fmt.Errorf("%d elements exceed what a %d-byte file may expand to", numel, l.size)
	}
	// The largest storage index the view touches must be inside the
	// storage. Every term is below maxElements times a stride that is
	// itself checked, so the sum is computed with overflow checks.
	last := pt.offset
	if numel > 0 {
		for i, s := range pt.size {
			step := pt.stride[i]
			if step != 0 && s-1 > (st.numel-last)/step {
				return nil, fmt.Errorf("size %v with stride %v and offset %d needs more than the storage's %d elements",
					pt.size, pt.stride, pt.offset, st.numel)
			}
			last += (s - 1) * step
		}
		if last >= st.numel {
			return nil, fmt.Errorf("size %v with stride %v and offset %d needs more than the storage's %d elements",
				pt.size, pt.stride, pt.offset, st.numel)
		}
	}
	raw, err := l.rawStorage(st.key)
	if err != nil {
		return nil, err
	}
	es := int64(st.dtype.Size())
	if st.byteOffset+st.numel*es > int64(len(raw)) {
		return nil, fmt.Errorf("storage %q holds %d bytes, fewer than its %d elements of %s", printable(st.key), len(raw), st.numel, st.dtype)
	}
	l.outBudget -= numel * 4
	shape := make([]int, len(pt.size))
	for i, s := range pt.size {
		shape[i] = int(s)
	}
	out := &tensor.Tensor{Shape: shape, Data: make([]float32, numel)}
	if numel == 0 {
		return out, nil
	}
	raw = raw[st.byteOffset:]
	if contiguous(pt.size, pt.stride) {
		return out, decode(out.Data, raw[pt.offset*es:], st.dtype, order, 1)
	}
	// Walk the view: the last dimension is a strided run, the others an
	// odometer of storage offsets.
	nd := len(pt.size)
	inner, innerStride := pt.size[nd-1], pt.stride[nd-1]
	idx := make([]int64, nd)
	base := pt.offset
	for o := int64(0); o < numel; o += inner {
		if err := decode(out.Data[o:o+inner], raw[base*es:], st.dtype, order, int(innerStride)); err != nil {
			return nil, err
		}
		for d := nd - 2; d >= 0; d-- {
			idx[d]++
			base += pt.stride[d]
			if idx[d] < pt.size[d] {
				break
			}
			base -= idx[d] * pt.stride[d]
			idx[d] = 0
		}
	}
	return out, nil
}

// contiguous reports whether stride is the row-major stride of size
// (dimensions of size 1 may have any stride).
func contiguous(size, stride []int64) bool {
	want := int64(1)
	for i := len(size) - 1; i >= 0; i-- {
		if size[i] != 1 && stride[i] != want {
			return false
		}
		want *= size[i]
	}
	return true
}
