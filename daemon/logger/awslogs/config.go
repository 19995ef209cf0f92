package awslogs

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/berthd/berth/daemon/logger"
)

// The options, by dockerd's names.
const (
	regionKey              = "awslogs-region"
	endpointKey            = "awslogs-endpoint"
	logGroupKey            = "awslogs-group"
	logStreamKey           = "awslogs-stream"
	logCreateGroupKey      = "awslogs-create-group"
	logCreateStreamKey     = "awslogs-create-stream"
	datetimeFormatKey      = "awslogs-datetime-format"
	multilinePatternKey    = "awslogs-multiline-pattern"
	credentialsEndpointKey = "awslogs-credentials-endpoint"
	forceFlushIntervalKey  = "awslogs-force-flush-interval-seconds"
	maxBufferedEventsKey   = "awslogs-max-buffered-events"
	logFormatKey           = "awslogs-format"

	jsonEmfLogFormat          = "json/emf"
	defaultForceFlushInterval = 5 * time.Second
	defaultMaxBufferedEvents  = 4096
)

// Validate checks the awslogs driver's options, with dockerd's words.
func Validate(cfg map[string]string) error {
	for key := range cfg {
		switch key {
		case logger.AttrTag, logGroupKey, logStreamKey, logCreateGroupKey, logCreateStreamKey, regionKey, endpointKey,
			datetimeFormatKey, multilinePatternKey, credentialsEndpointKey, forceFlushIntervalKey, maxBufferedEventsKey, logFormatKey:
		default:
			return logger.Unknown("awslogs", key)
		}
	}
	if cfg[logGroupKey] == "" {
		return fmt.Errorf("must specify a value for log opt '%s'", logGroupKey)
	}
	for _, k := range []string{logCreateGroupKey, logCreateStreamKey} {
		if v := cfg[k]; v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("must specify valid value for log opt '%s': %v", k, err)
			}
		}
	}
	for _, k := range []string{forceFlushIntervalKey, maxBufferedEventsKey} {
		if v := cfg[k]; v != "" {
			if n, err := strconv.Atoi(v); err != nil || n <= 0 {
				return fmt.Errorf("must specify a positive integer for log opt '%s': %v", k, v)
			}
		}
	}
	_, hasDatetime := cfg[datetimeFormatKey]
	_, hasMultiline := cfg[multilinePatternKey]
	if hasDatetime && hasMultiline {
		return fmt.Errorf("you cannot configure log opt '%s' and '%s' at the same time", datetimeFormatKey, multilinePatternKey)
	}
	if f := cfg[logFormatKey]; f != "" {
		if f != jsonEmfLogFormat {
			return fmt.Errorf("unsupported log format '%s'", f)
		}
		if hasDatetime || hasMultiline {
			return fmt.Errorf("you cannot configure log opt '%s' or '%s' when log opt '%s' is set to '%s'",
				datetimeFormatKey, multilinePatternKey, logFormatKey, jsonEmfLogFormat)
		}
	}
	return nil
}

// config is the parsed options.
type config struct {
	region, endpoint    string
	group, stream       string
	createGroup         bool
	createStream        bool
	multiline           *regexp.Regexp
	flushInterval       time.Duration
	maxBufferedEvents   int
	format              string
	credentialsEndpoint string
}

func parseConfig(info *logger.Info) (*config, error) {
	cfg := info.Config
	if err := Validate(cfg); err != nil {
		return nil, err
	}
	c := &config{group: cfg[logGroupKey], createStream: true, flushInterval: defaultForceFlushInterval,
		maxBufferedEvents: defaultMaxBufferedEvents, format: cfg[logFormatKey], credentialsEndpoint: cfg[credentialsEndpointKey]}
	// The stream is awslogs-stream, else the tag, else the full ID.
	var err error
	if c.stream = cfg[logStreamKey]; c.stream == "" {
		tagged := *info
		if cfg[logger.AttrTag] == "" {
			tagged.Config = map[string]string{logger.AttrTag: "{{.FullID}}"}
		}
		if c.stream, err = logger.Tag(&tagged); err != nil {
			return nil, err
		}
	}
	c.createGroup, _ = strconv.ParseBool(cfg[logCreateGroupKey])
	if v := cfg[logCreateStreamKey]; v != "" {
		c.createStream, _ = strconv.ParseBool(v)
	}
	if v := cfg[forceFlushIntervalKey]; v != "" {
		n, _ := strconv.Atoi(v)
		c.flushInterval = time.Duration(n) * time.Second
	}
	if v := cfg[maxBufferedEventsKey]; v != "" {
		c.maxBufferedEvents, _ = strconv.Atoi(v)
	}
	if c.multiline, err = multilinePattern(cfg); err != nil {
		return nil, err
	}
	if c.region = cfg[regionKey]; c.region == "" {
		c.region = os.Getenv("AWS_REGION")
	}
	if c.region == "" {
		return nil, fmt.Errorf("missing region; please set the %s log opt or the AWS_REGION environment variable", regionKey)
	}
	if c.endpoint = cfg[endpointKey]; c.endpoint == "" {
		c.endpoint = "https://logs." + c.region + ".amazonaws.com"
	}
	return c, nil
}

// multilinePattern is the pattern that starts an event: the
// awslogs-multiline-pattern, or the awslogs-datetime-format (strftime)
// as a regular expression.
func multilinePattern(cfg map[string]string) (*regexp.Regexp, error) {
	pattern := cfg[multilinePatternKey]
	if f := cfg[datetimeFormatKey]; f != "" {
		pattern = strftimeSequence.ReplaceAllStringFunc(f, func(s string) string { return strftimeRegexp[s] })
	}
	if pattern == "" {
		return nil, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("awslogs could not parse multiline pattern key %q: %w", pattern, err)
	}
	return re, nil
}

var strftimeSequence = regexp.MustCompile("%.")

// strftimeRegexp is what each strftime sequence matches, as dockerd reads
// them.
var strftimeRegexp = map[string]string{
	`%a`: `(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)`,
	`%A`: `(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)`,
	`%w`: `[0-6]`,
	`%d`: `(?:0[1-9]|[1,2][0-9]|3[0,1])`,
	`%b`: `(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)`,
	`%B`: `(?:January|February|March|April|May|June|July|August|September|October|November|December)`,
	`%m`: `(?:0[1-9]|1[0-2])`,
	`%Y`: `\d{4}`,
	`%y`: `\d{2}`,
	`%H`: `(?:[0,1][0-9]|2[0-3])`,
	`%I`: `(?:0[0-9]|1[0-2])`,
	`%p`: "[A,P]M",
	`%M`: `[0-5][0-9]`,
	`%S`: `[0-5][0-9]`,
	`%f`: `\d{6}`,
	`%z`: `[+-]\d{4}`,
	`%Z`: `[A-Z]{1,4}T`,
	`%j`: `(?:0[0-9][1-9]|[1,2][0-9][0-9]|3[0-5][0-9]|36[0-6])`,
	`%L`: `\.\d{3}`,
}
