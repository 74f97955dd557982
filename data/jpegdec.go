package data

import (
	"errors"
	"fmt"
)

// A JPEG decoder that gives libjpeg-turbo's pixels (PIL's decoder, with
// its defaults: the "islow" integer inverse DCT, fancy upsampling, the
// jdcolor.c tables), so that a JPEG goes through our pipeline to the same
// tensor torchvision makes of it. Go's image/jpeg uses a different inverse
// DCT: on our photo-like test images one RGB value in five then differs
// from PIL's, by up to three levels, which after ImageNet's normalisation
// (x/0.225) is up to 0.05, above the 0.02 the parity tests allow.
//
// It reads what JPEG files are in practice: baseline and extended
// sequential (SOF0, SOF1) and progressive (SOF2) Huffman-coded, 8-bit, with
// one or three components at any integral sampling factors, restart
// intervals, and multi-scan sequential files. Arithmetic coding, lossless,
// hierarchical and 12-bit files are refused; four-component (CMYK) files are
// left to Go's decoder. Unlike libjpeg, which warns and fills in zeros, it
// treats corrupt or truncated entropy-coded data as an error.
//
// The entropy decoding follows ITU-T T.81 (and, where it is
// underspecified, what libjpeg does: the progressive refinement of
// jdphuff.c); the inverse DCT is jidctint.c's algorithm (Loeffler,
// Ligtenberg and Moschytz, 13-bit constants, two passes) with its rounding
// and output range table.

var errJPEGCMYK = errors.New("four-component JPEG")

// jpegZigzag maps the zigzag index of a coefficient to its natural
// (row-major) position in the 8x8 block.
var jpegZigzag = [64]uint8{
	0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
	12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
	35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
	58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
}

const jpegMaxScans = 1000

type jpegHuffman struct {
	// lookup[peek of 9 bits] = (length << 8) | value, or 0 if the code is
	// longer than 9 bits.
	lookup  [1 << 9]uint16
	maxcode [18]int32 // largest code of each length, -1 if none; [17] sentinel
	valptr  [17]int32 // index in vals of the first code of each length
	mincode [17]int32
	vals    []uint8
	defined bool
}

type jpegComponent struct {
	id     uint8
	h, v   int
	tq     uint8
	bw, bh int     // blocks per line and per column stored (MCU padded)
	dw, dh int     // downsampled width and height in samples
	coef   []int16 // bw*bh blocks of 64 coefficients, natural order
	dcTbl  int
	acTbl  int
	pred   int32
	q      [64]uint16 // quantisation table, latched at the first scan
	qSet   bool
}

type jpegDecoder struct {
	data []byte
	pos  int

	// bit reader
	bits   uint32 // left-aligned bit buffer
	nbits  int
	marker bool // a marker (or the end) was met: further bits read as zeros
	fake   int  // how many of the buffer's last bits are such zeros

	width, height int
	progressive   bool
	comps         []jpegComponent
	maxH, maxV    int
	mcusX, mcusY  int
	quant         [4][64]uint16 // natural order
	quantSet      [4]bool
	dc, ac        [4]jpegHuffman
	restart       int
	eobrun        int
	adobe         bool
	adobeXform    int
	jfif          bool
	scans         int
	maxPixels     int
}

type jpegError string

func (e jpegError) Error() string { return "jpeg: " + string(e) }

var errJPEGTruncated = jpegError("truncated data")

// decodeJPEG decodes a JPEG file to RGB as libjpeg-turbo and PIL's
// convert("RGB") do. Images over maxPixels are refused at the frame header.
func decodeJPEG(b []byte, maxPixels int) (*Image, error) {
	d := &jpegDecoder{data: b, maxPixels: maxPixels}
	if err := d.decode(); err != nil {
		return nil, err
	}
	return d.toRGB()
}

func (d *jpegDecoder) u16() (int, error) {
	if d.pos+2 > len(d.data) {
		return 0, errJPEGTruncated
	}
	v := int(d.data[d.pos])<<8 | int(d.data[d.pos+1])
	d.pos += 2
	return v, nil
}

// segment returns the payload of the marker segment at pos.
func (d *jpegDecoder) segment() ([]byte, error) {
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if n < 2 || d.pos+n-2 > len(d.data) {
		return nil, jpegError("segment length runs past the end of the file")
	}
	s := d.data[d.pos : d.pos+n-2]
	d.pos += n - 2
	return s, nil
}

