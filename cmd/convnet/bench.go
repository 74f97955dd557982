package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/cpu"

	"github.com/convnet/convnet/analysis"
	"github.com/convnet/convnet/infer"
	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
	"github.com/convnet/convnet/tensor/kernels"
)

func init() {
	commands = append(commands, newBenchCmd)
}

// benchResult is one bench run; the JSON keys are the benchmark table's
// columns.
type benchResult struct {
	Model      string    `json:"model"`
	Batch      int       `json:"batch"`
	Threads    int       `json:"threads"`
	Input      int       `json:"input"` // input height (the side of a square input)
	InputShape []int     `json:"input_shape"`
	MsMedian   float64   `json:"ms_median"`
	MsP10      float64   `json:"ms_p10"`
	MsP90      float64   `json:"ms_p90"`
	ImgPerS    float64   `json:"img_per_s"`
	GFlops     float64   `json:"gflops"`
	MACs       int64     `json:"macs"`
	CompileMs  float64   `json:"compile_ms"`
	ArenaMiB   float64   `json:"arena_mib"`
	Warmup     int       `json:"warmup"`
	Runs       int       `json:"runs"`
	CPU        string    `json:"cpu"`
	Kernels    string    `json:"kernels"`
	Weights    string    `json:"weights"`
	Times      []float64 `json:"times_ms"`
}

