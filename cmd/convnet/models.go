package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/convnet/convnet/analysis"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
)

// errorSource says where the top-1/top-5 figures come from: they are
// reference numbers, not measured by convnet.
const errorSource = "torchvision's model documentation (ImageNet, its pretrained weights), as quoted in the lecture"

func init() {
	commands = append(commands, newModelsCmd)
}

func newModelsCmd() *cobra.Command {
	var format string
	var input int
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Compare every registered model: params, MACs, reference errors",
		Long: `models lists every registered model with its input resolution, parameters
(millions) and multiply-accumulates (billions, ptflops' counting rules, as in
the lecture's comparison table), measured by a meta pass that allocates no
weights, and torchvision's reference top-1/top-5 ImageNet errors where they
exist.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if input < 0 {
				return fmt.Errorf("--input must be positive, got %d", input)
			}
			if format != "table" && format != "csv" && format != "json" {
				return fmt.Errorf("unknown format %q (want table, csv or json)", format)
			}
			rows := compareModels(input)
			w := cmd.OutOrStdout()
			switch format {
			case "json":
				return writeModelsJSON(w, rows)
			case "csv":
				return writeModelsCSV(w, rows)
			}
			return writeModelsTable(w, rows)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table, csv or json")
	cmd.Flags().IntVar(&input, "input", 0, "square input resolution for all models (default: each model's own, 224 for most)")
	return cmd
}

// modelRow is one line of the comparison. Params is known even when the
// model cannot take the input; MACs is then nil and Error says why.
type modelRow struct {
	Name    string   `json:"name"`
	Family  string   `json:"family"`
	Input   int      `json:"input"`
	Params  int64    `json:"params"`
	MACs    *int64   `json:"macs"`
	Top1Err *float64 `json:"top1_err"`
	Top5Err *float64 `json:"top5_err"`
	// ErrorSource names the origin of the reference errors.
	ErrorSource string `json:"error_source,omitempty"`
	Error       string `json:"error,omitempty"`
}

// compareModels profiles every registered model at its own input
// resolution, or at input when it is not 0.
func compareModels(input int) []modelRow {
	var rows []modelRow
	for _, name := range models.Names() {
		spec, err := models.Lookup(name)
		if err != nil {
			continue
		}
		row := modelRow{Name: name, Family: spec.Family, Input: spec.Input}
		if input > 0 {
			row.Input = input
		}
		if spec.Top1Err > 0 && spec.Top5Err > 0 {
			t1, t5 := spec.Top1Err, spec.Top5Err
			row.Top1Err, row.Top5Err, row.ErrorSource = &t1, &t5, errorSource
		}
		m, err := models.New(name, models.Meta())
		if err != nil {
			row.Error = err.Error()
			rows = append(rows, row)
			continue
		}
		row.Params = nn.CountParams(m)
		if r, err := analysis.Profile(m, []int{1, 3, row.Input, row.Input}); err != nil {
			row.Error = err.Error()
		} else {
			row.MACs = &r.MACs
		}
		rows = append(rows, row)
	}
	return rows
}

func writeModelsJSON(w io.Writer, rows []modelRow) error {
	if rows == nil {
		rows = []modelRow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}

func writeModelsCSV(w io.Writer, rows []modelRow) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"name", "input", "params", "macs", "params_m", "macs_g", "top1_err", "top5_err", "error"})
	for _, r := range rows {
		macs, macsG := "", ""
		if r.MACs != nil {
			macs, macsG = strconv.FormatInt(*r.MACs, 10), fmt.Sprintf("%.2f", float64(*r.MACs)/1e9)
		}
		_ = cw.Write([]string{r.Name, strconv.Itoa(r.Input), strconv.FormatInt(r.Params, 10), macs,
			fmt.Sprintf("%.2f", float64(r.Params)/1e6), macsG, optFloat(r.Top1Err, ""), optFloat(r.Top5Err, ""), r.Error})
	}
	cw.Flush()
	return cw.Error()
}

func writeModelsTable(w io.Writer, rows []modelRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "Model\tInput Resolution\tParams(M)\tMACs(G)\tTop-1 error*\tTop-5 error*")
	var failed []modelRow
	for _, r := range rows {
		macs := "error"
		if r.MACs != nil {
			macs = fmt.Sprintf("%.2f", float64(*r.MACs)/1e9)
		} else {
			failed = append(failed, r)
		}
		fmt.Fprintf(tw, "%s\t%dx%d\t%.2f\t%s\t%s\t%s\n", r.Name, r.Input, r.Input, float64(r.Params)/1e6, macs,
			optFloat(r.Top1Err, "-"), optFloat(r.Top5Err, "-"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Params and MACs: convnet's meta forward pass, batch 1, counted with ptflops' rules (conv, linear,")
	fmt.Fprintln(w, "BatchNorm, ReLU and pooling layers; 1 MAC is about 2 FLOPs).")
	fmt.Fprintln(w, "* Reference figures, not measured by convnet: top-1/top-5 error (%) of torchvision's ImageNet")
	fmt.Fprintln(w, "  weights, from torchvision's model documentation as quoted in the lecture; \"-\" where there are none.")
	for _, r := range failed {
		fmt.Fprintf(w, "%s at %dx%d: %s\n", r.Name, r.Input, r.Input, r.Error)
	}
	return nil
}

func optFloat(v *float64, none string) string {
	if v == nil {
		return none
	}
	return fmt.Sprintf("%.2f", *v)
}