func (d *jpegDecoder) decode() error {
	if len(d.data) < 2 || d.data[0] != 0xff || d.data[1] != 0xd8 {
		return jpegError("missing SOI marker")
	}
	d.pos = 2
	sawFrame := false
	for {
		// Find the next marker, skipping fill bytes (and, as libjpeg does
		// with a warning, any garbage between segments).
		for d.pos < len(d.data) && d.data[d.pos] != 0xff {
			d.pos++
		}
		for d.pos < len(d.data) && d.data[d.pos] == 0xff {
			d.pos++
		}
		if d.pos >= len(d.data) {
			return errJPEGTruncated
		}
		m := d.data[d.pos]
		d.pos++
		switch {
		case m == 0xd9: // EOI
			if !sawFrame || d.scans == 0 {
				return jpegError("no image data before EOI")
			}
			return nil
		case m == 0xc0 || m == 0xc1 || m == 0xc2:
			if sawFrame {
				return jpegError("more than one frame (SOF) marker")
			}
			sawFrame = true
			d.progressive = m == 0xc2
			s, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.frame(s); err != nil {
				return err
			}
		case m >= 0xc3 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc:
			return jpegError(fmt.Sprintf("unsupported coding process (SOF%d: lossless, hierarchical or arithmetic)", m-0xc0))
		case m == 0xc4:
			s, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.huffmanTables(s); err != nil {
				return err
			}
		case m == 0xdb:
			s, err := d.segment()
			if err != nil {
				return err
			}
			if err := d.quantTables(s); err != nil {
				return err
			}
		case m == 0xdd:
			s, err := d.segment()
			if err != nil {
				return err
			}
			if len(s) != 2 {
				return jpegError("bad DRI segment")
			}
			d.restart = int(s[0])<<8 | int(s[1])
		case m == 0xda:
			if !sawFrame {
				return jpegError("scan before frame header")
			}
			if d.comps == nil {
				return errJPEGCMYK
			}
			s, err := d.segment()
			if err != nil {
				return err
			}
			if d.scans++; d.scans > jpegMaxScans {
				return jpegError("too many scans")
			}
			if err := d.scan(s); err != nil {
				return err
			}
		case m == 0xe0 || m == 0xee:
			s, err := d.segment()
			if err != nil {
				return err
			}
			if m == 0xe0 && len(s) >= 5 && string(s[:5]) == "JFIF\x00" {
				d.jfif = true
			}
			if m == 0xee && len(s) >= 12 && string(s[:5]) == "Adobe" {
				d.adobe, d.adobeXform = true, int(s[11])
			}
		case m >= 0xd0 && m <= 0xd7, m == 0x01:
			// stray RSTn or TEM: no payload
		case m == 0xdc:
			return jpegError("DNL marker is not supported")
		default:
			if _, err := d.segment(); err != nil { // APPn, COM, ...
				return err
			}
		}
	}
}

func (d *jpegDecoder) frame(s []byte) error {
	if len(s) < 6 {
		return jpegError("short frame header")
	}
	if s[0] != 8 {
		return jpegError(fmt.Sprintf("%d-bit samples are not supported", s[0]))
	}
	d.height = int(s[1])<<8 | int(s[2])
	d.width = int(s[3])<<8 | int(s[4])
	n := int(s[5])
	if d.width == 0 || d.height == 0 {
		return jpegError("empty image (or height in a DNL marker)")
	}
	if d.width*d.height > d.maxPixels {
		return jpegError(fmt.Sprintf("%dx%d image exceeds the pixel limit %d", d.width, d.height, d.maxPixels))
	}
	if len(s) != 6+3*n {
		return jpegError("bad frame header length")
	}
	if n == 4 {
		return errJPEGCMYK // d.comps stays nil
	}
	if n != 1 && n != 3 {
		return jpegError(fmt.Sprintf("%d components are not supported", n))
	}
	d.comps = make([]jpegComponent, n)
	for i := range d.comps {
		c := &d.comps[i]
		c.id, c.h, c.v, c.tq = s[6+3*i], int(s[7+3*i]>>4), int(s[7+3*i]&15), s[8+3*i]
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return jpegError("bad component parameters")
		}
		for j := range i {
			if d.comps[j].id == c.id {
				return jpegError("duplicate component id")
			}
		}
		d.maxH, d.maxV = max(d.maxH, c.h), max(d.maxV, c.v)
	}
	if n == 1 {
		// A single component is never subsampled (libjpeg: its MCU is
		// one block whatever the factors say).
		d.comps[0].h, d.comps[0].v, d.maxH, d.maxV = 1, 1, 1, 1
	}
	d.mcusX = (d.width + 8*d.maxH - 1) / (8 * d.maxH)
	d.mcusY = (d.height + 8*d.maxV - 1) / (8 * d.maxV)
	// The coefficients are stored for whole MCUs, which for a very thin
	// image with large sampling factors is many times its pixel count:
	// bound what is allocated by what a full-size 4:4:4 image needs.
	total := 0
	for _, c := range d.comps {
		total += d.mcusX * c.h * d.mcusY * c.v * 64
	}
	if total > 3*d.maxPixels+1<<20 {
		return jpegError(fmt.Sprintf("%dx%d image with sampling factors up to %dx%d needs %d coefficients, more than the pixel limit allows", d.width, d.height, d.maxH, d.maxV, total))
	}
	for i := range d.comps {
		c := &d.comps[i]
		if d.maxH%c.h != 0 || d.maxV%c.v != 0 {
			return jpegError("non-integral sampling ratios are not supported")
		}
		c.dw = (d.width*c.h + d.maxH - 1) / d.maxH
		c.dh = (d.height*c.v + d.maxV - 1) / d.maxV
		c.bw, c.bh = d.mcusX*c.h, d.mcusY*c.v
		c.coef = make([]int16, c.bw*c.bh*64)
	}
	return nil
}

