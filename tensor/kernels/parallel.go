package kernels

import (
	"runtime"
	"sync"
)

// The pool is persistent: goroutines are started once and fed ranges of work,
// so a parallel kernel costs a few channel operations, not a goroutine per
// tile.
type task struct {
	fn     func(lo, hi int)
	lo, hi int
	wg     *sync.WaitGroup
}

var (
	poolOnce sync.Once
	poolCh   chan task
	nWorkers int
)

func startPool() {
	nWorkers = runtime.GOMAXPROCS(0)
	if nWorkers < 1 {
		nWorkers = 1
	}
	poolCh = make(chan task, 4*nWorkers)
	for i := 0; i < nWorkers-1; i++ {
		go func() {
			for t := range poolCh {
				t.fn(t.lo, t.hi)
				t.wg.Done()
			}
		}()
	}
}

// Workers is the number of goroutines (including the caller) that Parallel
// spreads work over.
func Workers() int {
	poolOnce.Do(startPool)
	return nWorkers
}

var wgPool = sync.Pool{New: func() any { return new(sync.WaitGroup) }}

// Parallel calls fn on disjoint sub-ranges covering [0,n), using the worker
// pool. grain is the smallest range worth a task; ranges are split into at
// most one chunk per worker so each call costs O(workers) synchronisation.
// fn must not call Parallel itself (the pool would deadlock when all workers
// wait); nested kernels run serially instead.
func Parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers()
	if grain < 1 {
		grain = 1
	}
	chunks := n / grain
	if chunks > w {
		chunks = w
	}
	if chunks <= 1 {
		fn(0, n)
		return
	}
	wg := wgPool.Get().(*sync.WaitGroup)
	wg.Add(chunks - 1)
	step := (n + chunks - 1) / chunks
	lo := step
	for c := 1; c < chunks; c++ {
		hi := lo + step
		if hi > n {
			hi = n
		}
		if lo >= hi {
			wg.Done()
			continue
		}
		poolCh <- task{fn: fn, lo: lo, hi: hi, wg: wg}
		lo = hi
	}
	fn(0, step)
	wg.Wait()
	wgPool.Put(wg)
}
