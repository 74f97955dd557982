package data

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/convnet/convnet/tensor"
)

// LoaderOptions configure a Loader, like torch.utils.data.DataLoader's
// arguments.
type LoaderOptions struct {
	BatchSize int  // samples per batch; zero means 1
	Shuffle   bool // a new permutation each epoch
	DropLast  bool // leave out the last batch if it is short
	// Seed determines the shuffling and every sample's augmentation.
	Seed uint64
	// Transform is applied to every sample, with the sample's own
	// generator; it must leave a [C,H,W] tensor of one shape for all
	// samples (end it with ToTensor).
	Transform Transform
	// Workers is the number of goroutines preparing batches; zero means
	// min(4, GOMAXPROCS).
	Workers int
	// Prefetch is how many batches may be prepared ahead of the
	// consumer; zero means max(2, Workers).
	Prefetch int
}

// Batch is a batch of samples stacked into one tensor.
type Batch struct {
	X      *tensor.Tensor // [N,C,H,W]
	Labels []int          // N labels
	// Indices are the dataset indices of the samples, in order.
	Indices []int
	// Epoch and Index locate the batch: the Index'th batch of Epoch.
	Epoch, Index int
	// Skipped counts samples left out because the dataset skipped them
	// (ErrSkipped), so N may be below the batch size.
	Skipped int
}

