package splunk

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/berthd/berth/daemon/logger"
)

// Driver is the splunk driver's entry in the daemon's table.
var Driver = logger.Driver{Validate: Validate, New: New}

// How often and how many events go in one post; dockerd reads the same
// variables from its environment.
const (
	defaultFrequency = 5 * time.Second
	defaultBatchSize = 1000
	// defaultBufferMaximum is how many events wait, while the collector
	// fails, before the oldest are dropped.
	defaultBufferMaximum = 10 * defaultBatchSize
	postTimeout          = 30 * time.Second
)

var knownOpts = []string{"splunk-url", "splunk-token", "splunk-source", "splunk-sourcetype", "splunk-index",
	"splunk-capath", "splunk-caname", "splunk-insecureskipverify", "splunk-format", "splunk-verify-connection",
	"splunk-gzip", "splunk-gzip-level", "splunk-index-acknowledgment"}

// Validate refuses an option the splunk driver does not know, in
// dockerd's words; values are checked when the container starts, as
// dockerd does.
func Validate(opts map[string]string) error {
	return logger.CheckKeys("splunk", opts, knownOpts...)
}

// message is one HEC event.
type message struct {
	Event      any    `json:"event"`
	Time       string `json:"time"`
	Host       string `json:"host"`
	Source     string `json:"source,omitempty"`
	SourceType string `json:"sourcetype,omitempty"`
	Index      string `json:"index,omitempty"`
}

// event is the inline and json formats' event.
type event struct {
	Line   any               `json:"line"`
	Source string            `json:"source"`
	Tag    string            `json:"tag,omitempty"`
	Attrs  map[string]string `json:"attrs,omitempty"`
}

type splunkLogger struct {
	client *http.Client
	url    string
	auth   string
	gzip   bool
	level  int
	base   message // host, source, sourcetype, index
	format string
	tag    string
	attrs  map[string]string
	prefix []byte // raw format: tag and attributes before the line

	frequency         time.Duration
	batchSize, maxBuf int

	mu      sync.Mutex
	pending []message
	flusher *logger.Flusher
	closed  sync.Once
}

// New checks the options, verifies the collector answers (unless
// splunk-verify-connection=false) and starts the flusher.
func New(info logger.Info) (logger.Logger, error) {
	cfg := info.Config
	host, err := info.Hostname()
	if err != nil {
		return nil, fmt.Errorf("splunk: cannot access hostname to set source field")
	}
	u, err := parseURL(cfg)
	if err != nil {
		return nil, err
	}
	token, ok := cfg["splunk-token"]
	if !ok {
		return nil, fmt.Errorf("splunk: splunk-token is expected")
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if v, ok := cfg["splunk-insecureskipverify"]; ok {
		if tlsConfig.InsecureSkipVerify, err = strconv.ParseBool(v); err != nil {
			return nil, err
		}
	}
	if p, ok := cfg["splunk-capath"]; ok {
		pem, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tlsConfig.RootCAs = pool
	}
	tlsConfig.ServerName = cfg["splunk-caname"]
	l := &splunkLogger{
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig, Proxy: http.ProxyFromEnvironment}},
		url:    u, auth: "Splunk " + token, level: gzip.DefaultCompression,
		base:      message{Host: host, Source: cfg["splunk-source"], SourceType: cfg["splunk-sourcetype"], Index: cfg["splunk-index"]},
		format:    "inline",
		frequency: envDuration("SPLUNK_LOGGING_DRIVER_POST_MESSAGES_FREQUENCY", defaultFrequency),
		batchSize: envInt("SPLUNK_LOGGING_DRIVER_POST_MESSAGES_BATCH_SIZE", defaultBatchSize),
		maxBuf:    envInt("SPLUNK_LOGGING_DRIVER_BUFFER_MAX", defaultBufferMaximum),
	}
	if v, ok := cfg["splunk-gzip"]; ok {
		if l.gzip, err = strconv.ParseBool(v); err != nil {
			return nil, err
		}
	}
	if v, ok := cfg["splunk-gzip-level"]; ok {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, err
		}
		if n < gzip.DefaultCompression || n > gzip.BestCompression {
			return nil, fmt.Errorf("not supported level '%s' for splunk-gzip-level (supported values between %d and %d)",
				v, gzip.DefaultCompression, gzip.BestCompression)
		}
		l.level = int(n)
	}
	if v, ok := cfg["splunk-index-acknowledgment"]; ok {
		if _, err := strconv.ParseBool(v); err != nil {
			return nil, err
		}
	}
	// An explicitly empty tag means none.
	if t, ok := cfg[logger.AttrTag]; !ok || t != "" {
		if l.tag, err = logger.Tag(&info); err != nil {
			return nil, err
		}
	}
	if l.attrs, err = info.ExtraAttributes(nil); err != nil {
		return nil, err
	}
	if f, ok := cfg["splunk-format"]; ok {
		l.format = f
	}
	switch l.format {
	case "inline", "json":
	case "raw":
		if l.tag != "" {
			l.prefix = append(l.prefix, l.tag+" "...)
		}
		for k, v := range l.attrs {
			l.prefix = append(l.prefix, k+"="+v+" "...)
		}
	default:
		return nil, fmt.Errorf("unknown format specified %s, supported formats are inline, json and raw", l.format)
	}
	verify := true
	if v, ok := cfg["splunk-verify-connection"]; ok {
		if verify, err = strconv.ParseBool(v); err != nil {
			return nil, err
		}
	}
	if verify {
		if err := l.verify(); err != nil {
			return nil, err
		}
	}
	l.flusher = logger.StartFlusher(l.frequency, l.flush)
	return l, nil
}

