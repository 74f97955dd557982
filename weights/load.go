package weights

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Load reads a state_dict from a PyTorch checkpoint (torch.save, zip or
// legacy) or a safetensors file, recognising the format by its first bytes
// and falling back to the file extension.
func Load(path string) (*StateDict, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("weights: %w", err)
	}
	var head [9]byte
	n, _ := io.ReadFull(f, head[:])
	f.Close()
	switch {
	case n >= 4 && string(head[:4]) == "PK\x03\x04", n >= 1 && head[0] == 0x80:
		// A zip archive (PyTorch >= 1.6) or a pickle PROTO opcode (legacy).
		return LoadPth(path)
	case n == 9 && head[8] == '{':
		// safetensors: an 8-byte header length, then the JSON header.
		return LoadSafetensors(path)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".safetensors":
		return LoadSafetensors(path)
	case ".pth", ".pt", ".bin", ".ckpt", ".tar":
		return LoadPth(path)
	}
	return nil, fmt.Errorf("weights: %s is neither a PyTorch checkpoint (torch.save) nor a safetensors file (first bytes % x)", path, head[:n])
}
