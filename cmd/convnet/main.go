// Command convnet builds, inspects, trains and runs convolutional neural
// networks: one binary, one subcommand per job (models, summary, ...).
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// commands is filled by each subcommand's file in its init, so that adding
// a subcommand touches one file.
var commands []*cobra.Command

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "convnet",
		Short:         "Build, inspect, train and run CNNs (torchvision-compatible)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(commands...)
	return root
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "convnet:", err)
		os.Exit(1)
	}
}
