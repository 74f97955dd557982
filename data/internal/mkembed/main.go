// Command mkembed writes the Fashion-MNIST subset that package data embeds
// for the no-download default training run: the first 6000 training and
// 1000 test images and labels of the full set, in the distributed IDX
// format, gzipped, under the distributed file names.
//
//	go run ./data/internal/mkembed [-src /usr/share/datasets/fashion-mnist] [-out data/embedded]
//
// The source is Debian's dataset-fashion-mnist package (or the files from
// https://github.com/zalandoresearch/fashion-mnist). The output is
// deterministic (no timestamps in the gzip headers), so rerunning it does
// not change the committed files. It does not import package data (the
// layering test keeps data/internal at data's own layer); data's tests
// check the embedded files against the source when it is installed.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
)

func main() {
	src := flag.String("src", "/usr/share/datasets/fashion-mnist", "folder holding the full Fashion-MNIST files")
	out := flag.String("out", "data/embedded", "folder to write the subset to")
	nTrain := flag.Int("train", 6000, "training images to keep")
	nTest := flag.Int("test", 1000, "test images to keep")
	flag.Parse()
	log.SetFlags(0)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, f := range []struct {
		prefix string
		n      int
	}{{"train", *nTrain}, {"t10k", *nTest}} {
		for _, kind := range []string{"images-idx3-ubyte", "labels-idx1-ubyte"} {
			name := f.prefix + "-" + kind + ".gz"
			if err := subset(filepath.Join(*src, name), filepath.Join(*out, name), f.n); err != nil {
				log.Fatal(err)
			}
		}
	}
}

// subset copies the first n records of a gzipped IDX file of unsigned
// bytes: the header with its first dimension set to n, then the data.
func subset(src, dst string, n int) error {
	fh, err := os.Open(src)
	if err != nil {
		return err
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(zr, hdr[:]); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] == 0 {
		return fmt.Errorf("%s: not an IDX file of unsigned bytes", src)
	}
	dims := make([]uint32, hdr[3])
	if err := binary.Read(zr, binary.BigEndian, dims); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if int(dims[0]) < n {
		return fmt.Errorf("%s has %d records, fewer than %d", src, dims[0], n)
	}
	rec := 1
	for _, d := range dims[1:] {
		rec *= int(d)
	}
	dims[0] = uint32(n)
	var raw bytes.Buffer
	raw.Write(hdr[:])
	binary.Write(&raw, binary.BigEndian, dims)
	if _, err := io.CopyN(&raw, zr, int64(n*rec)); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return err
	}
	zw.Write(raw.Bytes())
	if err := zw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(dst, gz.Bytes(), 0o644); err != nil {
		return err
	}
	log.Printf("%s: %d records, %d bytes", dst, n, gz.Len())
	return nil
}
