package main

import "github.com/spf13/cobra"

// subcommands are the re-exec entry points and tools that share the berthd
// binary (the shim, the OCI runtime command line, the container init
// stage). They are hidden from `berthd --help` where they are internal.
func subcommands() []*cobra.Command {
	return []*cobra.Command{runtimeCommand(), shimCommand()}
}
