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
// so the two can be compared on the same bundle: one constructor per
// subcommand, sharing only the --root flag.
func runtimeCommand() *cobra.Command {
	root := &runtimeRoot{}
	cmd := &cobra.Command{
		Use:   "runtime",
		Short: "OCI runtime command line (create, start, state, kill, delete, run, exec, …), like runc",
	}
	cmd.PersistentFlags().StringVar(&root.dir, "root", runtime.DefaultRoot, "directory for container state")
	cmd.AddCommand(
		runtimeCreateCommand(root), runtimeRunCommand(root), runtimeStartCommand(root),
		runtimeStateCommand(root), runtimeKillCommand(root), runtimeDeleteCommand(root),
		runtimePauseCommand(root), runtimeResumeCommand(root), runtimeListCommand(root),
		runtimeExecCommand(root),
	)
	return cmd
}

// runtimeRoot is the state directory that --root names, read when a
// subcommand runs (after the flags are parsed).
type runtimeRoot struct{ dir string }

func (r *runtimeRoot) runtime() *runtime.Runtime { return runtime.New(r.dir) }

func (r *runtimeRoot) load(id string) (*runtime.Container, error) { return r.runtime().Load(id) }

// createOptions are the flags that create and run share.
type createOptions struct {
	bundle, consoleSocket, pidFile string
	noPivot                        bool
}

func (o *createOptions) addFlags(c *cobra.Command) {
	c.Flags().StringVarP(&o.bundle, "bundle", "b", ".", "path to the bundle directory")
	c.Flags().StringVar(&o.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	c.Flags().StringVar(&o.pidFile, "pid-file", "", "file to write the container's pid to")
	c.Flags().BoolVar(&o.noPivot, "no-pivot", false, "use MS_MOVE instead of pivot_root (rootfs on ramfs)")
}

// create creates the container id from the bundle, leaving it waiting
// for start.
func (o *createOptions) create(r *runtimeRoot, id string) (*runtime.Container, error) {
	opts := runtime.CreateOpts{ID: id, Bundle: o.bundle, NoPivot: o.noPivot, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if o.consoleSocket != "" {
		f, err := dialConsoleSocket(o.consoleSocket)
		if err != nil {
			return nil, fmt.Errorf("console socket: %w", err)
		}
		defer f.Close()
		opts.ConsoleSocket = f
	}
	c, err := r.runtime().Create(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(c.Pid())), 0o644); err != nil {
			_ = c.Delete(true)
			return nil, err
		}
	}
	return c, nil
}

// dialConsoleSocket connects to the --console-socket listener and returns
// the connection as a file, which the runtime sends the pty master over.
func dialConsoleSocket(path string) (*os.File, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	// File is a duplicate: the connection itself is not needed after.
	defer conn.Close()
	return conn.(*net.UnixConn).File()
}

func runtimeCreateCommand(r *runtimeRoot) *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use: "create [flags] ID", Short: "Create a container and leave it waiting for start", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := o.create(r, args[0])
			return err
		},
	}
	o.addFlags(cmd)
	return cmd
}

func runtimeRunCommand(r *runtimeRoot) *cobra.Command {
	var o createOptions
	var detach bool
	cmd := &cobra.Command{
		Use: "run [flags] ID", Short: "Create and start a container, and wait for it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.create(r, args[0])
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
	o.addFlags(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "do not wait for the container")
	return cmd
}

// runtimeIDCommand is a subcommand that loads the container its one
// argument names and runs fn on it.
func runtimeIDCommand(r *runtimeRoot, use, short string, fn func(*runtime.Container) error) *cobra.Command {
	return &cobra.Command{
		Use: use, Short: short, Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.load(args[0])
			if err != nil {
				return err
			}
			return fn(c)
		},
	}
}

func runtimeStartCommand(r *runtimeRoot) *cobra.Command {
	return runtimeIDCommand(r, "start ID", "Start a created container", (*runtime.Container).Start)
}

func runtimeStateCommand(r *runtimeRoot) *cobra.Command {
	return runtimeIDCommand(r, "state ID", "Print the container's OCI state", func(c *runtime.Container) error {
		return printJSON(c.State())
	})
}

func runtimePauseCommand(r *runtimeRoot) *cobra.Command {
	return runtimeIDCommand(r, "pause ID", "Freeze every process of the container", (*runtime.Container).Pause)
}

func runtimeResumeCommand(r *runtimeRoot) *cobra.Command {
	return runtimeIDCommand(r, "resume ID", "Thaw a paused container", (*runtime.Container).Resume)
}

