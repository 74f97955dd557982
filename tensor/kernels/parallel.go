package kernels

import (
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The pool is persistent: goroutines are started once and fed ranges of work,
// so a parallel kernel costs a few atomic operations and a channel send, not
// a goroutine per tile.
//
// Two refinements over a plain channel-fed pool, both for inference plans
// that run hundreds of small parallel kernels per image:
//
//   - Spinning. A worker that runs out of work polls for the next task for
//     a while (spinWait) before it parks, and so does a caller waiting for
//     its helpers: waking a parked goroutine costs several microseconds,
//     which on a 0.1 ms layer is a tenth of it, and plans run hundreds of
//     such layers (2 pinned cores of a quiet Xeon, batch 1: MobileNetV2
//     9.3 -> 6.4 ms, ShuffleNet 5.4 -> 3.6, ResNet-18 28.8 -> 21.5 against
//     parking at once). The polling loop yields the CPU (sched_yield)
//     between polls: on a machine whose cores other processes keep busy, a
//     pure spin keeps the very thread it waits for off the CPU until the
//     scheduler's next tick (2 busy Zen 3 cores, MobileNetV2: 13 ms
//     without spinning, 17 with 50 us of pure spin, 92 with 1 ms).
//   - Chunks, owner first. A range is cut into up to chunksPerWorker
//     chunks per worker and the chunks into one part per worker: worker k
//     (the caller is 0) takes the chunks of part k in order, then what the
//     others have left of theirs. A worker that another process keeps off
//     its core holds up one chunk, not half the layer; and while none is
//     late, worker k computes the k-th part of every layer, so the pixels
//     a layer gives it are mostly those it wrote in the layer before and
//     are still in its core's caches. (Taken in turn, as before, the
//     chunks went to whichever worker came first. In-process A/B, 500
//     runs each, batch 1, 2 Zen 3 vCPUs: MobileNetV2 -1.5%, ShuffleNetV2
//     -1.5%, SqueezeNet -0.7%, ResNet-50 level. Handing every other layer
//     to the other worker on purpose cost MobileNetV2 8%: on this host
//     the two vCPUs sometimes sit on different core complexes, where a
//     read of a line the other core wrote takes 2x as long.)
//   - Reservation. Parallel hands work to the pool only after reserving
//     an idle worker for it, and runs the chunks it could not place itself.
//     So nested calls are safe (a kernel running inside a pool task runs
//     its own parallel loops inline when every worker is busy), and a plan
//     can run independent images on all workers at once, each calling
//     kernels that would otherwise split their work across the same pool.
type task = *parJob

// parJob is one Parallel call: its range cut into chunks, the chunks into
// one part per worker, and the helpers still running.
type parJob struct {
	fn        func(lo, hi int)
	n, chunks int
	parts     int
	next      []partCursor // per part: chunks taken
	left      atomic.Int32
	wg        sync.WaitGroup
}

// partCursor counts the chunks taken from one part, on a cache line of its
// own: the owner and a thief update it from different cores.
type partCursor struct {
	taken atomic.Int32
	_     [60]byte
}

// run takes chunks until none is left: first those of its own part
// (worker id's), in order, then what is left of the others.
func (j *parJob) run(id int) {
	for k := 0; k < j.parts; k++ {
		q := (id + k) % j.parts
		c0, c1 := q*j.chunks/j.parts, (q+1)*j.chunks/j.parts
		for {
			c := c0 + int(j.next[q].taken.Add(1)-1)
			if c >= c1 {
				break
			}
			j.fn(c*j.n/j.chunks, (c+1)*j.n/j.chunks)
		}
	}
}

var (
	poolOnce sync.Once
	poolCh   chan task
	nWorkers int
	// idle counts pool goroutines waiting for a task that no Parallel call
	// has reserved yet; queued counts tasks sent and not yet received.
	idle, queued atomic.Int32
)

// spinWait is how long a worker polls for new work, and a caller for its
// helpers, before parking.
const spinWait = 500 * time.Microsecond

// Spinning only pays while the machine has a core for every spinning
// thread: on 2 Zen 3 cores that another process keeps 1.5 busy, even
// yielding spins cost ResNet-50 25% (the scheduler keeps giving the
// spinners their share). CONVNET_SPIN=on or off overrides the automatic
// choice, which spins while the 1-minute load average (this process's
// own threads included) stays under the number of CPUs plus a half.
var (
	spinMode  = strings.ToLower(strings.TrimSpace(os.Getenv("CONVNET_SPIN")))
	spinOK    atomic.Bool
	spinCheck atomic.Int64 // unix nanoseconds of the next load check
)

// spinning reports whether waits should poll before parking.
func spinning() bool {
	switch spinMode {
	case "on":
		return true
	case "off":
		return false
	}
	now := time.Now().UnixNano()
	if next := spinCheck.Load(); now >= next && spinCheck.CompareAndSwap(next, now+int64(time.Second)) {
		load, ok := loadAverage()
		spinOK.Store(!ok || load < float64(runtime.NumCPU())+0.5)
	}
	return spinOK.Load()
}

func startPool() {
	nWorkers = runtime.GOMAXPROCS(0)
	if nWorkers < 1 {
		nWorkers = 1
	}
	poolCh = make(chan task, 4*nWorkers)
	for i := 1; i < nWorkers; i++ {
		go worker(i)
	}
}

// worker is pool goroutine id (the caller of Parallel is 0): it takes the
// part of each range with its id first.
func worker(id int) {
	idle.Add(1)
	for {
		j := receive()
		j.run(id)
		// Idle again before the caller can see the job done: its next
		// Parallel call, a few nanoseconds later, must find this worker.
		idle.Add(1)
		j.left.Add(-1)
		j.wg.Done()
	}
}

// receive returns the next task, polling before it blocks.
func receive() task {
	if !spinning() {
		t := <-poolCh
		queued.Add(-1)
		return t
	}
	start := time.Now()
	for i := 1; ; i++ {
		if queued.Load() > 0 {
			select {
			case t := <-poolCh:
				queued.Add(-1)
				return t
			default:
			}
		}
		if i%64 == 0 {
			if time.Since(start) > spinWait {
				break
			}
			osYield()
		}
	}
	t := <-poolCh
	queued.Add(-1)
	return t
}

// reserve claims up to k idle workers and returns how many it got.
func reserve(k int32) int32 {
	for {
		v := idle.Load()
		n := min(v, k)
		if n <= 0 {
			return 0
		}
		if idle.CompareAndSwap(v, v-n) {
			return n
		}
	}
}

// Workers is the number of goroutines (including the caller) that Parallel
// spreads work over.
func Workers() int {
	poolOnce.Do(startPool)
	return nWorkers
}

// jobFree is a free list of parJobs: a channel rather than a sync.Pool,
// which every GC empties (a plan's Run must not allocate).
var jobFree = make(chan *parJob, 64)

// chunksPerWorker is how many chunks per worker Parallel cuts a range
// into, where the grain allows.
const chunksPerWorker = 4

// Parallel calls fn on disjoint sub-ranges covering [0,n), using the worker
// pool. grain is the smallest range worth a call; the range is cut into at
// most chunksPerWorker chunks per worker, which the caller and the idle
// workers it could reserve take, each its own part first (fn may be called
// several times on one goroutine, never twice on one index). What finds no idle worker runs
// on the caller, so fn may itself call Parallel (its loops then run inline
// while the pool is busy).
func Parallel(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	w := Workers()
	if grain < 1 {
		grain = 1
	}
	chunks := min(n/grain, chunksPerWorker*w)
	if chunks <= 1 {
		fn(0, n)
		return
	}
	helpers := reserve(int32(min(chunks, w) - 1))
	if helpers == 0 {
		fn(0, n)
		return
	}
	var j *parJob
	select {
	case j = <-jobFree:
	default:
		j = &parJob{next: make([]partCursor, w)}
	}
	j.fn, j.n, j.chunks, j.parts = fn, n, chunks, min(chunks, w)
	for q := range j.parts {
		j.next[q].taken.Store(0)
	}
	j.left.Store(helpers)
	j.wg.Add(int(helpers))
	for i := int32(0); i < helpers; i++ {
		queued.Add(1)
		poolCh <- j
	}
	j.run(0)
	start := time.Now()
	for i := 1; j.left.Load() > 0 && spinning(); i++ {
		if i%64 == 0 {
			if time.Since(start) > spinWait {
				break
			}
			osYield()
		}
	}
	j.wg.Wait()
	j.fn = nil
	select {
	case jobFree <- j:
	default:
	}
}
