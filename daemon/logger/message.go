package logger

import "time"

// Message is one entry of a container's output, as a driver sends it.
type Message struct {
	// Line is the text without its newline.
	Line []byte
	// Source is "stdout" or "stderr".
	Source string
	Time   time.Time
	// Partial, for a line the shim split (longer than 16 KiB, or cut by
	// the container's end), says which piece this is; nil for a whole
	// line.
	Partial *Partial
}

// Partial identifies a piece of a split line, as dockerd's
// PartialLogMetaData: the pieces share ID, count from Ordinal 1, and the
// one that ends the line is Last.
type Partial struct {
	ID      string
	Ordinal int
	Last    bool
}

// Logger sends one container's messages to a receiver.
type Logger interface {
	// Log sends m; an error means m was not delivered.
	Log(m *Message) error
	// Close flushes what is buffered and lets the receiver go.
	Close() error
}

// Driver is a built-in log driver: how to check its options at create
// and how to start it for a container.
type Driver struct {
	// Validate refuses an option the driver does not know or a value it
	// cannot use, with dockerd's words. It sees the driver's own options
	// and the common ones (tag, labels, env, …), not mode or cache-*.
	Validate func(opts map[string]string) error
	New      func(info Info) (Logger, error)
}

// Severity is the syslog severity of a stream's lines, which the syslog,
// gelf and journald drivers send: err (3) for stderr, info (6) else.
func Severity(source string) int {
	if source == "stderr" {
		return 3
	}
	return 6
}
