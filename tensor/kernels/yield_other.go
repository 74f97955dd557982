//go:build !linux

package kernels

import "runtime"

// osYield lets other goroutines run (without a portable thread yield,
// the OS scheduler is left to preempt the spinner).
func osYield() { runtime.Gosched() }

// loadAverage is unknown here: spin.
func loadAverage() (float64, bool) { return 0, false }
