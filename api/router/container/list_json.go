package container

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"slices"
	"strconv"

	"github.com/berthd/berth/pkg/jsonstr"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// The container list is the one large answer that clients poll (docker
// ps, compose ps, monitoring): 1000 containers are 740 KB of JSON, and
// encoding/json spent most of the request on them, a third of it in
// reflecting over the two maps each container has (labels, networks).
// encodeSummaries writes the same bytes as httputils.WriteJSON's encoder
// (HTML characters not escaped, a final newline) for the parts every
// container has, endpoint settings included, and leaves the rarer nested
// values (ports, mounts, health, IPAM configuration, the manifest
// descriptor) to encoding/json.
// TestEncodeSummariesMatchesEncodingJSON holds the two equal.

// encodeSummaries encodes list as json.Encoder with SetEscapeHTML(false)
// does.
func encodeSummaries(list []*container.Summary) ([]byte, error) {
	e := &summaryEncoder{b: make([]byte, 0, 800*len(list)+2)}
	e.enc = json.NewEncoder(&e.nested)
	e.enc.SetEscapeHTML(false)
	if list == nil {
		return append(e.b, "null\n"...), nil
	}
	e.b = append(e.b, '[')
	for i, s := range list {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		if err := e.summary(s); err != nil {
			return nil, err
		}
	}
	return append(e.b, "]\n"...), nil
}

type summaryEncoder struct {
	b      []byte
	nested bytes.Buffer
	enc    *json.Encoder
}

func (e *summaryEncoder) summary(s *container.Summary) error {
	if s == nil {
		e.b = append(e.b, "null"...)
		return nil
	}
	e.b = append(e.b, `{"Id":`...)
	e.str(s.ID)
	e.b = append(e.b, `,"Names":`...)
	e.strings(s.Names)
	e.b = append(e.b, `,"Image":`...)
	e.str(s.Image)
	e.b = append(e.b, `,"ImageID":`...)
	e.str(s.ImageID)
	if s.ImageManifestDescriptor != nil {
		e.b = append(e.b, `,"ImageManifestDescriptor":`...)
		if err := e.value(s.ImageManifestDescriptor); err != nil {
			return err
		}
	}
	e.b = append(e.b, `,"Command":`...)
	e.str(s.Command)
	e.b = append(e.b, `,"Created":`...)
	e.b = strconv.AppendInt(e.b, s.Created, 10)
	e.b = append(e.b, `,"Ports":`...)
	if err := e.slice(len(s.Ports), s.Ports == nil, s.Ports); err != nil {
		return err
	}
	if s.SizeRw != 0 {
		e.b = append(e.b, `,"SizeRw":`...)
		e.b = strconv.AppendInt(e.b, s.SizeRw, 10)
	}
	if s.SizeRootFs != 0 {
		e.b = append(e.b, `,"SizeRootFs":`...)
		e.b = strconv.AppendInt(e.b, s.SizeRootFs, 10)
	}
	e.b = append(e.b, `,"Labels":`...)
	e.stringMap(s.Labels)
	e.b = append(e.b, `,"State":`...)
	e.str(string(s.State))
	e.b = append(e.b, `,"Status":`...)
	e.str(s.Status)
	e.b = append(e.b, `,"HostConfig":{`...)
	sep := false
	if s.HostConfig.NetworkMode != "" {
		e.b = append(e.b, `"NetworkMode":`...)
		e.str(s.HostConfig.NetworkMode)
		sep = true
	}
	if len(s.HostConfig.Annotations) > 0 {
		if sep {
			e.b = append(e.b, ',')
		}
		e.b = append(e.b, `"Annotations":`...)
		e.stringMap(s.HostConfig.Annotations)
	}
	e.b = append(e.b, '}')
	if s.Health != nil {
		e.b = append(e.b, `,"Health":`...)
		if err := e.value(s.Health); err != nil {
			return err
		}
	}
	e.b = append(e.b, `,"NetworkSettings":`...)
	if s.NetworkSettings == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, `{"Networks":`...)
		if err := e.networks(s.NetworkSettings.Networks); err != nil {
			return err
		}
		e.b = append(e.b, '}')
	}
	e.b = append(e.b, `,"Mounts":`...)
	if err := e.slice(len(s.Mounts), s.Mounts == nil, s.Mounts); err != nil {
		return err
	}
	e.b = append(e.b, '}')
	return nil
}

// value appends v as encoding/json encodes it.
func (e *summaryEncoder) value(v any) error {
	e.nested.Reset()
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	e.b = append(e.b, bytes.TrimSuffix(e.nested.Bytes(), []byte{'\n'})...)
	return nil
}

