package gelf

import (
	"compress/flate"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

// Driver is the gelf driver's entry in the daemon's table.
var Driver = logger.Driver{Validate: Validate, New: New}

// Validate checks the gelf driver's options, with dockerd's words.
func Validate(opts map[string]string) error {
	addr, err := parseAddress(opts["gelf-address"])
	if err != nil {
		return err
	}
	for key, val := range opts {
		switch key {
		case "gelf-address":
		case "gelf-compression-level":
			if addr.Scheme != "udp" {
				return errors.New("compression is only supported on UDP")
			}
			if i, err := strconv.Atoi(val); err != nil || i < flate.DefaultCompression || i > flate.BestCompression {
				return fmt.Errorf("unknown value %q for log opt %q for gelf log driver", val, key)
			}
		case "gelf-compression-type":
			if addr.Scheme != "udp" {
				return errors.New("compression is only supported on UDP")
			}
			if _, ok := compressions[val]; !ok {
				return fmt.Errorf("unknown value %q for log opt %q for gelf log driver", val, key)
			}
		case "gelf-tcp-max-reconnect", "gelf-tcp-reconnect-delay":
			if addr.Scheme != "tcp" {
				return fmt.Errorf("%q is only valid for TCP", key)
			}
			if i, err := strconv.Atoi(val); err != nil || i < 0 {
				return fmt.Errorf("%q must be a positive integer", key)
			}
		default:
			if !logger.IsCommonAttr(key) {
				return fmt.Errorf("unknown log opt %q for gelf log driver", key)
			}
		}
	}
	return nil
}

var compressions = map[string]compression{"gzip": compressGzip, "zlib": compressZlib, "none": compressNone}

func parseAddress(address string) (*url.URL, error) {
	if address == "" {
		return nil, errors.New("gelf-address is a required parameter")
	}
	u, err := url.Parse(address)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "udp" && u.Scheme != "tcp" {
		return nil, errors.New("gelf: endpoint needs to be TCP or UDP")
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return nil, errors.New("gelf: please provide gelf-address as proto://host:port")
	}
	return u, nil
}

// gelfLogger sends one container's lines to one GELF endpoint.
type gelfLogger struct {
	host  string
	extra []byte // the extra fields as a JSON object
	udp   bool
	comp  compression
	level int
	// tcp reconnection: attempts per message and the pause between them.
	maxReconnect int
	delay        time.Duration

	conn logger.Conn

	mu  sync.Mutex
	buf []byte
}

// New connects to gelf-address.
func New(info logger.Info) (logger.Logger, error) {
	u, err := parseAddress(info.Config["gelf-address"])
	if err != nil {
		return nil, err
	}
	host, err := info.Hostname()
	if err != nil {
		return nil, errors.New("gelf: cannot access hostname to set source field")
	}
	tag, err := logger.Tag(&info)
	if err != nil {
		return nil, err
	}
	extra := map[string]any{
		"_container_id":   info.ContainerID,
		"_container_name": info.Name(),
		"_image_id":       info.ContainerImageID,
		"_image_name":     info.ContainerImageName,
		"_command":        info.Command(),
		"_tag":            tag,
		"_created":        info.ContainerCreated,
	}
	attrs, err := info.ExtraAttributes(func(k string) string {
		if k != "" && k[0] == '_' {
			return k
		}
		return "_" + k
	})
	if err != nil {
		return nil, err
	}
	for k, v := range attrs {
		extra[k] = v
	}
	raw, err := json.Marshal(extra)
	if err != nil {
		return nil, err
	}
	g := &gelfLogger{host: host, extra: raw, udp: u.Scheme == "udp", level: defaultLevel, maxReconnect: 3, delay: time.Second}
	g.conn.Dial = func() (net.Conn, error) { return net.DialTimeout(u.Scheme, u.Host, 10*time.Second) }
	if v := info.Config["gelf-compression-type"]; v != "" {
		c, ok := compressions[v]
		if !ok {
			return nil, fmt.Errorf("gelf: invalid compression type %q", v)
		}
		g.comp = c
	}
	if v := info.Config["gelf-compression-level"]; v != "" {
		if g.level, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("gelf: invalid compression level %s, err %v", v, err)
		}
	}
	if v, ok := info.Config["gelf-tcp-max-reconnect"]; ok {
		if g.maxReconnect, err = strconv.Atoi(v); err != nil || g.maxReconnect < 0 {
			return nil, errors.New("gelf-tcp-max-reconnect must be a positive integer")
		}
	}
	if v, ok := info.Config["gelf-tcp-reconnect-delay"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, errors.New("gelf-tcp-reconnect-delay must be a positive integer")
		}
		g.delay = time.Duration(n) * time.Second
	}
	if err := g.conn.Connect(); err != nil {
		return nil, fmt.Errorf("gelf: cannot connect to GELF endpoint: %s %v", u.Host, err)
	}
	return g, nil
}

// Log sends one line; an empty one is not sent, as dockerd skips it.
func (g *gelfLogger) Log(m *logger.Message) error {
	if len(m.Line) == 0 {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.buf = appendMessage(g.buf[:0], g.host, m.Line, m.Time, logger.Severity(m.Source), g.extra)
	var err error
	if g.udp {
		err = g.sendUDP(g.buf)
	} else {
		// Null-delimited; a broken connection is dialled again up to
		// gelf-tcp-max-reconnect times, gelf-tcp-reconnect-delay apart.
		err = g.conn.Write(append(g.buf, 0), g.maxReconnect, func(int) time.Duration { return g.delay })
	}
	if err != nil {
		return fmt.Errorf("gelf: cannot send GELF message: %v", err)
	}
	return nil
}

func (g *gelfLogger) sendUDP(msg []byte) error {
	z, err := compress(msg, g.comp, g.level)
	if err != nil {
		return err
	}
	dgrams, err := chunks(z)
	if err != nil {
		return err
	}
	for _, d := range dgrams {
		if err := g.conn.Write(d, 0, nil); err != nil {
			return err
		}
	}
	return nil
}

func (g *gelfLogger) Close() error {
	return g.conn.Close()
}
