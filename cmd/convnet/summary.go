package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/convnet/convnet/analysis"
	"github.com/convnet/convnet/models"
)

func init() {
	commands = append(commands, newSummaryCmd)
}

func newSummaryCmd() *cobra.Command {
	var format, input string
	var batch int
	cmd := &cobra.Command{
		Use:   "summary MODEL",
		Short: "Layer-by-layer shapes, memory, params, MACs and receptive fields of a model",
		Long: `summary traces MODEL with a meta forward pass (no weights are allocated) and
prints one row per layer call: output shape, activation memory (float32),
parameters, MACs (ptflops' rules), receptive field size and jump, and for
convolutions and poolings the output size worked out as (W-F+2P)/S+1. Totals
and, for MobileNet-style nets, the depthwise-separable savings against a
standard convolution (1/N + 1/Dk^2) follow.

--input is CxHxW, HxW (3 channels) or S (3xSxS); the default is the model's
own resolution.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown format %q (want table or json)", format)
			}
			if batch <= 0 {
				return fmt.Errorf("--batch must be positive, got %d", batch)
			}
			name := args[0]
			spec, err := models.Lookup(name)
			if err != nil {
				return err
			}
			c, h, w := 3, spec.Input, spec.Input
			if input != "" {
				if c, h, w, err = parseInput(input); err != nil {
					return err
				}
			}
			m, err := models.New(name, models.Meta(), models.InChannels(c))
			if err != nil {
				return err
			}
			r, err := analysis.Profile(m, []int{batch, c, h, w})
			if err != nil {
				return fmt.Errorf("%s on a %dx%dx%d input: %w", name, c, h, w, err)
			}
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					Model string `json:"model"`
					*analysis.Report
				}{name, r})
			}
			return writeSummaryTable(out, name, r)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&input, "input", "", "input size CxHxW, HxW or S (default: the model's own)")
	cmd.Flags().IntVar(&batch, "batch", 1, "batch size")
	return cmd
}

// parseInput reads CxHxW, HxW or S.
func parseInput(s string) (c, h, w int, err error) {
	parts := strings.Split(strings.ToLower(s), "x")
	nums := make([]int, len(parts))
	for i, p := range parts {
		if nums[i], err = strconv.Atoi(strings.TrimSpace(p)); err != nil || nums[i] <= 0 {
			return 0, 0, 0, fmt.Errorf("bad --input %q: want CxHxW, HxW or S with positive sizes", s)
		}
	}
	switch len(nums) {
	case 1:
		return 3, nums[0], nums[0], nil
	case 2:
		return 3, nums[0], nums[1], nil
	case 3:
		return nums[0], nums[1], nums[2], nil
	}
	return 0, 0, 0, fmt.Errorf("bad --input %q: want CxHxW, HxW or S", s)
}

func writeSummaryTable(w io.Writer, name string, r *analysis.Report) error {
	fmt.Fprintf(w, "%s, input %s (float32)\n\n", name, shapeString(r.Input))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Layer\tType\tOutput\tActivations\tMemory\tParams\tWeights (no bias)\tMACs\tRF\tJump\tOutput size (W-F+2P)/S+1")
	for _, l := range r.Layers {
		mem := byteSize(l.ActivationBytes)
		if l.InPlace {
			mem += " (in place)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", l.Name, l.Type, shapeString(l.Output),
			thousands(l.Activations), mem, thousands(l.Params), thousands(l.Weights), thousands(l.MACs), pair(l.RF), pair(l.Jump), l.Formula)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "Params:\t%s\t(%.2f M, %s)\n", thousands(r.Params), float64(r.Params)/1e6, byteSize(r.ParamBytes))
	fmt.Fprintf(tw, "MACs:\t%s\t(%.2f G, ptflops' counting rules)\n", thousands(r.MACs), float64(r.MACs)/1e9)
	fmt.Fprintf(tw, "Forward activations:\t%s\t(%s; the input and every output not computed in place)\n",
		thousands(r.ActivationElems), byteSize(r.ActivationBytes))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Separable) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Depthwise-separable pairs against a standard Dk x Dk convolution from M to N channels:")
	fmt.Fprintln(w, "cost and parameters shrink by 1/N + 1/Dk^2 (lecture); measured from the counts above.")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Depthwise\tPointwise\tM\tN\tDk\tDg\t1/N+1/Dk^2\tMACs ratio\tParams ratio\tMACs (standard)")
	for _, s := range r.Separable {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%.4f\t%.4f\t%.4f\t%s (%s)\n", s.Depthwise, s.Pointwise, s.M, s.N,
			pair(s.Kernel), pair(s.Output), s.Formula, s.MACsRatio, s.ParamsRatio, thousands(s.MACs), thousands(s.StandardMACs))
	}
	return tw.Flush()
}

// pair prints a (height, width) pair as one number when both agree.
func pair(p [2]int) string {
	if p[0] == p[1] {
		return strconv.Itoa(p[0])
	}
	return fmt.Sprintf("%dx%d", p[0], p[1])
}

func shapeString(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.Itoa(d)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// thousands writes n with comma separators, as the lecture does
// (3,211,264).
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// byteSize prints a byte count in binary units.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	for _, u := range []string{"KiB", "MiB", "GiB", "TiB"} {
		f /= unit
		if f < unit {
			return fmt.Sprintf("%.1f %s", f, u)
		}
	}
	return fmt.Sprintf("%.1f PiB", f/unit)
}
