package infer

import (
	"sort"
)

// buffer is one allocation in the arena: an activation (possibly shared
// by several values, as a concatenation's inputs share its output) or a
// step's workspace. Its lifetime is the range of steps [first, last] that
// write or read it; two buffers whose lifetimes do not meet may share
// memory.
type buffer struct {
	size        int // floats
	first, last int
	off         int     // in the arena, once planned
	alias       *buffer // shares this buffer's memory (shareResiduals); its lifetime is merged in
}

// root is the buffer whose memory b uses.
func (b *buffer) root() *buffer {
	for b.alias != nil {
		b = b.alias
	}
	return b
}

// loc says where a value lives: element (b, c, i) of a value whose planes
// have `inner` elements is at buf.off + off + b*bs + c*cs + i. A value
// written into a channel range of a concatenation has the concatenation's
// batch stride; one interleaved by a channel shuffle has a channel stride
// of groups planes.
type loc struct {
	buf    *buffer
	off    int
	cs, bs int
}

// denseLoc is the loc of a value stored contiguously at the start of buf.
func denseLoc(buf *buffer, shape []int) loc {
	_, c, inner := dims(shape)
	return loc{buf: buf, off: 0, cs: inner, bs: c * inner}
}

// dense reports whether a value of this shape is stored contiguously.
func (l loc) dense(shape []int) bool {
	n, c, inner := dims(shape)
	return (c == 1 || l.cs == inner) && (n == 1 || l.bs == c*inner)
}

// imageDense reports whether each image of the value is contiguous.
func (l loc) imageDense(shape []int) bool {
	_, c, inner := dims(shape)
	return c == 1 || l.cs == inner
}

// channel returns the loc of channel offset c0 (a channel slice).
func (l loc) channel(c0 int) loc {
	l.off += c0 * l.cs
	return l
}

// span is the number of floats from the first to one past the last
// element of a value of this shape.
func (l loc) span(shape []int) int {
	n, c, inner := dims(shape)
	if n == 0 || c == 0 || inner == 0 {
		return 0
	}
	return (n-1)*l.bs + (c-1)*l.cs + inner
}

// slice returns the part of the arena that holds the value.
func (l loc) slice(arena []float32, shape []int) []float32 {
	start := l.buf.off + l.off
	return arena[start : start+l.span(shape)]
}

// align is the arena granularity in floats (64 bytes, a cache line and an
// AVX-512 vector).
const align = 16

// planArena gives every buffer an offset so that buffers alive at the same
// time do not overlap, and returns the arena size. It places the largest
// buffers first, each at the lowest offset that fits beside those already
// placed and alive at the same time (the greedy-by-size strategy of
// TFLite's and ONNX Runtime's memory planners).
func planArena(bufs []*buffer) int {
	var order []*buffer
	for _, b := range bufs {
		if b.alias == nil {
			order = append(order, b)
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].size > order[j].size })
	var placed []*buffer
	total := 0
	type iv struct{ lo, hi int }
	for _, b := range order {
		size := (b.size + align - 1) / align * align
		var busy []iv
		for _, o := range placed {
			if o.first <= b.last && b.first <= o.last {
				busy = append(busy, iv{o.off, o.off + (o.size+align-1)/align*align})
			}
		}
		sort.Slice(busy, func(i, j int) bool { return busy[i].lo < busy[j].lo })
		off := 0
		for _, r := range busy {
			if r.lo-off >= size {
				break
			}
			off = max(off, r.hi)
		}
		b.off = off
		total = max(total, off+size)
		placed = append(placed, b)
	}
	for _, b := range bufs {
		if b.alias != nil {
			b.off = b.root().off
		}
	}
	return total
}
