package kernels

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestParallelCovers checks that every index of [0, n) is visited once,
// for sizes around the worker count and grains that leave fewer chunks
// than workers.
func TestParallelCovers(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 7, 16, 100, 1001} {
		for _, grain := range []int{0, 1, 2, 3, 50} {
			seen := make([]int32, n)
			Parallel(n, grain, func(lo, hi int) {
				for i := lo; i < hi; i++ {
					atomic.AddInt32(&seen[i], 1)
				}
			})
			for i, s := range seen {
				if s != 1 {
					t.Fatalf("n %d grain %d: index %d visited %d times", n, grain, i, s)
				}
			}
		}
	}
}

// TestParallelNested runs Parallel inside Parallel, from several
// goroutines at once: with every worker busy the inner loops must run
// inline rather than wait for a worker that never comes.
func TestParallelNested(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < 50; r++ {
					var sum atomic.Int64
					Parallel(8, 1, func(lo, hi int) {
						for i := lo; i < hi; i++ {
							Parallel(10, 1, func(a, b int) {
								for j := a; j < b; j++ {
									sum.Add(int64(i*10 + j))
								}
							})
						}
					})
					if want := int64(79 * 80 / 2); sum.Load() != want {
						t.Errorf("nested sum %d, want %d", sum.Load(), want)
						return
					}
				}
			}()
		}
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("nested Parallel deadlocked")
	}
}

// TestParallelOwnerFirst checks the order in which a worker takes chunks:
// those of its own part first, in order, then the rest of the others'
// parts, so that worker k computes the same part of every range while
// nobody is late.
func TestParallelOwnerFirst(t *testing.T) {
	for _, c := range []struct {
		n, chunks, parts, id int
		want                 []int // chunk starts, in the order taken
	}{
		{8, 8, 2, 0, []int{0, 1, 2, 3, 4, 5, 6, 7}},
		{8, 8, 2, 1, []int{4, 5, 6, 7, 0, 1, 2, 3}},
		{9, 3, 3, 2, []int{6, 0, 3}},
		{10, 5, 2, 1, []int{4, 6, 8, 0, 2}},   // parts of 2 and 3 chunks
		{6, 6, 3, 4, []int{2, 3, 4, 5, 0, 1}}, // id beyond the parts
	} {
		j := &parJob{n: c.n, chunks: c.chunks, parts: c.parts, next: make([]partCursor, c.parts)}
		var got []int
		j.fn = func(lo, hi int) { got = append(got, lo) }
		j.run(c.id)
		if len(got) != len(c.want) {
			t.Fatalf("%+v: took %v", c, got)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%+v: took %v", c, got)
			}
		}
	}
}