func (d *jpegDecoder) quantTables(s []byte) error {
	for len(s) > 0 {
		pq, tq := s[0]>>4, s[0]&15
		if tq > 3 || pq > 1 {
			return jpegError("bad DQT segment")
		}
		n := 64 << pq
		if len(s) < 1+n {
			return jpegError("short DQT segment")
		}
		for k := range 64 {
			v := uint16(s[1+k])
			if pq == 1 {
				v = uint16(s[1+2*k])<<8 | uint16(s[2+2*k])
			}
			d.quant[tq][jpegZigzag[k]] = v
		}
		d.quantSet[tq] = true
		s = s[1+n:]
	}
	return nil
}

func (d *jpegDecoder) huffmanTables(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return jpegError("short DHT segment")
		}
		tc, th := s[0]>>4, s[0]&15
		if tc > 1 || th > 3 {
			return jpegError("bad DHT segment")
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(s[l])
			total += counts[l]
		}
		if total > 256 || len(s) < 17+total {
			return jpegError("bad DHT segment")
		}
		t := &d.dc[th]
		if tc == 1 {
			t = &d.ac[th]
		}
		*t = jpegHuffman{vals: append([]uint8(nil), s[17:17+total]...), defined: true}
		code, k := int32(0), int32(0)
		for l := 1; l <= 16; l++ {
			t.valptr[l] = k
			t.mincode[l] = code
			code += int32(counts[l])
			k += int32(counts[l])
			if counts[l] > 0 {
				t.maxcode[l] = code - 1
			} else {
				t.maxcode[l] = -1
			}
			if code > 1<<l {
				return jpegError("bad Huffman table (over-subscribed)")
			}
			code <<= 1
		}
		t.maxcode[17] = 1 << 30
		// Fill the 9-bit lookup table with the short codes.
		code, k = 0, 0
		for l := 1; l <= 9; l++ {
			for range counts[l] {
				shift := 9 - l
				for p := code << shift; p < (code+1)<<shift; p++ {
					t.lookup[p] = uint16(l)<<8 | uint16(t.vals[k])
				}
				code++
				k++
			}
			code <<= 1
		}
		s = s[17+total:]
	}
	return nil
}

// fill loads bytes into the bit buffer until it holds at least 25 bits.
// 0xFF 0x00 is a literal 0xFF; 0xFF followed by anything else is a marker,
// after which the entropy-coded data is over and zeros are read.
func (d *jpegDecoder) fill() {
	for d.nbits <= 24 {
		var c byte
		if !d.marker && d.pos < len(d.data) {
			c = d.data[d.pos]
			if c == 0xff {
				if d.pos+1 >= len(d.data) {
					d.marker = true
					c = 0
				} else if n := d.data[d.pos+1]; n == 0 {
					d.pos += 2
				} else if n == 0xff {
					d.pos++ // fill byte before a marker
					continue
				} else {
					d.marker = true
					c = 0
				}
			} else {
				d.pos++
			}
		} else {
			d.marker = true
		}
		if d.marker {
			d.fake += 8
		}
		d.bits |= uint32(c) << (24 - d.nbits)
		d.nbits += 8
	}
}

