package train

import (
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// writeIDX writes an MNIST-style pair of files: n images of side x side
// and the given labels.
func writeIDX(t *testing.T, dir, prefix string, side int, labels []byte) {
	t.Helper()
	n := len(labels)
	img := binary.BigEndian.AppendUint32(nil, 0x803)
	for _, d := range []int{n, side, side} {
		img = binary.BigEndian.AppendUint32(img, uint32(d))
	}
	for i := range n * side * side {
		img = append(img, byte(i*7))
	}
	lab := binary.BigEndian.AppendUint32(nil, 0x801)
	lab = binary.BigEndian.AppendUint32(lab, uint32(n))
	lab = append(lab, labels...)
	if err := os.WriteFile(filepath.Join(dir, prefix+"-images-idx3-ubyte"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, prefix+"-labels-idx1-ubyte"), lab, 0o644); err != nil {
		t.Fatal(err)
	}
}

func writePNG(t *testing.T, path string, side int, shade uint8) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	m := image.NewRGBA(image.Rect(0, 0, side, side))
	for i := range m.Pix {
		m.Pix[i] = shade + uint8(i%13)
	}
	m.Set(0, 0, color.RGBA{255, 0, 0, 255})
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, m); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDataDetects(t *testing.T) {
	idx := filepath.Join(t.TempDir(), "fashion-mnist")
	os.Mkdir(idx, 0o755)
	writeIDX(t, idx, "train", 28, []byte{0, 1, 2, 9})
	writeIDX(t, idx, "t10k", 28, []byte{3, 4})

	cifar := t.TempDir()
	rec := make([]byte, 1+3072)
	for i := 1; i <= 5; i++ {
		rec[0] = byte(i)
		os.WriteFile(filepath.Join(cifar, "data_batch_"+string(rune('0'+i))+".bin"), append(append([]byte{}, rec...), rec...), 0o644)
	}
	os.WriteFile(filepath.Join(cifar, "test_batch.bin"), rec, 0o644)

	folder := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for _, class := range []string{"cat", "dog"} {
			writePNG(t, filepath.Join(folder, split, class, "a.png"), 20, 40)
		}
	}

	for _, tc := range []struct {
		dir                string
		kind               string
		train, test, chans int
		classes            int
	}{
		{idx, KindIDX, 4, 2, 1, 10},
		{cifar, KindCIFAR10, 10, 1, 3, 10},
		{folder, KindImageFolder, 2, 2, 3, 2},
	} {
		ds, err := OpenData(tc.dir, DataOptions{})
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if ds.Kind != tc.kind || ds.Train.Len() != tc.train || ds.Test.Len() != tc.test || ds.Channels != tc.chans || len(ds.Classes) != tc.classes {
			t.Errorf("%s: got kind %s, %d/%d samples, %d channels, %d classes", tc.kind, ds.Kind, ds.Train.Len(), ds.Test.Len(), ds.Channels, len(ds.Classes))
		}
	}
	if ds, _ := OpenData(idx, DataOptions{}); ds.Mean[0] != 0.2860 {
		t.Errorf("a fashion-mnist directory should use Fashion-MNIST's statistics, got mean %v", ds.Mean)
	}

	// What is not a dataset says what was expected.
	_, err := OpenData(t.TempDir(), DataOptions{})
	if err == nil || !strings.Contains(err.Error(), "IDX") || !strings.Contains(err.Error(), "ImageFolder") {
		t.Errorf("empty directory: %v", err)
	}
	if _, err := OpenData(filepath.Join(idx, "nope"), DataOptions{}); err == nil {
		t.Error("missing directory: no error")
	}
}

// A label outside the class range is an error that names the file.
func TestBadLabelNamesFile(t *testing.T) {
	dir := t.TempDir()
	writeIDX(t, dir, "train", 28, []byte{0, 1, 12})
	writeIDX(t, dir, "t10k", 28, []byte{3})
	_, err := OpenData(dir, DataOptions{})
	if err == nil || !strings.Contains(err.Error(), "train-labels-idx1-ubyte") || !strings.Contains(err.Error(), "12") {
		t.Fatalf("error %v does not name the file and the label", err)
	}
	// The trainer's own check names an ImageFolder sample by its file.
	folder := t.TempDir()
	writePNG(t, filepath.Join(folder, "train", "a", "x.png"), 8, 0)
	writePNG(t, filepath.Join(folder, "val", "a", "y.png"), 8, 0)
	ds, err := OpenData(folder, DataOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := describe(limit(ds.Train, 1), 0); !strings.Contains(d, "x.png") {
		t.Errorf("describe: %q", d)
	}
}

// A corrupt image in an ImageFolder is skipped with a warning and
// counted in the metrics; with StrictImages it stops the run.
func TestCorruptImageSkipped(t *testing.T) {
	folder := t.TempDir()
	for _, split := range []string{"train", "val"} {
		for c, class := range []string{"cat", "dog"} {
			for i := range 4 {
				writePNG(t, filepath.Join(folder, split, class, string(rune('a'+i))+".png"), 20, uint8(40+100*c))
			}
		}
	}
	bad := filepath.Join(folder, "train", "dog", "broken.png")
	os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nthis is not a png"), 0o644)

	cfg := tinyConfig()
	cfg.Data, cfg.Size, cfg.Epochs, cfg.BatchSize = folder, 16, 1, 4
	cfg.LimitTrain, cfg.LimitTest = 0, 0
	var mu sync.Mutex
	var warnings []string
	tr, err := New(cfg, Options{RunDir: t.TempDir(), Warn: func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tr.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r.Skipped != 1 || r.Final.Skipped != 1 {
		t.Errorf("skipped %d (metrics %d), want 1", r.Skipped, r.Final.Skipped)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "broken.png") {
		t.Errorf("warnings %q", warnings)
	}

	cfg.StrictImages = true
	tr, err = New(cfg, Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "broken.png") {
		t.Errorf("strict run: %v", err)
	}
}
