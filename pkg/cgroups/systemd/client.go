package systemd

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// jobTimeout bounds the wait for a start or stop job: systemd runs a
// scope's jobs at once, unless it is busy with a long transaction.
const jobTimeout = 30 * time.Second

// Client is the daemon's connection to systemd's manager. It dials on
// first use, through the system bus (DBUS_SYSTEM_BUS_ADDRESS, else
// /run/dbus/system_bus_socket), falling back to systemd's private socket
// as go-systemd does for root, and dials again when a call finds it
// closed (systemd restarted or re-executed).
type Client struct {
	mu   sync.Mutex
	conn *sddbus.Conn
	root string
	dial func(context.Context) (*sddbus.Conn, error)
}

// NewClient returns a Client that has not dialled yet.
func NewClient() *Client { return &Client{dial: sddbus.NewWithContext} }

func (c *Client) connection(ctx context.Context) (*sddbus.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil && c.conn.Connected() {
		return c.conn, nil
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	conn, err := c.dial(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to systemd: %w", err)
	}
	c.conn = conn
	return conn, nil
}

// drop forgets conn if it is still the current one.
func (c *Client) drop(conn *sddbus.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == conn {
		conn.Close()
		c.conn = nil
	}
}

// do runs op, and once more on a fresh connection when the first one
// turns out closed.
func (c *Client) do(ctx context.Context, op func(*sddbus.Conn) error) error {
	for attempt := 0; ; attempt++ {
		conn, err := c.connection(ctx)
		if err != nil {
			return err
		}
		err = op(conn)
		if err == nil || attempt == 1 || !isDisconnect(err) {
			return err
		}
		c.drop(conn)
	}
}

func isDisconnect(err error) bool {
	var de godbus.Error
	if errors.As(err, &de) && de.Name == "org.freedesktop.DBus.Error.Disconnected" {
		return true
	}
	return errors.Is(err, godbus.ErrClosed) || strings.Contains(err.Error(), "connection closed")
}

func isDBusError(err error, name string) bool {
	var de godbus.Error
	return errors.As(err, &de) && de.Name == name
}

// Close ends the connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// Root is the cgroup systemd's tree starts at: "/" on a host, the
// manager's own cgroup where systemd runs in a container. A slice's
// cgroup is Root joined with ExpandSlice.
func (c *Client) Root(ctx context.Context) (string, error) {
	c.mu.Lock()
	root := c.root
	c.mu.Unlock()
	if root != "" {
		return root, nil
	}
	err := c.do(ctx, func(conn *sddbus.Conn) error {
		p, err := conn.GetUnitTypePropertyContext(ctx, "-.slice", "Slice", "ControlGroup")
		if err != nil {
			return err
		}
		s, ok := p.Value.Value().(string)
		if !ok || !strings.HasPrefix(s, "/") {
			return fmt.Errorf("systemd: root slice's ControlGroup is %v", p.Value)
		}
		root = s
		return nil
	})
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.root = root
	c.mu.Unlock()
	return root, nil
}

// StartScope asks systemd for the transient scope unit name with props
// (ScopeProperties: its process, slice and limits) and returns once the
// start job is queued; wait returns once systemd has run it: the process
// is in the scope and systemd has written the unit's cgroup attributes.
// The caller does other work in between. A unit of that name left by an
// earlier process (failed, or still stopping) is reset and the start
// asked again.
func (c *Client) StartScope(ctx context.Context, name string, props []sddbus.Property) (wait func() error, err error) {
	done, err := c.startScope(ctx, name, props)
	if err != nil && isDBusError(err, "org.freedesktop.systemd1.UnitExists") {
		c.StopUnit(ctx, name)
		done, err = c.startScope(ctx, name, props)
	}
	if err != nil {
		return nil, fmt.Errorf("starting systemd unit %s: %w", name, err)
	}
	return func() error { return waitJob(ctx, name, "start", done) }, nil
}

func (c *Client) startScope(ctx context.Context, name string, props []sddbus.Property) (<-chan string, error) {
	done := make(chan string, 1)
	err := c.do(ctx, func(conn *sddbus.Conn) error {
		_, err := conn.StartTransientUnitContext(ctx, name, "replace", props, done)
		return err
	})
	return done, err
}

func waitJob(ctx context.Context, name, what string, done <-chan string) error {
	t := time.NewTimer(jobTimeout)
	defer t.Stop()
	select {
	case res := <-done:
		if res != "done" {
			return fmt.Errorf("systemd: %s of unit %s: job %s", what, name, res)
		}
		return nil
	case <-t.C:
		return fmt.Errorf("systemd: %s of unit %s: no answer in %s", what, name, jobTimeout)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SetProperties changes a running unit's properties (runtime only: a
// transient unit has nothing on disk to outlive it).
func (c *Client) SetProperties(ctx context.Context, name string, props []sddbus.Property) error {
	if len(props) == 0 {
		return nil
	}
	err := c.do(ctx, func(conn *sddbus.Conn) error {
		return conn.SetUnitPropertiesContext(ctx, name, true, props...)
	})
	if err != nil {
		return fmt.Errorf("setting properties of systemd unit %s: %w", name, err)
	}
	return nil
}

// StopUnit stops name and forgets its failure, if any; a unit systemd
// does not know (gone with its last process) is already stopped.
func (c *Client) StopUnit(ctx context.Context, name string) error {
	done := make(chan string, 1)
	err := c.do(ctx, func(conn *sddbus.Conn) error {
		_, err := conn.StopUnitContext(ctx, name, "replace", done)
		return err
	})
	if isDBusError(err, "org.freedesktop.systemd1.NoSuchUnit") {
		// Gone with its last process (the usual case at a container's
		// exit): nothing to stop, nor a failure to reset.
		return nil
	}
	if err == nil {
		err = waitJob(ctx, name, "stop", done)
	}
	// A scope whose processes were killed ends "failed" and keeps its
	// name until reset.
	_ = c.do(ctx, func(conn *sddbus.Conn) error { return conn.ResetFailedUnitContext(ctx, name) })
	if err != nil {
		return fmt.Errorf("stopping systemd unit %s: %w", name, err)
	}
	return nil
}

// KillUnit SIGKILLs every process of name: a scope's stop otherwise
// sends SIGTERM, which a container's PID 1 ignores, and waits the stop
// timeout out (90 s by default).
func (c *Client) KillUnit(ctx context.Context, name string) error {
	return c.do(ctx, func(conn *sddbus.Conn) error {
		return conn.KillUnitWithTarget(ctx, name, sddbus.All, int32(syscall.SIGKILL))
	})
}

// Unit is a loaded unit as ListUnits shows it.
type Unit struct {
	Name, Description, ActiveState string
}

// Units lists the loaded units whose names match pattern (a shell glob,
// "docker-*.scope").
func (c *Client) Units(ctx context.Context, pattern string) ([]Unit, error) {
	var units []sddbus.UnitStatus
	err := c.do(ctx, func(conn *sddbus.Conn) error {
		var err error
		units, err = conn.ListUnitsByPatternsContext(ctx, nil, []string{pattern})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Unit, 0, len(units))
	for _, u := range units {
		out = append(out, Unit{Name: u.Name, Description: u.Description, ActiveState: u.ActiveState})
	}
	return out, nil
}
