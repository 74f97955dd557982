package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/convnet/convnet/models"
)

// run executes the CLI in-process.
func run(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRoot()
	var out, errb bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetArgs(args)
	err = root.Execute()
	return out.String(), errb.String(), err
}

func TestModelsJSON(t *testing.T) {
	out, _, err := run(t, "models", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("not a JSON array: %v\n%s", err, out)
	}
	if len(rows) != len(models.Names()) {
		t.Errorf("%d rows for %d registered models", len(rows), len(models.Names()))
	}
	byName := map[string]map[string]any{}
	for _, r := range rows {
		for _, k := range []string{"name", "input", "params", "macs", "top1_err", "top5_err"} {
			if _, ok := r[k]; !ok {
				t.Errorf("row %v has no key %q", r["name"], k)
			}
		}
		byName[r["name"].(string)] = r
	}
	vgg := byName["vgg16"]
	if vgg == nil {
		t.Fatal("no vgg16 row")
	}
	// Params is torchvision's 138,357,544; MACs and errors as the lecture's table.
	if vgg["input"] != 224.0 || vgg["params"] != 138357544.0 || vgg["top1_err"] != 28.41 || vgg["top5_err"] != 9.62 {
		t.Errorf("vgg16 row %v", vgg)
	}
	if macs, ok := vgg["macs"].(float64); !ok || macs < 15.495e9 || macs >= 15.505e9 {
		t.Errorf("vgg16 MACs %v, lecture 15.5 G", vgg["macs"])
	}
	if inc := byName["inception_v3"]; inc == nil || inc["input"] != 299.0 {
		t.Errorf("inception_v3 should run at its own 299: %v", inc)
	}
	for _, name := range []string{"mobilenet_v2", "shufflenet_v1"} {
		if r := byName[name]; r != nil && (r["top1_err"] != nil || r["top5_err"] != nil) {
			t.Errorf("%s has no reference errors, got %v / %v", name, r["top1_err"], r["top5_err"])
		}
	}
}

// TestModelsInputOverride runs everything at 224 (the lecture's
// inception_v3 figure) and at 32, where the ImageNet stems run out of
// pixels: those models get an error row, the others still a result.
func TestModelsInputOverride(t *testing.T) {
	out, _, err := run(t, "models", "--format", "json", "--input", "224")
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r["name"] == "inception_v3" {
			if macs, _ := r["macs"].(float64); r["input"] != 224.0 || macs < 2.845e9 || macs >= 2.855e9 {
				t.Errorf("inception_v3 at 224: %v, lecture 2.85 G", r)
			}
		}
	}

	out, _, err = run(t, "models", "--format", "json", "--input", "32")
	if err != nil {
		t.Fatal(err)
	}
	rows = nil
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	seen := map[string]map[string]any{}
	for _, r := range rows {
		seen[r["name"].(string)] = r
	}
	inc := seen["inception_v3"]
	if inc == nil || inc["macs"] != nil || !strings.Contains(inc["error"].(string), "layer ") || inc["params"] != 27161264.0 {
		t.Errorf("inception_v3 at 32: want an error row naming the layer, with params: %v", inc)
	}
	if r := seen["resnet20"]; r == nil || r["macs"] == nil || r["error"] != nil {
		t.Errorf("resnet20 at 32: %v", r)
	}

	// The table says so in words rather than failing.
	out, _, err = run(t, "models", "--input", "32")
	if err != nil || !strings.Contains(out, "inception_v3 at 32x32: layer ") {
		t.Errorf("table at 32: err %v\n%s", err, out)
	}
}

