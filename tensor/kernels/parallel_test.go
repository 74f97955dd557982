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