func (d *jpegDecoder) getBits(n int) int32 {
	if n == 0 {
		return 0
	}
	if d.nbits < n {
		d.fill()
	}
	v := int32(d.bits >> (32 - n))
	d.bits <<= n
	d.nbits -= n
	return v
}

func (d *jpegDecoder) getBit() int32 { return d.getBits(1) }

// receiveExtend reads an s-bit magnitude and sign-extends it (T.81's
// RECEIVE and EXTEND).
func (d *jpegDecoder) receiveExtend(s int) int32 {
	if s == 0 {
		return 0
	}
	v := d.getBits(s)
	if v < 1<<(s-1) {
		v += -1<<s + 1
	}
	return v
}

func (d *jpegDecoder) decodeHuffman(t *jpegHuffman) (uint8, error) {
	if d.nbits < 16 {
		d.fill()
	}
	if e := t.lookup[d.bits>>23]; e != 0 {
		l := int(e >> 8)
		d.bits <<= l
		d.nbits -= l
		return uint8(e), nil
	}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | int32(d.bits>>31)
		d.bits <<= 1
		d.nbits--
		if code <= t.maxcode[l] {
			return t.vals[t.valptr[l]+code-t.mincode[l]], nil
		}
	}
	if d.marker {
		return 0, errJPEGTruncated
	}
	return 0, jpegError("bad Huffman code")
}

func (d *jpegDecoder) resetBits() {
	d.bits, d.nbits, d.marker, d.fake = 0, 0, false, 0
}