// slice appends a slice of n elements: null when nil, [] when empty,
// else as encoding/json encodes it.
func (e *summaryEncoder) slice(n int, isNil bool, v any) error {
	switch {
	case isNil:
		e.b = append(e.b, "null"...)
	case n == 0:
		e.b = append(e.b, "[]"...)
	default:
		return e.value(v)
	}
	return nil
}

func (e *summaryEncoder) strings(v []string) {
	if v == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(s)
	}
	e.b = append(e.b, ']')
}

// stringMap appends m with its keys sorted, as encoding/json does.
func (e *summaryEncoder) stringMap(m map[string]string) {
	_ = appendMap(e, m, func(v string) error { e.str(v); return nil })
}

func (e *summaryEncoder) networks(m map[string]*network.EndpointSettings) error {
	return appendMap(e, m, e.endpoint)
}

// appendMap appends m as encoding/json does: null when nil, else its
// entries in key order, each value by value.
func appendMap[V any](e *summaryEncoder, m map[string]V, value func(V) error) error {
	if m == nil {
		e.b = append(e.b, "null"...)
		return nil
	}
	e.b = append(e.b, '{')
	var buf [8]string
	for i, k := range sortedKeys(m, &buf) {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.str(k)
		e.b = append(e.b, ':')
		if err := value(m[k]); err != nil {
			return err
		}
	}
	e.b = append(e.b, '}')
	return nil
}

// endpoint appends one network's endpoint settings, field by field in
// the type's order; the IPAM configuration, rarely set, is left to
// encoding/json.
func (e *summaryEncoder) endpoint(ep *network.EndpointSettings) error {
	if ep == nil {
		e.b = append(e.b, "null"...)
		return nil
	}
	e.b = append(e.b, `{"IPAMConfig":`...)
	if ep.IPAMConfig == nil {
		e.b = append(e.b, "null"...)
	} else if err := e.value(ep.IPAMConfig); err != nil {
		return err
	}
	e.b = append(e.b, `,"Links":`...)
	e.strings(ep.Links)
	e.b = append(e.b, `,"Aliases":`...)
	e.strings(ep.Aliases)
	e.b = append(e.b, `,"DriverOpts":`...)
	e.stringMap(ep.DriverOpts)
	e.b = append(e.b, `,"GwPriority":`...)
	e.b = strconv.AppendInt(e.b, int64(ep.GwPriority), 10)
	e.b = append(e.b, `,"NetworkID":`...)
	e.str(ep.NetworkID)
	e.b = append(e.b, `,"EndpointID":`...)
	e.str(ep.EndpointID)
	e.b = append(e.b, `,"Gateway":`...)
	e.addr(ep.Gateway)
	e.b = append(e.b, `,"IPAddress":`...)
	e.addr(ep.IPAddress)
	e.b = append(e.b, `,"MacAddress":`...)
	if len(ep.MacAddress) == 0 {
		e.b = append(e.b, `""`...)
	} else {
		e.str(ep.MacAddress.String())
	}
	e.b = append(e.b, `,"IPPrefixLen":`...)
	e.b = strconv.AppendInt(e.b, int64(ep.IPPrefixLen), 10)
	e.b = append(e.b, `,"IPv6Gateway":`...)
	e.addr(ep.IPv6Gateway)
	e.b = append(e.b, `,"GlobalIPv6Address":`...)
	e.addr(ep.GlobalIPv6Address)
	e.b = append(e.b, `,"GlobalIPv6PrefixLen":`...)
	e.b = strconv.AppendInt(e.b, int64(ep.GlobalIPv6PrefixLen), 10)
	e.b = append(e.b, `,"DNSNames":`...)
	e.strings(ep.DNSNames)
	e.b = append(e.b, '}')
	return nil
}

// addr appends an address as its MarshalText gives it ("" when unset).
func (e *summaryEncoder) addr(a netip.Addr) {
	switch {
	case !a.IsValid():
		e.b = append(e.b, `""`...)
	case a.Zone() == "":
		// Digits, dots, colons and hex letters: nothing to escape.
		e.b = append(a.AppendTo(append(e.b, '"')), '"')
	default:
		t, _ := a.MarshalText()
		e.str(string(t))
	}
}

// sortedKeys returns m's keys in order, in buf when they fit (most
// containers have a label or two and one network).
func sortedKeys[V any](m map[string]V, buf *[8]string) []string {
	keys := buf[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// str appends s as a JSON string exactly as encoding/json writes it with
// HTML escaping off.
func (e *summaryEncoder) str(s string) {
	e.b = append(jsonstr.Append(append(e.b, '"'), s, jsonstr.Mode{NamedBF: true}), '"')
}