func newBenchCmd() *cobra.Command {
	var (
		format, input, weightsFile string
		batch, threads, subBatch   int
		warmup, runs               int
		seed                       uint64
		showPlan, serve            bool
	)
	cmd := &cobra.Command{
		Use:   "bench MODEL",
		Short: "Time the compiled inference plan of a model",
		Long: `bench builds MODEL (random weights from --seed, or --weights FILE: a .pth or
.safetensors state dict), compiles its inference plan for the input shape
(BatchNorm folded, activations and residual additions fused, one arena),
runs --warmup passes, then times --runs forward passes and reports the
median, 10th and 90th percentile, images per second and GFLOP/s (2 x the
MACs that analysis counts, ptflops' rules, over the median time).

--serve is for a driver that times two engines turn by turn in one window
of time (scripts/bench/paired.py): after the warm-up bench prints
{"ready":true} and then reads stdin, one number N per line, times N passes
and prints {"times_ms":[...]} for each; at the end of stdin it prints the
result over every pass it timed as one JSON line (--runs is unused).

--threads sets GOMAXPROCS, which sizes the kernels' worker pool; 0 keeps
the default (every CPU). --input is S, HxW or CxHxW; the default is the
model's own resolution.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "table" && format != "json" {
				return fmt.Errorf("unknown format %q (want table or json)", format)
			}
			if batch <= 0 || runs <= 0 || warmup < 0 || threads < 0 {
				return fmt.Errorf("--batch and --runs must be positive, --warmup and --threads non-negative")
			}
			// Before any kernel runs: the pool sizes itself at first use.
			if threads > 0 {
				runtime.GOMAXPROCS(threads)
			}
			workers := kernels.Workers()
			if threads > 0 && workers != threads {
				fmt.Fprintf(cmd.ErrOrStderr(), "convnet bench: the worker pool already runs %d workers; --threads %d ignored\n", workers, threads)
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
			var m nn.Module
			source := fmt.Sprintf("random (seed %d)", seed)
			if weightsFile != "" {
				lm, err := loadModel(name, weightsFile, 0)
				if err != nil {
					return err
				}
				m, source = lm.Module, weightsFile
			} else if m, err = models.New(name, models.Seed(seed), models.InChannels(c)); err != nil {
				return err
			}
			shape := []int{batch, c, h, w}
			prof, err := analysis.Profile(m, shape)
			if err != nil {
				return fmt.Errorf("%s on input %v: %w", name, shape, err)
			}
			t0 := time.Now()
			plan, err := infer.Compile(m, shape, infer.SubBatch(subBatch))
			if err != nil {
				return err
			}
			compile := time.Since(t0)
			if showPlan {
				fmt.Fprint(cmd.ErrOrStderr(), plan)
			}
			x := tensor.Randn(rand.New(rand.NewPCG(seed, 1)), shape...)
			// Building the model and compiling the plan leave garbage whose
			// concurrent marking would take a core from the first timed
			// passes; a server reaches this state once, at start-up.
			runtime.GC()
			for i := 0; i < warmup; i++ {
				if _, err := plan.Run(x); err != nil {
					return err
				}
			}
			timed := func(n int) ([]float64, error) {
				times := make([]float64, n)
				for i := range times {
					t := time.Now()
					if _, err := plan.Run(x); err != nil {
						return nil, err
					}
					times[i] = float64(time.Since(t).Nanoseconds()) / 1e6
				}
				return times, nil
			}
			var times []float64
			if serve {
				if times, err = benchServe(cmd.InOrStdin(), cmd.OutOrStdout(), timed); err != nil {
					return err
				}
				if len(times) == 0 {
					return fmt.Errorf("--serve: no timed pass was asked for")
				}
			} else if times, err = timed(runs); err != nil {
				return err
			}
			sorted := append([]float64(nil), times...)
			sort.Float64s(sorted)
			med := percentile(sorted, 0.5)
			r := benchResult{
				Model: name, Batch: batch, Threads: workers, Input: h, InputShape: shape,
				MsMedian: med, MsP10: percentile(sorted, 0.1), MsP90: percentile(sorted, 0.9),
				ImgPerS: float64(batch) / (med / 1e3), GFlops: 2 * float64(prof.MACs) / (med / 1e3) / 1e9,
				MACs: prof.MACs, CompileMs: float64(compile.Nanoseconds()) / 1e6,
				ArenaMiB: float64(plan.ArenaBytes()) / (1 << 20), Warmup: warmup, Runs: len(times),
				CPU: cpuModel(), Kernels: kernelsDescription(), Weights: source, Times: times,
			}
			out := cmd.OutOrStdout()
			if format == "json" || serve {
				enc := json.NewEncoder(out)
				if !serve {
					enc.SetIndent("", "  ")
				}
				return enc.Encode(r)
			}
			return writeBenchTable(out, &r)
		},
	}
	f := cmd.Flags()
	f.StringVar(&format, "format", "table", "output format: table or json")
	f.StringVar(&input, "input", "", "input size S, HxW or CxHxW (default: the model's own)")
	f.IntVar(&batch, "batch", 1, "batch size")
	f.IntVar(&threads, "threads", 0, "worker threads (GOMAXPROCS); 0 for all CPUs")
	f.IntVar(&warmup, "warmup", 3, "untimed passes before timing")
	f.IntVar(&runs, "runs", 10, "timed passes")
	f.Uint64Var(&seed, "seed", 1, "seed of the random weights and input")
	f.StringVar(&weightsFile, "weights", "", "state dict to load (.pth or .safetensors)")
	f.BoolVar(&showPlan, "plan", false, "print the compiled plan's steps to stderr")
	f.BoolVar(&serve, "serve", false, "after the warm-up, time passes on request from stdin (see above)")
	f.IntVar(&subBatch, "sub-batch", 0, "images per pass (a divisor of --batch; the passes run on all workers at once); 0 chooses")
	return cmd
}

// percentile reads the q-quantile of sorted values by linear interpolation.
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 1 {
		return sorted[0]
	}
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i]*(1-f) + sorted[i+1]*f
}

// cpuModel returns the processor's name from /proc/cpuinfo, or GOARCH.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// kernelsDescription says which GEMM path the kernels can take: kernels
// has no function that names the one it chose, so this reports the
// architecture, the CPU features its assembly selects on and the
// CONVNET_KERNELS override.
func kernelsDescription() string {
	parts := []string{runtime.GOARCH}
	if runtime.GOARCH == "amd64" {
		for _, f := range []struct {
			name string
			on   bool
		}{{"avx2", cpu.X86.HasAVX2}, {"fma", cpu.X86.HasFMA}, {"avx512f", cpu.X86.HasAVX512F}} {
			if f.on {
				parts = append(parts, f.name)
			}
		}
	}
	if env := os.Getenv("CONVNET_KERNELS"); env != "" {
		parts = append(parts, "CONVNET_KERNELS="+env)
	}
	return strings.Join(parts, " ")
}

func writeBenchTable(w io.Writer, r *benchResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	row("model", "%s", r.Model)
	row("input", "%v", r.InputShape)
	row("threads", "%d", r.Threads)
	row("median", "%.2f ms (p10 %.2f, p90 %.2f; %d runs after %d warm-up)", r.MsMedian, r.MsP10, r.MsP90, r.Runs, r.Warmup)
	row("throughput", "%.1f img/s", r.ImgPerS)
	row("compute", "%.1f GFLOP/s (%.2f GMACs per pass)", r.GFlops, float64(r.MACs)/1e9)
	row("compile", "%.0f ms, arena %.1f MiB", r.CompileMs, r.ArenaMiB)
	row("cpu", "%s", r.CPU)
	row("kernels", "%s", r.Kernels)
	row("weights", "%s", r.Weights)
	return tw.Flush()
}

// benchServe answers bench --serve's driver: a line holding N times N
// passes and prints their times as one JSON line. It returns every time
// it measured when stdin ends.
func benchServe(in io.Reader, out io.Writer, timed func(int) ([]float64, error)) ([]float64, error) {
	enc := json.NewEncoder(out)
	if err := enc.Encode(map[string]bool{"ready": true}); err != nil {
		return nil, err
	}
	var all []float64
	sc := bufio.NewScanner(in)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		n, err := strconv.Atoi(text)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("--serve: stdin line %d is %q, want a positive number of passes", line, text)
		}
		times, err := timed(n)
		if err != nil {
			return nil, err
		}
		all = append(all, times...)
		if err := enc.Encode(map[string][]float64{"times_ms": times}); err != nil {
			return nil, err
		}
	}
	return all, sc.Err()
}
