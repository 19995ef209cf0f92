package config

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	units "github.com/docker/go-units"
)

// Builder is daemon.json's "builder", with dockerd's keys: BuildKit's
// cache garbage collection and the entitlements builds may be granted.
type Builder struct {
	GC           BuilderGC           `json:"gc,omitzero"`
	Entitlements BuilderEntitlements `json:"entitlements,omitzero"`
}

// BuilderGC is "builder.gc". With no Policy the default policy is sized
// by the Default* spaces (from the disk when none is set); KeepStorage is
// the old name of ReservedSpace, in the defaults and in each rule.
type BuilderGC struct {
	Enabled              *bool           `json:"enabled,omitempty"`
	DefaultKeepStorage   string          `json:"defaultKeepStorage,omitempty"`
	DefaultReservedSpace string          `json:"defaultReservedSpace,omitempty"`
	DefaultMaxUsedSpace  string          `json:"defaultMaxUsedSpace,omitempty"`
	DefaultMinFreeSpace  string          `json:"defaultMinFreeSpace,omitempty"`
	Policy               []BuilderGCRule `json:"policy,omitempty"`
}

// BuilderGCRule is one rule of "builder.gc.policy".
type BuilderGCRule struct {
	All           bool            `json:"all,omitempty"`
	Filter        BuilderGCFilter `json:"filter,omitempty"`
	KeepStorage   string          `json:"keepStorage,omitempty"`
	ReservedSpace string          `json:"reservedSpace,omitempty"`
	MaxUsedSpace  string          `json:"maxUsedSpace,omitempty"`
	MinFreeSpace  string          `json:"minFreeSpace,omitempty"`
}

// BuilderGCFilter is a rule's filter as "name=value" pairs; daemon.json
// may also give it in the API's filters form ({"name":{"value":true}}).
type BuilderGCFilter []string

// UnmarshalJSON takes either form.
func (f *BuilderGCFilter) UnmarshalJSON(b []byte) error {
	var list []string
	if err := json.Unmarshal(b, &list); err == nil {
		*f = list
		return nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("builder.gc.policy filter: want [\"name=value\", …] or {\"name\":{\"value\":true}}: %w", err)
	}
	list = list[:0]
	for name, values := range m {
		for v := range values {
			list = append(list, name+"="+v)
		}
	}
	sort.Strings(list)
	*f = list
	return nil
}

// BuilderEntitlements is "builder.entitlements": network-host is granted
// unless false, security-insecure only when true, as with dockerd.
type BuilderEntitlements struct {
	NetworkHost      *bool `json:"network-host,omitempty"`
	SecurityInsecure *bool `json:"security-insecure,omitempty"`
}

// GCEnabled says whether BuildKit collects its cache by itself.
func (g BuilderGC) GCEnabled() bool { return BoolOr(g.Enabled, true) }

// Spaces are a GC rule's sizes in bytes (0: not set).
type Spaces struct{ Reserved, MaxUsed, MinFree int64 }

// DefaultSpaces are the sizes of the default policy.
func (g BuilderGC) DefaultSpaces() (Spaces, error) {
	return parseSpaces("builder.gc.default", firstSet(g.DefaultReservedSpace, g.DefaultKeepStorage), g.DefaultMaxUsedSpace, g.DefaultMinFreeSpace)
}

// Spaces are the rule's sizes.
func (r BuilderGCRule) Spaces() (Spaces, error) {
	return parseSpaces("builder.gc.policy", firstSet(r.ReservedSpace, r.KeepStorage), r.MaxUsedSpace, r.MinFreeSpace)
}

// FilterPairs splits the filter into names and values.
func (r BuilderGCRule) FilterPairs() [][2]string {
	out := make([][2]string, 0, len(r.Filter))
	for _, kv := range r.Filter {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, [2]string{strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)})
	}
	return out
}

func firstSet(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// parseSpaces reads sizes as dockerd does ("20GB", "512MB", bytes).
func parseSpaces(prefix, reserved, maxUsed, minFree string) (Spaces, error) {
	var s Spaces
	for _, f := range []struct {
		key, v string
		out    *int64
	}{{"ReservedSpace", reserved, &s.Reserved}, {"MaxUsedSpace", maxUsed, &s.MaxUsed}, {"MinFreeSpace", minFree, &s.MinFree}} {
		if f.v == "" {
			continue
		}
		n, err := units.RAMInBytes(f.v)
		if err != nil {
			return s, fmt.Errorf("failed to parse %s%s: %w", prefix, f.key, err)
		}
		*f.out = n
	}
	return s, nil
}

// validate refuses sizes that do not parse, so a bad daemon.json stops
// the start instead of the first build.
func (b Builder) validate() error {
	if _, err := b.GC.DefaultSpaces(); err != nil {
		return err
	}
	for _, r := range b.GC.Policy {
		if _, err := r.Spaces(); err != nil {
			return err
		}
	}
	return nil
}
