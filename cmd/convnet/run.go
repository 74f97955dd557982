package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/weights"
)

func init() {
	commands = append(commands, newRunCmd)
}

func newRunCmd() *cobra.Command {
	var weightsPath, in, out string
	var trainMode bool
	var numClasses int
	cmd := &cobra.Command{
		Use:   "run MODEL --weights FILE --in X.npy --out Y.npy",
		Short: "Run a model on an NPY batch and write its logits as NPY",
		Long: `run is a raw forward pass: it loads MODEL with the weights of FILE (a
torch.save state_dict or a safetensors file; the model must take every key
of it, strictly), reads a float32 batch [N,C,H,W] from X.npy, and writes the
logits [N,classes] to Y.npy. No preprocessing is applied: X is what the
model's first layer sees. Y.npy is written atomically, so that a failed run
leaves no partial file.

By default the model runs in evaluation mode (BatchNorm on its running
statistics, no Dropout), like model.eval(); --train-mode runs it as
model.train() under torch.no_grad() would. The number of classes is read
from the checkpoint's classifier unless --num-classes is given.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if weightsPath == "" || in == "" || out == "" {
				return errors.New("--weights, --in and --out are required")
			}
			x, err := weights.LoadNpy(in)
			if err != nil {
				return err
			}
			if len(x.Shape) != 4 || x.Shape[0] == 0 {
				return fmt.Errorf("input %s has shape %s: want a non-empty batch [N,C,H,W]", in, tensor.ShapeString(x.Shape))
			}
			m, err := loadModel(args[0], weightsPath, numClasses)
			if err != nil {
				return err
			}
			if trainMode {
				m.setTraining(true)
			}
			y, err := m.forward(x)
			if err != nil {
				return fmt.Errorf("input %s: %w", in, err)
			}
			if err := weights.SaveNpy(out, y); err != nil {
				return err
			}
			mode := "eval"
			if trainMode {
				mode = "train"
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s (%s mode): %s %s -> %s %s\n", m.Name, mode, in, tensor.ShapeString(x.Shape), out, tensor.ShapeString(y.Shape))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&weightsPath, "weights", "", "checkpoint: torch.save state_dict (.pth) or .safetensors")
	f.StringVar(&in, "in", "", "input batch, float32 NPY of shape [N,C,H,W]")
	f.StringVar(&out, "out", "", "where to write the logits (NPY)")
	f.BoolVar(&trainMode, "train-mode", false, "run in training mode (BatchNorm on batch statistics, Dropout on)")
	f.IntVar(&numClasses, "num-classes", 0, "classifier size (default: the checkpoint's)")
	return cmd
}
