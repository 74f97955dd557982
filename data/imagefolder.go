package data

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ImageFolderExtensions are the file name endings (compared in lower case)
// that ImageFolder takes for images: torchvision's IMG_EXTENSIONS, so that
// the same files get the same indices. DecodeImage reads JPEG, PNG, WebP
// and BMP; a PPM, PGM or TIFF file is listed but fails to decode and is
// skipped like a corrupt one.
var ImageFolderExtensions = []string{".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}

// ImageFolderOptions configure NewImageFolder; the zero value is
// torchvision's behaviour plus the pixel limit.
type ImageFolderOptions struct {
	// ClassesFile lists the class names, one per line, in label order
	// (relative paths are relative to the root). Only the listed
	// folders are read. When empty, root/classes.txt is used if it
	// exists; otherwise every sub-folder is a class, sorted by name as
	// torchvision does.
	ClassesFile string
	// MaxPixels bounds width*height of an image, checked from its header
	// before decoding; zero means MaxImagePixels.
	MaxPixels int
	// Strict makes an image that cannot be read (corrupt, truncated,
	// over the limit, in an unsupported format) an error. Otherwise it
	// is skipped: Get returns an error wrapping ErrSkipped, the file is
	// counted, and a warning is given once per file.
	Strict bool
	// Warn receives the warnings; nil means log.Print.
	Warn func(msg string)
}

// ImageFolder is a tree of images with one folder per class, like
// torchvision.datasets.ImageFolder: root/<class>/**/<image>. Images are
// listed when the folder is opened and decoded (to RGB) only when Get asks
// for them.
type ImageFolder struct {
	Root    string
	Classes []string
	Files   []string // image paths, in torchvision's order
	Labels  []int    // class index of each file

	opts    ImageFolderOptions
	skipped atomic.Int64
	warned  sync.Map // index -> struct{}
}

// NewImageFolder lists the images under root. It fails if a class
// folder is missing or holds no image.
func NewImageFolder(root string, opts ImageFolderOptions) (*ImageFolder, error) {
	classes, err := folderClasses(root, opts.ClassesFile)
	if err != nil {
		return nil, err
	}
	f := &ImageFolder{Root: root, Classes: classes, opts: opts}
	var empty []string
	for label, c := range classes {
		files, err := listImages(filepath.Join(root, c))
		if err != nil {
			return nil, fmt.Errorf("data: ImageFolder: %w", err)
		}
		if len(files) == 0 {
			empty = append(empty, c)
		}
		for _, p := range files {
			f.Files = append(f.Files, p)
			f.Labels = append(f.Labels, label)
		}
	}
	if len(empty) > 0 {
		slices.Sort(empty)
		return nil, fmt.Errorf("data: ImageFolder %s: no image file (%s) in the folders of classes %s",
			root, strings.Join(ImageFolderExtensions, " "), strings.Join(empty, ", "))
	}
	return f, nil
}

// folderClasses returns the class names: from the classes file, or the
// sorted sub-folders of root.
func folderClasses(root, classesFile string) ([]string, error) {
	if classesFile == "" {
		if _, err := os.Stat(filepath.Join(root, "classes.txt")); err == nil {
			classesFile = "classes.txt"
		}
	}
	if classesFile != "" {
		path := classesFile
		if !filepath.IsAbs(path) {
			path = filepath.Join(root, path)
		}
		names, err := readClassesFile(path)
		if err != nil {
			return nil, err
		}
		for _, c := range names {
			if st, err := os.Stat(filepath.Join(root, c)); err != nil || !st.IsDir() {
				return nil, fmt.Errorf("data: ImageFolder: class %q of %s has no folder %s", c, path, filepath.Join(root, c))
			}
		}
		return names, nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: ImageFolder: %w", err)
	}
	var classes []string
	for _, e := range entries {
		// os.scandir's is_dir follows symbolic links; so does Stat.
		if st, err := os.Stat(filepath.Join(root, e.Name())); err == nil && st.IsDir() {
			classes = append(classes, e.Name())
		}
	}
	slices.Sort(classes) // Python sorts str by code point, as Go sorts UTF-8 bytes
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: ImageFolder: no class folder in %s", root)
	}
	return classes, nil
}

func readClassesFile(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("data: ImageFolder: %w", err)
	}
	defer fh.Close()
	var names []string
	seen := map[string]int{}
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		name := strings.TrimSpace(sc.Text())
		if name == "" {
			continue
		}
		if name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
			return nil, fmt.Errorf("data: ImageFolder: %s:%d: %q is not a folder name", path, line, name)
		}
		if prev, ok := seen[name]; ok {
			return nil, fmt.Errorf("data: ImageFolder: %s:%d: class %q repeats line %d", path, line, name, prev)
		}
		seen[name] = line
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("data: ImageFolder: %s: %w", path, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("data: ImageFolder: %s lists no class", path)
	}
	return names, nil
}

// listImages returns the image files under dir in torchvision's order:
// sorted(os.walk(dir, followlinks=True)), that is directories by path,
// and each directory's files by name. Symbolic links are followed; a
// directory reached twice (a link cycle) is read once.
func listImages(dir string) ([]string, error) {
	type folder struct {
		path  string
		files []string
	}
	var folders []folder
	visited := map[string]bool{}
	var walk func(path string) error
	walk = func(path string) error {
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			return err
		}
		if visited[real] {
			return nil
		}
		visited[real] = true
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		fo := folder{path: path}
		for _, e := range entries {
			p := filepath.Join(path, e.Name())
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(p)
				isDir = err == nil && st.IsDir()
			}
			if isDir {
				if err := walk(p); err != nil {
					return err
				}
			} else if hasImageExtension(e.Name()) {
				fo.files = append(fo.files, e.Name())
			}
		}
		folders = append(folders, fo)
		return nil
	}
	if err := walk(dir); err != nil {
		return nil, err
	}
	slices.SortFunc(folders, func(a, b folder) int { return strings.Compare(a.path, b.path) })
	var out []string
	for _, fo := range folders {
		slices.Sort(fo.files)
		for _, n := range fo.files {
			out = append(out, filepath.Join(fo.path, n))
		}
	}
	return out, nil
}

func hasImageExtension(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range ImageFolderExtensions {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// Len returns the number of image files.
func (f *ImageFolder) Len() int { return len(f.Files) }

// Get decodes image i to RGB. An image that cannot be read gives an error
// naming the file; unless the folder is Strict, that error wraps ErrSkipped
// and the file is counted in Skipped.
func (f *ImageFolder) Get(i int) (Sample, error) {
	if i < 0 || i >= len(f.Files) {
		return Sample{}, fmt.Errorf("data: index %d out of range [0, %d)", i, len(f.Files))
	}
	img, err := LoadImage(f.Files[i], f.opts.MaxPixels)
	if err != nil {
		if f.opts.Strict {
			return Sample{}, err
		}
		if _, seen := f.warned.LoadOrStore(i, struct{}{}); !seen {
			f.skipped.Add(1)
			msg := fmt.Sprintf("data: ImageFolder: skipping image %d: %v", i, err)
			if f.opts.Warn != nil {
				f.opts.Warn(msg)
			} else {
				log.Print(msg)
			}
		}
		return Sample{}, fmt.Errorf("%w: %w", ErrSkipped, err)
	}
	return Sample{Image: img, Label: f.Labels[i]}, nil
}

// Skipped returns how many distinct files have been skipped so far.
func (f *ImageFolder) Skipped() int { return int(f.skipped.Load()) }

// IsSkipped reports whether err marks a skipped sample.
func IsSkipped(err error) bool { return errors.Is(err, ErrSkipped) }
