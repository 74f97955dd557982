package data

import (
	"bytes"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// makeTree writes files (path -> content) under a new directory.
func makeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	for p, b := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func pngOf(t *testing.T, w, h int) []byte {
	return encode(t, func(b *bytes.Buffer) error { return png.Encode(b, testRGBA(w, h)) })
}

func TestImageFolderOrder(t *testing.T) {
	img := pngOf(t, 4, 3)
	root := makeTree(t, map[string][]byte{
		"dog/b.png":           img,
		"dog/a.JPG":           img, // extensions compare in lower case
		"dog/notes.txt":       []byte("not an image"),
		"cat/z.png":           img,
		"cat/sub/a.png":       img,
		"cat/sub.x/a.png":     img, // "cat/sub.x" sorts before "cat/sub/inner": '.' < '/'
		"cat/sub/inner/q.png": img,
		"Zebra/x.webp":        img, // upper case sorts first, as in Python
		"cat/sub/deep.bmp":    img,
	})
	f, err := NewImageFolder(root, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Zebra", "cat", "dog"}; strings.Join(f.Classes, ",") != strings.Join(want, ",") {
		t.Fatalf("classes %v, want %v", f.Classes, want)
	}
	// What torchvision 0.14's make_dataset lists for this tree.
	want := []string{"Zebra/x.webp", "cat/z.png", "cat/sub/a.png", "cat/sub/deep.bmp", "cat/sub.x/a.png", "cat/sub/inner/q.png", "dog/a.JPG", "dog/b.png"}
	var got []string
	for _, p := range f.Files {
		r, _ := filepath.Rel(root, p)
		got = append(got, filepath.ToSlash(r))
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("files\n%v\nwant (torchvision's sorted(os.walk()))\n%v", got, want)
	}
	if !equalInts(f.Labels, []int{0, 1, 1, 1, 1, 1, 2, 2}) {
		t.Fatalf("labels %v", f.Labels)
	}

	// A classes file fixes the order and may name a subset.
	os.WriteFile(filepath.Join(root, "classes.txt"), []byte("dog\n\ncat\n"), 0o644)
	f, err = NewImageFolder(root, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.Classes, ",") != "dog,cat" || f.Len() != 7 || f.Labels[0] != 0 || f.Labels[6] != 1 {
		t.Fatalf("with classes.txt: classes %v, %d files, labels %v", f.Classes, f.Len(), f.Labels)
	}
	for _, c := range []struct{ content, error string }{
		{"dog\nbird\n", `class "bird"`},
		{"dog\ndog\n", "repeats line 1"},
		{"../etc\n", "not a folder name"},
		{"\n\n", "lists no class"},
	} {
		os.WriteFile(filepath.Join(root, "classes.txt"), []byte(c.content), 0o644)
		if _, err := NewImageFolder(root, ImageFolderOptions{}); err == nil || !strings.Contains(err.Error(), c.error) {
			t.Errorf("classes.txt %q: error %v, want one containing %q", c.content, err, c.error)
		}
	}
	os.Remove(filepath.Join(root, "classes.txt"))

	// Like torchvision, a class folder without images is an error.
	os.Mkdir(filepath.Join(root, "empty"), 0o755)
	if _, err := NewImageFolder(root, ImageFolderOptions{}); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty class: %v", err)
	}
}

