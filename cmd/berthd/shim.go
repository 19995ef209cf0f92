package main

import (
	"github.com/spf13/cobra"

	"github.com/berthd/berth/pkg/shim"
)

// shimCommand is the per-container monitor the daemon starts through
// shim.Launch with the arguments ["shim", DIR].
func shimCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "shim DIR",
		Short:  "Per-container monitor (internal; started by the daemon)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return shim.Main(args[0])
		},
	}
}
