package weights

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"
)

// This file is a restricted unpickler: it understands the binary opcodes of
// pickle protocols 2 to 5 that torch.save emits, builds plain values
// (None, bools, ints, floats, strings, bytes, tuples, lists, dicts) and
// knows a short allow-list of globals. It never imports or calls anything:
// an allowed global is a tag, and REDUCE on a tag is interpreted here
// (OrderedDict() makes a dict, _rebuild_tensor_v2(...) makes a tensor
// description). Every other global is refused when it is named, before
// anything could use it.

// Limits on the unpickler's own structures. The input's length bounds
// everything else: every opcode pushes at most one value.
const (
	maxPickleStack = 1 << 22 // values on the stack
	maxPickleMarks = 1 << 12 // nested MARKs (container nesting)
	maxGlobalLine  = 1 << 10 // module or name of a GLOBAL
	maxLongBytes   = 1 << 12 // LONG4 payload
	workFactor     = 16      // see unpickler.spend
	workSlack      = 1 << 20
)

// pyTuple is a Python tuple.
type pyTuple []any

// emptyTuple is shared: tuples are immutable, and boxing a new empty tuple
// for every EMPTY_TUPLE would allocate.
var emptyTuple any = pyTuple{}

// pyList is a Python list (or set: the unpickler has no use for sets but
// keeps their items).
type pyList struct{ items []any }

// pyDict is a Python dict or OrderedDict, in insertion order. Keys of simple
// types are indexed so that a repeated key replaces its value, as in Python.
type pyDict struct {
	items []pyItem
	index map[any]int
}

type pyItem struct{ k, v any }

func (d *pyDict) set(k, v any) {
	if hashable(k) {
		if i, ok := d.index[k]; ok {
			d.items[i].v = v
			return
		}
		if d.index == nil {
			d.index = map[any]int{}
		}
		d.index[k] = len(d.items)
	}
	d.items = append(d.items, pyItem{k, v})
}

func (d *pyDict) get(k string) (any, bool) {
	i, ok := d.index[k]
	if !ok {
		return nil, false
	}
	return d.items[i].v, true
}

func hashable(k any) bool {
	switch k.(type) {
	case nil, bool, int64, float64, string:
		return true
	}
	return false
}

// globalKind says what an allowed global is.
type globalKind int

const (
	gOrderedDict globalKind = iota + 1
	gRebuildTensor
	gRebuildTensorV2
	gRebuildParameter
	gRebuildParameterWithState
	gStorageType
)

// pyGlobal is an allowed global: a tag, never something callable.
type pyGlobal struct {
	module, name string
	kind         globalKind
	dtype        DType // for gStorageType
}

func (g *pyGlobal) String() string { return g.module + "." + g.name }

// storageTypes maps torch's storage classes (the dtype tags of persistent
// ids) to element types.
var storageTypes = map[string]DType{
	"FloatStorage":         Float32,
	"DoubleStorage":        Float64,
	"HalfStorage":          Float16,
	"BFloat16Storage":      BFloat16,
	"LongStorage":          Int64,
	"IntStorage":           Int32,
	"ShortStorage":         Int16,
	"CharStorage":          Int8,
	"ByteStorage":          Uint8,
	"BoolStorage":          Bool,
	"ComplexFloatStorage":  Complex64,
	"ComplexDoubleStorage": Complex128,
	"UntypedStorage":       Uint8,
}

// lookupGlobal returns the allowed global module.name, or an
// *UnsafeGlobalError.
func lookupGlobal(module, name string) (*pyGlobal, error) {
	g := &pyGlobal{module: module, name: name}
	switch module + "." + name {
	case "collections.OrderedDict":
		g.kind = gOrderedDict
	case "torch._utils._rebuild_tensor":
		g.kind = gRebuildTensor
	case "torch._utils._rebuild_tensor_v2":
		g.kind = gRebuildTensorV2
	case "torch._utils._rebuild_parameter":
		g.kind = gRebuildParameter
	case "torch._utils._rebuild_parameter_with_state":
		g.kind = gRebuildParameterWithState
	default:
		if d, ok := storageTypes[name]; ok && (module == "torch" || module == "torch.cuda" ||
			(module == "torch.storage" && name == "UntypedStorage")) {
			g.kind, g.dtype = gStorageType, d
			break
		}
		return nil, &UnsafeGlobalError{Module: module, Name: name}
	}
	return g, nil
}

