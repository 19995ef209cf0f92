package daemon

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"

	ctr "github.com/berthd/berth/container"
	"github.com/berthd/berth/container/logs"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/daemon/logger"
	"github.com/berthd/berth/daemon/logger/drivers"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/jsonlog"
	"github.com/berthd/berth/pkg/stdstream"
	"github.com/berthd/berth/pkg/timestamp"
)

// rfc3339NanoFixed is the timestamp `docker logs -t` prints: fixed width,
// so columns line up.
const rfc3339NanoFixed = "2006-01-02T15:04:05.000000000Z07:00"

// ContainerLogs answers GET /containers/{id}/logs. begin is called once the
// request is known to be valid, with whether the container has a TTY (raw
// output) or not (multiplexed frames); it returns where to write.
func (d *Daemon) ContainerLogs(ctx context.Context, ref string, o backend.ContainerLogsOptions, begin func(tty bool) io.Writer) error {
	if !o.ShowStdout && !o.ShowStderr {
		return errdefs.InvalidParameterf("Bad parameters: you must choose at least one stream")
	}
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	driver := c.HostConfig.LogConfig.Type
	path := c.LogPath
	tty := c.Config.Tty
	running := c.State.Running
	var stopped chan struct{}
	if o.Follow && running {
		stopped = make(chan struct{})
		wait := c.State.Wait(ctx, container.WaitConditionNotRunning)
		go func() {
			<-wait
			close(stopped)
		}()
	}
	info := containerLogInfo(c)
	c.Unlock()
	// A remote or plugin driver's logs are read from the local cache (dual
	// logging), unless cache-disabled turned it off.
	if driver == "none" || !drivers.Shim[driver] && logger.CacheDisabled(info.Config) {
		return errdefs.NotImplemented(errors.New("configured logging driver does not support reading"))
	}
	// The attributes --details shows are the container's, the same on
	// every line: they are worked out here rather than stored per line.
	var details map[string]string
	if o.Details {
		if details, err = info.DetailAttrs(); err != nil {
			return errdefs.InvalidParameter(err)
		}
	}

	ro := logs.Options{Tail: -1, Follow: o.Follow && running, Stopped: stopped, NeedTime: o.Timestamps}
	if o.Tail != "" && o.Tail != "all" {
		n, err := strconv.Atoi(o.Tail)
		if err == nil && n >= 0 {
			ro.Tail = n
		}
	}
	if o.Since != "" {
		sec, nsec, err := timestamp.Parse(o.Since, 0)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		if sec != 0 || nsec != 0 {
			ro.Since = time.Unix(sec, nsec)
		}
	}
	if o.Until != "" {
		sec, nsec, err := timestamp.Parse(o.Until, 0)
		if err != nil {
			return errdefs.InvalidParameter(err)
		}
		if sec != 0 || nsec != 0 {
			ro.Until = time.Unix(sec, nsec)
		}
	}

	w := begin(tty)
	out := bufio.NewWriterSize(w, 64<<10)
	// Consecutive lines of one stream travel in one frame: the docker CLI
	// writes each frame's payload with its own syscall, so a frame per
	// line would make it, not the daemon, the bottleneck.
	const maxBatch = 32 << 10
	var frame, batch []byte
	batchStream := stdstream.Stdout
	emit := func() {
		if len(batch) == 0 {
			return
		}
		if tty {
			out.Write(batch)
		} else {
			frame = stdstream.AppendFrame(frame[:0], batchStream, batch)
			out.Write(frame)
		}
		batch = batch[:0]
	}
	flush := func() {
		emit()
		out.Flush()
		if f, ok := w.(interface{ Flush() }); ok {
			f.Flush()
		}
	}
	defer flush()
	ro.Idle = flush
	if path == "" {
		return nil // never started: no log yet
	}
	return logs.Read(ctx, path, ro, func(e *jsonlog.Entry) error {
		isErr := e.Stream == "stderr"
		if (isErr && !o.ShowStderr) || (!isErr && !o.ShowStdout) {
			return nil
		}
		stream := stdstream.Stdout
		if isErr {
			stream = stdstream.Stderr
		}
		if stream != batchStream || len(batch) >= maxBatch {
			emit()
			batchStream = stream
		}
		if o.Details {
			batch = appendDetails(batch, details, e.Attrs)
		}
		if o.Timestamps {
			batch = e.Time.UTC().AppendFormat(batch, rfc3339NanoFixed)
			batch = append(batch, ' ')
		}
		batch = append(batch, e.Log...)
		return nil
	})
}

// appendDetails writes the line's attributes — the container's, and
// any stored with the entry — as dockerd's --details prefix: sorted,
// query-escaped "k=v,k2=v2", then a space (also when there are none).
func appendDetails(dst []byte, container, entry map[string]string) []byte {
	attrs := make(map[string]string, len(container)+len(entry))
	for k, v := range container {
		attrs[k] = v
	}
	for k, v := range entry {
		attrs[k] = v
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(append(dst, url.QueryEscape(k)...), '='), url.QueryEscape(attrs[k])...)
	}
	return append(dst, ' ')
}

// logPathFor is where a container's json-file log lives, as in dockerd.
func logPathFor(c *ctr.Container) string {
	return c.Root() + "/" + c.ID + "-json.log"
}