// LoaderState is a Loader's position: the epoch and the index of the next
// batch in it. With the dataset size, batch size and seed it determines
// every batch that follows; Restore checks that those match.
type LoaderState struct {
	Epoch, Batch int
	Seed         uint64
	BatchSize    int
	Len          int // dataset size
	Shuffle      bool
	DropLast     bool
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("data: loader closed")

// Loader yields a dataset's samples in batches, prepared by a few
// goroutines ahead of the consumer. Its batches depend only on the
// dataset, the options and the position: sample i of epoch e is
// transformed with a generator seeded from (Seed, e, i), and the epoch's
// order is a permutation seeded from (Seed, e). So the number of workers,
// thread timing and stopping and resuming (State, Restore) change nothing.
//
// Next returns io.EOF at the end of each epoch; the following Next starts
// the next epoch. A Loader is used from one goroutine, except that Close may
// be called from any.
type Loader struct {
	ds   Dataset
	opts LoaderOptions
	n    int // batches per epoch

	epoch, batch int // position of the next batch

	run *run // the pipeline of the current epoch, or nil

	// mu orders starting goroutines (wg.Add) before closing, so that
	// Close's wg.Wait sees every goroutine ever started.
	mu      sync.Mutex
	closed  chan struct{}
	wg      sync.WaitGroup // every pipeline goroutine of every run
	skipped atomic.Int64
}

// run is one epoch's pipeline: a dispatcher hands batch jobs to workers
// and queues, in batch order, the slots their results will arrive in.
type run struct {
	stop  chan struct{}
	slots chan chan result
	wg    sync.WaitGroup
}

type result struct {
	b   *Batch
	err error
}

// NewLoader returns a loader over ds positioned at the start of epoch 0.
// No goroutine starts until the first Next.
func NewLoader(ds Dataset, opts LoaderOptions) (*Loader, error) {
	if opts.BatchSize == 0 {
		opts.BatchSize = 1
	}
	if opts.BatchSize < 0 || opts.Workers < 0 || opts.Prefetch < 0 {
		return nil, fmt.Errorf("data: invalid loader options: batch size %d, %d workers, prefetch %d", opts.BatchSize, opts.Workers, opts.Prefetch)
	}
	if opts.Workers == 0 {
		opts.Workers = min(4, runtime.GOMAXPROCS(0))
	}
	if opts.Prefetch == 0 {
		opts.Prefetch = max(2, opts.Workers)
	}
	l := &Loader{ds: ds, opts: opts, closed: make(chan struct{})}
	size := ds.Len()
	l.n = size / opts.BatchSize
	if !opts.DropLast && size%opts.BatchSize != 0 {
		l.n++
	}
	return l, nil
}

// Len returns the number of batches per epoch.
func (l *Loader) Len() int { return l.n }

// Skipped returns how many samples have been left out of batches because
// the dataset skipped them.
func (l *Loader) Skipped() int { return int(l.skipped.Load()) }

// State returns the loader's position: the next Next returns batch
// State().Batch of epoch State().Epoch (or io.EOF if the epoch is done).
func (l *Loader) State() LoaderState {
	return LoaderState{Epoch: l.epoch, Batch: l.batch, Seed: l.opts.Seed, BatchSize: l.opts.BatchSize,
		Len: l.ds.Len(), Shuffle: l.opts.Shuffle, DropLast: l.opts.DropLast}
}

// Restore moves the loader to a position returned by State, from this
// loader or another one over the same dataset with the same options;
// batches prepared for the old position are dropped.
func (l *Loader) Restore(s LoaderState) error {
	if s.Seed != l.opts.Seed || s.BatchSize != l.opts.BatchSize || s.Len != l.ds.Len() || s.Shuffle != l.opts.Shuffle || s.DropLast != l.opts.DropLast {
		return fmt.Errorf("data: loader state (seed %d, batch size %d, %d samples, shuffle %v, drop last %v) does not match this loader (seed %d, batch size %d, %d samples, shuffle %v, drop last %v)",
			s.Seed, s.BatchSize, s.Len, s.Shuffle, s.DropLast, l.opts.Seed, l.opts.BatchSize, l.ds.Len(), l.opts.Shuffle, l.opts.DropLast)
	}
	if s.Epoch < 0 || s.Batch < 0 || s.Batch > l.n {
		return fmt.Errorf("data: loader state epoch %d batch %d is outside an epoch of %d batches", s.Epoch, s.Batch, l.n)
	}
	l.stopRun()
	l.epoch, l.batch = s.Epoch, s.Batch
	return nil
}

// Close stops the loader's goroutines and waits for them to end. It may be
// called more than once and from any goroutine; a Next blocked at the time
// returns ErrClosed.
func (l *Loader) Close() error {
	l.mu.Lock()
	if !l.isClosed() {
		close(l.closed)
	}
	l.mu.Unlock()
	// The consumer may be inside Next, so the run is not touched here:
	// its goroutines watch closed too.
	l.wg.Wait()
	return nil
}

func (l *Loader) isClosed() bool {
	select {
	case <-l.closed:
		return true
	default:
		return false
	}
}

// Next returns the next batch, io.EOF at the end of an epoch, or the
// first error met preparing the batch (the position then stays at that
// batch).
func (l *Loader) Next() (*Batch, error) {
	if l.isClosed() {
		return nil, ErrClosed
	}
	if l.batch >= l.n {
		l.stopRun()
		l.epoch++
		l.batch = 0
		return nil, io.EOF
	}
	if l.run == nil && !l.startRun() {
		return nil, ErrClosed
	}
	var slot chan result
	select {
	case slot = <-l.run.slots:
	case <-l.closed:
		return nil, ErrClosed
	}
	var res result
	select {
	case res = <-slot:
	case <-l.closed:
		return nil, ErrClosed
	}
	if res.err != nil {
		l.stopRun()
		return nil, res.err
	}
	l.batch++
	return res.b, nil
}

// stopRun ends the current pipeline, if any, and waits for its goroutines.
func (l *Loader) stopRun() {
	if l.run == nil {
		return
	}
	close(l.run.stop)
	l.run.wg.Wait()
	l.run = nil
}

// startRun starts the pipeline for the rest of the current epoch; it
// returns false if the loader is closed.
func (l *Loader) startRun() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isClosed() {
		return false
	}
	r := &run{stop: make(chan struct{}), slots: make(chan chan result, l.opts.Prefetch)}
	l.run = r
	epoch, from := l.epoch, l.batch
	order := l.order(epoch)
	type job struct {
		index int
		slot  chan result
	}
	jobs := make(chan job)
	done := func() bool {
		select {
		case <-r.stop:
			return true
		case <-l.closed:
			return true
		default:
			return false
		}
	}
	r.wg.Add(1 + l.opts.Workers)
	l.wg.Add(1 + l.opts.Workers)
	go func() { // dispatcher
		defer l.wg.Done()
		defer r.wg.Done()
		defer close(jobs)
		for b := from; b < l.n; b++ {
			slot := make(chan result, 1)
			// Queue the slot first: the queue's capacity bounds how far
			// ahead of the consumer the workers may run.
			select {
			case r.slots <- slot:
			case <-r.stop:
				return
			case <-l.closed:
				return
			}
			select {
			case jobs <- job{b, slot}:
			case <-r.stop:
				return
			case <-l.closed:
				return
			}
		}
	}()
	for range l.opts.Workers {
		go func() {
			defer l.wg.Done()
			defer r.wg.Done()
			for j := range jobs {
				if done() {
					return
				}
				lo := j.index * l.opts.BatchSize
				hi := min(lo+l.opts.BatchSize, len(order))
				b, err := l.makeBatch(epoch, j.index, order[lo:hi], done)
				j.slot <- result{b, err} // buffered: never blocks
			}
		}()
	}
	return true
}

