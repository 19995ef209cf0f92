package network

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/network"

	"github.com/berthd/berth/network/bridge"
	"github.com/berthd/berth/network/ipam"
	"github.com/berthd/berth/pkg/errdefs"
	"github.com/berthd/berth/pkg/faultpoint"
	"github.com/berthd/berth/pkg/filters"
	"github.com/berthd/berth/pkg/stringid"
	"github.com/berthd/berth/pkg/timestamp"
)

// readyTimeout bounds how long a network API call waits for the
// background setup; it normally takes milliseconds.
const readyTimeout = 10 * time.Second

func (m *Manager) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := m.Ready(ctx); err != nil && errors.Is(err, context.DeadlineExceeded) {
		return errdefs.Unavailable(errors.New("network setup is still in progress"))
	}
	// A failed default bridge does not stop user-defined networks.
	return nil
}

// Find resolves a full ID, a unique name or a unique ID prefix, with
// dockerd's ambiguity and not-found errors. It returns a copy.
func (m *Manager) Find(ctx context.Context, term string) (*Record, error) {
	m.waitReady(ctx)
	m.mu.RLock()
	defer m.mu.RUnlock()
	r, err := m.findLocked(term)
	if err != nil {
		return nil, err
	}
	return r.clone(), nil
}

func (m *Manager) findLocked(term string) (*Record, error) {
	if term == "" {
		return nil, errNoSuchNetwork(term)
	}
	if r, ok := m.nets[term]; ok {
		return r, nil
	}
	var byName, byPrefix []*Record
	for _, r := range m.nets {
		if r.Name == term {
			byName = append(byName, r)
		}
		if strings.HasPrefix(r.ID, term) {
			byPrefix = append(byPrefix, r)
		}
	}
	switch {
	case len(byName) == 1:
		return byName[0], nil
	case len(byName) > 1:
		return nil, errdefs.InvalidParameterf("network %s is ambiguous (%d matches found based on name)", term, len(byName))
	case len(byPrefix) == 1:
		return byPrefix[0], nil
	case len(byPrefix) > 1:
		return nil, errdefs.InvalidParameterf("network %s is ambiguous (%d matches found based on ID prefix)", term, len(byPrefix))
	}
	return nil, errNoSuchNetwork(term)
}

// ListFilters are the filters GET /networks accepts.
var ListFilters = map[string]bool{"dangling": true, "driver": true, "id": true, "label": true, "name": true, "scope": true, "type": true}

// List returns copies of the networks the filters select, oldest first
// (the predefined ones lead, as in dockerd).
func (m *Manager) List(ctx context.Context, f filters.Args) ([]*Record, error) {
	if err := f.Validate(ListFilters); err != nil {
		return nil, err
	}
	danglingSet := f.Contains("dangling")
	var dangling bool
	if vals := f.Get("dangling"); len(vals) > 0 {
		if len(vals) > 1 {
			return nil, errdefs.InvalidParameterf(`got more than one value for filter key "dangling"`)
		}
		switch vals[0] {
		case "0", "false":
		case "1", "true":
			dangling = true
		default:
			return nil, errdefs.InvalidParameterf(`invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")`)
		}
	} else {
		danglingSet = false
	}
	for _, t := range f.Get("type") {
		if t != "builtin" && t != "custom" {
			return nil, errdefs.InvalidParameterf("invalid filter: 'type'='%s'", t)
		}
	}
	m.waitReady(ctx)
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []*Record
	for _, r := range m.sortedLocked() {
		if !f.ExactMatch("driver", r.Driver) || !f.Match("name", r.Name) || !f.Match("id", r.ID) ||
			!f.MatchKVList("label", r.Labels) || !f.ExactMatch("scope", "local") {
			continue
		}
		if danglingSet {
			inUse := IsPredefined(r.Name) || len(r.Endpoints) > 0
			if dangling == inUse {
				continue
			}
		}
		if f.Contains("type") {
			kind := "custom"
			if IsPredefined(r.Name) {
				kind = "builtin"
			}
			if !f.ExactMatch("type", kind) {
				continue
			}
		}
		out = append(out, r.clone())
	}
	return out, nil
}

