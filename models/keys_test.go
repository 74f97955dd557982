package models_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/convnet/convnet/models"
	"github.com/convnet/convnet/nn"
	"github.com/convnet/convnet/tensor"
)

// keysFile is written by scripts/torchvision_keys.py from torchvision 0.14.
const keysFile = "testdata/torchvision_keys.json"

// tvKey is one state_dict entry of a torchvision model.
type tvKey struct {
	Key   string
	Shape []int
}

func (k *tvKey) UnmarshalJSON(b []byte) error {
	var pair [2]json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return err
	}
	if err := json.Unmarshal(pair[0], &k.Key); err != nil {
		return err
	}
	return json.Unmarshal(pair[1], &k.Shape)
}

func (k tvKey) String() string { return k.Key + " " + tensor.ShapeString(k.Shape) }

func loadTorchvisionKeys(t *testing.T) map[string][]tvKey {
	t.Helper()
	b, err := os.ReadFile(keysFile)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/torchvision_keys.py)", err)
	}
	var ref map[string][]tvKey
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatalf("%s: %v", keysFile, err)
	}
	return ref
}

// TestTorchvisionKeys checks that every model torchvision has is in the
// zoo and that its state_dict has torchvision's keys, in torchvision's
// order, with torchvision's shapes.
func TestTorchvisionKeys(t *testing.T) {
	ref := loadTorchvisionKeys(t)
	var names []string
	for name := range ref {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			spec, err := models.Lookup(name)
			if err != nil {
				t.Fatalf("torchvision has %s, the zoo does not", name)
			}
			if !spec.Torchvision {
				t.Errorf("%s is registered with Torchvision false", name)
			}
			m, err := models.New(name, models.Meta())
			if err != nil {
				t.Fatal(err)
			}
			var got []tvKey
			for _, e := range nn.StateDict(m) {
				got = append(got, tvKey{e.Key, e.Tensor.Shape})
			}
			if diff := diffKeys(got, ref[name]); diff != "" {
				t.Errorf("state_dict differs from torchvision's (%d keys here, %d there):\n%s", len(got), len(ref[name]), diff)
			}
		})
	}
	for _, name := range models.Names() {
		spec, _ := models.Lookup(name)
		if _, ok := ref[name]; spec.Torchvision && !ok {
			t.Errorf("%s is registered with Torchvision true but is not in %s; add it to scripts/torchvision_keys.py", name, keysFile)
		}
	}
}

// diffKeys describes how got differs from want: keys missing or extra,
// then the first positions where order or shape differ. It returns "" if
// they are equal.
func diffKeys(got, want []tvKey) string {
	const most = 10
	var b strings.Builder
	index := func(ks []tvKey) map[string]tvKey {
		m := make(map[string]tvKey, len(ks))
		for _, k := range ks {
			m[k.Key] = k
		}
		return m
	}
	gi, wi := index(got), index(want)
	list := func(what string, ks []tvKey, other map[string]tvKey) {
		n := 0
		for _, k := range ks {
			if _, ok := other[k.Key]; ok {
				continue
			}
			if n < most {
				fmt.Fprintf(&b, "  %s %v\n", what, k)
			}
			n++
		}
		if n > most {
			fmt.Fprintf(&b, "  ... and %d more %s\n", n-most, what)
		}
	}
	list("missing", want, gi)
	list("unexpected", got, wi)
	n := 0
	for _, k := range got {
		if w, ok := wi[k.Key]; ok && !tensor.SameShape(k.Shape, w.Shape) {
			if n < most {
				fmt.Fprintf(&b, "  shape of %s: %s here, %s in torchvision\n", k.Key, tensor.ShapeString(k.Shape), tensor.ShapeString(w.Shape))
			}
			n++
		}
	}
	if b.Len() > 0 {
		return b.String()
	}
	// Same keys and shapes: the order may still differ.
	for i := range got {
		if got[i].Key != want[i].Key {
			return fmt.Sprintf("  order differs first at position %d: %s here, %s in torchvision\n", i, got[i].Key, want[i].Key)
		}
	}
	return ""
}

func TestDiffKeys(t *testing.T) {
	a := tvKey{"conv1.weight", []int{64, 3, 7, 7}}
	b := tvKey{"bn1.weight", []int{64}}
	c := tvKey{"bn1.num_batches_tracked", []int{}}
	for _, tc := range []struct {
		name      string
		got, want []tvKey
		report    string // substring of the report; "" for equal
	}{
		{"equal", []tvKey{a, b, c}, []tvKey{a, b, c}, ""},
		{"missing", []tvKey{a, c}, []tvKey{a, b, c}, "missing bn1.weight [64]"},
		{"unexpected", []tvKey{a, b, c}, []tvKey{a, c}, "unexpected bn1.weight [64]"},
		{"shape", []tvKey{a, {"bn1.weight", []int{32}}, c}, []tvKey{a, b, c}, "shape of bn1.weight: [32] here, [64] in torchvision"},
		{"order", []tvKey{a, c, b}, []tvKey{a, b, c}, "order differs first at position 1: bn1.num_batches_tracked here, bn1.weight"},
	} {
		got := diffKeys(tc.got, tc.want)
		if (tc.report == "") != (got == "") || !strings.Contains(got, tc.report) {
			t.Errorf("%s: report %q, want one containing %q", tc.name, got, tc.report)
		}
	}
}
