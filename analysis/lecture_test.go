package analysis

import (
	"bufio"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/convnet/convnet/models"
)

// lectureTable is the lecture's "Model Comparisons" table, copied as
// printed (ptflops' benchmark of torchvision, April 2019): params in
// millions and MACs in billions at 224x224 (inception_v3 too), and
// torchvision's reference top-1/top-5 errors (%) of its ImageNet weights.
var lectureTable = []struct {
	name, params, macs, top1, top5 string
}{
	{"alexnet", "61.1", "0.72", "43.45", "20.91"},
	{"vgg11", "132.86", "7.63", "30.98", "11.37"},
	{"vgg13", "133.05", "11.34", "30.07", "10.75"},
	{"vgg16", "138.36", "15.5", "28.41", "9.62"},
	{"vgg19", "143.67", "19.67", "27.62", "9.12"},
	{"vgg11_bn", "132.87", "7.64", "29.62", "10.19"},
	{"vgg13_bn", "133.05", "11.36", "28.45", "9.63"},
	{"vgg16_bn", "138.37", "15.53", "26.63", "8.50"},
	{"vgg19_bn", "143.68", "19.7", "25.76", "8.15"},
	{"resnet18", "11.69", "1.82", "30.24", "10.92"},
	{"resnet34", "21.8", "3.68", "26.70", "8.58"},
	{"resnet50", "25.56", "4.12", "23.85", "7.13"},
	{"resnet101", "44.55", "7.85", "22.63", "6.44"},
	{"resnet152", "60.19", "11.58", "21.69", "5.94"},
	{"squeezenet1_0", "1.25", "0.83", "41.90", "19.58"},
	{"squeezenet1_1", "1.24", "0.36", "41.81", "19.38"},
	{"densenet121", "7.98", "2.88", "25.35", "7.83"},
	{"densenet169", "14.15", "3.42", "24.00", "7.00"},
	{"densenet201", "20.01", "4.37", "22.80", "6.43"},
	{"densenet161", "28.68", "7.82", "22.35", "6.20"},
	{"inception_v3", "27.16", "2.85", "22.55", "6.44"},
}

// twoDecimals formats as the table does: ptflops printed
// str(round(x, 2)) ("15.5" is 15.50), so both sides are compared as %.2f
// of the same float64, which rounds like Python's round.
func twoDecimals(x float64) string { return strconv.FormatFloat(x, 'f', 2, 64) }

func parse(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("bad number %q in the lecture table: %v", s, err)
	}
	return v
}

func TestLectureTable(t *testing.T) {
	for _, row := range lectureTable {
		t.Run(row.name, func(t *testing.T) {
			spec, err := models.Lookup(row.name)
			if err != nil {
				t.Fatalf("model not registered: %v", err)
			}
			m, err := models.New(row.name, models.Meta())
			if err != nil {
				t.Fatal(err)
			}
			r, err := Profile(m, []int{1, 3, 224, 224})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := twoDecimals(float64(r.Params)/1e6), twoDecimals(parse(t, row.params)); got != want {
				t.Errorf("Params(M) = %s (%d), lecture %s", got, r.Params, row.params)
			}
			if got, want := twoDecimals(float64(r.MACs)/1e9), twoDecimals(parse(t, row.macs)); got != want {
				t.Errorf("MACs(G) = %s (%d), lecture %s", got, r.MACs, row.macs)
			}
			if spec.Top1Err != parse(t, row.top1) || spec.Top5Err != parse(t, row.top5) {
				t.Errorf("registry top-1/top-5 = %v/%v, lecture %s/%s", spec.Top1Err, spec.Top5Err, row.top1, row.top5)
			}
		})
	}
}

// TestLectureTableTranscription checks lectureTable against the lecture
// itself where the shared folder is beside the repository.
func TestLectureTableTranscription(t *testing.T) {
	f, err := os.Open("../../shared/seed/cnn-lecture.txt")
	if err != nil {
		t.Skipf("lecture not available: %v", err)
	}
	defer f.Close()
	printed := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) == 6 && fs[1] == "224x224" {
			printed[fs[0]] = fs[2:]
		}
	}
	if len(printed) != len(lectureTable) {
		t.Errorf("lecture has %d rows, lectureTable %d", len(printed), len(lectureTable))
	}
	for _, row := range lectureTable {
		want := []string{row.params, row.macs, row.top1, row.top5}
		if got := printed[row.name]; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: lecture prints %v, lectureTable has %v", row.name, got, want)
		}
	}
}

