package logger

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	units "github.com/docker/go-units"
)

// The options every driver accepts.
const (
	AttrTag         = "tag"
	AttrLabels      = "labels"
	AttrLabelsRegex = "labels-regex"
	AttrEnv         = "env"
	AttrEnvRegex    = "env-regex"

	OptMode          = "mode"
	OptMaxBufferSize = "max-buffer-size"

	// Dual logging: the local cache `docker logs` reads.
	OptCacheDisabled = "cache-disabled"
	OptCacheMaxSize  = "cache-max-size"
	OptCacheMaxFile  = "cache-max-file"
	OptCacheCompress = "cache-compress"
)

// IsCommonAttr tells whether key is one of the options that choose the
// tag and extra attributes, which every driver accepts.
func IsCommonAttr(key string) bool {
	switch key {
	case AttrTag, AttrLabels, AttrLabelsRegex, AttrEnv, AttrEnvRegex:
		return true
	}
	return false
}

// IsEngineOpt tells whether key is an option the engine handles for any
// driver (delivery mode, cache), which drivers never see.
func IsEngineOpt(key string) bool {
	switch key {
	case OptMode, OptMaxBufferSize, OptCacheDisabled, OptCacheMaxSize, OptCacheMaxFile, OptCacheCompress:
		return true
	}
	return false
}

// DriverOpts are opts without the engine's options.
func DriverOpts(opts map[string]string) map[string]string {
	out := make(map[string]string, len(opts))
	for k, v := range opts {
		if !IsEngineOpt(k) {
			out[k] = v
		}
	}
	return out
}

// ValidateEngineOpts checks mode, max-buffer-size and the cache options,
// with dockerd's words.
func ValidateEngineOpts(opts map[string]string) error {
	switch mode := opts[OptMode]; mode {
	case "", "blocking", "non-blocking":
	default:
		return fmt.Errorf("logger: logging mode not supported: %s", mode)
	}
	if s, ok := opts[OptMaxBufferSize]; ok {
		if opts[OptMode] != "non-blocking" {
			return errors.New("logger: max-buffer-size option is only supported with 'mode=non-blocking'")
		}
		if _, err := units.RAMInBytes(s); err != nil {
			return fmt.Errorf("error parsing option max-buffer-size: %w", err)
		}
	}
	if v := opts[OptCacheDisabled]; v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("invalid value for option %s: %s", OptCacheDisabled, v)
		}
	}
	if v := opts[OptCacheCompress]; v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("invalid value for option %s: %s", OptCacheCompress, v)
		}
	}
	if v := opts[OptCacheMaxSize]; v != "" && v != "-1" {
		if _, err := units.RAMInBytes(v); err != nil {
			return fmt.Errorf("invalid value for option %s: %w", OptCacheMaxSize, err)
		}
	}
	if v := opts[OptCacheMaxFile]; v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 {
			return errors.New("max-file cannot be less than 1")
		}
	}
	return nil
}

// CacheDisabled tells whether opts turn dual logging off.
func CacheDisabled(opts map[string]string) bool {
	b, _ := strconv.ParseBool(opts[OptCacheDisabled])
	return b
}

// Unknown is the error for an option key a driver does not know, in
// dockerd's words.
func Unknown(driver, key string) error {
	return fmt.Errorf("unknown log opt '%s' for %s log driver", key, driver)
}

// CheckKeys refuses a key that is neither a common attribute nor in known.
func CheckKeys(driver string, opts map[string]string, known ...string) error {
	for k := range opts {
		if IsCommonAttr(k) || slices.Contains(known, k) {
			continue
		}
		return Unknown(driver, k)
	}
	return nil
}
