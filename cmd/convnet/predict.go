package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/convnet/convnet/data"
)

func init() {
	commands = append(commands, newPredictCmd)
}

// predictBatch bounds how many images are decoded and run at once.
const predictBatch = 16

// classProb is one class of a prediction.
type classProb struct {
	Index int     `json:"index"`
	Class string  `json:"class"`
	Prob  float64 `json:"prob"`
}

// memberPrediction is one ensemble member's top classes.
type memberPrediction struct {
	Weights string      `json:"weights"`
	Top     []classProb `json:"top"`
}

// imagePrediction is predict's result for one image: the top classes of
// the (averaged) probabilities and, for an ensemble, each member's.
type imagePrediction struct {
	Image   string             `json:"image"`
	Top     []classProb        `json:"top"`
	Members []memberPrediction `json:"members,omitempty"`
}

func newPredictCmd() *cobra.Command {
	var weightsPaths []string
	var format string
	var top, numClasses, maxPixels int
	cmd := &cobra.Command{
		Use:   "predict MODEL --weights FILE[,FILE...] IMAGE...",
		Short: "Classify images: top-K classes with their probabilities",
		Long: `predict classifies image files (JPEG, PNG, WebP, BMP) with MODEL and the
weights of FILE, after torchvision's standard evaluation preprocessing:
resize the shorter side to 256 (antialiased bilinear, as PIL), centre crop
224, normalise with ImageNet's mean and standard deviation (342 and 299 for
inception_v3). It prints the K most probable classes of each image, named
by ImageNet's class names for 1000-class models.

Several weights files (--weights repeated or comma-separated) make an
ensemble: the models' softmax outputs are averaged, and the table shows the
average's top classes with each member's own ranking beside them.

An image whose header claims more than --max-pixels pixels is refused
before it is decoded (a decompression bomb).`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown format %q (want table or json)", format)
			}
			if top <= 0 {
				return fmt.Errorf("--top must be positive, got %d", top)
			}
			ms, err := loadModels(args[0], weightsPaths, numClasses)
			if err != nil {
				return err
			}
			preds, err := predict(ms, args[1:], top, maxPixels)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(preds)
			}
			return writePredictTable(w, ms, preds)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&weightsPaths, "weights", nil, "checkpoint(s), .pth or .safetensors; several make an ensemble")
	f.StringVar(&format, "format", "table", "output format: table or json")
	f.IntVar(&top, "top", 5, "how many classes to show per image")
	f.IntVar(&numClasses, "num-classes", 0, "classifier size (default: the checkpoint's)")
	f.IntVar(&maxPixels, "max-pixels", data.MaxImagePixels, "refuse images with more pixels (width*height) than this")
	return cmd
}

// predict classifies the images in batches.
func predict(ms []*loadedModel, images []string, top, maxPixels int) ([]imagePrediction, error) {
	t := evalTransform(ms[0].Spec)
	var out []imagePrediction
	for start := 0; start < len(images); start += predictBatch {
		paths := images[start:min(start+predictBatch, len(images))]
		x, err := loadImages(paths, t, maxPixels)
		if err != nil {
			return nil, err
		}
		avg, each, err := ensembleProbabilities(ms, x)
		if err != nil {
			return nil, err
		}
		for i, p := range paths {
			pred := imagePrediction{Image: p, Top: topClasses(ms[0], avg[i], top)}
			if len(ms) > 1 {
				for j, m := range ms {
					pred.Members = append(pred.Members, memberPrediction{Weights: m.Weights, Top: topClasses(m, each[j][i], top)})
				}
			}
			out = append(out, pred)
		}
	}
	return out, nil
}

func topClasses(m *loadedModel, p []float64, k int) []classProb {
	var out []classProb
	for _, i := range topK(p, k) {
		out = append(out, classProb{Index: i, Class: className(m.Spec, m.NumClasses, i), Prob: p[i]})
	}
	return out
}

func writePredictTable(w io.Writer, ms []*loadedModel, preds []imagePrediction) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for n, pred := range preds {
		if n > 0 {
			fmt.Fprintln(tw)
		}
		if len(ms) > 1 {
			fmt.Fprintf(tw, "%s (ensemble of %d, mean of softmax)\n", pred.Image, len(ms))
		} else {
			fmt.Fprintf(tw, "%s\n", pred.Image)
		}
		fmt.Fprint(tw, "  rank\tprob\tindex\tclass")
		for _, m := range pred.Members {
			fmt.Fprintf(tw, "\t%s", filepath.Base(m.Weights))
		}
		fmt.Fprintln(tw)
		for r, c := range pred.Top {
			fmt.Fprintf(tw, "  %d\t%.4f\t%d\t%s", r+1, c.Prob, c.Index, c.Class)
			for _, m := range pred.Members {
				mc := m.Top[r]
				fmt.Fprintf(tw, "\t%.4f %s", mc.Prob, mc.Class)
			}
			fmt.Fprintln(tw)
		}
	}
	return tw.Flush()
}