// Status is the IPAM figures of a network for inspect (API 1.52+).
func (m *Manager) Status(id string) *network.Status {
	st := m.ipam.Status(id)
	if len(st) == 0 {
		return nil
	}
	out := &network.Status{IPAM: network.IPAMStatus{Subnets: network.SubnetStatuses{}}}
	for p, v := range st {
		out.IPAM.Subnets[p] = network.SubnetStatus{IPsInUse: v[0], DynamicIPsAvailable: v[1]}
	}
	return out
}

// Create makes a network. Bad input is refused with dockerd's messages
// before anything is allocated; a failure later undoes what was done.
func (m *Manager) Create(ctx context.Context, req network.CreateRequest) (*Record, error) {
	if IsPredefined(req.Name) {
		return nil, errdefs.Forbidden(fmt.Errorf("operation is not permitted on predefined %s network ", req.Name))
	}
	if req.Name == "" {
		return nil, errdefs.InvalidParameterf("network name is required")
	}
	driver := req.Driver
	if driver == "" {
		driver = DriverBridge
	}
	switch driver {
	case DriverBridge, DriverMacvlan, DriverIPvlan:
	case DriverHost, DriverNull:
		return nil, errdefs.Forbidden(fmt.Errorf("only one instance of %q network is allowed", driver))
	case "overlay":
		return nil, errdefs.Forbidden(errors.New(`This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" to connect this node to swarm and try again.`))
	default:
		// A network driver plugin's (remote.go).
		if _, err := m.remoteDriver(ctx, driver); err != nil {
			return nil, err
		}
	}
	if req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "" {
		return nil, errdefs.NotImplemented(errors.New("config-only networks are not supported by berth"))
	}
	if req.Ingress {
		return nil, errdefs.Forbidden(errors.New("ingress networks need swarm mode, which berth does not provide"))
	}
	opts := maps.Clone(req.Options)
	if opts == nil {
		opts = map[string]string{}
	}
	enable4, enable6 := true, false
	if req.EnableIPv4 != nil {
		enable4 = *req.EnableIPv4
		delete(opts, OptEnableIPv4)
	} else if v, ok := opts[OptEnableIPv4]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errdefs.InvalidParameterf("driver-opt %q is not a valid bool", OptEnableIPv4)
		}
		enable4 = b
	}
	if req.EnableIPv6 != nil {
		enable6 = *req.EnableIPv6
		delete(opts, OptEnableIPv6)
	} else if v, ok := opts[OptEnableIPv6]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errdefs.InvalidParameterf("driver-opt %q is not a valid bool", OptEnableIPv6)
		}
		enable6 = b
	}
	if !enable4 && !enable6 {
		return nil, errdefs.InvalidParameterf("IPv4 or IPv6 must be enabled")
	}
	ipamDriver := "default"
	var ipamOpts map[string]string
	var ipamCfg []network.IPAMConfig
	if req.IPAM != nil {
		if req.IPAM.Driver != "" {
			ipamDriver = req.IPAM.Driver
		}
		ipamOpts = maps.Clone(req.IPAM.Options)
		ipamCfg = req.IPAM.Config
		if err := ValidateIPAMConfig(ipamCfg, enable6); err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	if ipamDriver != "default" {
		return nil, errdefs.NotFoundf("could not find plugin %s in v1 plugin registry: plugin not found", ipamDriver)
	}
	for _, c := range ipamCfg {
		if !enable4 && c.Subnet.Addr().Is4() && c.Subnet.IsValid() {
			return nil, errdefs.InvalidParameterf("invalid network config:\nIPv4 subnet %s given but IPv4 is disabled", c.Subnet)
		}
	}
	if driver == DriverBridge && enable6 {
		for _, c := range ipamCfg {
			if c.Subnet.Addr().Is6() {
				if err := ValidateIPv6Subnet(c.Subnet); err != nil {
					return nil, errdefs.InvalidParameter(err)
				}
			}
		}
	}
	for _, k := range []string{OptEnableICC, OptEnableIPMasq, OptInhibitIPv4} {
		if v, ok := opts[k]; ok {
			if _, err := strconv.ParseBool(v); err != nil {
				return nil, errdefs.InvalidParameterf("failed to parse %s value: %q: invalid syntax", k, v)
			}
		}
	}
	if err := validateAdvertiseOpts(opts); err != nil {
		return nil, errdefs.InvalidParameter(err)
	}
	for _, k := range []string{OptGwModeIPv4, OptGwModeIPv6} {
		v, ok := opts[k]
		if !ok || driver != DriverBridge {
			continue
		}
		switch v {
		case GwModeNAT, GwModeUnprotected, GwModeRouted:
		case GwModeIsolated:
			if !req.Internal {
				return nil, errdefs.InvalidParameterf("gateway mode 'isolated' can only be used for an internal network")
			}
		default:
			return nil, errdefs.InvalidParameterf("failed to parse %s value: %s (unknown gateway mode %s)", k, v, v)
		}
	}
	if v, ok := opts[OptHostBindingV4]; ok {
		if _, err := netip.ParseAddr(v); err != nil {
			return nil, errdefs.InvalidParameterf("failed to parse %s value: %v (nil ip)", OptHostBindingV4, v)
		}
	}
	if v, ok := opts[OptMTU]; ok {
		mtu, err := strconv.Atoi(v)
		if err != nil || mtu < 68 || mtu > 65535 {
			return nil, errdefs.InvalidParameterf("invalid MTU number: %s", v)
		}
	}
	if v, ok := opts[OptBridgeName]; ok && (v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t\n:")) {
		return nil, errdefs.InvalidParameterf("invalid bridge name %q", v)
	}
	var vc *vlanConfig
	if isVlanDriver(driver) {
		var err error
		if vc, err = parseVlanOptions(driver, opts); err != nil {
			return nil, err
		}
	}

	if err := m.waitReady(ctx); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.nets {
		if r.Name == req.Name {
			return nil, errdefs.Conflictf("network with name %s already exists", req.Name)
		}
	}
	id := stringid.GenerateRandomID()
	brName, parent := opts[OptBridgeName], ""
	if vc != nil {
		brName, parent = "", vc.parent
		if parent == "" {
			parent = dummyParent(driver, id)
		}
		if err := m.checkParentLocked(vc, parent); err != nil {
			return nil, err
		}
	} else if isRemoteDriver(driver) {
		brName = ""
	} else if brName == "" {
		brName = "br-" + id[:12]
	}
	for _, r := range m.nets {
		if brName != "" && r.Bridge == brName {
			return nil, errdefs.Conflictf("bridge name %s is already in use by network %s", brName, r.Name)
		}
	}
	var reqs []ipam.Request
	for _, c := range ipamCfg {
		reqs = append(reqs, ipam.Request{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway, Aux: c.AuxAddress})
	}
	reqs = ipamRequestsFor(vc, req.Internal, reqs)
	if vc == nil {
		reqs = bridgeGatewayless(opts, req.Internal, reqs)
	}
	subs, err := m.ipam.AddNetwork(id, reqs, enable4, enable6)
	if err != nil {
		return nil, err
	}
	r := &Record{
		ID: id, Name: req.Name, Driver: driver, Created: time.Now().UTC(),
		EnableIPv4: enable4, EnableIPv6: enable6,
		Internal: req.Internal, Attachable: req.Attachable,
		IPAMDriver: ipamDriver, IPAMOptions: ipamOpts, IPAMConfig: ipamConfigFor(subs, ipamCfg),
		Options: opts, Labels: maps.Clone(req.Labels), Bridge: brName, Parent: parent,
		Endpoints: map[string]*Endpoint{},
	}
	if vc != nil {
		return m.createVlanLocked(r)
	}
	if isRemoteDriver(driver) {
		return m.createRemoteLocked(ctx, r)
	}
	existed := bridge.Exists(brName)
	undo := func() {
		if m.fw != nil {
			m.fw.RemoveNetwork(id)
		}
		if !existed {
			bridge.Delete(brName)
		}
		m.ipam.RemoveNetwork(id)
	}
	if err := m.ensureBridgeLocked(r); err != nil {
		undo()
		return nil, errdefs.System(fmt.Errorf("failed to create network %s: %w", req.Name, err))
	}
	faultpoint.Hit("network.create.after-bridge")
	if err := m.persistLocked(r); err != nil {
		undo()
		return nil, err
	}
	m.nets[id] = r
	return r.clone(), nil
}

