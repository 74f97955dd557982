// Command convnet builds, inspects, trains and runs convolutional neural
// networks: one binary, one subcommand per job (models, summary, ...).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// commands holds a constructor per subcommand, appended by each file's init
// (adding a subcommand touches one file); a fresh tree per newRoot keeps
// in-process test runs from sharing flag values.
var commands []func() *cobra.Command

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "convnet",
		Short:         "Build, inspect, train and run CNNs (torchvision-compatible)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	for _, c := range commands {
		root.AddCommand(c())
	}
	return root
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "convnet:", err)
		os.Exit(1)
	}
}
