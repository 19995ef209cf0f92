package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	units "github.com/docker/go-units"

	"github.com/berthd/berth/daemon/config"
)

// listValue is a repeatable flag. The first Set replaces the default, so
// `-H tcp://…` means only that host, as in dockerd.
type listValue struct {
	target  *[]string
	changed bool
}

func (l *listValue) Set(s string) error {
	if !l.changed {
		*l.target = nil
		l.changed = true
	}
	*l.target = append(*l.target, s)
	return nil
}
func (l *listValue) String() string { return "[" + strings.Join(*l.target, " ") + "]" }
func (l *listValue) Type() string   { return "list" }

// mapValue is a repeatable key=value flag (--log-opt).
type mapValue struct{ target *map[string]string }

func (m *mapValue) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("invalid key/value pair format: %s", s)
	}
	if *m.target == nil {
		*m.target = map[string]string{}
	}
	(*m.target)[k] = v
	return nil
}
func (m *mapValue) String() string { return fmt.Sprint(*m.target) }
func (m *mapValue) Type() string   { return "map" }

// featureValue is a repeatable --feature flag: "name" turns a feature on,
// "name=false" off, as dockerd reads it.
type featureValue struct{ target *map[string]bool }

func (f *featureValue) Set(s string) error {
	k, v, found := strings.Cut(s, "=")
	if k == "" {
		return fmt.Errorf("invalid option name: %s", s)
	}
	on := true
	if found {
		var err error
		if on, err = strconv.ParseBool(v); err != nil {
			return err
		}
	}
	if *f.target == nil {
		*f.target = map[string]bool{}
	}
	(*f.target)[k] = on
	return nil
}
func (f *featureValue) String() string { return fmt.Sprint(*f.target) }
func (f *featureValue) Type() string   { return "map" }

// boolPtrValue is a boolean flag whose absence is distinguishable from false.
type boolPtrValue struct{ target **bool }

func (b *boolPtrValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return err
	}
	*b.target = &v
	return nil
}
func (b *boolPtrValue) String() string {
	if *b.target == nil {
		return "false"
	}
	return strconv.FormatBool(**b.target)
}
func (b *boolPtrValue) Type() string     { return "bool" }
func (b *boolPtrValue) IsBoolFlag() bool { return true }

// mapMapValue is a repeatable driver=key=value flag
// (--default-network-opt).
type mapMapValue struct{ target *map[string]map[string]string }

func (m *mapMapValue) Set(s string) error {
	root, rest, ok := strings.Cut(s, "=")
	k, v, ok2 := strings.Cut(rest, "=")
	if !ok || !ok2 {
		return fmt.Errorf("invalid value %q for map option, should be root-key=key=value", s)
	}
	if *m.target == nil {
		*m.target = map[string]map[string]string{}
	}
	if (*m.target)[root] == nil {
		(*m.target)[root] = map[string]string{}
	}
	(*m.target)[root][k] = v
	return nil
}
func (m *mapMapValue) String() string {
	if *m.target == nil {
		return "map[]"
	}
	return fmt.Sprint(*m.target)
}
func (m *mapMapValue) Type() string { return "mapmap" }

// intPtrValue is an integer flag whose absence differs from 0.
type intPtrValue struct{ target **int }

func (n *intPtrValue) Set(s string) error {
	v, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	*n.target = &v
	return nil
}
func (n *intPtrValue) String() string {
	if *n.target == nil {
		return ""
	}
	return strconv.Itoa(**n.target)
}
func (n *intPtrValue) Type() string { return "int" }

// ulimitValue is --default-ulimit name=soft[:hard].
type ulimitValue struct{ target *map[string]*units.Ulimit }

func (u *ulimitValue) Set(s string) error {
	l, err := units.ParseUlimit(s)
	if err != nil {
		return err
	}
	if *u.target == nil {
		*u.target = map[string]*units.Ulimit{}
	}
	(*u.target)[l.Name] = l
	return nil
}
func (u *ulimitValue) String() string {
	var parts []string
	for _, l := range *u.target {
		parts = append(parts, l.String())
	}
	return "[" + strings.Join(parts, " ") + "]"
}
func (u *ulimitValue) Type() string { return "ulimit" }

// poolValue is --default-address-pool base=CIDR,size=N.
type poolValue struct{ target *[]config.AddressPool }

func (p *poolValue) Set(s string) error {
	var pool config.AddressPool
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		switch strings.ToLower(k) {
		case "base":
			pfx, err := netip.ParsePrefix(v)
			if err != nil {
				return fmt.Errorf("invalid base prefix %q: %v", v, err)
			}
			pool.Base = pfx
		case "size":
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("invalid size value: %q (must be integer): %v", v, err)
			}
			pool.Size = n
		default:
			return fmt.Errorf("unexpected key '%s' in '%s'", k, field)
		}
	}
	*p.target = append(*p.target, pool)
	return nil
}
func (p *poolValue) String() string {
	var parts []string
	for _, pool := range *p.target {
		parts = append(parts, fmt.Sprintf("base=%s,size=%d", pool.Base, pool.Size))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
func (p *poolValue) Type() string { return "pool-options" }

// runtimeValue is --add-runtime name=path.
type runtimeValue struct{ target *map[string]config.Runtime }

func (r *runtimeValue) Set(s string) error {
	name, path, ok := strings.Cut(s, "=")
	if !ok || name == "" || path == "" {
		return fmt.Errorf("invalid runtime argument: %s", s)
	}
	if *r.target == nil {
		*r.target = map[string]config.Runtime{}
	}
	(*r.target)[name] = config.Runtime{Path: path}
	return nil
}
func (r *runtimeValue) String() string {
	var parts []string
	for name, rt := range *r.target {
		parts = append(parts, name+"="+rt.Path)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
func (r *runtimeValue) Type() string { return "runtime" }