// Remove deletes a network with no endpoints: its rules, its bridge, its
// addresses and its record, in that order, so that a crash half way leaves
// a record the next start can still see and remove.
func (m *Manager) Remove(ctx context.Context, term string) (*Record, error) {
	m.waitReady(ctx)
	m.mu.Lock()
	r, err := m.findLocked(term)
	if err != nil {
		m.mu.Unlock()
		return nil, err
	}
	err = m.removeLocked(r)
	m.mu.Unlock()
	if err != nil {
		return r.clone(), err
	}
	return r.clone(), m.syncRecord(r.ID)
}

func (m *Manager) removeLocked(r *Record) error {
	if r.Predefined || IsPredefined(r.Name) {
		return errdefs.Forbidden(fmt.Errorf("%s is a pre-defined network and cannot be removed", r.Name))
	}
	if len(r.Endpoints) > 0 {
		return errdefs.Forbidden(fmt.Errorf("error while removing network: network %s id %s has active endpoints", r.Name, r.ID))
	}
	if isRemoteDriver(r.Driver) {
		if err := m.deleteRemoteLocked(r); err != nil {
			return err
		}
	}
	if m.fw != nil {
		if err := m.fw.RemoveNetwork(r.ID); err != nil {
			return errdefs.System(fmt.Errorf("error while removing network: %w", err))
		}
	}
	if r.Bridge != "" {
		if err := bridge.Delete(r.Bridge); err != nil {
			return errdefs.System(fmt.Errorf("error while removing network: %w", err))
		}
	}
	faultpoint.Hit("network.rm.after-bridge")
	if r.Parent != "" {
		m.releaseParentLocked(r)
	}
	if err := m.ipam.RemoveNetwork(r.ID); err != nil {
		return err
	}
	// The record's file goes in the caller's syncRecord, after any write
	// of it still under way.
	delete(m.nets, r.ID)
	m.touchRecordLocked(r)
	return nil
}

