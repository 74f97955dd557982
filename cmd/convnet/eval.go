package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/convnet/convnet/data"
)

func init() {
	commands = append(commands, newEvalCmd)
}

// evalRow is one line of eval's report: a model (or the ensemble) and its
// errors over the images.
type evalRow struct {
	Model   string  `json:"model"`
	Weights string  `json:"weights"` // "" for the ensemble
	Images  int     `json:"images"`
	Top1Err float64 `json:"top1_err"` // percent
	Top5Err float64 `json:"top5_err"` // percent
}

// evalReport is eval's result.
type evalReport struct {
	Data    string    `json:"data"`
	Classes int       `json:"classes"` // class folders
	Images  int       `json:"images"`  // images evaluated
	Skipped int       `json:"skipped"` // unreadable images left out
	Rows    []evalRow `json:"rows"`    // each model, then the ensemble
}

// hits counts correct top-1 and top-5 answers.
type hits struct{ top1, top5 int }

func (h *hits) add(p []float64, label int) {
	for r, i := range topK(p, 5) {
		if i == label {
			if r == 0 {
				h.top1++
			}
			h.top5++
			return
		}
	}
}

func newEvalCmd() *cobra.Command {
	var weightsPaths []string
	var dir, classesFile, format string
	var batch, workers, numClasses, maxPixels int
	var quiet bool
	cmd := &cobra.Command{
		Use:   "eval MODEL --weights FILE[,FILE...] --data DIR",
		Short: "Top-1 and top-5 error over an ImageFolder tree",
		Long: `eval measures MODEL's top-1 and top-5 error (percent) over the images of an
ImageFolder tree DIR/<class>/<image>, preprocessed as predict does
(torchvision's standard evaluation transform). Images are decoded and
preprocessed by --workers goroutines while the model runs.

Class indices are, as in torchvision's ImageFolder, the positions of the
sorted folder names (or the order of DIR/classes.txt): right for a complete
ImageNet validation tree in WordNet-ID folders. --classes FILE maps folders
to the model's class indices instead, one folder per line, either as
"FOLDER INDEX" or as "FOLDER [description]" where the line number (from 0)
is the index, as in ImageNet's LOC_synset_mapping.txt; every folder of DIR
must be listed, and listed folders that DIR lacks are ignored.

With several weights files the report has one line per model and one for
the ensemble (the mean of the models' softmax outputs). Unreadable images
are skipped with a warning and counted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if dir == "" {
				return errors.New("--data DIR is required")
			}
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown format %q (want table or json)", format)
			}
			if batch <= 0 || workers < 0 {
				return fmt.Errorf("--batch must be positive and --workers not negative (got %d, %d)", batch, workers)
			}
			ms, err := loadModels(args[0], weightsPaths, numClasses)
			if err != nil {
				return err
			}
			// The loader's workers warn about unreadable images while
			// the progress bar draws: one lock for both.
			stderr := &lockedWriter{w: cmd.ErrOrStderr()}
			ds, err := data.NewImageFolder(dir, data.ImageFolderOptions{
				MaxPixels: maxPixels,
				Warn:      func(msg string) { fmt.Fprintln(stderr, msg) },
			})
			if err != nil {
				return err
			}
			if err := mapClasses(ds, classesFile, ms[0].NumClasses, stderr); err != nil {
				return err
			}
			var progress io.Writer = stderr
			if quiet {
				progress = io.Discard
			}
			rep, err := evaluate(ms, ds, batch, workers, progress)
			if err != nil {
				return err
			}
			rep.Data = dir
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return writeEvalTable(w, rep)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&weightsPaths, "weights", nil, "checkpoint(s), .pth or .safetensors; several make an ensemble")
	f.StringVar(&dir, "data", "", "ImageFolder root: one sub-folder of images per class")
	f.StringVar(&classesFile, "classes", "", "file mapping class folders to the model's class indices")
	f.IntVar(&batch, "batch", 32, "images per forward pass")
	f.IntVar(&workers, "workers", 0, "goroutines decoding images (default min(4, GOMAXPROCS))")
	f.IntVar(&numClasses, "num-classes", 0, "classifier size (default: the checkpoint's)")
	f.IntVar(&maxPixels, "max-pixels", data.MaxImagePixels, "skip images with more pixels (width*height) than this")
	f.StringVar(&format, "format", "table", "output format: table or json")
	f.BoolVar(&quiet, "quiet", false, "no progress bar")
	return cmd
}

// evaluate runs every model over the dataset, batch by batch, while the
// loader's workers prepare the next batches.
func evaluate(ms []*loadedModel, ds *data.ImageFolder, batch, workers int, progress io.Writer) (*evalReport, error) {
	loader, err := data.NewLoader(ds, data.LoaderOptions{BatchSize: batch, Workers: workers, Transform: evalTransform(ms[0].Spec)})
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	bar := progressbar.NewOptions(ds.Len(),
		progressbar.OptionSetWriter(progress),
		progressbar.OptionSetDescription("eval "+ms[0].Name),
		progressbar.OptionSetItsString("img"),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000), // 0.1 s
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(progress) }),
	)
	each := make([]hits, len(ms))
	var ens hits
	n := 0
	for {
		b, err := loader.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(b.Labels) > 0 {
			avg, probs, err := ensembleProbabilities(ms, b.X)
			if err != nil {
				return nil, err
			}
			for i, label := range b.Labels {
				for j := range ms {
					each[j].add(probs[j][i], label)
				}
				ens.add(avg[i], label)
			}
			n += len(b.Labels)
		}
		_ = bar.Add(len(b.Labels) + b.Skipped)
	}
	_ = bar.Finish()
	rep := &evalReport{Classes: len(ds.Classes), Images: n, Skipped: loader.Skipped()}
	if n == 0 {
		return nil, fmt.Errorf("no image of %s could be read (%d skipped)", ds.Root, rep.Skipped)
	}
	pct := func(correct int) float64 { return 100 * float64(n-correct) / float64(n) }
	for j, m := range ms {
		rep.Rows = append(rep.Rows, evalRow{Model: m.Name, Weights: m.Weights, Images: n, Top1Err: pct(each[j].top1), Top5Err: pct(each[j].top5)})
	}
	if len(ms) > 1 {
		rep.Rows = append(rep.Rows, evalRow{Model: fmt.Sprintf("ensemble of %d", len(ms)), Images: n, Top1Err: pct(ens.top1), Top5Err: pct(ens.top5)})
	}
	return rep, nil
}

func writeEvalTable(w io.Writer, rep *evalReport) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%s: %d images in %d classes", rep.Data, rep.Images, rep.Classes)
	if rep.Skipped > 0 {
		fmt.Fprintf(tw, " (%d unreadable, skipped)", rep.Skipped)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "model\tweights\ttop-1 err %\ttop-5 err %")
	for _, r := range rep.Rows {
		wts := r.Weights
		if wts == "" {
			wts = "(mean of softmax)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\n", r.Model, wts, r.Top1Err, r.Top5Err)
	}
	return tw.Flush()
}

// mapClasses gives the dataset's labels the model's class indices. Without
// a mapping file the folder positions are the indices; they must fit the
// model's classes, and a tree with fewer folders than the model has
// classes gets a warning, since its sorted positions are unlikely to be
// the model's indices.
func mapClasses(ds *data.ImageFolder, file string, numClasses int, warn io.Writer) error {
	if file == "" {
		if len(ds.Classes) > numClasses {
			return fmt.Errorf("%s has %d class folders, the model only %d classes: give --classes to map folders to its classes", ds.Root, len(ds.Classes), numClasses)
		}
		if len(ds.Classes) < numClasses {
			fmt.Fprintf(warn, "warning: %s has %d class folders for a %d-class model; labels are the sorted folder positions 0..%d (use --classes to map folders to the model's classes)\n",
				ds.Root, len(ds.Classes), numClasses, len(ds.Classes)-1)
		}
		return nil
	}
	index, err := readClassMap(file)
	if err != nil {
		return err
	}
	remap := make([]int, len(ds.Classes))
	for i, c := range ds.Classes {
		k, ok := index[c]
		if !ok {
			return fmt.Errorf("%s: class folder %q is not listed", file, c)
		}
		if k >= numClasses {
			return fmt.Errorf("%s: class folder %q maps to index %d, but the model has %d classes", file, c, k, numClasses)
		}
		remap[i] = k
	}
	for i, l := range ds.Labels {
		ds.Labels[i] = remap[l]
	}
	return nil
}

// readClassMap reads a folder-to-index mapping: lines "FOLDER INDEX", or
// "FOLDER [description]" with the line's position (from 0, blank lines
// not counted) as the index. A file uses one form throughout.
func readClassMap(path string) (map[string]int, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[string]int{}
	explicit := -1 // unknown, 0 or 1
	pos := 0
	sc := bufio.NewScanner(fh)
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		idx, isExplicit := 0, false
		if len(fields) == 2 {
			if v, err := strconv.Atoi(fields[1]); err == nil {
				idx, isExplicit = v, true
			}
		}
		switch {
		case explicit == -1 && isExplicit:
			explicit = 1
		case explicit == -1:
			explicit = 0
		case (explicit == 1) != isExplicit:
			return nil, fmt.Errorf("%s:%d: mixes \"FOLDER INDEX\" lines with lines of other forms", path, line)
		}
		if !isExplicit {
			idx = pos
		}
		if idx < 0 {
			return nil, fmt.Errorf("%s:%d: negative class index %d", path, line, idx)
		}
		if _, dup := out[fields[0]]; dup {
			return nil, fmt.Errorf("%s:%d: folder %q is listed twice", path, line, fields[0])
		}
		out[fields[0]] = idx
		pos++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s lists no class", path)
	}
	return out, nil
}

// lockedWriter serialises writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
