package streaming

import (
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	"github.com/sirupsen/logrus"
	"k8s.io/klog/v2"
)

// k8s.io/streaming's transports log through klog, which would write its
// own format to stderr; among them an error for every WebSocket session
// berth closes ("use of closed network connection"). What matters of a
// session berth logs itself, so klog's lines go to logrus at debug level.
var routeKlog sync.Once

func routeKlogToLogrus() {
	routeKlog.Do(func() { klog.SetLogger(logr.New(klogSink{})) })
}

// klogSink is a logr.LogSink writing to logrus.
type klogSink struct{ fields logrus.Fields }

func (klogSink) Init(logr.RuntimeInfo) {}

func (klogSink) Enabled(int) bool { return logrus.IsLevelEnabled(logrus.DebugLevel) }

func (s klogSink) Info(_ int, msg string, kv ...any) { s.entry(kv).Debug(msg) }

func (s klogSink) Error(err error, msg string, kv ...any) {
	s.entry(kv).WithError(err).Debug(msg)
}

func (s klogSink) WithValues(kv ...any) logr.LogSink {
	return klogSink{fields: s.entry(kv).Data}
}

func (s klogSink) WithName(name string) logr.LogSink {
	return klogSink{fields: s.entry([]any{"logger", name}).Data}
}

func (s klogSink) entry(kv []any) *logrus.Entry {
	fields := logrus.Fields{"module": "k8s.io/streaming"}
	for k, v := range s.fields {
		fields[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		fields[fmt.Sprint(kv[i])] = kv[i+1]
	}
	return logrus.WithFields(fields)
}
