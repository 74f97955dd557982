package weights

import (
	"encoding/binary"
	"fmt"
	"math"
)

// decode converts n elements of type d from raw into dst. Element j is read
// at byte offset j*stride*d.Size(); stride is in elements (1 for a contiguous
// run). The caller has checked that every read is in bounds.
func decode(dst []float32, raw []byte, d DType, order binary.ByteOrder, stride int) error {
	step := stride * d.Size()
	switch d {
	case Float32:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = math.Float32frombits(order.Uint32(raw[off:]))
		}
	case Float64:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = float32(math.Float64frombits(order.Uint64(raw[off:])))
		}
	case Float16:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = halfToFloat(order.Uint16(raw[off:]))
		}
	case BFloat16:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = math.Float32frombits(uint32(order.Uint16(raw[off:])) << 16)
		}
	case Int64:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = float32(int64(order.Uint64(raw[off:])))
		}
	case Int32:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = float32(int32(order.Uint32(raw[off:])))
		}
	case Int16:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = float32(int16(order.Uint16(raw[off:])))
		}
	case Int8:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = float32(int8(raw[off]))
		}
	case Uint8:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			dst[j] = float32(raw[off])
		}
	case Bool:
		for j, off := 0, 0; j < len(dst); j, off = j+1, off+step {
			if raw[off] != 0 {
				dst[j] = 1
			} else {
				dst[j] = 0
			}
		}
	default:
		return fmt.Errorf("dtype %s is not supported", d)
	}
	return nil
}

// supported reports whether decode can convert d.
func supported(d DType) bool {
	return d.IsFloat() || d.IsInteger()
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: normalise the mantissa.
	e := uint32(113)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// encode writes the values of src as type d (float32 or an integer type)
// into dst in little-endian order. Integer types require finite values that
// are integers in range.
func encode(dst []byte, src []float32, d DType) error {
	switch d {
	case Float32:
		for i, v := range src {
			binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
		}
		return nil
	case Int64, Int32, Int16, Int8, Uint8, Bool:
	default:
		return fmt.Errorf("cannot write dtype %s", d)
	}
	lo, hi := intRange(d)
	n := d.Size()
	for i, v := range src {
		f := float64(v)
		if math.IsNaN(f) || f != math.Trunc(f) || f < lo || f > hi {
			return fmt.Errorf("value %v at index %d is not a valid %s", v, i, d)
		}
		x := int64(f)
		if d == Int64 && f >= 9223372036854775807 {
			// float32 cannot hold the largest int64s; 2^63 (what they
			// round to) is saturated back to the maximum.
			x = math.MaxInt64
		}
		switch n {
		case 8:
			binary.LittleEndian.PutUint64(dst[8*i:], uint64(x))
		case 4:
			binary.LittleEndian.PutUint32(dst[4*i:], uint32(x))
		case 2:
			binary.LittleEndian.PutUint16(dst[2*i:], uint16(x))
		case 1:
			dst[i] = byte(x)
		}
	}
	return nil
}

func intRange(d DType) (lo, hi float64) {
	switch d {
	case Int64:
		return -9223372036854775808, 9223372036854775808 // 2^63 saturates, see encode
	case Int32:
		return math.MinInt32, math.MaxInt32
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Uint8:
		return 0, math.MaxUint8
	case Bool:
		return 0, 1
	}
	return 0, 0
}

// writeDType is the type a writer uses for a tensor recorded as d: integer
// types keep their type, everything else is written as float32 (the values
// are float32 in memory).
func writeDType(d DType) DType {
	if d.IsInteger() {
		return d
	}
	return Float32
}

// shapeElems multiplies dims, reporting an error for a negative dimension or
// a product above limit (which also guards against overflow).
func shapeElems(dims []int64, limit int64) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, dims)
		}
		if d == 0 {
			n = 0
			continue
		}
		if n != 0 && d > limit/n {
			return 0, fmt.Errorf("shape %v has more than %d elements", dims, limit)
		}
		n *= d
	}
	// A zero dimension makes the product zero, but the dims after it were
	// still checked for sign and size above.
	for _, d := range dims {
		if d == 0 {
			return 0, nil
		}
	}
	return n, nil
}
