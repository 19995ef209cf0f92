package journald

import (
	"errors"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/berthd/berth/daemon/logger"
	"github.com/berthd/berth/pkg/stringid"
)

// Driver is the journald driver's entry in the daemon's table.
var Driver = logger.Driver{Validate: Validate, New: New}

// SocketPath is where journald listens: BERTH_JOURNAL_SOCKET, else the
// systemd default.
func SocketPath() string {
	if p := os.Getenv("BERTH_JOURNAL_SOCKET"); p != "" {
		return p
	}
	return "/run/systemd/journal/socket"
}

// Validate checks the journald driver's options: only the common ones.
func Validate(opts map[string]string) error {
	return logger.CheckKeys("journald", opts)
}

type journald struct {
	path   string
	fields map[string]string

	mu      sync.Mutex
	conn    *net.UnixConn
	ordinal uint64
}

// New opens a socket to the journal.
func New(info logger.Info) (logger.Logger, error) {
	path := SocketPath()
	if _, err := os.Stat(path); err != nil {
		return nil, errors.New("journald is not enabled on this host")
	}
	tag, err := logger.Tag(&info)
	if err != nil {
		return nil, err
	}
	fields := map[string]string{
		"CONTAINER_ID":        info.ID(),
		"CONTAINER_ID_FULL":   info.ContainerID,
		"CONTAINER_NAME":      info.Name(),
		"CONTAINER_TAG":       tag,
		"IMAGE_NAME":          info.ImageName(),
		"SYSLOG_IDENTIFIER":   tag,
		"CONTAINER_LOG_EPOCH": stringid.GenerateRandomID(),
	}
	extra, err := info.ExtraAttributes(sanitizeKey)
	if err != nil {
		return nil, err
	}
	for k, v := range extra {
		fields[k] = v
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	return &journald{path: path, fields: fields, conn: conn}, nil
}

// Log writes one entry. Unlike the other drivers it sends empty lines
// too, as dockerd's journald driver does.
func (j *journald) Log(m *logger.Message) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ordinal++
	fields := make(map[string]string, len(j.fields)+3)
	for k, v := range j.fields {
		fields[k] = v
	}
	if !m.Time.IsZero() {
		fields["SYSLOG_TIMESTAMP"] = m.Time.Format(time.RFC3339Nano)
	}
	if p := m.Partial; p != nil {
		fields["CONTAINER_PARTIAL_ID"] = p.ID
		fields["CONTAINER_PARTIAL_ORDINAL"] = strconv.Itoa(p.Ordinal)
		fields["CONTAINER_PARTIAL_LAST"] = strconv.FormatBool(p.Last)
		if !p.Last {
			fields["CONTAINER_PARTIAL_MESSAGE"] = "true"
		}
	}
	fields["CONTAINER_LOG_ORDINAL"] = strconv.FormatUint(j.ordinal, 10)
	return send(j.conn, j.path, encode(string(m.Line), logger.Severity(m.Source), fields))
}

func (j *journald) Close() error {
	return j.conn.Close()
}
