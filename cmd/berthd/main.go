package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/berthd/berth/daemon"
	"github.com/berthd/berth/daemon/config"
)

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
	return cmd
}