// PruneFilters are the filters POST /networks/prune accepts.
var PruneFilters = map[string]bool{"until": true, "label": true, "label!": true}

// Prune removes every unused user-defined network the filters select and
// returns them.
func (m *Manager) Prune(ctx context.Context, f filters.Args) ([]*Record, error) {
	if err := f.Validate(PruneFilters); err != nil {
		return nil, err
	}
	var until time.Time
	if vals := f.Get("until"); len(vals) > 0 {
		if len(vals) > 1 {
			return nil, errdefs.InvalidParameterf("more than one until filter specified")
		}
		ts, err := timestamp.FromHuman(vals[0], time.Now())
		if err == nil {
			until, err = timestamp.ParseTime(ts)
		}
		if err != nil {
			return nil, errdefs.InvalidParameter(err)
		}
	}
	m.waitReady(ctx)
	m.mu.Lock()
	removed, err := m.pruneLocked(ctx, f, until)
	m.mu.Unlock()
	var errs []error
	for _, r := range removed {
		errs = append(errs, m.syncRecord(r.ID))
	}
	if err == nil {
		err = errors.Join(errs...)
	}
	return removed, err
}

// pruneLocked removes the networks Prune selects, in memory and on the
// host; m.mu is held.
func (m *Manager) pruneLocked(ctx context.Context, f filters.Args, until time.Time) ([]*Record, error) {
	var removed []*Record
	for _, r := range m.sortedLocked() {
		if r.Predefined || IsPredefined(r.Name) || len(r.Endpoints) > 0 {
			continue
		}
		if !until.IsZero() && !r.Created.Before(until) {
			continue
		}
		if !f.MatchKVList("label", r.Labels) {
			continue
		}
		if f.Contains("label!") {
			skip := false
			for _, v := range f.Get("label!") {
				k, want, hasV := strings.Cut(v, "=")
				if got, ok := r.Labels[k]; ok && (!hasV || got == want) {
					skip = true
				}
			}
			if skip {
				continue
			}
		}
		if err := ctx.Err(); err != nil {
			return removed, err
		}
		if err := m.removeLocked(r); err != nil {
			continue
		}
		removed = append(removed, r)
	}
	return removed, nil
}
