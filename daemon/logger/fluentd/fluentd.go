package fluentd

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

// Driver is the fluentd driver's entry in the daemon's table.
var Driver = logger.Driver{Validate: Validate, New: New}

// fluentd sends one container's events to one forward input.
type fluentd struct {
	cfg    config
	tag    string
	record map[string]string // the fields every event carries
	closed chan struct{}

	conn logger.Conn

	// async: events wait in queue (queued bytes in all) for sender.
	qmu     sync.Mutex
	queue   [][]byte
	queued  int
	wake    chan struct{}
	stopped chan struct{}
}

// New starts the driver; without fluentd-async it connects first, so
// that a container whose receiver is down does not start (dockerd's
// behaviour).
func New(info logger.Info) (logger.Logger, error) {
	cfg, err := parseConfig(info.Config)
	if err != nil {
		return nil, err
	}
	tag, err := logger.Tag(&info)
	if err != nil {
		return nil, err
	}
	extra, err := info.ExtraAttributes(nil)
	if err != nil {
		return nil, err
	}
	record := map[string]string{"container_id": info.ContainerID, "container_name": info.ContainerName}
	for k, v := range extra {
		record[k] = v
	}
	f := &fluentd{cfg: cfg, tag: tag, record: record, closed: make(chan struct{})}
	f.conn.Dial, f.conn.WriteTimeout = f.dial, cfg.writeTimeout
	if cfg.async {
		f.wake = make(chan struct{}, 1)
		f.stopped = make(chan struct{})
		go f.send()
		return f, nil
	}
	if err := f.conn.Connect(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fluentd) dial() (net.Conn, error) {
	const timeout = 3 * time.Second
	if f.cfg.network == "tls" {
		return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", f.cfg.addr, &tls.Config{MinVersion: tls.VersionTLS12})
	}
	return net.DialTimeout(f.cfg.network, f.cfg.addr, timeout)
}

// Log sends one event: at once, retrying as fluentd-max-retries and
// fluentd-retry-wait say, or — with fluentd-async — into the queue,
// refused when the queue holds fluentd-buffer-limit bytes already.
func (f *fluentd) Log(m *logger.Message) error {
	rec := make(map[string]string, len(f.record)+2)
	for k, v := range f.record {
		rec[k] = v
	}
	rec["source"] = m.Source
	rec["log"] = string(m.Line)
	if p := m.Partial; p != nil {
		rec["partial_message"] = "true"
		rec["partial_id"] = p.ID
		rec["partial_ordinal"] = strconv.Itoa(p.Ordinal)
		rec["partial_last"] = strconv.FormatBool(p.Last)
	}
	ev, err := encodeEvent(f.tag, m.Time, rec, f.cfg.subSecondPrecision)
	if err != nil {
		return err
	}
	if !f.cfg.async {
		return f.write(ev)
	}
	f.qmu.Lock()
	if f.queued+len(ev) > f.cfg.bufferLimit {
		f.qmu.Unlock()
		return fmt.Errorf("fluent#appendBuffer: Buffer full, limit %v", f.cfg.bufferLimit)
	}
	f.queue = append(f.queue, ev)
	f.queued += len(ev)
	f.qmu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
	return nil
}

// write sends ev, reconnecting and retrying with a pause that grows by
// half each time (from fluentd-retry-wait, at most a minute); it gives up
// after fluentd-max-retries retries or when the driver closes.
func (f *fluentd) write(ev []byte) error {
	err := f.conn.Write(ev, f.cfg.maxRetries, func(i int) time.Duration {
		wait := f.cfg.retryWait
		for ; i > 1 && wait < maxRetryWait; i-- {
			wait = wait * 3 / 2
		}
		return min(wait, maxRetryWait)
	})
	if err != nil {
		return fmt.Errorf("fluent#write: failed to send, max retry: %v: %w", f.cfg.maxRetries, err)
	}
	return nil
}

// send is the async sender: it writes the queue's events in order.
func (f *fluentd) send() {
	defer close(f.stopped)
	for {
		f.qmu.Lock()
		batch := f.queue
		f.queue = nil
		f.qmu.Unlock()
		for _, ev := range batch {
			err := f.write(ev)
			f.qmu.Lock()
			f.queued -= len(ev)
			f.qmu.Unlock()
			if err != nil {
				select {
				case <-f.closed:
					// Closing with the receiver away: what is left is
					// dropped, as dockerd's ForceStopAsyncSend does.
					f.qmu.Lock()
					f.queue, f.queued = nil, 0
					f.qmu.Unlock()
					return
				default:
				}
			}
		}
		select {
		case <-f.wake:
		case <-f.closed:
			f.qmu.Lock()
			empty := len(f.queue) == 0
			f.qmu.Unlock()
			if empty {
				return
			}
		}
	}
}

// Close flushes an async queue (dropping it if the receiver is away),
// then closes the connection.
func (f *fluentd) Close() error {
	select {
	case <-f.closed:
		return errors.New("fluentd: already closed")
	default:
	}
	if f.cfg.async {
		// Let the queue drain while the receiver takes it; give up after
		// a while, not forever.
		deadline := time.After(5 * time.Second)
	drain:
		for {
			f.qmu.Lock()
			n := len(f.queue) + f.queued
			f.qmu.Unlock()
			if n == 0 {
				break
			}
			select {
			case <-deadline:
				break drain
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	close(f.closed)
	// Closing the connection also ends a pause between retries.
	err := f.conn.Close()
	if f.cfg.async {
		<-f.stopped
	}
	return err
}
