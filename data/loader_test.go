package data

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// toyDataset has n 6x5 RGB images; image i's pixels all encode i, so a
// batch shows which samples it holds.
func toyDataset(n int) *ArrayDataset {
	d := &ArrayDataset{N: n, Height: 5, Width: 6, Channels: 3, Pix: make([]uint8, n*90), Labels: make([]int, n), Classes: []string{"a", "b", "c"}}
	for i := range n {
		for k := range 90 {
			d.Pix[i*90+k] = uint8(i*7 + k)
		}
		d.Labels[i] = i % 3
	}
	return d
}

var augment = Compose{RandomCrop{Size: 4, Padding: 1}, RandomHorizontalFlip{}, ColorJitter{Brightness: 0.5, Contrast: 0.5}, ToTensor{}}

// collect reads batches until the loader has delivered k batches or, with
// k < 0, until the end of epoch `epochs-1`; io.EOF is recorded as nil.
func collect(t *testing.T, l *Loader, k int, epochs int) []*Batch {
	t.Helper()
	var out []*Batch
	for ends := 0; k < 0 && ends < epochs || k >= 0 && len(out) < k; {
		b, err := l.Next()
		if err == io.EOF {
			ends++
			out = append(out, nil)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func sameBatches(t *testing.T, what string, a, b []*Batch) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d batches vs %d", what, len(a), len(b))
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) {
			t.Fatalf("%s: batch %d: epoch end in one only", what, i)
		}
		if a[i] == nil {
			continue
		}
		if a[i].Epoch != b[i].Epoch || a[i].Index != b[i].Index || !equalInts(a[i].Indices, b[i].Indices) ||
			!equalInts(a[i].Labels, b[i].Labels) || tensorDiff(a[i].X, b[i].X) != 0 {
			t.Fatalf("%s: batch %d differs: epoch %d/%d index %d/%d indices %v / %v", what, i,
				a[i].Epoch, b[i].Epoch, a[i].Index, b[i].Index, a[i].Indices, b[i].Indices)
		}
	}
}

func TestLoaderBatches(t *testing.T) {
	ds := toyDataset(10)
	for _, c := range []struct {
		bs       int
		dropLast bool
		sizes    []int
	}{
		{3, false, []int{3, 3, 3, 1}},
		{3, true, []int{3, 3, 3}},
		{5, true, []int{5, 5}},
		{10, false, []int{10}},
		{12, true, nil},
		{12, false, []int{10}},
	} {
		l, err := NewLoader(ds, LoaderOptions{BatchSize: c.bs, DropLast: c.dropLast, Transform: ToTensor{}})
		if err != nil {
			t.Fatal(err)
		}
		bs := collect(t, l, -1, 1)
		l.Close()
		if l.Len() != len(c.sizes) || len(bs) != len(c.sizes)+1 {
			t.Fatalf("batch %d drop %v: Len %d, %d batches, want %d", c.bs, c.dropLast, l.Len(), len(bs)-1, len(c.sizes))
		}
		next := 0
		for i, n := range c.sizes {
			b := bs[i]
			if b.X.Shape[0] != n || len(b.Labels) != n || b.X.Shape[1] != 3 || b.X.Shape[2] != 5 || b.X.Shape[3] != 6 {
				t.Fatalf("batch %d: shape %v, %d labels, want %d samples", i, b.X.Shape, len(b.Labels), n)
			}
			for k, idx := range b.Indices { // unshuffled: in order
				if idx != next || b.Labels[k] != idx%3 || b.X.Data[k*90] != float32(uint8(idx*7))/255 {
					t.Fatalf("batch %d sample %d is dataset index %d, want %d", i, k, idx, next)
				}
				next++
			}
		}
	}
}

// TestLoaderDeterminism: shuffled and augmented batches are the same for
// any number of workers and prefetch depth.
func TestLoaderDeterminism(t *testing.T) {
	ds := toyDataset(23)
	opts := LoaderOptions{BatchSize: 4, Shuffle: true, Seed: 42, Transform: augment}
	var ref []*Batch
	for _, wp := range [][2]int{{1, 1}, {1, 2}, {3, 2}, {4, 8}, {8, 3}} {
		o := opts
		o.Workers, o.Prefetch = wp[0], wp[1]
		l, err := NewLoader(ds, o)
		if err != nil {
			t.Fatal(err)
		}
		got := collect(t, l, -1, 3)
		l.Close()
		if ref == nil {
			ref = got
			continue
		}
		sameBatches(t, fmt.Sprintf("%d workers, prefetch %d", wp[0], wp[1]), ref, got)
	}
	// Each epoch is a permutation, and epochs differ.
	var orders [][]int
	var cur []int
	for _, b := range ref {
		if b == nil {
			orders = append(orders, cur)
			cur = nil
			continue
		}
		cur = append(cur, b.Indices...)
	}
	for e, o := range orders {
		seen := map[int]bool{}
		for _, i := range o {
			seen[i] = true
		}
		if len(o) != 23 || len(seen) != 23 {
			t.Errorf("epoch %d is not a permutation: %v", e, o)
		}
	}
	if equalInts(orders[0], orders[1]) || equalInts(orders[1], orders[2]) {
		t.Errorf("epochs share an order: %v", orders)
	}
	// A different seed gives a different run.
	o := opts
	o.Seed = 43
	l, _ := NewLoader(ds, o)
	defer l.Close()
	if other := collect(t, l, 1, 0); equalInts(other[0].Indices, ref[0].Indices) && tensorDiff(other[0].X, ref[0].X) == 0 {
		t.Error("seed 43 gives seed 42's first batch")
	}
}