// parseURL reads splunk-url (scheme://host:port, nothing more) and gives
// the collector's event endpoint.
func parseURL(cfg map[string]string) (string, error) {
	s, ok := cfg["splunk-url"]
	if !ok {
		return "", fmt.Errorf("splunk: splunk-url is expected")
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("splunk: failed to parse %s as url value in splunk-url", s)
	}
	if !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("splunk: expected format scheme://dns_name_or_ip:port for splunk-url")
	}
	u.Path = "/services/collector/event/1.0"
	return u.String(), nil
}

// verify asks the collector for OPTIONS, as dockerd does before the
// container starts.
func (l *splunkLogger) verify() error {
	req, err := http.NewRequest(http.MethodOptions, l.url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("splunk: failed to verify connection - %s - %s", resp.Status, body)
	}
	return nil
}

// Log queues one event for the poster. The raw format skips blank lines,
// as dockerd's does.
func (l *splunkLogger) Log(m *logger.Message) error {
	msg := l.base
	msg.Time = fmt.Sprintf("%f", float64(m.Time.UnixNano())/float64(time.Second))
	switch l.format {
	case "raw":
		if strings.TrimSpace(string(m.Line)) == "" {
			return nil
		}
		msg.Event = string(append(append([]byte(nil), l.prefix...), m.Line...))
	default:
		ev := &event{Line: string(m.Line), Source: m.Source, Tag: l.tag, Attrs: l.attrs}
		if l.format == "json" && json.Valid(m.Line) {
			ev.Line = json.RawMessage(append([]byte(nil), m.Line...))
		}
		msg.Event = ev
	}
	l.mu.Lock()
	if l.flusher.Closed() {
		l.mu.Unlock()
		return fmt.Errorf("splunk: driver is closed")
	}
	l.pending = append(l.pending, msg)
	full := len(l.pending) >= l.batchSize
	l.mu.Unlock()
	if full {
		l.flusher.Wake()
	}
	return nil
}

// flush posts the queue (every frequency, when a batch is full, and at
// Close). Events the collector refuses stay queued for the next round, up
// to maxBuf of them; at Close they are dropped with an error logged.
func (l *splunkLogger) flush(last bool) {
	l.mu.Lock()
	batch := l.pending
	l.pending = nil
	l.mu.Unlock()
	left := l.postAll(batch)
	if last {
		if len(left) > 0 {
			logrus.WithField("lost", len(left)).Error("splunk: could not send the container's last log events")
		}
		return
	}
	if len(left) > l.maxBuf {
		logrus.WithField("lost", len(left)-l.maxBuf).Error("splunk: the collector does not take events; dropping the oldest")
		left = left[len(left)-l.maxBuf:]
	}
	l.mu.Lock()
	l.pending = append(left, l.pending...)
	l.mu.Unlock()
}

// postAll posts batch in batchSize pieces and returns what was not sent.
func (l *splunkLogger) postAll(batch []message) []message {
	for i := 0; i < len(batch); i += l.batchSize {
		end := min(i+l.batchSize, len(batch))
		if err := l.post(batch[i:end]); err != nil {
			logrus.WithError(err).Warn("splunk: error while sending logs")
			return batch[i:]
		}
	}
	return nil
}

// post sends events in one request: their JSON one after another.
func (l *splunkLogger) post(events []message) error {
	var body bytes.Buffer
	var w io.Writer = &body
	var zw *gzip.Writer
	if l.gzip {
		var err error
		if zw, err = gzip.NewWriterLevel(&body, l.level); err != nil {
			return err
		}
		w = zw
	}
	enc := json.NewEncoder(w)
	for i := range events {
		if err := enc.Encode(&events[i]); err != nil {
			return err
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), postTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", l.auth)
	if l.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return fmt.Errorf("splunk: failed to send event - %s - %s", resp.Status, b)
	}
	io.Copy(io.Discard, resp.Body)
	return nil
}

// Close posts what is queued and stops the flusher.
func (l *splunkLogger) Close() error {
	l.closed.Do(l.flusher.Close)
	l.client.CloseIdleConnections()
	return nil
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
