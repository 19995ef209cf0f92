package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/berthd/berth/daemon"
	"github.com/berthd/berth/daemon/config"
)

func init() {
	// The main thread is the process as /proc/self shows it. A goroutine
	// that locks a thread and unshares its mount namespace or changes its
	// root (a pkg/containerfs view) must never run there: when such a
	// goroutine ends, the runtime parks the main thread instead of ending
	// it, and /proc/self/mountinfo (cgroup discovery), /proc/self/root
	// and the rest would show the view's namespace from then on. Locked
	// to the main goroutine, which lives as long as the process, the main
	// thread is out of their reach.
	runtime.LockOSThread()
}

func main() {
	if err := newCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func newCommand() *cobra.Command {
	cfg := config.Default()
	opts := &options{}
	cmd := &cobra.Command{
		Use:           "berthd [OPTIONS]",
		Short:         "A container engine daemon that serves the Docker Engine API",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.version {
				fmt.Printf("berth version %s, build %s\n", daemon.Version, daemon.GitCommit)
				return nil
			}
			return run(cmd.Flags(), cfg, opts)
		},
	}
	cmd.AddCommand(subcommands()...)
	cmd.Flags().SortFlags = false
	installFlags(cmd.Flags(), cfg, opts)
	installDockerdOnlyFlags(cmd.Flags(), cfg)
	opts.refused = installRefusedFlags(cmd.Flags())
	return cmd
}