func (d *jpegDecoder) scan(s []byte) error {
	if len(s) < 1 {
		return jpegError("short scan header")
	}
	ns := int(s[0])
	if ns < 1 || ns > 4 || len(s) != 4+2*ns {
		return jpegError("bad scan header")
	}
	var comps []*jpegComponent
	for i := range ns {
		id, tbl := s[1+2*i], s[2+2*i]
		var c *jpegComponent
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return jpegError("scan names an unknown component")
		}
		for _, o := range comps {
			if o == c {
				return jpegError("scan names a component twice")
			}
		}
		c.dcTbl, c.acTbl = int(tbl>>4), int(tbl&15)
		if c.dcTbl > 3 || c.acTbl > 3 {
			return jpegError("bad Huffman table selector")
		}
		comps = append(comps, c)
	}
	ss, se, ah, al := int(s[1+2*ns]), int(s[2+2*ns]), int(s[3+2*ns]>>4), int(s[3+2*ns]&15)
	if d.progressive {
		if ss > se || se > 63 || ah > 13 || al > 13 || (ss == 0) != (se == 0) || ss > 0 && ns != 1 {
			return jpegError("bad progressive scan parameters")
		}
	} else if ss != 0 || se != 63 || ah != 0 || al != 0 {
		return jpegError("bad sequential scan parameters")
	}
	blocks := 0
	for _, c := range comps {
		blocks += c.h * c.v
		if !c.qSet {
			// libjpeg latches a component's table when its first scan
			// starts; a later DQT does not change it.
			if !d.quantSet[c.tq] {
				return jpegError("component uses an undefined quantisation table")
			}
			c.q, c.qSet = d.quant[c.tq], true
		}
		needDC := ss == 0 && ah == 0
		needAC := se > 0
		if needDC && !d.dc[c.dcTbl].defined || needAC && !d.ac[c.acTbl].defined {
			return jpegError("scan uses an undefined Huffman table")
		}
		c.pred = 0
	}
	if ns > 1 && blocks > 10 {
		return jpegError("too many blocks in an MCU")
	}
	d.resetBits()
	d.eobrun = 0

	// The blocks of the scan, in decoding order. A single-component scan
	// covers the component's own blocks, row by row (not the MCU-padded
	// ones); an interleaved scan goes MCU by MCU.
	var mx, my int
	if ns == 1 {
		c := comps[0]
		mx, my = (c.dw+7)/8, (c.dh+7)/8
	} else {
		mx, my = d.mcusX, d.mcusY
	}
	unit := 0
	for y := range my {
		for x := range mx {
			if d.restart > 0 && unit > 0 && unit%d.restart == 0 {
				if err := d.nextRestart(unit/d.restart - 1); err != nil {
					return err
				}
				for _, c := range comps {
					c.pred = 0
				}
				d.eobrun = 0
			}
			unit++
			if ns == 1 {
				c := comps[0]
				if err := d.block(c, c.coef[(y*c.bw+x)*64:][:64], ss, se, ah, al); err != nil {
					return err
				}
				continue
			}
			for _, c := range comps {
				for j := range c.v {
					for i := range c.h {
						b := ((y*c.v+j)*c.bw + x*c.h + i) * 64
						if err := d.block(c, c.coef[b:b+64], ss, se, ah, al); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	// fill stopped at the marker that ends the scan, without consuming
	// it: the marker loop goes on from there.
	return nil
}

// nextRestart expects the RSTn marker that ends restart interval k. The
// interval's data ends on a byte boundary right before it; anything else
// in between (which libjpeg would skip with a warning) is an error.
func (d *jpegDecoder) nextRestart(k int) error {
	d.resetBits()
	for d.pos+1 < len(d.data) && d.data[d.pos] == 0xff && d.data[d.pos+1] == 0xff {
		d.pos++ // fill bytes
	}
	if d.pos+1 >= len(d.data) {
		return errJPEGTruncated
	}
	if d.data[d.pos] != 0xff || d.data[d.pos+1] != 0xd0+byte(k%8) {
		return jpegError(fmt.Sprintf("expected restart marker RST%d", k%8))
	}
	d.pos += 2
	return nil
}

// block decodes one block's part of a scan into coef (natural order).
func (d *jpegDecoder) block(c *jpegComponent, coef []int16, ss, se, ah, al int) error {
	if !d.progressive {
		return d.sequentialBlock(c, coef)
	}
	if ss == 0 { // DC scan
		if ah == 0 {
			t, err := d.decodeHuffman(&d.dc[c.dcTbl])
			if err != nil {
				return err
			}
			if t > 11 {
				return jpegError("bad DC coefficient size")
			}
			c.pred += d.receiveExtend(int(t))
			coef[0] = int16(c.pred << al)
		} else if d.getBit() != 0 {
			coef[0] |= int16(1) << al
		}
		return d.checkData()
	}
	if ah == 0 {
		return d.acFirst(c, coef, ss, se, al)
	}
	return d.acRefine(c, coef, ss, se, al)
}

// checkData reports entropy-coded data that ran out (into a marker or
// the end of the file) before the block was complete: the zeros read
// instead are not data.
func (d *jpegDecoder) checkData() error {
	if d.nbits < d.fake {
		return errJPEGTruncated
	}
	return nil
}

func (d *jpegDecoder) sequentialBlock(c *jpegComponent, coef []int16) error {
	t, err := d.decodeHuffman(&d.dc[c.dcTbl])
	if err != nil {
		return err
	}
	if t > 11 {
		return jpegError("bad DC coefficient size")
	}
	c.pred += d.receiveExtend(int(t))
	coef[0] = int16(c.pred)
	ac := &d.ac[c.acTbl]
	for k := 1; k < 64; k++ {
		rs, err := d.decodeHuffman(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), int(rs&15)
		if s == 0 {
			if r != 15 {
				break // EOB
			}
			k += 15
			continue
		}
		k += r
		if k > 63 {
			return jpegError("AC coefficient index past 63")
		}
		coef[jpegZigzag[k]] = int16(d.receiveExtend(s))
	}
	return d.checkData()
}

func (d *jpegDecoder) acFirst(c *jpegComponent, coef []int16, ss, se, al int) error {
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	ac := &d.ac[c.acTbl]
	for k := ss; k <= se; k++ {
		rs, err := d.decodeHuffman(ac)
		if err != nil {
			return err
		}
		r, s := int(rs>>4), int(rs&15)
		if s == 0 {
			if r != 15 {
				d.eobrun = 1<<r - 1
				if r > 0 {
					d.eobrun += int(d.getBits(r))
				}
				break
			}
			k += 15
			continue
		}
		k += r
		if k > se {
			return jpegError("AC coefficient index past the scan's end")
		}
		coef[jpegZigzag[k]] = int16(d.receiveExtend(s) << al)
	}
	return d.checkData()
}

// acRefine is a successive-approximation refinement of AC coefficients,
// as jdphuff.c's decode_mcu_AC_refine does it.
func (d *jpegDecoder) acRefine(c *jpegComponent, coef []int16, ss, se, al int) error {
	p1 := int16(1) << al
	m1 := int16(-1) << al
	refine := func(k int) {
		z := &coef[jpegZigzag[k]]
		if d.getBit() != 0 && *z&p1 == 0 {
			if *z >= 0 {
				*z += p1
			} else {
				*z += m1
			}
		}
	}
	k := ss
	if d.eobrun == 0 {
		ac := &d.ac[c.acTbl]
		for ; k <= se; k++ {
			rs, err := d.decodeHuffman(ac)
			if err != nil {
				return err
			}
			r, s := int(rs>>4), int(rs&15)
			var v int16
			if s != 0 {
				if s != 1 {
					return jpegError("bad refinement coefficient size")
				}
				v = m1
				if d.getBit() != 0 {
					v = p1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += int(d.getBits(r))
				}
				break
			}
			// Pass over the coefficients already nonzero (refining them)
			// and r zero ones.
			for ; k <= se; k++ {
				if coef[jpegZigzag[k]] != 0 {
					refine(k)
				} else {
					if r == 0 {
						break
					}
					r--
				}
			}
			if v != 0 {
				if k > se {
					return jpegError("refinement coefficient past the scan's end")
				}
				coef[jpegZigzag[k]] = v
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			if coef[jpegZigzag[k]] != 0 {
				refine(k)
			}
		}
		d.eobrun--
	}
	return d.checkData()
}

// toRGB runs the inverse DCT, upsamples and converts the colours.
func (d *jpegDecoder) toRGB() (*Image, error) {
	planes := make([][]uint8, len(d.comps))
	for i := range d.comps {
		c := &d.comps[i]
		stride := c.bw * 8
		p := make([]uint8, stride*c.bh*8)
		q := &c.q
		for by := range c.bh {
			for bx := range c.bw {
				off := (by*c.bw + bx) * 64
				idctIslow(c.coef[off:off+64], q, p[by*8*stride+bx*8:], stride)
			}
		}
		c.coef = nil
		planes[i] = upsampleComponent(p, stride, c, d)
	}
	w, h := d.width, d.height
	if len(d.comps) == 1 {
		out := NewImage(w, h, 3)
		for i, v := range planes[0][:w*h] {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = v, v, v
		}
		return out, nil
	}
	// libjpeg's choice of colour space (jdapimin.c default_decompress_parms).
	rgb := false
	switch {
	case d.jfif:
	case d.adobe:
		rgb = d.adobeXform == 0
	default:
		rgb = d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B'
	}
	out := NewImage(w, h, 3)
	y, cb, cr := planes[0], planes[1], planes[2]
	t := &jpegTables
	for i := range w * h {
		if rgb {
			out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = y[i], cb[i], cr[i]
			continue
		}
		Y := int32(y[i])
		out.Pix[3*i] = clamp8(Y + t.crR[cr[i]])
		out.Pix[3*i+1] = clamp8(Y + (t.cbG[cb[i]]+t.crG[cr[i]])>>jScaleBits)
		out.Pix[3*i+2] = clamp8(Y + t.cbB[cb[i]])
	}
	return out, nil
}

// upsampleComponent brings one component's samples (plane, with stride)
// to the full image size as jdsample.c does, returning a w*h plane.
func upsampleComponent(plane []uint8, stride int, c *jpegComponent, d *jpegDecoder) []uint8 {
	w, h := d.width, d.height
	hs, vs := d.maxH/c.h, d.maxV/c.v
	out := make([]uint8, w*h)
	if hs == 1 && vs == 1 {
		for y := range h {
			copy(out[y*w:(y+1)*w], plane[y*stride:])
		}
		return out
	}
	fancyH := hs == 2 && vs == 1 && c.dw > 2
	fancyV := vs == 2 && (hs == 1 || hs == 2 && c.dw > 2)
	for y := range h {
		r := y / vs
		near := plane[r*stride : r*stride+c.dw]
		dst := out[y*w : (y+1)*w]
		switch {
		case fancyV:
			far, bias := r-1, int32(1)
			if y%2 == 1 {
				far, bias = r+1, 2
			}
			far = min(max(far, 0), c.dh-1)
			farRow := plane[far*stride : far*stride+c.dw]
			if hs == 2 {
				upsampleH2V2(dst, near, farRow)
			} else {
				upsampleH1V2(dst, near, farRow, bias)
			}
		case fancyH:
			upsampleH2V1(dst, near)
		default:
			for x := range dst {
				dst[x] = near[x/hs]
			}
		}
	}
	return out
}

// idctRange is libjpeg's post-IDCT range-limit table indexed by the
// output's low 10 bits: -128..127 map to 0..255, larger values to 255 or 0,
// and values outside -512..511 wrap around as they do in libjpeg.
var idctRange = func() (t [1024]uint8) {
	for i := range 1024 {
		switch {
		case i < 128:
			t[i] = uint8(i + 128)
		case i < 512:
			t[i] = 255
		case i < 896:
			t[i] = 0
		default:
			t[i] = uint8(i - 896)
		}
	}
	return t
}()

// jidctint.c's constants: FIX(x) = round(x * 2^13).
const (
	fix0_298631336 = 2446
	fix0_390180644 = 3196
	fix0_541196100 = 4433
	fix0_765366865 = 6270
	fix0_899976223 = 7373
	fix1_175875602 = 9633
	fix1_501321110 = 12299
	fix1_847759065 = 15137
	fix1_961570560 = 16069
	fix2_053119869 = 16819
	fix2_562915447 = 20995
	fix3_072711026 = 25172
	idctConstBits  = 13
	idctPass1Bits  = 2
)

func descale(x int64, n uint) int64 { return (x + 1<<(n-1)) >> n }

// idctIslow is jidctint.c's jpeg_idct_islow: dequantise, a 1-D IDCT down
// each column (results scaled up by 2^PASS1_BITS), then along each row,
// writing 8x8 samples at out with the given stride.
func idctIslow(coef []int16, q *[64]uint16, out []uint8, stride int) {
	var ws [64]int64
	for col := range 8 {
		in := func(r int) int64 { return int64(coef[r*8+col]) * int64(q[r*8+col]) }
		if coef[8+col] == 0 && coef[16+col] == 0 && coef[24+col] == 0 && coef[32+col] == 0 &&
			coef[40+col] == 0 && coef[48+col] == 0 && coef[56+col] == 0 {
			dc := in(0) << idctPass1Bits
			for r := range 8 {
				ws[r*8+col] = dc
			}
			continue
		}
		var o [8]int64
		idct1D(in(0), in(1), in(2), in(3), in(4), in(5), in(6), in(7), &o)
		for r := range 8 {
			ws[r*8+col] = descale(o[r], idctConstBits-idctPass1Bits)
		}
	}
	for row := range 8 {
		w := ws[row*8 : row*8+8]
		dst := out[row*stride : row*stride+8]
		var o [8]int64
		idct1D(w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], &o)
		for i := range 8 {
			dst[i] = idctRange[int(descale(o[i], idctConstBits+idctPass1Bits+3))&1023]
		}
	}
}

// idct1D is one 1-D pass of jidctint.c before descaling: the outputs are
// scaled by 2^CONST_BITS.
func idct1D(x0, x1, x2, x3, x4, x5, x6, x7 int64, o *[8]int64) {
	// Even part.
	z1 := (x2 + x6) * fix0_541196100
	tmp2 := z1 - x6*fix1_847759065
	tmp3 := z1 + x2*fix0_765366865
	tmp0 := (x0 + x4) << idctConstBits
	tmp1 := (x0 - x4) << idctConstBits
	tmp10, tmp13 := tmp0+tmp3, tmp0-tmp3
	tmp11, tmp12 := tmp1+tmp2, tmp1-tmp2
	// Odd part.
	t0, t1, t2, t3 := x7, x5, x3, x1
	z1 = t0 + t3
	z2 := t1 + t2
	z3 := t0 + t2
	z4 := t1 + t3
	z5 := (z3 + z4) * fix1_175875602
	t0 *= fix0_298631336
	t1 *= fix2_053119869
	t2 *= fix3_072711026
	t3 *= fix1_501321110
	z1 *= -fix0_899976223
	z2 *= -fix2_562915447
	z3 = z3*-fix1_961570560 + z5
	z4 = z4*-fix0_390180644 + z5
	t0 += z1 + z3
	t1 += z2 + z4
	t2 += z2 + z3
	t3 += z1 + z4
	o[0], o[7] = tmp10+t3, tmp10-t3
	o[1], o[6] = tmp11+t2, tmp11-t2
	o[2], o[5] = tmp12+t1, tmp12-t1
	o[3], o[4] = tmp13+t0, tmp13-t0
}
