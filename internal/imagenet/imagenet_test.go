package imagenet

import "testing"

func TestClasses(t *testing.T) {
	names := Names()
	if len(names) != 1000 {
		t.Fatalf("%d classes, want 1000", len(names))
	}
	seen := map[string]int{}
	for i, n := range names {
		if n == "" {
			t.Errorf("class %d has no name", i)
		}
		if j, dup := seen[n]; dup {
			t.Errorf("classes %d and %d are both %q", j, i, n)
		}
		seen[n] = i
	}
	for _, c := range []struct {
		i    int
		name string
	}{
		{0, "tench"}, {1, "goldfish"}, {281, "tabby"}, {285, "Egyptian cat"},
		{817, "sports car"}, {967, "espresso"}, {999, "toilet tissue"},
		{-1, ""}, {1000, ""},
	} {
		if got := Name(c.i); got != c.name {
			t.Errorf("Name(%d) = %q, want %q", c.i, got, c.name)
		}
	}
	names[0] = "changed"
	if Name(0) != "tench" {
		t.Error("Names returned the package's own array")
	}
}
