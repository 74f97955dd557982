// Package layering holds a test that keeps convnet's package dependencies
// pointing down only, like go/build's deps_test.go does for the standard
// library: the data's path reads top to bottom, and a package may import
// only packages on lower layers.
package layering

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/convnet/convnet"

// rank is each package's layer; a package may import ours only of a
// strictly lower rank. Packages not listed fail the test, so a new package
// has to be placed deliberately.
var rank = map[string]int{
	"tensor/kernels":    0,
	"tensor":            1,
	"autograd":          2,
	"nn":                3,
	"models":            4,
	"optim":             4,
	"analysis":          5,
	"weights":           5,
	"data":              5,
	"infer":             6,
	"train":             6,
	"serve":             7,
	"cmd/convnet":       8,
	"internal/imagenet": 5, // ImageNet class names for predict and eval
	"internal/testref":  9, // test helpers and suites, imported by nothing
	"internal/parity":   9,
	"internal/orttest":  9,
	"internal/layering": 9,
}

type pkg struct {
	ImportPath string
	Imports    []string
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		r, ok := rankOf(name)
		if !ok {
			t.Errorf("package %s has no layer: add it to rank in %s", name, "internal/layering/layering_test.go")
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			dr, ok := rankOf(dep)
			if ok && dr >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): dependencies must point down", name, r, dep, dr)
			}
		}
	}
}

// rankOf finds the layer of a package or of its nearest listed parent
// directory (weights/internal/... belongs to weights).
func rankOf(name string) (int, bool) {
	for p := name; p != ""; {
		if r, ok := rank[p]; ok {
			return r, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0, false
}
