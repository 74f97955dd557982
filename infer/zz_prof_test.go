package infer

import "testing"

func TestZZProf(t *testing.T) {
	s := mkConv(512, 512, 7, 3, algoGEMM)
	for i := 0; i < 300; i++ {
		s.run()
	}
}
