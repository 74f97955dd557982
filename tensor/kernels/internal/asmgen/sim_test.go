package main

// An interpreter for the subset of Go amd64 assembly that asmgen emits. It
// runs the generated gemm_amd64.s, so the AVX-512 kernels, which the
// development machine cannot execute, are checked for what they compute
// (offsets, registers, loop counts, stores) the same way as the AVX2 ones.
// The AVX2 kernels also run on hardware in the kernels package tests; both
// passing ties this interpreter's reading of the instructions (operand
// order, lane semantics) to the real CPU.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
)

type instr struct {
	op   string
	args []string
	line int
}

type function struct {
	name   string
	code   []instr
	labels map[string]int
}

func parseAsm(t *testing.T, path string) map[string]*function {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fns := map[string]*function{}
	var cur *function
	for ln, line := range strings.Split(string(src), "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		s := strings.TrimSpace(line)
		switch {
		case s == "" || strings.HasPrefix(s, "#"):
		case strings.HasPrefix(s, "TEXT "):
			name := s[len("TEXT ·"):strings.Index(s, "(SB)")]
			cur = &function{name: name, labels: map[string]int{}}
			fns[name] = cur
		case strings.HasSuffix(s, ":"):
			cur.labels[strings.TrimSuffix(s, ":")] = len(cur.code)
		default:
			op, rest, _ := strings.Cut(s, " ")
			var args []string
			if rest != "" {
				for _, a := range strings.Split(rest, ",") {
					args = append(args, strings.TrimSpace(a))
				}
			}
			cur.code = append(cur.code, instr{op: op, args: args, line: ln + 1})
		}
	}
	return fns
}

// machine: flat memory of float32 words addressed in bytes, with a
// per-word writable/readable map so stray accesses fail the test.
type machine struct {
	t        *testing.T
	mem      []uint32
	readable []bool
	writable []bool
	written  []bool
	gp       map[string]int64
	vec      [32][16]float32
	zf       bool
	frame    int64 // byte address of the argument frame
	steps    int
	next     int64 // next free address
}

func newMachine(t *testing.T, words int) *machine {
	return &machine{t: t, mem: make([]uint32, words), readable: make([]bool, words),
		writable: make([]bool, words), written: make([]bool, words), gp: map[string]int64{}}
}

// alloc reserves n words at a fresh address (after a gap) and returns it.
func (m *machine) alloc(n int, writable bool) int64 {
	if m.next == 0 {
		m.next = 4096
	}
	addr := m.next
	for i := 0; i < n; i++ {
		w := int(addr/4) + i
		m.readable[w] = true
		m.writable[w] = writable
	}
	m.next = addr + int64(n*4) + 4096
	return addr
}

func (m *machine) word(addr int64, write bool) int {
	if addr%4 != 0 || addr < 0 || int(addr/4) >= len(m.mem) {
		m.t.Fatalf("bad address %#x", addr)
	}
	w := int(addr / 4)
	if write && !m.writable[w] {
		m.t.Fatalf("write to protected address %#x", addr)
	}
	if !write && !m.readable[w] {
		m.t.Fatalf("read of unallocated address %#x", addr)
	}
	return w
}

func (m *machine) loadF(addr int64) float32 {
	return math.Float32frombits(m.mem[m.word(addr, false)])
}

func (m *machine) storeF(addr int64, v float32) {
	w := m.word(addr, true)
	m.mem[w] = math.Float32bits(v)
	m.written[w] = true
}

func (m *machine) setF(addr int64, v float32) { m.mem[addr/4] = math.Float32bits(v) }
func (m *machine) getF(addr int64) float32    { return math.Float32frombits(m.mem[addr/4]) }

func isGP(s string) bool {
	switch s {
	case "AX", "BX", "CX", "DX", "SI", "DI", "BP", "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15":
		return true
	}
	return false
}