func TestImageFolderCorrupt(t *testing.T) {
	good := pngOf(t, 6, 5)
	jpegData := encode(t, func(b *bytes.Buffer) error { return jpegEncode(b, testRGBA(16, 16)) })
	corrupt := append([]byte(nil), jpegData[:len(jpegData)/3]...)
	root := makeTree(t, map[string][]byte{
		"a/0.png":      good,
		"a/1.jpg":      corrupt,
		"a/2.png":      good,
		"b/bomb.png":   pngHeader(100000, 100000),
		"b/ok.jpg":     jpegData,
		"b/wrong.jpeg": []byte("this is text"),
	})
	var mu sync.Mutex
	var warnings []string
	f, err := NewImageFolder(root, ImageFolderOptions{Warn: func(m string) { mu.Lock(); warnings = append(warnings, m); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 6 {
		t.Fatalf("%d files", f.Len())
	}
	for epoch := range 2 { // a file is counted and warned about once
		for i := range f.Len() {
			s, err := f.Get(i)
			bad := strings.Contains(f.Files[i], "1.jpg") || strings.Contains(f.Files[i], "bomb") || strings.Contains(f.Files[i], "wrong")
			if bad {
				if !errors.Is(err, ErrSkipped) || !strings.Contains(err.Error(), f.Files[i]) {
					t.Errorf("epoch %d file %s: error %v, want a skip naming the file", epoch, f.Files[i], err)
				}
				continue
			}
			if err != nil || s.Image == nil || s.Label != f.Labels[i] {
				t.Errorf("file %s: %v", f.Files[i], err)
			}
		}
	}
	if f.Skipped() != 3 || len(warnings) != 3 {
		t.Errorf("skipped %d, %d warnings %q; want 3", f.Skipped(), len(warnings), warnings)
	}
	for _, w := range warnings {
		if strings.Contains(w, "bomb") && !strings.Contains(w, "89478485") {
			t.Errorf("bomb warning %q does not name the limit", w)
		}
	}

	// Strict: the same files are errors, not skips.
	f, _ = NewImageFolder(root, ImageFolderOptions{Strict: true})
	for i, p := range f.Files {
		_, err := f.Get(i)
		if strings.Contains(p, "1.jpg") && (err == nil || errors.Is(err, ErrSkipped) || !strings.Contains(err.Error(), p)) {
			t.Errorf("strict, corrupt %s: %v", p, err)
		}
		if strings.Contains(p, "bomb") && (!errors.Is(err, ErrImageTooLarge) || !strings.Contains(err.Error(), p)) {
			t.Errorf("strict, bomb %s: %v", p, err)
		}
	}

	// The loader leaves skipped samples out and counts them.
	f, _ = NewImageFolder(root, ImageFolderOptions{Warn: func(string) {}})
	l, err := NewLoader(f, LoaderOptions{BatchSize: 6, Transform: Compose{Resize{Size: 4}, CenterCrop{Size: 4}, ToTensor{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	b, err := l.Next()
	if err != nil {
		t.Fatal(err)
	}
	if b.X.Shape[0] != 3 || b.Skipped != 3 || l.Skipped() != 3 {
		t.Errorf("batch of %v with %d skipped (loader %d), want 3 and 3", b.X.Shape, b.Skipped, l.Skipped())
	}
	// Strict: the loader fails, naming the file.
	f, _ = NewImageFolder(root, ImageFolderOptions{Strict: true})
	l2, _ := NewLoader(f, LoaderOptions{BatchSize: 6, Transform: ToTensor{}})
	defer l2.Close()
	if _, err := l2.Next(); err == nil || !strings.Contains(err.Error(), "1.jpg") {
		t.Errorf("strict loader: %v", err)
	}
}

// TestImageFolderSymlinks: links to folders are followed (os.walk with
// followlinks=True), and a link cycle is read once instead of forever.
func TestImageFolderSymlinks(t *testing.T) {
	img := pngOf(t, 2, 2)
	other := makeTree(t, map[string][]byte{"x.png": img})
	root := makeTree(t, map[string][]byte{"a/1.png": img})
	if err := os.Symlink(other, filepath.Join(root, "b")); err != nil {
		t.Skip(err)
	}
	os.Symlink(filepath.Join(root, "a"), filepath.Join(root, "a", "loop"))
	f, err := NewImageFolder(root, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.Classes, ",") != "a,b" || f.Len() != 2 {
		t.Fatalf("classes %v, files %v", f.Classes, f.Files)
	}
}