func TestModelsTableAndCSV(t *testing.T) {
	out, _, err := run(t, "models")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Params(M)", "MACs(G)", "vgg16", "138.36", "15.50", "28.41", "Reference figures", "torchvision's model documentation"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	out, _, err = run(t, "models", "--format", "csv")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(models.Names())+1 || recs[0][0] != "name" || recs[0][3] != "macs" {
		t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
	}
	for _, r := range recs[1:] {
		if r[0] == "resnet50" && (r[4] != "25.56" || r[5] != "4.12" || r[6] != "23.85") {
			t.Errorf("resnet50 csv row %v", r)
		}
	}
	if _, _, err := run(t, "models", "--format", "yaml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestSummaryVGG16 looks for the lecture's walk-through numbers.
func TestSummaryVGG16(t *testing.T) {
	out, _, err := run(t, "summary", "vgg16")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"features.0", "[1, 64, 224, 224]", "3,211,264", // CONV3-64: memory 224*224*64
		"1,728", "36,864", "2,359,296", // weights, not counting biases
		"classifier.0", "102,760,448", "16,777,216", "4,096,000",
		"(224-3+2*1)/1+1 = 224", "(14-2+2*0)/2+1 = 7",
		"138,357,544", "15,503,523,304",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	if strings.Contains(out, "Depthwise-separable") {
		t.Error("vgg16 has no depthwise-separable pairs")
	}

	out, _, err = run(t, "summary", "vgg16", "--format", "json", "--batch", "2", "--input", "3x224x224")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Model  string `json:"model"`
		Input  []int  `json:"input"`
		Layers []struct {
			Name        string `json:"name"`
			Type        string `json:"type"`
			Output      []int  `json:"output"`
			Activations int64  `json:"activations"`
			Weights     int64  `json:"weights"`
			RF          [2]int `json:"rf"`
			Formula     string `json:"formula"`
		} `json:"layers"`
		Params int64 `json:"params"`
		MACs   int64 `json:"macs"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if r.Model != "vgg16" || len(r.Input) != 4 || r.Input[0] != 2 || len(r.Layers) == 0 || r.Params != 138357544 {
		t.Fatalf("summary json: model %q input %v, %d layers, params %d", r.Model, r.Input, len(r.Layers), r.Params)
	}
	l := r.Layers[0]
	if l.Name != "features.0" || l.Type != "Conv2d" || l.Activations != 2*3211264 || l.Weights != 1728 ||
		l.RF != [2]int{3, 3} || l.Formula != "(224-3+2*1)/1+1 = 224" {
		t.Errorf("first layer %+v", l)
	}
}

func TestSummaryDepthwise(t *testing.T) {
	out, _, err := run(t, "summary", "mobilenet_v1", "--input", "224")
	if err != nil {
		t.Fatal(err)
	}
	// The first block: 1/64 + 1/9.
	if !strings.Contains(out, "Depthwise-separable") || !strings.Contains(out, "features.1.0.0") || !strings.Contains(out, "0.1267") {
		t.Errorf("no depthwise-separable section:\n%s", out)
	}
}

func TestSummaryErrors(t *testing.T) {
	_, _, err := run(t, "summary", "vgg17")
	if err == nil || !strings.Contains(err.Error(), "unknown model") || !strings.Contains(err.Error(), "vgg16") {
		t.Errorf("bad model name: %v", err)
	}
	// 16 -> 8 -> 4 -> 2 -> 1: the fifth pooling has nothing to pool.
	_, _, err = run(t, "summary", "vgg16", "--input", "3x16x16")
	if err == nil || !strings.Contains(err.Error(), "layer features.30 (MaxPool2d)") {
		t.Errorf("too-small input should name the layer: %v", err)
	}
	for _, bad := range []string{"3x-1x5", "axb", "1x2x3x4"} {
		if _, _, err := run(t, "summary", "vgg16", "--input", bad); err == nil {
			t.Errorf("--input %s accepted", bad)
		}
	}
	if _, _, err := run(t, "summary", "vgg16", "--batch", "0"); err == nil {
		t.Error("--batch 0 accepted")
	}
	if _, _, err := run(t, "summary"); err == nil {
		t.Error("missing model accepted")
	}
}
