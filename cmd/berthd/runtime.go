package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthd/berth/pkg/runtime"
	bsignal "github.com/berthd/berth/pkg/signal"
)

// runtimeCommand is berth's OCI runtime command line, shaped like runc's
// so the two can be compared on the same bundle.
func runtimeCommand() *cobra.Command {
	var root string
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "OCI runtime command line (create, start, state, kill, delete, run, exec, …), like runc",
	}
	cmd.PersistentFlags().StringVar(&root, "root", runtime.DefaultRoot, "directory for container state")
	rt := func() *runtime.Runtime { return runtime.New(root) }
	load := func(id string) (*runtime.Container, error) { return rt().Load(id) }

	var bundle, consoleSocket, pidFile string
	var noPivot, detach bool
	createFlags := func(c *cobra.Command) {
		c.Flags().StringVarP(&bundle, "bundle", "b", ".", "path to the bundle directory")
		c.Flags().StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master")
		c.Flags().StringVar(&pidFile, "pid-file", "", "file to write the container's pid to")
		c.Flags().BoolVar(&noPivot, "no-pivot", false, "use MS_MOVE instead of pivot_root (rootfs on ramfs)")
	}
	create := func(id string) (*runtime.Container, error) {
		opts := runtime.CreateOpts{ID: id, Bundle: bundle, NoPivot: noPivot, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
		if consoleSocket != "" {
			conn, err := net.Dial("unix", consoleSocket)
			if err != nil {
				return nil, fmt.Errorf("console socket: %w", err)
			}
			defer conn.Close()
			f, err := conn.(*net.UnixConn).File()
			if err != nil {
				return nil, err
			}
			defer f.Close()
			opts.ConsoleSocket = f
		}
		c, err := rt().Create(context.Background(), opts)
		if err != nil {
			return nil, err
		}
		if pidFile != "" {
			if err := os.WriteFile(pidFile, []byte(strconv.Itoa(c.Pid())), 0o644); err != nil {
				_ = c.Delete(true)
				return nil, err
			}
		}
		return c, nil
	}

	createCmd := &cobra.Command{
		Use: "create [flags] ID", Short: "Create a container and leave it waiting for start", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := create(args[0])
			return err
		},
	}
	createFlags(createCmd)

	runCmd := &cobra.Command{
		Use: "run [flags] ID", Short: "Create and start a container, and wait for it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := create(args[0])
			if err != nil {
				return err
			}
			if err := c.Start(); err != nil {
				_ = c.Delete(true)
				return err
			}
			if detach {
				return nil
			}
			// Forward the usual signals to the container, as runc run does.
			sigs := make(chan os.Signal, 8)
			signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2)
			go func() {
				for s := range sigs {
					_ = c.Signal(s.(syscall.Signal), false)
				}
			}()
			st, werr := c.Init.Wait()
			_ = c.Delete(true)
			if werr != nil {
				return werr
			}
			os.Exit(exitCode(st))
			return nil
		},
	}
	createFlags(runCmd)
	runCmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the container")

	startCmd := &cobra.Command{
		Use: "start ID", Short: "Start a created container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			return c.Start()
		},
	}

	stateCmd := &cobra.Command{
		Use: "state ID", Short: "Print the container's OCI state", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			return printJSON(c.State())
		},
	}

	var killAll bool
	killCmd := &cobra.Command{
		Use: "kill [--all] ID [SIGNAL]", Short: "Send a signal (default SIGTERM) to the container", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			sig := unix.SIGTERM
			if len(args) == 2 {
				if sig, err = bsignal.Parse(args[1]); err != nil {
					return err
				}
			}
			return c.Signal(sig, killAll)
		},
	}
	killCmd.Flags().BoolVarP(&killAll, "all", "a", false, "signal every process in the container")

	var force bool
	deleteCmd := &cobra.Command{
		Use: "delete [--force] ID", Short: "Remove a stopped container's state and cgroup", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			return c.Delete(force)
		},
	}
	deleteCmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")

	pauseCmd := &cobra.Command{
		Use: "pause ID", Short: "Freeze every process of the container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			return c.Pause()
		},
	}
	resumeCmd := &cobra.Command{
		Use: "resume ID", Short: "Thaw a paused container", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			return c.Resume()
		},
	}

	listCmd := &cobra.Command{
		Use: "list", Short: "List containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := rt().List()
			if err != nil {
				return err
			}
			fmt.Printf("%-24s %-8s %-10s %s\n", "ID", "PID", "STATUS", "BUNDLE")
			for _, id := range ids {
				c, err := load(id)
				if err != nil {
					continue
				}
				st := c.State()
				fmt.Printf("%-24s %-8d %-10s %s\n", id, st.Pid, st.Status, st.Bundle)
			}
			return nil
		},
	}

	var tty bool
	var cwd, user, processFile string
	var env []string
	execCmd := &cobra.Command{
		Use: "exec [flags] ID [COMMAND ARGS...]", Short: "Run a process in a running container", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := load(args[0])
			if err != nil {
				return err
			}
			p := *c.Spec().Process
			if processFile != "" {
				b, err := os.ReadFile(processFile)
				if err != nil {
					return err
				}
				p = specs.Process{}
				if err := json.Unmarshal(b, &p); err != nil {
					return fmt.Errorf("%s: %w", processFile, err)
				}
			} else {
				if len(args) < 2 {
					return errors.New("exec: no command")
				}
				p.Args = args[1:]
				p.Terminal = tty
				p.Env = append(append([]string(nil), p.Env...), env...)
				if cwd != "" {
					p.Cwd = cwd
				}
				if user != "" {
					var uid, gid uint32
					if _, err := fmt.Sscanf(user, "%d:%d", &uid, &gid); err != nil {
						if _, err := fmt.Sscanf(user, "%d", &uid); err != nil {
							return fmt.Errorf("--user wants UID[:GID], got %q", user)
						}
					}
					p.User = specs.User{UID: uid, GID: gid}
				}
			}
			opts := runtime.ExecOpts{Process: p, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
			if p.Terminal {
				if consoleSocket == "" {
					return errors.New("exec --tty needs --console-socket")
				}
				conn, err := net.Dial("unix", consoleSocket)
				if err != nil {
					return err
				}
				defer conn.Close()
				f, err := conn.(*net.UnixConn).File()
				if err != nil {
					return err
				}
				defer f.Close()
				opts.ConsoleSocket = f
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			proc, err := c.Exec(ctx, opts)
			if err != nil {
				return err
			}
			if pidFile != "" {
				if err := os.WriteFile(pidFile, []byte(strconv.Itoa(proc.Pid)), 0o644); err != nil {
					return err
				}
			}
			if detach {
				return nil
			}
			st, err := proc.Wait()
			if err != nil {
				return err
			}
			os.Exit(exitCode(st))
			return nil
		},
	}
	execCmd.Flags().BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	execCmd.Flags().StringVar(&consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	execCmd.Flags().StringVar(&cwd, "cwd", "", "working directory in the container")
	execCmd.Flags().StringVarP(&user, "user", "u", "", "UID[:GID] to run as")
	execCmd.Flags().StringArrayVarP(&env, "env", "e", nil, "extra environment variable")
	execCmd.Flags().StringVarP(&processFile, "process", "p", "", "process.json to run instead of the arguments")
	execCmd.Flags().StringVar(&pidFile, "pid-file", "", "file to write the process's pid to")
	execCmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the process")
	execCmd.Flags().SetInterspersed(false)

	cmd.AddCommand(createCmd, runCmd, startCmd, stateCmd, killCmd, deleteCmd, pauseCmd, resumeCmd, listCmd, execCmd)
	return cmd
}

func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
