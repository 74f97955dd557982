package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestBenchJSON(t *testing.T) {
	out, _, err := run(t, "bench", "resnet20", "--input", "32", "--batch", "2", "--warmup", "1", "--runs", "2", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, out)
	}
	for _, k := range []string{"model", "batch", "threads", "input", "ms_median", "ms_p10", "ms_p90", "img_per_s", "gflops", "cpu", "kernels"} {
		if _, ok := r[k]; !ok {
			t.Errorf("no key %q in %s", k, out)
		}
	}
	if r["model"] != "resnet20" || r["batch"] != 2.0 || r["input"] != 32.0 {
		t.Errorf("model, batch, input: %v %v %v", r["model"], r["batch"], r["input"])
	}
	med, _ := r["ms_median"].(float64)
	p10, _ := r["ms_p10"].(float64)
	p90, _ := r["ms_p90"].(float64)
	if !(med > 0 && p10 <= med && med <= p90) {
		t.Errorf("times p10 %v, median %v, p90 %v", p10, med, p90)
	}
	// resnet20 is 41 MMACs per 32x32 image.
	if g, _ := r["gflops"].(float64); g <= 0 {
		t.Errorf("gflops %v", r["gflops"])
	}
	if ips, _ := r["img_per_s"].(float64); ips <= 0 || ips*med/1e3 < 1.99 || ips*med/1e3 > 2.01 {
		t.Errorf("img_per_s %v does not match batch 2 at %v ms", ips, med)
	}
	if th, _ := r["threads"].(float64); th < 1 {
		t.Errorf("threads %v", r["threads"])
	}
	if s, _ := r["kernels"].(string); s == "" {
		t.Error("empty kernels description")
	}
}

func TestBenchTable(t *testing.T) {
	out, _, err := run(t, "bench", "resnet20", "--warmup", "0", "--runs", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resnet20", "[1, 3, 32, 32]", "median", "GFLOP/s", "kernels"} {
		if !strings.Contains(out, want) && !strings.Contains(out, strings.ReplaceAll(want, ", ", " ")) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "nosuchnet"},
		{"bench", "resnet20", "--format", "xml"},
		{"bench", "resnet20", "--runs", "0"},
		{"bench", "resnet20", "--input", "0"},
		{"bench", "resnet20", "--weights", "/nonexistent.pth"},
	} {
		if _, _, err := run(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

// TestBenchWeights benchmarks the real squeezenet1_1 weights.
func TestBenchWeights(t *testing.T) {
	w := pretrained(t)
	out, _, err := run(t, "bench", "squeezenet1_1", "--weights", w, "--input", "64", "--warmup", "0", "--runs", "1", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not a JSON object: %v\n%s", err, out)
	}
	if r["weights"] != w || r["model"] != "squeezenet1_1" {
		t.Errorf("weights %v, model %v", r["weights"], r["model"])
	}
}

// TestBenchServe drives bench --serve as scripts/bench/paired.py does: a
// ready line, one times line per request, the summary over every timed
// pass at the end of stdin; a bad request is an error that quotes it.
func TestBenchServe(t *testing.T) {
	serve := func(stdin string) (string, error) {
		root := newRoot()
		var out, errb bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&errb)
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs([]string{"bench", "resnet20", "--input", "32", "--warmup", "1", "--serve"})
		err := root.Execute()
		return out.String(), err
	}
	out, err := serve("2\n\n3\n")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || lines[0] != `{"ready":true}` {
		t.Fatalf("want a ready line, two times lines and a result:\n%s", out)
	}
	for i, n := range []int{2, 3} {
		var m map[string][]float64
		if err := json.Unmarshal([]byte(lines[i+1]), &m); err != nil || len(m["times_ms"]) != n {
			t.Errorf("line %d: want %d times, got %s (%v)", i+2, n, lines[i+1], err)
		}
	}
	var r map[string]any
	if err := json.Unmarshal([]byte(lines[3]), &r); err != nil {
		t.Fatalf("result line: %v: %s", err, lines[3])
	}
	if r["runs"] != 5.0 || len(r["times_ms"].([]any)) != 5 {
		t.Errorf("result over %v runs, %d times; want 5", r["runs"], len(r["times_ms"].([]any)))
	}
	for _, bad := range []string{"x\n", "0\n", ""} {
		if _, err := serve(bad); err == nil || !strings.Contains(err.Error(), "--serve") {
			t.Errorf("stdin %q: err %v, want a --serve error", bad, err)
		}
	}
}