func runtimeKillCommand(r *runtimeRoot) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use: "kill [--all] ID [SIGNAL]", Short: "Send a signal (default SIGTERM) to the container", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.load(args[0])
			if err != nil {
				return err
			}
			sig := unix.SIGTERM
			if len(args) == 2 {
				if sig, err = bsignal.Parse(args[1]); err != nil {
					return err
				}
			}
			return c.Signal(sig, all)
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "signal every process in the container")
	return cmd
}

func runtimeDeleteCommand(r *runtimeRoot) *cobra.Command {
	var force bool
	cmd := runtimeIDCommand(r, "delete [--force] ID", "Remove a stopped container's state and cgroup", func(c *runtime.Container) error {
		return c.Delete(force)
	})
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill a running container first")
	return cmd
}

func runtimeListCommand(r *runtimeRoot) *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List containers", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := r.runtime().List()
			if err != nil {
				return err
			}
			fmt.Printf("%-24s %-8s %-10s %s\n", "ID", "PID", "STATUS", "BUNDLE")
			for _, id := range ids {
				c, err := r.load(id)
				if err != nil {
					continue
				}
				st := c.State()
				fmt.Printf("%-24s %-8d %-10s %s\n", id, st.Pid, st.Status, st.Bundle)
			}
			return nil
		},
	}
}

// execOptions are runtime exec's flags.
type execOptions struct {
	tty, detach                                    bool
	consoleSocket, cwd, user, processFile, pidFile string
	env                                            []string
}

func runtimeExecCommand(r *runtimeRoot) *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use: "exec [flags] ID [COMMAND ARGS...]", Short: "Run a process in a running container", Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := r.load(args[0])
			if err != nil {
				return err
			}
			return o.exec(c, args[1:])
		},
	}
	cmd.Flags().BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-TTY")
	cmd.Flags().StringVar(&o.consoleSocket, "console-socket", "", "unix socket that receives the pty master")
	cmd.Flags().StringVar(&o.cwd, "cwd", "", "working directory in the container")
	cmd.Flags().StringVarP(&o.user, "user", "u", "", "UID[:GID] to run as")
	cmd.Flags().StringArrayVarP(&o.env, "env", "e", nil, "extra environment variable")
	cmd.Flags().StringVarP(&o.processFile, "process", "p", "", "process.json to run instead of the arguments")
	cmd.Flags().StringVar(&o.pidFile, "pid-file", "", "file to write the process's pid to")
	cmd.Flags().BoolVarP(&o.detach, "detach", "d", false, "do not wait for the process")
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// process is the process to exec: --process's file, or the container's
// own process with the command line and flags applied.
func (o *execOptions) process(c *runtime.Container, argv []string) (specs.Process, error) {
	if o.processFile != "" {
		b, err := os.ReadFile(o.processFile)
		if err != nil {
			return specs.Process{}, err
		}
		var p specs.Process
		if err := json.Unmarshal(b, &p); err != nil {
			return specs.Process{}, fmt.Errorf("%s: %w", o.processFile, err)
		}
		return p, nil
	}
	if len(argv) == 0 {
		return specs.Process{}, errors.New("exec: no command")
	}
	p := *c.Spec().Process
	p.Args = argv
	p.Terminal = o.tty
	p.Env = append(append([]string(nil), p.Env...), o.env...)
	if o.cwd != "" {
		p.Cwd = o.cwd
	}
	if o.user != "" {
		var uid, gid uint32
		if _, err := fmt.Sscanf(o.user, "%d:%d", &uid, &gid); err != nil {
			if _, err := fmt.Sscanf(o.user, "%d", &uid); err != nil {
				return specs.Process{}, fmt.Errorf("--user wants UID[:GID], got %q", o.user)
			}
		}
		p.User = specs.User{UID: uid, GID: gid}
	}
	return p, nil
}

func (o *execOptions) exec(c *runtime.Container, argv []string) error {
	p, err := o.process(c, argv)
	if err != nil {
		return err
	}
	opts := runtime.ExecOpts{Process: p, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if p.Terminal {
		if o.consoleSocket == "" {
			return errors.New("exec --tty needs --console-socket")
		}
		f, err := dialConsoleSocket(o.consoleSocket)
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
	if o.pidFile != "" {
		if err := os.WriteFile(o.pidFile, []byte(strconv.Itoa(proc.Pid)), 0o644); err != nil {
			return err
		}
	}
	if o.detach {
		return nil
	}
	st, err := proc.Wait()
	if err != nil {
		return err
	}
	os.Exit(exitCode(st))
	return nil
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
