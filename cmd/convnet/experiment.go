package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/convnet/convnet/train"
)

func init() {
	commands = append(commands, newExperimentCmd)
}

func newExperimentCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "experiment",
		Short: "Reproduce an experiment of the lecture (degradation)",
	}
	cmd.AddCommand(newDegradationCmd())
	return cmd
}

func newDegradationCmd() *cobra.Command {
	f := &recipeFlags{defaultEpochsOnEmbedded: 5, defaultEpochsOnOtherData: 20}
	var out string
	cmd := &cobra.Command{
		Use:   "degradation",
		Short: "plain20 and plain56 against resnet20 and resnet56: does depth degrade training?",
		Long: `degradation trains the ResNet paper's CIFAR networks plain20, plain56,
resnet20 and resnet56 with the same recipe on the same data (--data, default the
embedded Fashion-MNIST subset), draws their training (thin, dashed) and test
(bold) error per epoch in one figure like the paper's figures 1 and 6, and
says from the final numbers whether the deeper plain net ends with a higher
training error than the shallower one (degradation) and whether the residual
nets escape it.

Each network trains in OUT/<model> (--out, default runs/degradation-<timestamp>)
and is resumed from there if the experiment is run again with the same --out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if f.epochs < 0 {
				return fmt.Errorf("--epochs must be positive, got %d", f.epochs)
			}
			stopProfile, err := f.start()
			if err != nil {
				return err
			}
			defer stopProfile()
			if out == "" {
				out = defaultRunDir("degradation-")
			}
			w := cmd.OutOrStdout()
			runs, curves, err := trainAll(ctx, f, out, w, cmd.ErrOrStderr())
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return fmt.Errorf("interrupted; run the same command with --out %s to continue", out)
				}
				return err
			}
			base := filepath.Join(out, "degradation")
			if err := train.PlotErrors(base, "plain vs residual: training (thin) and test (bold) error", curves); err != nil {
				return err
			}
			verdict, err := train.DegradationVerdict(runs)
			if err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(out, "verdict.txt"), []byte(verdict), 0o644); err != nil {
				return err
			}
			fmt.Fprint(w, "\n"+verdict)
			fmt.Fprintf(w, "plot: %s.png %s.svg\n", base, base)
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "experiment directory (default runs/degradation-<timestamp>)")
	return cmd
}

// trainAll trains (or resumes, or just reads) the four networks.
func trainAll(ctx context.Context, f *recipeFlags, out string, w, ew io.Writer) (map[string][]train.EpochMetrics, []train.Curve, error) {
	runs := map[string][]train.EpochMetrics{}
	var curves []train.Curve
	for _, model := range train.DegradationModels() {
		prog := newBarProgress(ew, f.quiet, w)
		prog.prefix = model + ": "
		opts := train.Options{RunDir: filepath.Join(out, model), Progress: prog, Workers: f.workers, Warn: prog.warn}
		tr, err := train.Continue(f.config(model), opts)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", model, err)
		}
		fmt.Fprintf(w, "%s: %d epochs on %s in %s", model, tr.Config().Epochs, tr.Data().Name(), opts.RunDir)
		if e := tr.Epoch(); e > 0 {
			fmt.Fprintf(w, " (resumed after epoch %d)", e)
		}
		fmt.Fprintln(w)
		r, err := tr.Run(ctx)
		prog.clear()
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", model, err)
		}
		runs[model] = r.History
		c := train.Curve{Name: model}
		for _, m := range r.History {
			c.Train = append(c.Train, 100*m.TrainErr)
			c.Test = append(c.Test, 100*m.TestErr)
		}
		curves = append(curves, c)
	}
	return runs, curves, nil
}
