package logger

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/berthd/berth/pkg/stringid"
)

// Info is what a driver knows about the container it logs for. Its
// fields are dockerd's logger.Info, by name, since log plugins receive it
// as JSON.
type Info struct {
	Config              map[string]string
	ContainerID         string
	ContainerName       string
	ContainerEntrypoint string
	ContainerArgs       []string
	ContainerImageID    string
	ContainerImageName  string
	ContainerCreated    time.Time
	ContainerEnv        []string
	ContainerLabels     map[string]string
	LogPath             string
	DaemonName          string
}

// The methods below are what a `tag` template may name.

// ID is the container's short ID.
func (i *Info) ID() string { return stringid.TruncateID(i.ContainerID) }

// FullID is the container's full ID.
func (i *Info) FullID() string { return i.ContainerID }

// Name is the container's name without its leading slash.
func (i *Info) Name() string { return strings.TrimPrefix(i.ContainerName, "/") }

// ImageID is the image's short ID (without its algorithm).
func (i *Info) ImageID() string { return stringid.TruncateID(i.ContainerImageID) }

// ImageFullID is the image's full ID.
func (i *Info) ImageFullID() string { return i.ContainerImageID }

// ImageName is the image as the user named it.
func (i *Info) ImageName() string { return i.ContainerImageName }

// Command is the entrypoint and arguments, space-separated.
func (i *Info) Command() string {
	return strings.Join(append([]string{i.ContainerEntrypoint}, i.ContainerArgs...), " ")
}

// Hostname is the host's name.
func (i *Info) Hostname() (string, error) {
	h, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("logger: can not resolve hostname: %v", err)
	}
	return h, nil
}

// ExtraAttributes are the labels and environment variables the labels,
// labels-regex, env and env-regex options choose, by name (keyMod, if
// set, rewrites each name the way the driver's receiver needs).
func (i *Info) ExtraAttributes(keyMod func(string) string) (map[string]string, error) {
	extra := map[string]string{}
	add := func(k, v string) {
		if keyMod != nil {
			k = keyMod(k)
		}
		extra[k] = v
	}
	env := map[string]string{}
	for _, e := range i.ContainerEnv {
		if k, v, ok := strings.Cut(e, "="); ok {
			env[k] = v
		}
	}
	for _, src := range []struct {
		list, regex string
		values      map[string]string
	}{
		{AttrLabels, AttrLabelsRegex, i.ContainerLabels},
		{AttrEnv, AttrEnvRegex, env},
	} {
		if names := i.Config[src.list]; names != "" {
			for _, n := range strings.Split(names, ",") {
				if v, ok := src.values[n]; ok {
					add(n, v)
				}
			}
		}
		if expr := i.Config[src.regex]; expr != "" {
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, err
			}
			for k, v := range src.values {
				if re.MatchString(k) {
					add(k, v)
				}
			}
		}
	}
	return extra, nil
}

// DetailAttrs are the attributes `docker logs --details` shows on each
// line: the extra attributes, and the tag when the `tag` option is set
// (without it, no tag: dockerd's json-file and local drivers add none).
func (i *Info) DetailAttrs() (map[string]string, error) {
	attrs, err := i.ExtraAttributes(nil)
	if err != nil {
		return nil, err
	}
	if i.Config[AttrTag] != "" {
		tag, err := Tag(i)
		if err != nil {
			return nil, err
		}
		if tag != "" {
			attrs[AttrTag] = tag
		}
	}
	return attrs, nil
}
