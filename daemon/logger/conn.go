package logger

import (
	"net"
	"sync"
	"time"
)

// Conn is a driver's connection to its receiver: whole messages are
// written to it, and a write that fails is tried again on a new
// connection, as the syslog, gelf and fluentd clients dockerd uses do.
type Conn struct {
	// Dial opens a connection to the receiver.
	Dial func() (net.Conn, error)
	// WriteTimeout, if set, bounds each write.
	WriteTimeout time.Duration

	mu     sync.Mutex
	conn   net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *Conn) init() { c.once.Do(func() { c.closed = make(chan struct{}) }) }

// Connect dials now, for a driver that fails a container's start when its
// receiver is away.
func (c *Conn) Connect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dialLocked()
}

func (c *Conn) dialLocked() error {
	if c.conn != nil {
		return nil
	}
	conn, err := c.Dial()
	if err != nil {
		return err
	}
	c.conn = conn
	return nil
}

// Write sends b, dialling when there is no connection. After a failure it
// drops the connection and tries again, up to retries more times, pausing
// pause(i) before attempt i (1, 2, …); Close cuts a pause short.
func (c *Conn) Write(b []byte, retries int, pause func(i int) time.Duration) error {
	c.init()
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for i := 0; ; i++ {
		select {
		case <-c.closed:
			return net.ErrClosed
		default:
		}
		if err = c.dialLocked(); err == nil {
			if c.WriteTimeout > 0 {
				c.conn.SetWriteDeadline(time.Now().Add(c.WriteTimeout))
			}
			if _, err = c.conn.Write(b); err == nil {
				return nil
			}
			c.conn.Close()
			c.conn = nil
		}
		if i >= retries {
			return err
		}
		if pause != nil {
			select {
			case <-c.closed:
				return err
			case <-time.After(pause(i + 1)):
			}
		}
	}
}

// Close ends any pause of a Write and closes the connection.
func (c *Conn) Close() error {
	c.init()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