// UnsafeGlobalError reports a pickle that names a global outside the
// allow-list (for example posix.system): the checkpoint is refused without
// running anything.
type UnsafeGlobalError struct {
	Module, Name string
}

func (e *UnsafeGlobalError) Error() string {
	return fmt.Sprintf("refusing to load global %q: only tensors, storages and plain containers are allowed",
		printable(e.Module+"."+e.Name))
}

// printable shortens s and escapes non-printable bytes for error messages.
func printable(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// pyStorage is a storage named by a persistent id: which raw bytes (key) and
// how to read them.
type pyStorage struct {
	key        string
	dtype      DType
	byteOffset int64 // into the raw bytes (legacy storage views)
	numel      int64 // elements of dtype
	location   string
}

// pyTensor is a tensor description built by _rebuild_tensor(_v2): a view of
// a storage. It is materialised (read and copied) only if it ends up in the
// state dict.
type pyTensor struct {
	storage *pyStorage
	offset  int64
	size    []int64
	stride  []int64
}

// typeName names a value's Python type for error messages. It never looks
// inside containers (pickles can build cycles).
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case pyTuple:
		return "tuple"
	case *pyList:
		return "list"
	case *pyDict:
		return "dict"
	case *pyGlobal:
		return "global " + v.String()
	case *pyStorage:
		return "storage"
	case *pyTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

// pickleInput reads a pickle from a stream that has at most limit bytes, so
// that every length can be checked before anything is allocated.
type pickleInput struct {
	r     *bufio.Reader
	off   int64 // bytes consumed, relative to base
	base  int64 // offset of the stream in its file, for messages
	limit int64
}

func newPickleInput(r io.Reader, base, limit int64) *pickleInput {
	return &pickleInput{r: bufio.NewReaderSize(r, 64<<10), base: base, limit: limit}
}

var errTruncated = errors.New("unexpected end of data")

func (p *pickleInput) byte() (byte, error) {
	if p.off >= p.limit {
		return 0, errTruncated
	}
	b, err := p.r.ReadByte()
	if err != nil {
		return 0, readErr(err)
	}
	p.off++
	return b, nil
}

// read returns the next n bytes, checking n against what is left first.
func (p *pickleInput) read(n int64) ([]byte, error) {
	if n < 0 || n > p.limit-p.off {
		return nil, fmt.Errorf("length %d runs past the end of the data (%d bytes left)", n, p.limit-p.off)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(p.r, b); err != nil {
		return nil, readErr(err)
	}
	p.off += n
	return b, nil
}

func (p *pickleInput) skip(n int64) error {
	if n < 0 || n > p.limit-p.off {
		return fmt.Errorf("length %d runs past the end of the data (%d bytes left)", n, p.limit-p.off)
	}
	if _, err := p.r.Discard(int(n)); err != nil {
		return readErr(err)
	}
	p.off += n
	return nil
}

func (p *pickleInput) uint(n int) (uint64, error) {
	b, err := p.read(int64(n))
	if err != nil {
		return 0, err
	}
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

// line reads up to and excluding '\n', at most max bytes.
func (p *pickleInput) line(max int) (string, error) {
	var sb strings.Builder
	for {
		c, err := p.byte()
		if err != nil {
			return "", err
		}
		if c == '\n' {
			return sb.String(), nil
		}
		if sb.Len() >= max {
			return "", fmt.Errorf("line longer than %d bytes", max)
		}
		sb.WriteByte(c)
	}
}

func readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errTruncated
	}
	return err
}

// Pickle opcodes (see CPython's Lib/pickle.py).
const (
	opMARK             = '('
	opSTOP             = '.'
	opPOP              = '0'
	opPOP_MARK         = '1'
	opDUP              = '2'
	opBININT           = 'J'
	opBININT1          = 'K'
	opBININT2          = 'M'
	opNONE             = 'N'
	opBINPERSID        = 'Q'
	opREDUCE           = 'R'
	opBINSTRING        = 'T'
	opSHORT_BINSTRING  = 'U'
	opBINUNICODE       = 'X'
	opAPPEND           = 'a'
	opBUILD            = 'b'
	opGLOBAL           = 'c'
	opDICT             = 'd'
	opEMPTY_DICT       = '}'
	opAPPENDS          = 'e'
	opBINGET           = 'h'
	opLONG_BINGET      = 'j'
	opLIST             = 'l'
	opEMPTY_LIST       = ']'
	opBINPUT           = 'q'
	opLONG_BINPUT      = 'r'
	opSETITEM          = 's'
	opTUPLE            = 't'
	opEMPTY_TUPLE      = ')'
	opSETITEMS         = 'u'
	opBINFLOAT         = 'G'
	opPROTO            = 0x80
	opNEWOBJ           = 0x81
	opTUPLE1           = 0x85
	opTUPLE2           = 0x86
	opTUPLE3           = 0x87
	opNEWTRUE          = 0x88
	opNEWFALSE         = 0x89
	opLONG1            = 0x8a
	opLONG4            = 0x8b
	opBINBYTES         = 'B'
	opSHORT_BINBYTES   = 'C'
	opSHORT_BINUNICODE = 0x8c
	opBINUNICODE8      = 0x8d
	opBINBYTES8        = 0x8e
	opEMPTY_SET        = 0x8f
	opADDITEMS         = 0x90
	opFROZENSET        = 0x91
	opNEWOBJ_EX        = 0x92
	opSTACK_GLOBAL     = 0x93
	opMEMOIZE          = 0x94
	opFRAME            = 0x95
	opBYTEARRAY8       = 0x96
)

// opNames names the opcodes this unpickler refuses, for error messages.
var opNames = map[byte]string{
	'F': "FLOAT", 'I': "INT", 'L': "LONG", 'P': "PERSID", 'S': "STRING", 'V': "UNICODE",
	'g': "GET", 'p': "PUT", 'i': "INST", 'o': "OBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
	0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

// unpickler runs one pickle.
type unpickler struct {
	in    *pickleInput
	stack []any
	marks []int
	memo  map[uint32]any
	// persistentLoad resolves a BINPERSID id; nil refuses them.
	persistentLoad func(pid any) (any, error)
	// work done in proportion to value sizes, and its budget.
	work, maxWork int64
}

// unpickle reads one pickle from in and returns its value.
func unpickle(in *pickleInput, persistentLoad func(any) (any, error)) (any, error) {
	u := &unpickler{in: in, memo: map[uint32]any{}, persistentLoad: persistentLoad,
		maxWork: workFactor*in.limit + workSlack}
	v, err := u.run()
	if err != nil {
		var ge *UnsafeGlobalError
		if errors.As(err, &ge) {
			return nil, err
		}
		return nil, fmt.Errorf("pickle at offset %d: %w", in.base+in.off, err)
	}
	return v, nil
}

func (u *unpickler) push(v any) error {
	if len(u.stack) >= maxPickleStack {
		return fmt.Errorf("pickle stack deeper than %d", maxPickleStack)
	}
	if len(u.stack) == cap(u.stack) {
		// Grow by doubling: append's gentler growth for large slices
		// would allocate several times the final size in total.
		ns := make([]any, len(u.stack), 2*cap(u.stack)+64)
		copy(ns, u.stack)
		u.stack = ns
	}
	u.stack = append(u.stack, v)
	return nil
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("pickle stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack[len(u.stack)-1] = nil
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, errors.New("pickle stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark returns the values pushed since the last MARK (a copy) and drops
// them and the mark.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, errors.New("no MARK on the pickle stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	clear(u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

func (u *unpickler) putMemo(i uint32) error {
	v, err := u.top()
	if err != nil {
		return err
	}
	u.memo[i] = v
	return nil
}

func (u *unpickler) getMemo(i uint32) error {
	v, ok := u.memo[i]
	if !ok {
		return fmt.Errorf("memo index %d was never stored", i)
	}
	return u.push(v)
}

func (u *unpickler) run() (any, error) {
	in := u.in
	for {
		op, err := in.byte()
		if err != nil {
			return nil, err
		}
		switch op {
		case opPROTO:
			v, err := in.byte()
			if err != nil {
				return nil, err
			}
			if v < 2 || v > 5 {
				return nil, fmt.Errorf("unsupported pickle protocol %d", v)
			}
		case opFRAME:
			// Frames only group opcodes for buffering; the length is checked
			// and otherwise ignored.
			n, err := in.uint(8)
			if err != nil {
				return nil, err
			}
			if n > uint64(in.limit-in.off) {
				return nil, fmt.Errorf("frame of %d bytes runs past the end of the data", n)
			}
		case opSTOP:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if len(u.marks) != 0 || len(u.stack) != 0 {
				return nil, errors.New("pickle ends with values left on the stack")
			}
			return v, nil
		case opMARK:
			if len(u.marks) >= maxPickleMarks {
				return nil, fmt.Errorf("more than %d nested MARKs", maxPickleMarks)
			}
			u.marks = append(u.marks, len(u.stack))
		case opPOP:
			if _, err := u.pop(); err != nil {
				return nil, err
			}
		case opPOP_MARK:
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opDUP:
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			err = u.push(v)
			if err != nil {
				return nil, err
			}

		// Constants and numbers.
		case opNONE:
			err = u.push(nil)
		case opNEWTRUE:
			err = u.push(true)
		case opNEWFALSE:
			err = u.push(false)
		case opBININT1:
			var v uint64
			v, err = in.uint(1)
			if err == nil {
				err = u.push(int64(v))
			}
		case opBININT2:
			var v uint64
			v, err = in.uint(2)
			if err == nil {
				err = u.push(int64(v))
			}
		case opBININT:
			var v uint64
			v, err = in.uint(4)
			if err == nil {
				err = u.push(int64(int32(uint32(v))))
			}
		case opLONG1, opLONG4:
			var n uint64
			if op == opLONG1 {
				n, err = in.uint(1)
			} else {
				n, err = in.uint(4)
				if err == nil && n > maxLongBytes {
					err = fmt.Errorf("LONG4 of %d bytes is too long", n)
				}
			}
			if err != nil {
				return nil, err
			}
			var b []byte
			if b, err = in.read(int64(n)); err != nil {
				return nil, err
			}
			err = u.push(decodeLong(b))
		case opBINFLOAT:
			var v uint64
			var b []byte
			if b, err = in.read(8); err != nil {
				return nil, err
			}
			for _, c := range b {
				v = v<<8 | uint64(c)
			}
			err = u.push(math.Float64frombits(v))

		// Strings and bytes.
		case opSHORT_BINUNICODE, opBINUNICODE, opBINUNICODE8,
			opSHORT_BINSTRING, opBINSTRING, opSHORT_BINBYTES, opBINBYTES, opBINBYTES8, opBYTEARRAY8:
			var n uint64
			switch op {
			case opSHORT_BINUNICODE, opSHORT_BINSTRING, opSHORT_BINBYTES:
				n, err = in.uint(1)
			case opBINUNICODE, opBINSTRING, opBINBYTES:
				n, err = in.uint(4)
			default:
				n, err = in.uint(8)
			}
			if err != nil {
				return nil, err
			}
			if n > uint64(in.limit-in.off) {
				return nil, fmt.Errorf("string of %d bytes runs past the end of the data (%d bytes left)", n, in.limit-in.off)
			}
			var b []byte
			if b, err = in.read(int64(n)); err != nil {
				return nil, err
			}
			switch op {
			case opSHORT_BINBYTES, opBINBYTES, opBINBYTES8, opBYTEARRAY8:
				err = u.push(b)
			default:
				// Python 2's str (BINSTRING) is decoded as torch.load does by
				// default, as UTF-8; invalid UTF-8 is kept as is.
				err = u.push(string(b))
			}

		// Memo.
		case opBINPUT:
			var i uint64
			if i, err = in.uint(1); err == nil {
				err = u.putMemo(uint32(i))
			}
		case opLONG_BINPUT:
			var i uint64
			if i, err = in.uint(4); err == nil {
				err = u.putMemo(uint32(i))
			}
		case opMEMOIZE:
			if len(u.memo) >= math.MaxUint32 {
				return nil, errors.New("memo full")
			}
			err = u.putMemo(uint32(len(u.memo)))
		case opBINGET:
			var i uint64
			if i, err = in.uint(1); err == nil {
				err = u.getMemo(uint32(i))
			}
		case opLONG_BINGET:
			var i uint64
			if i, err = in.uint(4); err == nil {
				err = u.getMemo(uint32(i))
			}

		// Containers.
		case opEMPTY_TUPLE:
			err = u.push(emptyTuple)
		case opTUPLE1, opTUPLE2, opTUPLE3:
			n := int(op-opTUPLE1) + 1
			t := make(pyTuple, n)
			for i := n - 1; i >= 0; i-- {
				if t[i], err = u.pop(); err != nil {
					return nil, err
				}
			}
			err = u.push(t)
		case opTUPLE:
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.push(pyTuple(items))
			}
		case opEMPTY_LIST, opEMPTY_SET:
			err = u.push(&pyList{})
		case opLIST, opFROZENSET:
			var items []any
			if items, err = u.popMark(); err == nil {
				err = u.push(&pyList{items: items})
			}
		case opAPPEND:
			var v, l any
			if v, err = u.pop(); err != nil {
				return nil, err
			}
			if l, err = u.top(); err != nil {
				return nil, err
			}
			pl, ok := l.(*pyList)
			if !ok {
				return nil, fmt.Errorf("APPEND to a %s", typeName(l))
			}
			pl.items = append(pl.items, v)
		case opAPPENDS, opADDITEMS:
			var items []any
			if items, err = u.popMark(); err != nil {
				return nil, err
			}
			var l any
			if l, err = u.top(); err != nil {
				return nil, err
			}
			pl, ok := l.(*pyList)
			if !ok {
				return nil, fmt.Errorf("APPENDS to a %s", typeName(l))
			}
			pl.items = append(pl.items, items...)
		case opEMPTY_DICT:
			err = u.push(&pyDict{})
		case opDICT:
			var items []any
			if items, err = u.popMark(); err != nil {
				return nil, err
			}
			d := &pyDict{}
			if err = u.setItems(d, items); err != nil {
				return nil, err
			}
			err = u.push(d)
		case opSETITEM:
			var k, v, d any
			if v, err = u.pop(); err != nil {
				return nil, err
			}
			if k, err = u.pop(); err != nil {
				return nil, err
			}
			if d, err = u.top(); err != nil {
				return nil, err
			}
			pd, ok := d.(*pyDict)
			if !ok {
				return nil, fmt.Errorf("SETITEM on a %s", typeName(d))
			}
			err = u.setItem(pd, k, v)
		case opSETITEMS:
			var items []any
			if items, err = u.popMark(); err != nil {
				return nil, err
			}
			var d any
			if d, err = u.top(); err != nil {
				return nil, err
			}
			pd, ok := d.(*pyDict)
			if !ok {
				return nil, fmt.Errorf("SETITEMS on a %s", typeName(d))
			}
			err = u.setItems(pd, items)

		// Globals and calls.
		case opGLOBAL:
			var module, name string
			if module, err = in.line(maxGlobalLine); err != nil {
				return nil, err
			}
			if name, err = in.line(maxGlobalLine); err != nil {
				return nil, err
			}
			var g *pyGlobal
			if g, err = lookupGlobal(module, name); err != nil {
				return nil, err
			}
			err = u.push(g)
		case opSTACK_GLOBAL:
			var m, n any
			if n, err = u.pop(); err != nil {
				return nil, err
			}
			if m, err = u.pop(); err != nil {
				return nil, err
			}
			module, ok1 := m.(string)
			name, ok2 := n.(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("STACK_GLOBAL with %s and %s instead of two strings", typeName(m), typeName(n))
			}
			var g *pyGlobal
			if g, err = lookupGlobal(module, name); err != nil {
				return nil, err
			}
			err = u.push(g)
		case opREDUCE:
			var f, args any
			if args, err = u.pop(); err != nil {
				return nil, err
			}
			if f, err = u.pop(); err != nil {
				return nil, err
			}
			var v any
			if v, err = u.call(f, args); err != nil {
				return nil, err
			}
			err = u.push(v)
		case opNEWOBJ, opNEWOBJ_EX:
			if op == opNEWOBJ_EX {
				var kw any
				if kw, err = u.pop(); err != nil {
					return nil, err
				}
				if d, ok := kw.(*pyDict); !ok || len(d.items) != 0 {
					return nil, errors.New("NEWOBJ_EX with keyword arguments")
				}
			}
			var cls, args any
			if args, err = u.pop(); err != nil {
				return nil, err
			}
			if cls, err = u.pop(); err != nil {
				return nil, err
			}
			g, ok := cls.(*pyGlobal)
			if !ok || g.kind != gOrderedDict {
				return nil, fmt.Errorf("cannot instantiate %s", typeName(cls))
			}
			var v any
			if v, err = u.call(g, args); err != nil {
				return nil, err
			}
			err = u.push(v)
		case opBUILD:
			var state, inst any
			if state, err = u.pop(); err != nil {
				return nil, err
			}
			if inst, err = u.top(); err != nil {
				return nil, err
			}
			// OrderedDict state is its instance __dict__ (state_dict's
			// _metadata); it is not needed and is dropped.
			if _, ok := inst.(*pyDict); !ok {
				return nil, fmt.Errorf("BUILD on a %s", typeName(inst))
			}
			switch state.(type) {
			case nil, *pyDict:
			default:
				return nil, fmt.Errorf("BUILD of a dict with a %s state", typeName(state))
			}
		case opBINPERSID:
			var pid any
			if pid, err = u.pop(); err != nil {
				return nil, err
			}
			if u.persistentLoad == nil {
				return nil, errors.New("unexpected persistent id")
			}
			var v any
			if v, err = u.persistentLoad(pid); err != nil {
				return nil, err
			}
			err = u.push(v)
		default:
			if name, ok := opNames[op]; ok {
				return nil, fmt.Errorf("unsupported pickle opcode %s (0x%02x)", name, op)
			}
			return nil, fmt.Errorf("unknown pickle opcode 0x%02x", op)
		}
		if err != nil {
			return nil, err
		}
	}
}

func (u *unpickler) setItems(d *pyDict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of items (%d) for a dict", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := u.setItem(d, items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// setItem stores d[k] = v, charging the work of hashing k.
func (u *unpickler) setItem(d *pyDict, k, v any) error {
	cost := int64(1)
	if s, ok := k.(string); ok {
		cost += int64(len(s))
	}
	if err := u.spend(cost); err != nil {
		return err
	}
	d.set(k, v)
	return nil
}

// spend charges n units of work. The memo lets a pickle reuse a value many
// times for a few bytes each (such as a long string as a dict key, hashed at
// every use), so work that is proportional to a value's size is budgeted to
// a fixed factor of the pickle's length.
func (u *unpickler) spend(n int64) error {
	u.work += n
	if u.work > u.maxWork {
		return fmt.Errorf("pickle does more work than its %d bytes justify", u.in.limit)
	}
	return nil
}

// decodeLong decodes a little-endian two's complement integer (LONG1/LONG4)
// into an int64 when it fits, else a *big.Int.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		shift := uint(64 - 8*len(b))
		return int64(v<<shift) >> shift
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// call interprets REDUCE (or NEWOBJ) of an allowed global.
func (u *unpickler) call(f, args any) (any, error) {
	g, ok := f.(*pyGlobal)
	if !ok {
		return nil, fmt.Errorf("REDUCE calls a %s", typeName(f))
	}
	a, ok := args.(pyTuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE of %s with %s arguments", g, typeName(args))
	}
	switch g.kind {
	case gOrderedDict:
		// Pickle saves an OrderedDict as OrderedDict() followed by
		// SETITEMS; an argument to copy from never occurs (and would let a
		// pickle copy a big dict many times for a few bytes each).
		if len(a) != 0 {
			return nil, fmt.Errorf("OrderedDict called with %d arguments", len(a))
		}
		return &pyDict{}, nil
	case gRebuildTensor, gRebuildTensorV2:
		// _rebuild_tensor(storage, storage_offset, size, stride)
		// _rebuild_tensor_v2(storage, storage_offset, size, stride,
		//                    requires_grad, backward_hooks[, metadata])
		if g.kind == gRebuildTensor && len(a) != 4 || g.kind == gRebuildTensorV2 && (len(a) < 4 || len(a) > 7) {
			return nil, fmt.Errorf("%s called with %d arguments", g, len(a))
		}
		st, ok := a[0].(*pyStorage)
		if !ok {
			return nil, fmt.Errorf("%s called with a %s instead of a storage", g, typeName(a[0]))
		}
		off, ok := asInt(a[1])
		if !ok || off < 0 {
			return nil, fmt.Errorf("%s: bad storage offset (%s)", g, typeName(a[1]))
		}
		size, err := intTuple(a[2])
		if err != nil {
			return nil, fmt.Errorf("%s: size: %v", g, err)
		}
		stride, err := intTuple(a[3])
		if err != nil {
			return nil, fmt.Errorf("%s: stride: %v", g, err)
		}
		if len(size) != len(stride) {
			return nil, fmt.Errorf("%s: size has %d dimensions but stride has %d", g, len(size), len(stride))
		}
		return &pyTensor{storage: st, offset: off, size: size, stride: stride}, nil
	case gRebuildParameter, gRebuildParameterWithState:
		// _rebuild_parameter(data, requires_grad, backward_hooks[, state])
		want := 3
		if g.kind == gRebuildParameterWithState {
			want = 4
		}
		if len(a) != want {
			return nil, fmt.Errorf("%s called with %d arguments", g, len(a))
		}
		t, ok := a[0].(*pyTensor)
		if !ok {
			return nil, fmt.Errorf("%s called with a %s instead of a tensor", g, typeName(a[0]))
		}
		return t, nil
	}
	return nil, fmt.Errorf("global %s cannot be called", g)
}

// asInt returns v as an int64 if it is a Python int (or bool).
func asInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case bool:
		if v {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

const maxDims = 64

// intTuple reads a tuple (or list) of ints, as torch.Size and strides are
// pickled.
func intTuple(v any) ([]int64, error) {
	var items []any
	switch v := v.(type) {
	case pyTuple:
		items = v
	case *pyList:
		items = v.items
	default:
		return nil, fmt.Errorf("%s instead of a tuple of ints", typeName(v))
	}
	if len(items) > maxDims {
		return nil, fmt.Errorf("%d dimensions (at most %d)", len(items), maxDims)
	}
	out := make([]int64, len(items))
	for i, it := range items {
		x, ok := asInt(it)
		if !ok {
			return nil, fmt.Errorf("element %d is a %s, not an int", i, typeName(it))
		}
		out[i] = x
	}
	return out, nil
}
