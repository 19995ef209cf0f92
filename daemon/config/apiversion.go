package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/versions"
)

// MinAPIVersionInUse is the oldest API version clients may ask for:
// min-api-version, else the oldest berth serves.
func (c *Config) MinAPIVersionInUse() string {
	if c.MinAPIVersion != "" {
		return c.MinAPIVersion
	}
	return backend.MinAPIVersion
}

// validateMinAPIVersion checks min-api-version with dockerd's messages.
func (c *Config) validateMinAPIVersion() error {
	v := c.MinAPIVersion
	var err error
	switch {
	case v == "":
		return nil
	case strings.EqualFold(v[:1], "v"):
		err = errors.New(`API version must be provided without "v" prefix`)
	case versions.LessThan(v, backend.MinAPIVersion):
		err = fmt.Errorf("minimum supported API version is %s: %s", backend.MinAPIVersion, v)
	case versions.GreaterThan(v, backend.DefaultAPIVersion):
		err = fmt.Errorf("maximum supported API version is %s: %s", backend.DefaultAPIVersion, v)
	}
	if err != nil {
		return fmt.Errorf("invalid min API version: %w", err)
	}
	return nil
}