// order returns the epoch's sample order.
func (l *Loader) order(epoch int) []int {
	n := l.ds.Len()
	if !l.opts.Shuffle {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	rng := rand.New(rand.NewPCG(mix(l.opts.Seed, 0x53485546464c45), mix(uint64(epoch), l.opts.Seed)))
	return rng.Perm(n)
}

// SampleRNG returns the generator a Loader with this seed hands to the
// transform of dataset sample index in epoch: a PCG seeded from a hash of
// the three numbers.
func SampleRNG(seed uint64, epoch, index int) *rand.Rand {
	s := mix(seed, uint64(epoch))
	return rand.New(rand.NewPCG(s, mix(s, uint64(index))))
}

// mix hashes two words into one (splitmix64's finaliser over their
// combination), so that nearby seeds give unrelated streams.
func mix(a, b uint64) uint64 {
	z := a ^ (b+0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// makeBatch reads, transforms and stacks the samples of one batch.
func (l *Loader) makeBatch(epoch, index int, idx []int, done func() bool) (*Batch, error) {
	b := &Batch{Epoch: epoch, Index: index}
	var shape []int
	var xs [][]float32
	for _, i := range idx {
		if done() {
			return nil, ErrClosed
		}
		s, err := l.ds.Get(i)
		if err == nil && l.opts.Transform != nil {
			s, err = l.opts.Transform.Apply(s, SampleRNG(l.opts.Seed, epoch, i))
		}
		if err != nil {
			if errors.Is(err, ErrSkipped) {
				b.Skipped++
				l.skipped.Add(1)
				continue
			}
			return nil, fmt.Errorf("data: sample %d (epoch %d, batch %d): %w", i, epoch, index, err)
		}
		t := s.Tensor
		if t == nil {
			return nil, fmt.Errorf("data: sample %d is not a tensor: end the loader's transform with ToTensor", i)
		}
		if len(t.Shape) != 3 || len(t.Data) != tensor.Numel(t.Shape) {
			return nil, fmt.Errorf("data: sample %d has shape %v, not [C,H,W]", i, t.Shape)
		}
		if shape == nil {
			shape = t.Shape
		} else if !tensor.SameShape(shape, t.Shape) {
			return nil, fmt.Errorf("data: sample %d has shape %v, unlike the batch's %v: resize or crop to one size", i, t.Shape, shape)
		}
		xs = append(xs, t.Data)
		b.Labels = append(b.Labels, s.Label)
		b.Indices = append(b.Indices, i)
	}
	if shape == nil {
		b.X = tensor.New(0, 0, 0, 0)
		return b, nil
	}
	per := tensor.Numel(shape)
	b.X = tensor.New(append([]int{len(xs)}, shape...)...)
	for k, x := range xs {
		copy(b.X.Data[k*per:], x)
	}
	return b, nil
}
