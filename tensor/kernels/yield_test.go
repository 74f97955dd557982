package kernels

import (
	"runtime"
	"testing"
)

func TestLoadAverage(t *testing.T) {
	v, ok := loadAverage()
	if runtime.GOOS == "linux" && (!ok || v < 0 || v > 1e4) {
		t.Fatalf("loadAverage() = %v, %v", v, ok)
	}
	if raceEnabled {
		return // the race detector's instrumentation allocates
	}
	if n := testing.AllocsPerRun(5, func() { loadAverage() }); n != 0 {
		t.Errorf("loadAverage allocates %v times", n)
	}
}