// vreg parses X/Y/Z registers: index and lanes.
func vreg(s string) (int, int, bool) {
	if len(s) < 2 {
		return 0, 0, false
	}
	lanes := map[byte]int{'X': 4, 'Y': 8, 'Z': 16}[s[0]]
	if lanes == 0 {
		return 0, 0, false
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil {
		return 0, 0, false
	}
	return n, lanes, true
}

func (m *machine) imm(s string) int64 {
	v, err := strconv.ParseInt(strings.TrimPrefix(s, "$"), 0, 64)
	if err != nil {
		m.t.Fatalf("bad immediate %q", s)
	}
	return v
}

// addr evaluates a memory operand: off(BASE)(INDEX*scale) or name+off(FP).
func (m *machine) addr(s string) int64 {
	if strings.HasSuffix(s, "(FP)") {
		_, off, _ := strings.Cut(strings.TrimSuffix(s, "(FP)"), "+")
		o, _ := strconv.Atoi(off)
		return m.frame + int64(o)
	}
	i := strings.Index(s, "(")
	var a int64
	if i > 0 {
		o, err := strconv.Atoi(s[:i])
		if err != nil {
			m.t.Fatalf("bad offset in %q", s)
		}
		a = int64(o)
	}
	for _, part := range strings.Split(strings.TrimSuffix(s[i+1:], ")"), ")(") {
		reg, scale, ok := strings.Cut(part, "*")
		sc := int64(1)
		if ok {
			sc, _ = strconv.ParseInt(scale, 10, 64)
		}
		a += m.gp[reg] * sc
	}
	return a
}

func isMem(s string) bool { return strings.Contains(s, "(") }

func (m *machine) read64(addr int64) int64 {
	lo := uint64(m.mem[m.word(addr, false)])
	hi := uint64(m.mem[m.word(addr+4, false)])
	return int64(lo | hi<<32)
}

// vecSrc reads a vector operand of the given lanes (register or memory).
func (m *machine) vecSrc(s string, lanes int) []float32 {
	out := make([]float32, lanes)
	if isMem(s) {
		a := m.addr(s)
		for i := range out {
			out[i] = m.loadF(a + int64(4*i))
		}
		return out
	}
	n, _, ok := vreg(s)
	if !ok {
		m.t.Fatalf("not a vector operand: %q", s)
	}
	copy(out, m.vec[n][:lanes])
	return out
}

// setVec writes a vector result; VEX/EVEX writes zero the upper lanes.
func (m *machine) setVec(s string, v []float32) {
	n, lanes, ok := vreg(s)
	if !ok || len(v) != lanes {
		m.t.Fatalf("bad vector destination %q", s)
	}
	m.vec[n] = [16]float32{}
	copy(m.vec[n][:], v)
}

func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// call runs fn with the argument frame words (each 8 bytes, or 4 for
// float32 args laid out by the caller) already in memory at frame.
func (m *machine) call(fn *function) {
	pc := 0
	for {
		m.steps++
		if m.steps > 50_000_000 {
			m.t.Fatalf("%s: runaway", fn.name)
		}
		in := fn.code[pc]
		pc++
		a := in.args
		fail := func(msg string) { m.t.Fatalf("%s line %d: %s %v: %s", fn.name, in.line, in.op, a, msg) }
		setZ := func(v int64) { m.zf = v == 0 }
		switch in.op {
		case "MOVQ":
			var v int64
			switch {
			case strings.HasPrefix(a[0], "$"):
				v = m.imm(a[0])
			case isMem(a[0]):
				v = m.read64(m.addr(a[0]))
			case isGP(a[0]):
				v = m.gp[a[0]]
			default:
				fail("source")
			}
			if !isGP(a[1]) {
				fail("destination")
			}
			m.gp[a[1]] = v
		case "MOVL":
			m.gp[a[1]] = int64(m.mem[m.word(m.addr(a[0]), false)])
		case "LEAQ":
			m.gp[a[1]] = m.addr(a[0])
		case "SHLQ":
			m.gp[a[1]] <<= m.imm(a[0])
			setZ(m.gp[a[1]])
		case "SHRQ":
			m.gp[a[1]] = int64(uint64(m.gp[a[1]]) >> m.imm(a[0]))
			setZ(m.gp[a[1]])
		case "ANDQ":
			m.gp[a[1]] &= m.imm(a[0])
			setZ(m.gp[a[1]])
		case "ANDL":
			m.gp[a[1]] = int64(uint32(m.gp[a[1]]) & uint32(m.imm(a[0])))
			setZ(m.gp[a[1]])
		case "ADDQ":
			var v int64
			if strings.HasPrefix(a[0], "$") {
				v = m.imm(a[0])
			} else {
				v = m.gp[a[0]]
			}
			m.gp[a[1]] += v
			setZ(m.gp[a[1]])
		case "DECQ":
			m.gp[a[0]]--
			setZ(m.gp[a[0]])
		case "JZ", "JNZ", "JMP":
			if in.op == "JMP" || (in.op == "JZ") == m.zf {
				t, ok := fn.labels[a[0]]
				if !ok {
					fail("no label")
				}
				pc = t
			}
		case "RET":
			return
		case "PREFETCHT0", "VZEROUPPER":
			if in.op == "VZEROUPPER" {
				for i := 0; i < 16; i++ {
					for j := 4; j < 16; j++ {
						m.vec[i][j] = 0
					}
				}
			}
		case "VXORPS", "VPXORD":
			if a[0] != a[1] || a[1] != a[2] {
				fail("only the zeroing idiom is modelled")
			}
			_, lanes, _ := vreg(a[2])
			m.setVec(a[2], make([]float32, lanes))
		case "VMOVUPS":
			if isMem(a[1]) {
				_, lanes, _ := vreg(a[0])
				v := m.vecSrc(a[0], lanes)
				ad := m.addr(a[1])
				for i, x := range v {
					m.storeF(ad+int64(4*i), x)
				}
			} else {
				_, lanes, _ := vreg(a[1])
				m.setVec(a[1], m.vecSrc(a[0], lanes))
			}
		case "VBROADCASTSS":
			_, lanes, _ := vreg(a[1])
			x := m.loadF(m.addr(a[0]))
			v := make([]float32, lanes)
			for i := range v {
				v[i] = x
			}
			m.setVec(a[1], v)
		case "VFMADD231PS", "VMULPS":
			_, lanes, _ := vreg(a[2])
			x := m.vecSrc(a[0], lanes)
			y := m.vecSrc(a[1], lanes)
			d := m.vecSrc(a[2], lanes)
			for i := range d {
				if in.op == "VMULPS" {
					d[i] = x[i] * y[i]
				} else {
					d[i] = fma32(x[i], y[i], d[i])
				}
			}
			m.setVec(a[2], d)
		case "VINSERTF128":
			if m.imm(a[0]) != 1 {
				fail("lane")
			}
			v := m.vecSrc(a[2], 8)
			copy(v[4:], m.vecSrc(a[1], 4))
			m.setVec(a[3], v)
		case "VUNPCKLPS", "VUNPCKHPS":
			_, lanes, _ := vreg(a[2])
			y := m.vecSrc(a[0], lanes) // src2
			x := m.vecSrc(a[1], lanes) // src1
			d := make([]float32, lanes)
			h := 0
			if in.op == "VUNPCKHPS" {
				h = 2
			}
			for l := 0; l < lanes; l += 4 {
				d[l], d[l+1], d[l+2], d[l+3] = x[l+h], y[l+h], x[l+h+1], y[l+h+1]
			}
			m.setVec(a[2], d)
		case "VSHUFPS":
			im := int(m.imm(a[0]))
			_, lanes, _ := vreg(a[3])
			y := m.vecSrc(a[1], lanes) // src2
			x := m.vecSrc(a[2], lanes) // src1
			d := make([]float32, lanes)
			for l := 0; l < lanes; l += 4 {
				d[l] = x[l+im&3]
				d[l+1] = x[l+(im>>2)&3]
				d[l+2] = y[l+(im>>4)&3]
				d[l+3] = y[l+(im>>6)&3]
			}
			m.setVec(a[3], d)
		default:
			fail("not modelled")
		}
	}
}

// setArgs lays out the argument frame: ints/pointers 8 bytes each, then
// float32s 4 bytes each.
func (m *machine) setArgs(ints []int64, floats []float32) {
	n := len(ints)*2 + len(floats)
	m.frame = m.alloc(n, false)
	for i, v := range ints {
		m.mem[m.frame/4+int64(2*i)] = uint32(v)
		m.mem[m.frame/4+int64(2*i)+1] = uint32(uint64(v) >> 32)
	}
	for i, f := range floats {
		m.mem[m.frame/4+int64(2*len(ints)+i)] = math.Float32bits(f)
	}
}

var asmPath = "../../gemm_amd64.s"

func TestSimKernels(t *testing.T) {
	fns := parseAsm(t, asmPath)
	type kcase struct {
		name   string
		mr, nr int
		direct bool
	}
	var kcs []kcase
	for _, kc := range []kcase{
		{"sgemmKernel6x16AVX2", 6, 16, false}, {"sgemmKernel6x8AVX2", 6, 8, false},
		{"sgemmKernel6x4AVX2", 6, 4, false}, {"sgemmKernel12x32AVX512", 12, 32, false},
		{"sgemmKernel12x16AVX512", 12, 16, false}, {"sgemmKernel12x8AVX2", 12, 8, false},
	} {
		kcs = append(kcs, kc)
		kc.name += "Direct"
		kc.direct = true
		kcs = append(kcs, kc)
	}
	for _, kc := range kcs {
		fn := fns[kc.name]
		if fn == nil {
			t.Fatalf("%s not found", kc.name)
		}
		r := rand.New(rand.NewPCG(1, uint64(kc.mr*kc.nr)))
		for _, k := range []int{1, 2, 3, 4, 5, 8, 13} {
			for ri, beta := range []float32{0, 1, -0.5} {
				// Store all rows, or (direct kernels too) only some.
				rows := []int{kc.mr, kc.mr - 1, 1}[(ri+k)%3]
				t.Run(fmt.Sprintf("%s/k=%d/beta=%g/rows=%d", kc.name, k, beta, rows), func(t *testing.T) {
					m := newMachine(t, 1<<16)
					ldc := kc.nr + 3
					// Packed A: a[p*mr+i]; direct A: a[i*lda+p].
					lda := k + 5
					aIdx := func(i, p int) int { return p*kc.mr + i }
					aLen := k * kc.mr
					if kc.direct {
						aIdx = func(i, p int) int { return i*lda + p }
						aLen = (kc.mr-1)*lda + k
					}
					pa := m.alloc(aLen, false)
					pb := m.alloc(k*kc.nr, false)
					pc := m.alloc((kc.mr-1)*ldc+kc.nr, true)
					for i := 0; i < aLen; i++ {
						m.setF(pa+int64(4*i), float32(r.Float64()*2-1))
					}
					for i := 0; i < k*kc.nr; i++ {
						m.setF(pb+int64(4*i), float32(r.Float64()*2-1))
					}
					c0 := make([]float32, (kc.mr-1)*ldc+kc.nr)
					for i := range c0 {
						c0[i] = float32(r.Float64()*2 - 1)
						if beta == 0 {
							c0[i] = float32(math.NaN())
						}
						m.setF(pc+int64(4*i), c0[i])
					}
					alpha := float32(0.5)
					if kc.direct {
						m.setArgs([]int64{int64(k), pa, int64(lda), pb, pc, int64(ldc), int64(rows)}, []float32{alpha, beta})
					} else {
						m.setArgs([]int64{int64(k), pa, pb, pc, int64(ldc), int64(rows)}, []float32{alpha, beta})
					}
					m.call(fn)
					for i := 0; i < kc.mr; i++ {
						for j := 0; j < ldc; j++ {
							idx := i*ldc + j
							if idx >= len(c0) {
								break
							}
							got := m.getF(pc + int64(4*idx))
							if j >= kc.nr || i >= rows {
								if m.written[(pc+int64(4*idx))/4] {
									t.Fatalf("C[%d,%d] (padding or row past rows) written", i, j)
								}
								continue
							}
							var s float64
							for p := 0; p < k; p++ {
								s += float64(m.getF(pa+int64(4*aIdx(i, p)))) * float64(m.getF(pb+int64(4*(p*kc.nr+j))))
							}
							want := float64(alpha) * s
							if beta != 0 {
								want += float64(beta) * float64(c0[idx])
							}
							if math.Abs(float64(got)-want) > 1e-5*(1+float64(k)) {
								t.Fatalf("C[%d,%d] = %v, want %v", i, j, got, want)
							}
						}
					}
				})
			}
		}
	}
}

func TestSimPackB(t *testing.T) {
	fns := parseAsm(t, asmPath)
	for _, w := range []int{4, 8, 16, 32} {
		fn := fns[fmt.Sprintf("sgemmPackB%d", w)]
		for _, k := range []int{1, 3, 4, 5, 9} {
			for _, np := range []int{1, 2, 3} {
				m := newMachine(t, 1<<16)
				lds := np*w + 5
				dstride := k*w + 7
				src := m.alloc((k-1)*lds+np*w, false)
				dst := m.alloc((np-1)*dstride+k*w, true)
				for i := 0; i < (k-1)*lds+np*w; i++ {
					m.setF(src+int64(4*i), float32(i))
				}
				m.setArgs([]int64{int64(k), int64(np), src, int64(lds), dst, int64(dstride)}, nil)
				m.call(fn)
				for q := 0; q < np; q++ {
					for p := 0; p < k; p++ {
						for j := 0; j < w; j++ {
							got := m.getF(dst + int64(4*(q*dstride+p*w+j)))
							if want := float32(p*lds + q*w + j); got != want {
								t.Fatalf("w=%d k=%d np=%d: dst[%d,%d,%d] = %v, want %v", w, k, np, q, p, j, got, want)
							}
						}
					}
				}
				// Nothing in the gaps between panels.
				for i := 0; i < (np-1)*dstride+k*w; i++ {
					if i%dstride >= k*w && m.written[dst/4+int64(i)] {
						t.Fatalf("w=%d k=%d np=%d: gap word %d written", w, k, np, i)
					}
				}
			}
		}
	}
}

func TestSimPackA(t *testing.T) {
	fns := parseAsm(t, asmPath)
	for _, mr := range []int{6, 12} {
		fn := fns[fmt.Sprintf("sgemmPackA%d", mr)]
		for _, k := range []int{8, 16, 24} {
			m := newMachine(t, 1<<16)
			lda := k + 9
			src := m.alloc((mr-1)*lda+k, false)
			dst := m.alloc(k*mr+8, true) // documented slack
			for i := 0; i < (mr-1)*lda+k; i++ {
				m.setF(src+int64(4*i), float32(i))
			}
			m.setArgs([]int64{int64(k), src, int64(lda), dst}, nil)
			m.call(fn)
			for p := 0; p < k; p++ {
				for i := 0; i < mr; i++ {
					got := m.getF(dst + int64(4*(p*mr+i)))
					if want := float32(i*lda + p); got != want {
						t.Fatalf("mr=%d k=%d: dst[%d,%d] = %v, want %v", mr, k, p, i, got, want)
					}
				}
			}
		}
	}
}

func TestSimTransPanel8(t *testing.T) {
	fns := parseAsm(t, asmPath)
	fn := fns["sgemmTransPanel8"]
	for _, k := range []int{8, 16, 32} {
		m := newMachine(t, 1<<16)
		lds, ldd := k+3, 16
		src := m.alloc(7*lds+k, false)
		dst := m.alloc((k-1)*ldd+8, true)
		for i := 0; i < 7*lds+k; i++ {
			m.setF(src+int64(4*i), float32(i))
		}
		m.setArgs([]int64{int64(k), src, int64(lds), dst, int64(ldd)}, nil)
		m.call(fn)
		for p := 0; p < k; p++ {
			for j := 0; j < 16; j++ {
				w := dst/4 + int64(p*ldd+j)
				if j >= 8 {
					if p < k-1 && m.written[w] {
						t.Fatalf("k=%d: dst[%d,%d] written", k, p, j)
					}
					continue
				}
				if got, want := m.getF(4*w), float32(j*lds+p); got != want {
					t.Fatalf("k=%d: dst[%d,%d] = %v, want %v", k, p, j, got, want)
				}
			}
		}
	}
}

func TestSimFMAPeak(t *testing.T) {
	fns := parseAsm(t, asmPath)
	for _, name := range []string{"fmaPeakAVX2", "fmaPeakAVX512"} {
		m := newMachine(t, 1<<14)
		m.setArgs([]int64{3}, nil)
		m.call(fns[name])
	}
}

// TestGeneratedUpToDate: gemm_amd64.s is what this generator writes.
func TestGeneratedUpToDate(t *testing.T) {
	tmp := t.TempDir() + "/out.s"
	*out = tmp
	main()
	got, err := os.ReadFile(tmp)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(asmPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("gemm_amd64.s is stale: run go generate ./tensor/kernels/")
	}
}
