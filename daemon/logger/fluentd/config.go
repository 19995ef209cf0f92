package fluentd

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/berthd/berth/daemon/logger"
)

// The options, by dockerd's names, and their defaults.
const (
	addressKey                = "fluentd-address"
	asyncKey                  = "fluentd-async"
	asyncConnectKey           = "fluentd-async-connect" // dockerd's older name for async
	asyncReconnectIntervalKey = "fluentd-async-reconnect-interval"
	bufferLimitKey            = "fluentd-buffer-limit"
	maxRetriesKey             = "fluentd-max-retries"
	requestAckKey             = "fluentd-request-ack"
	retryWaitKey              = "fluentd-retry-wait"
	subSecondPrecisionKey     = "fluentd-sub-second-precision"
	writeTimeoutKey           = "fluentd-write-timeout"
	readTimeoutKey            = "fluentd-read-timeout"

	defaultBufferLimit = 1 << 20
	defaultRetryWait   = time.Second
	defaultMaxRetries  = math.MaxInt32
	// maxRetryWait caps the growing pause between attempts.
	maxRetryWait = 60 * time.Second
)

// config is the parsed options.
type config struct {
	network, addr      string // "tcp", "tls" or "unix"; host:port or path
	async              bool
	bufferLimit        int
	retryWait          time.Duration
	maxRetries         int
	subSecondPrecision bool
	writeTimeout       time.Duration
}

// Validate checks the fluentd driver's options, with dockerd's words.
func Validate(opts map[string]string) error {
	if err := logger.CheckKeys("fluentd", opts, addressKey, asyncKey, asyncConnectKey, asyncReconnectIntervalKey,
		bufferLimitKey, maxRetriesKey, requestAckKey, retryWaitKey, subSecondPrecisionKey, writeTimeoutKey, readTimeoutKey); err != nil {
		return err
	}
	_, err := parseConfig(opts)
	return err
}

func parseConfig(opts map[string]string) (config, error) {
	c := config{bufferLimit: defaultBufferLimit, retryWait: defaultRetryWait, maxRetries: defaultMaxRetries}
	var err error
	if c.network, c.addr, err = parseAddress(opts[addressKey]); err != nil {
		return c, fmt.Errorf("invalid fluentd-address (%s): %w", opts[addressKey], err)
	}
	if v := opts[bufferLimitKey]; v != "" {
		n, err := units.RAMInBytes(v)
		if err != nil {
			return c, err
		}
		c.bufferLimit = int(n)
	}
	if v := opts[retryWaitKey]; v != "" {
		if c.retryWait, err = time.ParseDuration(v); err != nil {
			return c, err
		}
	}
	if v := opts[maxRetriesKey]; v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return c, err
		}
		if n > math.MaxInt32 {
			return c, errors.New("invalid fluentd-max-retries: value out of range")
		}
		c.maxRetries = int(n)
	}
	for _, b := range []struct {
		key string
		to  *bool
	}{{asyncKey, &c.async}, {asyncConnectKey, &c.async}, {subSecondPrecisionKey, &c.subSecondPrecision}, {requestAckKey, new(bool)}} {
		if v := opts[b.key]; v != "" {
			val, err := strconv.ParseBool(v)
			if err != nil {
				return c, err
			}
			*b.to = *b.to || val
		}
	}
	if v := opts[asyncReconnectIntervalKey]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return c, fmt.Errorf("invalid value for %s: %w", asyncReconnectIntervalKey, err)
		}
		if d != 0 && (d < 100*time.Millisecond || d > 10*time.Second) {
			return c, fmt.Errorf("invalid value for %s: value (%q) must be between %s and %s",
				asyncReconnectIntervalKey, d, 100*time.Millisecond, 10*time.Second)
		}
	}
	for _, t := range []struct {
		key string
		to  *time.Duration
	}{{writeTimeoutKey, &c.writeTimeout}, {readTimeoutKey, new(time.Duration)}} {
		if v := opts[t.key]; v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return c, fmt.Errorf("invalid value for %s: value must be a duration: %w", t.key, err)
			}
			if d < 0 {
				return c, fmt.Errorf("invalid value for %s: value must be a duration that is non-negative", t.key)
			}
			*t.to = d
		}
	}
	return c, nil
}

// parseAddress reads fluentd-address: host[:port], tcp://host[:port],
// tls://host[:port] or unix:///path; 127.0.0.1:24224 by default.
func parseAddress(address string) (string, string, error) {
	if address == "" {
		return "tcp", "127.0.0.1:24224", nil
	}
	if !strings.Contains(address, "://") {
		address = "tcp://" + address
	}
	u, err := url.Parse(address)
	if err != nil {
		return "", "", err
	}
	switch u.Scheme {
	case "unix":
		if strings.TrimLeft(u.Path, "/") == "" {
			return "", "", errors.New("path is empty")
		}
		return "unix", u.Path, nil
	case "tcp", "tls":
	default:
		return "", "", fmt.Errorf("unsupported scheme: '%s'", u.Scheme)
	}
	if u.Path != "" {
		return "", "", errors.New("should not contain a path element")
	}
	host, port := "127.0.0.1", "24224"
	if h := u.Hostname(); h != "" {
		host = h
	}
	if p := u.Port(); p != "" {
		if _, err := strconv.ParseUint(p, 10, 16); err != nil {
			return "", "", fmt.Errorf("invalid port: %w", err)
		}
		port = p
	}
	return u.Scheme, net.JoinHostPort(host, port), nil
}
