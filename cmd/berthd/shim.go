package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// shimCommand names the per-container monitor in ps ("berthd shim"). The
// daemon starts shims through shim.Launch, and a shim runs from pkg/shim's
// initialisation with its container handed over on a pipe: it never gets
// here. By hand there is nothing to hand over.
func shimCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "shim",
		Short:  "Per-container monitor (internal; started by the daemon)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("the shim is started by berthd for a container, not by hand")
		},
	}
}