// TestLoaderResume: stopping after k batches, saving State and restoring it
// in a new loader gives exactly the batches an uninterrupted run gives,
// wherever k falls (mid-epoch, at an epoch's end, at a boundary).
func TestLoaderResume(t *testing.T) {
	ds := toyDataset(17)
	opts := LoaderOptions{BatchSize: 5, Shuffle: true, Seed: 7, Transform: augment, Workers: 3}
	l, _ := NewLoader(ds, opts)
	full := collect(t, l, -1, 3) // 4 batches + EOF per epoch
	l.Close()
	for k := 0; k <= len(full); k++ {
		a, _ := NewLoader(ds, opts)
		head := collect(t, a, k, 0)
		sameBatches(t, "head", full[:k], head)
		st := a.State()
		a.Close()
		b, _ := NewLoader(ds, opts)
		if err := b.Restore(st); err != nil {
			t.Fatal(err)
		}
		rest := collect(t, b, len(full)-k, 0)
		b.Close()
		sameBatches(t, fmt.Sprintf("resumed after %d batches (state %+v)", k, st), full[k:], rest)
	}
	// Restore on a running loader drops what it had prepared.
	a, _ := NewLoader(ds, opts)
	defer a.Close()
	collect(t, a, 2, 0)
	st := a.State()
	collect(t, a, 3, 0)
	if err := a.Restore(st); err != nil {
		t.Fatal(err)
	}
	sameBatches(t, "restore in place", full[2:5], collect(t, a, 3, 0))

	bad := st
	bad.Seed++
	if err := a.Restore(bad); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("restoring another seed's state: %v", err)
	}
	bad = st
	bad.Batch = 99
	if err := a.Restore(bad); err == nil {
		t.Error("restoring batch 99 of 4 did not fail")
	}
}

// slowDataset blocks in Get until released, to catch goroutines a Close
// leaves behind.
type slowDataset struct {
	*ArrayDataset
	delay time.Duration
	calls atomic.Int64
}

func (d *slowDataset) Get(i int) (Sample, error) {
	d.calls.Add(1)
	time.Sleep(d.delay)
	return d.ArrayDataset.Get(i)
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines remain, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLoaderCloseNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	ds := &slowDataset{ArrayDataset: toyDataset(64), delay: time.Millisecond}
	opts := LoaderOptions{BatchSize: 4, Shuffle: true, Transform: augment, Workers: 4, Prefetch: 3}

	// Closed mid-epoch, with workers busy.
	l, _ := NewLoader(ds, opts)
	collect(t, l, 2, 0)
	l.Close()
	waitGoroutines(t, base)
	if _, err := l.Next(); !errors.Is(err, ErrClosed) {
		t.Errorf("Next after Close: %v", err)
	}
	l.Close() // twice is fine

	// Restore and epoch ends stop their pipelines.
	l, _ = NewLoader(ds, opts)
	collect(t, l, 3, 0)
	l.Restore(LoaderState{Epoch: 5, Batch: 1, Seed: opts.Seed, BatchSize: 4, Len: 64, Shuffle: true})
	collect(t, l, -1, 2)
	l.Close()
	waitGoroutines(t, base)

	// Close from another goroutine while Next waits for a slow batch.
	slow := &slowDataset{ArrayDataset: toyDataset(8), delay: 200 * time.Millisecond}
	l, _ = NewLoader(slow, LoaderOptions{BatchSize: 8, Transform: ToTensor{}, Workers: 1})
	go func() { time.Sleep(20 * time.Millisecond); l.Close() }()
	start := time.Now()
	if _, err := l.Next(); !errors.Is(err, ErrClosed) {
		t.Errorf("Next interrupted by Close: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Next took %v to notice Close", time.Since(start))
	}
	waitGoroutines(t, base)
	// The worker stopped at the sample it was reading, not at the end of
	// the batch.
	if n := slow.calls.Load(); n > 2 {
		t.Errorf("the worker read %d samples after Close", n)
	}
	// A loader never used starts no goroutine.
	l, _ = NewLoader(ds, opts)
	if runtime.NumGoroutine() > base {
		t.Errorf("NewLoader started goroutines")
	}
	l.Close()
}

func TestLoaderErrors(t *testing.T) {
	ds := toyDataset(6)
	l, _ := NewLoader(ds, LoaderOptions{BatchSize: 2})
	defer l.Close()
	if _, err := l.Next(); err == nil || !strings.Contains(err.Error(), "ToTensor") {
		t.Errorf("no ToTensor: %v", err)
	}
	if st := l.State(); st.Batch != 0 {
		t.Errorf("a failed batch moved the position to %d", st.Batch)
	}
	mixed := TransformFunc(func(s Sample, _ *rand.Rand) (Sample, error) {
		if s.Label == 1 {
			return CenterCrop{Size: 3}.Apply(s, nil)
		}
		return s, nil
	})
	l2, _ := NewLoader(ds, LoaderOptions{BatchSize: 3, Transform: Compose{mixed, ToTensor{}}})
	defer l2.Close()
	if _, err := l2.Next(); err == nil || !strings.Contains(err.Error(), "unlike the batch's") {
		t.Errorf("mixed shapes: %v", err)
	}
	if _, err := NewLoader(ds, LoaderOptions{BatchSize: -1}); err == nil {
		t.Error("negative batch size accepted")
	}
}