func profileModel(t *testing.T, name string, input ...int) *Report {
	t.Helper()
	m, err := models.New(name, models.Meta())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Profile(m, input)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func layerByName(t *testing.T, r *Report, name string) Layer {
	t.Helper()
	for _, l := range r.Layers {
		if l.Name == name {
			return l
		}
	}
	t.Fatalf("no layer %s", name)
	return Layer{}
}

// TestVGG16WalkThrough follows the lecture's VGG16 memory and parameter
// table ("not counting biases"): each CONV3 and FC row's output and
// weights, the memory being the output's element count.
func TestVGG16WalkThrough(t *testing.T) {
	r := profileModel(t, "vgg16", 1, 3, 224, 224)
	rows := []struct {
		name    string
		out     []int
		weights int64
	}{
		{"features.0", []int{1, 64, 224, 224}, 1728},
		{"features.2", []int{1, 64, 224, 224}, 36864},
		{"features.5", []int{1, 128, 112, 112}, 73728},
		{"features.7", []int{1, 128, 112, 112}, 147456},
		{"features.10", []int{1, 256, 56, 56}, 294912},
		{"features.12", []int{1, 256, 56, 56}, 589824},
		{"features.14", []int{1, 256, 56, 56}, 589824},
		{"features.17", []int{1, 512, 28, 28}, 1179648},
		{"features.19", []int{1, 512, 28, 28}, 2359296},
		{"features.21", []int{1, 512, 28, 28}, 2359296},
		{"features.24", []int{1, 512, 14, 14}, 2359296},
		{"features.26", []int{1, 512, 14, 14}, 2359296},
		{"features.28", []int{1, 512, 14, 14}, 2359296},
		{"classifier.0", []int{1, 4096}, 102760448},
		{"classifier.3", []int{1, 4096}, 16777216},
		{"classifier.6", []int{1, 1000}, 4096000},
	}
	for _, w := range rows {
		l := layerByName(t, r, w.name)
		if !equalShape(l.Output, w.out) {
			t.Errorf("%s: output %v, want %v", w.name, l.Output, w.out)
		}
		if want := numel(w.out); l.Activations != want || l.ActivationBytes != 4*want {
			t.Errorf("%s: activations %d (%d bytes), want %d", w.name, l.Activations, l.ActivationBytes, want)
		}
		bias := int64(w.out[1])
		if l.Weights != w.weights || l.Params != w.weights+bias {
			t.Errorf("%s: weights %d, params %d; want %d and %d with biases", w.name, l.Weights, l.Params, w.weights, w.weights+bias)
		}
	}
	first := layerByName(t, r, "features.0")
	if first.Activations != 3211264 {
		t.Errorf("features.0 memory %d, lecture 224*224*64 = 3,211,264", first.Activations)
	}
	if first.Formula != "(224-3+2*1)/1+1 = 224" {
		t.Errorf("features.0 formula %q", first.Formula)
	}
	// Three 3x3 convolutions see 7x7; VGG16's last pooling sees 212x212.
	if l := layerByName(t, r, "features.14"); l.RF != [2]int{40, 40} || l.Jump != [2]int{4, 4} {
		t.Errorf("features.14 receptive field %v jump %v, want 40 and 4", l.RF, l.Jump)
	}
	if l := layerByName(t, r, "features.30"); l.RF != [2]int{212, 212} || l.Jump != [2]int{32, 32} ||
		l.Formula != "(14-2+2*0)/2+1 = 7" {
		t.Errorf("features.30: receptive field %v jump %v formula %q, want 212, 32, (14-2+2*0)/2+1 = 7", l.RF, l.Jump, l.Formula)
	}
	// 138,357,544 parameters (the walk-through's 138M with biases).
	if r.Params != 138357544 || r.ParamBytes != 4*138357544 {
		t.Errorf("params %d (%d bytes)", r.Params, r.ParamBytes)
	}
}

// TestAlexNetFormula is the lecture's (227-11)/4+1 = 55 as torchvision
// pads it on 224x224 input.
func TestAlexNetFormula(t *testing.T) {
	r := profileModel(t, "alexnet", 1, 3, 224, 224)
	if l := layerByName(t, r, "features.0"); l.Formula != "(224-11+2*2)/4+1 = 55" || l.Weights != 11*11*3*64 {
		t.Errorf("features.0: formula %q weights %d", l.Formula, l.Weights)
	}
}

// TestDepthwiseSeparable checks the lecture's reduction 1/N + 1/Dk^2 on
// MobileNet's blocks: bias-free convolutions make the measured MAC and
// parameter ratios equal to it.
func TestDepthwiseSeparable(t *testing.T) {
	for _, c := range []struct {
		name  string
		pairs int
	}{{"mobilenet_v1", 13}, {"mobilenet_v2", 17}} {
		r := profileModel(t, c.name, 1, 3, 224, 224)
		if len(r.Separable) != c.pairs {
			t.Errorf("%s: %d depthwise-separable pairs, want %d", c.name, len(r.Separable), c.pairs)
		}
		for _, s := range r.Separable {
			pw := layerByName(t, r, s.Pointwise)
			if n := pw.Output[1]; s.N != n || s.Kernel != [2]int{3, 3} {
				t.Errorf("%s: N %d kernel %v, pointwise outputs %d channels", s.Pointwise, s.N, s.Kernel, n)
			}
			want := 1/float64(s.N) + 1.0/9
			for what, got := range map[string]float64{"formula": s.Formula, "MACs": s.MACsRatio, "params": s.ParamsRatio} {
				if math.Abs(got-want) > 1e-12 {
					t.Errorf("%s + %s: %s ratio %v, want 1/%d + 1/9 = %v", s.Depthwise, s.Pointwise, what, got, s.N, want)
				}
			}
		}
	}
	first := profileModel(t, "mobilenet_v1", 1, 3, 224, 224).Separable[0]
	if first.Depthwise != "features.1.0.0" || first.Pointwise != "features.1.1.0" || first.M != 32 || first.N != 64 ||
		first.Output != [2]int{112, 112} || first.StandardMACs != 3*3*32*64*112*112 {
		t.Errorf("first MobileNet v1 pair: %+v", first)
	}
}

func equalShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
