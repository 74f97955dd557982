package infer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

func TestZZEpi(t *testing.T) {
	rows, hw := 64, 784 // an L2-resident tile
	src := make([]float32, rows*hw)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range src {
		src[i] = float32(rng.NormFloat64())
	}
	y := make([]float32, rows*hw)
	bias := make([]float32, rows)
	reps := 200
	run := func(name string, f func()) {
		d := cpuTime(5, func() {
			for r := 0; r < reps; r++ {
				copy(y, src)
				f()
			}
		})
		c := cpuTime(5, func() {
			for r := 0; r < reps; r++ {
				copy(y, src)
			}
		})
		fmt.Printf("%-8s %.3f ns/elem\n", name, (d-c)*1e6/float64(reps*rows*hw))
	}
	run("max", func() {
		for r := 0; r < rows; r++ {
			epilogueRow(y[r*hw:(r+1)*hw], bias[r], nil, 1)
		}
	})
	run("bits", func() {
		for r := 0; r < rows; r++ {
			row := y[r*hw : (r+1)*hw]
			bb := bias[r]
			for i, v := range row {
				u := math.Float32bits(v + bb)
				row[i] = math.Float32frombits(u &^ uint32(int32(u)>>31))
			}
		}
	})
	run("bits4", func() {
		for r := 0; r < rows; r++ {
			row := y[r*hw : (r+1)*hw]
			bb := bias[r]
			i := 0
			for ; i+4 <= len(row); i += 4 {
				q := row[i : i+4 : i+4]
				u0 := math.Float32bits(q[0] + bb)
				u1 := math.Float32bits(q[1] + bb)
				u2 := math.Float32bits(q[2] + bb)
				u3 := math.Float32bits(q[3] + bb)
				q[0] = math.Float32frombits(u0 &^ uint32(int32(u0)>>31))
				q[1] = math.Float32frombits(u1 &^ uint32(int32(u1)>>31))
				q[2] = math.Float32frombits(u2 &^ uint32(int32(u2)>>31))
				q[3] = math.Float32frombits(u3 &^ uint32(int32(u3)>>31))
			}
			for ; i < len(row); i++ {
				u := math.Float32bits(row[i] + bb)
				row[i] = math.Float32frombits(u &^ uint32(int32(u)>>31))
			}
		}
	})
	run("max4", func() {
		for r := 0; r < rows; r++ {
			row := y[r*hw : (r+1)*hw]
			bb := bias[r]
			i := 0
			for ; i+4 <= len(row); i += 4 {
				q := row[i : i+4 : i+4]
				q[0] = max(q[0]+bb, 0)
				q[1] = max(q[1]+bb, 0)
				q[2] = max(q[2]+bb, 0)
				q[3] = max(q[3]+bb, 0)
			}
			for ; i < len(row); i++ {
				row[i] = max(row[i]+bb, 0)
			}
		}
	})
	run("addonly", func() {
		for r := 0; r < rows; r++ {
			row := y[r*hw : (r+1)*hw]
			bb := bias[r]
			for i, v := range row {
				row[i] = v + bb
			}
		}
	})
}
