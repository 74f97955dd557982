package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarRecord makes one record: label bytes, then an image whose pixel
// (y, x) of channel c is (c*64 + y*3 + x) mod 256.
func cifarRecord(labels ...byte) []byte {
	b := append([]byte(nil), labels...)
	for c := range 3 {
		for y := range 32 {
			for x := range 32 {
				b = append(b, byte(c*64+y*3+x))
			}
		}
	}
	return b
}

func TestLoadCIFAR(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "cifar-10-batches-bin")
	os.Mkdir(sub, 0o755)
	for i := 1; i <= 5; i++ {
		writeFile(t, sub, "data_batch_"+string(rune('0'+i))+".bin", append(cifarRecord(byte(i)), cifarRecord(byte(9-i))...))
	}
	writeFile(t, sub, "test_batch.bin", cifarRecord(3))
	d, err := CIFAR10(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 10 || d.Classes[3] != "cat" {
		t.Fatalf("%d samples, classes %v", d.Len(), d.Classes)
	}
	if want := []int{1, 8, 2, 7, 3, 6, 4, 5, 5, 4}; !equalInts(d.Labels, want) {
		t.Errorf("labels %v, want %v", d.Labels, want)
	}
	s, _ := d.Get(3)
	img := s.Image
	for _, p := range [][3]int{{0, 0, 0}, {5, 7, 1}, {31, 31, 2}} {
		y, x, c := p[0], p[1], p[2]
		if got, want := img.Pix[(y*32+x)*3+c], byte(c*64+y*3+x); got != want {
			t.Errorf("pixel (%d,%d) channel %d = %d, want %d (planar to interleaved)", y, x, c, got, want)
		}
	}
	if d, err := CIFAR10(sub, false); err != nil || d.Len() != 1 || d.Labels[0] != 3 {
		t.Fatalf("test set from the batches folder itself: %v", err)
	}

	// CIFAR-100: coarse label, then fine label.
	c100 := writeFile(t, dir, "train.bin", append(cifarRecord(4, 99), cifarRecord(19, 0)...))
	if d, err := LoadCIFAR([]string{c100}, CIFAR100Format); err != nil || !equalInts(d.Labels, []int{99, 0}) {
		t.Errorf("CIFAR-100 fine labels: %v, %v", d, err)
	}
	if d, err := LoadCIFAR([]string{c100}, CIFAR100CoarseFormat); err != nil || !equalInts(d.Labels, []int{4, 19}) {
		t.Errorf("CIFAR-100 coarse labels: %v, %v", d, err)
	}

	for _, c := range []struct {
		name   string
		data   []byte
		format CIFARFormat
		error  []string
	}{
		{"label out of range", append(cifarRecord(3), cifarRecord(10)...), CIFAR10Format, []string{"bad.bin", "record 1", "label 10", "[0, 10)"}},
		{"fine label out of range", cifarRecord(0, 100), CIFAR100Format, []string{"bad.bin", "record 0", "label 100"}},
		{"coarse label out of range", cifarRecord(20, 1), CIFAR100CoarseFormat, []string{"bad.bin", "record 0", "label 20"}},
		{"partial record", cifarRecord(3)[:3000], CIFAR10Format, []string{"bad.bin", "3000 bytes", "3073-byte"}},
		{"empty file", nil, CIFAR10Format, []string{"bad.bin", "0 bytes"}},
		{"CIFAR-100 read as CIFAR-10", cifarRecord(1, 2), CIFAR10Format, []string{"bad.bin", "3074 bytes"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, dir, "bad.bin", c.data)
			_, err := LoadCIFAR([]string{p}, c.format)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.error {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := CIFAR10(t.TempDir(), true); err == nil || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Errorf("missing files: %v", err)
	}
}
