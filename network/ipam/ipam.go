package ipam

import (
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/berthd/berth/pkg/errdefs"
)

// Pool is one entry of default-address-pools: subnets of Size bits are
// carved out of Base.
type Pool struct {
	Base netip.Prefix `json:"base"`
	Size int          `json:"size"`
}

// DefaultPools are dockerd's built-in IPv4 pools: 172.17-31.0.0/16 as /16s,
// then 192.168.0.0/16 as /20s.
func DefaultPools() []Pool {
	var pools []Pool
	for i := 17; i <= 31; i++ {
		pools = append(pools, Pool{Base: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16), Size: 16})
	}
	return append(pools, Pool{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20})
}

// DefaultV6Pool is a unique-local /48 derived from seed (the engine ID), split
// into /64s, as dockerd does when no IPv6 pool is configured: stable across
// restarts of one engine, different between engines.
func DefaultV6Pool(seed string) Pool {
	h := sha256.Sum256([]byte(seed))
	var b [16]byte
	b[0] = 0xfd
	copy(b[1:6], h[:5])
	return Pool{Base: netip.PrefixFrom(netip.AddrFrom16(b), 48), Size: 64}
}

// Request asks for one subnet of a network. A zero Subnet means "pick one from
// the default pools".
type Request struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix
	Gateway netip.Addr
	Aux     map[string]netip.Addr
	// NoGateway leaves the subnet without a gateway address unless Gateway
	// names one: dockerd reserves none for internal macvlan and ipvlan
	// networks nor for ipvlan l3, whose default route is the device. On a
	// request without a subnet it applies to the subnets taken from the
	// pools.
	NoGateway bool
	// Family limits a request without a subnet to one family's pool
	// subnets: 4 or 6, 0 for both.
	Family int
}

// Subnet is one allocated subnet of a network.
type Subnet struct {
	Prefix  netip.Prefix          `json:"prefix"`
	IPRange netip.Prefix          `json:"ipRange,omitzero"`
	Gateway netip.Addr            `json:"gateway,omitzero"`
	Aux     map[string]netip.Addr `json:"aux,omitempty"`
	// Auto is true when the subnet came from a default pool, which
	// dockerd reports the same way as a requested one.
	Auto bool `json:"auto,omitempty"`
	// Addrs maps every address given out to its owner.
	Addrs map[netip.Addr]string `json:"addrs"`
	// Next was where the dynamic search resumed. dockerd's local IPAM
	// hands out the lowest free address instead (a released one comes
	// back at once; only swarm's allocator goes serially), and so does
	// berth now: kept so that older state files load.
	Next netip.Addr `json:"next,omitzero"`
}

// Is6 reports whether this is an IPv6 subnet.
func (s *Subnet) Is6() bool { return s.Prefix.Addr().Is6() }

func (s *Subnet) clone() Subnet {
	c := *s
	c.Aux = maps.Clone(s.Aux)
	c.Addrs = maps.Clone(s.Addrs)
	return c
}

// dynamicRange is where dynamic addresses come from.
func (s *Subnet) dynamicRange() netip.Prefix {
	if s.IPRange.IsValid() {
		return s.IPRange
	}
	return s.Prefix
}

// usable reports whether a may be given to an endpoint: inside the subnet,
// not the IPv4 network or broadcast address, not the IPv6 subnet-router
// anycast address (none of which a point-to-point subnet has).
func (s *Subnet) usable(a netip.Addr) bool {
	if !s.Prefix.Contains(a) {
		return false
	}
	// A point-to-point subnet (/31, /127 or longer) has no network
	// address to keep free (RFC 3021); dockerd gives both out.
	if a == s.Prefix.Masked().Addr() && s.Prefix.Bits() < s.Prefix.Addr().BitLen()-1 {
		return false
	}
	if a.Is4() && s.Prefix.Bits() < 31 && a == lastAddr(s.Prefix) {
		return false
	}
	return true
}

// Owners recorded for addresses that are not endpoints.
const (
	OwnerGateway = "gateway"
	auxPrefix    = "aux:"
)

// Errors with dockerd's wording, classified so the API maps them to the
// status dockerd uses.
var (
	ErrPoolOverlap   = errdefs.Forbidden(errors.New("invalid pool request: Pool overlaps with other one on this address space"))
	ErrNoMoreSubnets = errdefs.Forbidden(errors.New("all predefined address pools have been fully subnetted"))
	ErrNoAvailableIP = errdefs.Unavailable(errors.New("no available addresses on this pool"))
	ErrIPInUse       = errdefs.Conflict(errors.New("Address already in use"))
)

type state struct {
	Networks map[string][]*Subnet `json:"networks"`
}

// Allocator hands out subnets and addresses. It is safe for concurrent use.
type Allocator struct {
	mu     sync.Mutex
	path   string
	pools4 []Pool
	pools6 []Pool
	st     state
	// files are the networks' state files, written outside mu (sync.go).
	files map[string]*netFile

	// HostConflict, when set, reports whether a candidate subnet from a
	// default pool collides with an address or route already on the host;
	// such subnets are skipped so that berth never shadows the host's own
	// networks (dockerd does the same).
	HostConflict func(netip.Prefix) bool
}

// Open loads the allocations persisted in dir, one file per network
// (none if dir does not exist), and serves new ones from pools4 and
// pools6. The state of older versions, all networks in one file beside
// dir (dir + ".json"), is moved into dir.
func Open(dir string, pools4, pools6 []Pool) (*Allocator, error) {
	a := &Allocator{path: dir, pools4: pools4, pools6: pools6, st: state{Networks: map[string][]*Subnet{}}, files: map[string]*netFile{}}
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		var subs []*Subnet
		if err := json.Unmarshal(b, &subs); err != nil {
			return nil, fmt.Errorf("ipam state %s: %w", filepath.Join(dir, e.Name()), err)
		}
		a.st.Networks[id] = subs
	}
	if err := a.migrate(dir + ".json"); err != nil {
		return nil, err
	}
	for _, subs := range a.st.Networks {
		for _, s := range subs {
			if s.Addrs == nil {
				s.Addrs = map[netip.Addr]string{}
			}
		}
	}
	return a, nil
}

// migrate moves the networks of an older version's single state file
// into their own files, then removes it.
func (a *Allocator) migrate(legacy string) error {
	b, err := os.ReadFile(legacy)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	var old state
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("ipam state %s: %w", legacy, err)
	}
	for id, subs := range old.Networks {
		if _, ok := a.st.Networks[id]; ok {
			continue
		}
		a.st.Networks[id] = subs
		if err := a.save(id); err != nil {
			return err
		}
	}
	return os.Remove(legacy)
}

// save puts network id's state on disk at once, synced with its directory,
// under a.mu: for a network's creation (and the migration of an old
// state file), which no container start waits behind. One file per
// network makes a change cost the same with 500 networks as with one.
// Every later change goes through Sync (sync.go).
func (a *Allocator) save(id string) error {
	if a.path == "" {
		return nil
	}
	subs, ok := a.st.Networks[id]
	var b []byte
	if ok {
		var err error
		if b, err = json.Marshal(subs); err != nil {
			return err
		}
	}
	return a.writeState(id, ok, b, true)
}

func (a *Allocator) overlapsAny(p netip.Prefix) bool {
	for _, subs := range a.st.Networks {
		for _, s := range subs {
			if s.Prefix.Overlaps(p) {
				return true
			}
		}
	}
	return false
}

// AddNetwork allocates the subnets of network id: one per request, plus one
// from the default pools for each wanted family that no request covers.
// Requests of a family that is not wanted are ignored. It is all or
// nothing: on error nothing is kept.
func (a *Allocator) AddNetwork(id string, reqs []Request, want4, want6 bool) ([]Subnet, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.st.Networks[id]; ok {
		return nil, errdefs.Conflictf("ipam: network %s already has subnets", id)
	}
	var subs []*Subnet
	// Put each into state as soon as it is made, so that a second request
	// of the same call cannot overlap it; roll back on error.
	a.st.Networks[id] = nil
	fail := func(err error) ([]Subnet, error) {
		delete(a.st.Networks, id)
		return nil, err
	}
	have4, have6 := false, false
	for _, r := range reqs {
		if !r.Subnet.IsValid() {
			continue
		}
		is6 := r.Subnet.Addr().Is6()
		if (is6 && !want6) || (!is6 && !want4) {
			continue
		}
		s, err := a.makeSubnet(r, false)
		if err != nil {
			return fail(err)
		}
		subs = append(subs, s)
		a.st.Networks[id] = subs
		have4, have6 = have4 || !is6, have6 || is6
	}
	for _, fam := range []struct {
		want, have bool
		pools      []Pool
		req        *Request
	}{{want4, have4, a.pools4, reqFor(reqs, false)}, {want6, have6, a.pools6, reqFor(reqs, true)}} {
		if !fam.want || fam.have {
			continue
		}
		p, err := a.pickFromPools(fam.pools)
		if err != nil {
			return fail(err)
		}
		r := Request{Subnet: p, NoGateway: poolNoGateway(reqs, p.Addr().Is6())}
		if fam.req != nil {
			// A gateway or aux address given without a subnet cannot be
			// honoured reliably; dockerd's CLI refuses it before here.
			r.Aux = fam.req.Aux
		}
		s, err := a.makeSubnet(r, true)
		if err != nil {
			return fail(err)
		}
		subs = append(subs, s)
		a.st.Networks[id] = subs
	}
	a.st.Networks[id] = subs
	if err := a.save(id); err != nil {
		return fail(err)
	}
	out := make([]Subnet, len(subs))
	for i, s := range subs {
		out[i] = s.clone()
	}
	return out, nil
}

// reqFor finds a subnet-less request of a family (one that only carries
// aux addresses).
func reqFor(reqs []Request, is6 bool) *Request {
	for i := range reqs {
		r := &reqs[i]
		if r.Subnet.IsValid() {
			continue
		}
		for _, a := range r.Aux {
			if a.Is6() == is6 {
				return r
			}
		}
	}
	return nil
}

// poolNoGateway reports whether a request without a subnet asks for
// gateway-less pool subnets of the family.
func poolNoGateway(reqs []Request, is6 bool) bool {
	fam := 4
	if is6 {
		fam = 6
	}
	for _, r := range reqs {
		if !r.Subnet.IsValid() && r.NoGateway && (r.Family == 0 || r.Family == fam) {
			return true
		}
	}
	return false
}

// pickFromPools returns the first subnet of the pools that no network has
// and the host does not route. The subnets taken in a pool are turned into
// spans of candidate indexes once, so that a pick costs O(networks log
// networks) and not, as a scan testing every candidate against every
// network would, O(networks²): the 500th network is made as fast as the
// first.
func (a *Allocator) pickFromPools(pools []Pool) (netip.Prefix, error) {
	for _, pool := range pools {
		n := subnetCount(pool.Base, pool.Size)
		taken := a.takenSpans(pool, n)
		next := uint64(0) // first index not known to be taken
		for _, sp := range append(taken, span{n, n}) {
			for ; next < sp.lo && next < n; next++ {
				cand := nthSubnet(pool.Base, pool.Size, next)
				if !pool.Base.Contains(cand.Addr()) {
					break
				}
				if a.HostConflict != nil && a.HostConflict(cand) {
					continue
				}
				return cand, nil
			}
			next = max(next, sp.hi+1)
		}
	}
	return netip.Prefix{}, ErrNoMoreSubnets
}

// span is an inclusive range of candidate indexes.
type span struct{ lo, hi uint64 }

// takenSpans lists, sorted, the candidate indexes of pool (n of them)
// that overlap a network's subnet.
func (a *Allocator) takenSpans(pool Pool, n uint64) []span {
	var out []span
	base := pool.Base.Masked()
	for _, subs := range a.st.Networks {
		for _, s := range subs {
			p := s.Prefix.Masked()
			if !p.Overlaps(base) || p.Addr().Is4() != base.Addr().Is4() {
				continue
			}
			switch {
			case p.Bits() <= base.Bits():
				// It holds the whole pool.
				out = append(out, span{0, n})
			case p.Bits() >= pool.Size:
				i := subnetIndex(base, pool.Size, p.Addr(), n)
				out = append(out, span{i, i})
			default:
				lo := subnetIndex(base, pool.Size, p.Addr(), n)
				hi := subnetIndex(base, pool.Size, lastAddr(p), n)
				out = append(out, span{lo, hi})
			}
		}
	}
	slices.SortFunc(out, func(x, y span) int { return cmp.Compare(x.lo, y.lo) })
	return out
}

func (a *Allocator) makeSubnet(r Request, auto bool) (*Subnet, error) {
	p := r.Subnet.Masked()
	if !auto && a.overlapsAny(p) {
		return nil, ErrPoolOverlap
	}
	s := &Subnet{Prefix: p, IPRange: r.IPRange.Masked(), Gateway: r.Gateway, Aux: maps.Clone(r.Aux), Auto: auto, Addrs: map[netip.Addr]string{}}
	if !r.IPRange.IsValid() {
		s.IPRange = netip.Prefix{}
	}
	if !s.Gateway.IsValid() && !r.NoGateway {
		// dockerd's bridge takes the first address of the subnet.
		s.Gateway = p.Addr().Next()
		if !s.usable(s.Gateway) {
			s.Gateway = netip.Addr{}
		}
	}
	if s.Gateway.IsValid() {
		s.Addrs[s.Gateway] = OwnerGateway
	}
	names := slices.Sorted(maps.Keys(s.Aux))
	for _, name := range names {
		addr := s.Aux[name]
		if !p.Contains(addr) {
			continue
		}
		if _, taken := s.Addrs[addr]; !taken {
			s.Addrs[addr] = auxPrefix + name
		}
	}
	return s, nil
}

// RemoveNetwork releases every subnet and address of network id.
func (a *Allocator) RemoveNetwork(id string) error {
	a.mu.Lock()
	old, ok := a.st.Networks[id]
	if !ok {
		a.mu.Unlock()
		return nil
	}
	delete(a.st.Networks, id)
	a.touchLocked(id, true)
	a.mu.Unlock()
	if err := a.Sync(id); err != nil {
		a.mu.Lock()
		if _, again := a.st.Networks[id]; !again {
			a.st.Networks[id] = old
			a.touchLocked(id, true)
		}
		a.mu.Unlock()
		return err
	}
	a.mu.Lock()
	if _, again := a.st.Networks[id]; !again {
		delete(a.files, id)
	}
	a.mu.Unlock()
	return nil
}

// Subnets returns copies of network id's subnets, IPv4 first.
func (a *Allocator) Subnets(id string) []Subnet {
	a.mu.Lock()
	defer a.mu.Unlock()
	subs := a.st.Networks[id]
	out := make([]Subnet, len(subs))
	for i, s := range subs {
		out[i] = s.clone()
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Is6() && out[j].Is6() })
	return out
}

// Networks lists the IDs that hold allocations, for reconciling with the
// network store after a crash.
func (a *Allocator) Networks() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Sorted(maps.Keys(a.st.Networks))
}

// RequestAddress gives owner an address of network id in the given family
// and puts it on disk: Reserve, then Sync.
func (a *Allocator) RequestAddress(id string, v6 bool, want netip.Addr, owner string) (netip.Prefix, error) {
	p, err := a.Reserve(id, v6, want, owner)
	if err != nil {
		return p, err
	}
	if err := a.Sync(id); err != nil {
		a.unreserve(id, p.Addr(), owner)
		return netip.Prefix{}, err
	}
	return p, nil
}

// Reserve gives owner an address of network id in the given family, in
// memory only: the caller puts it on disk with Sync once it has released
// its own locks (a start's network join must not hold the network
// manager's lock through an fsync). A valid want asks for that address (a
// static --ip); otherwise the next free one of the subnet's ip-range is
// taken. The result carries the subnet's prefix length.
func (a *Allocator) Reserve(id string, v6 bool, want netip.Addr, owner string) (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	subs, ok := a.st.Networks[id]
	if !ok {
		return netip.Prefix{}, errdefs.NotFoundf("ipam: network %s has no subnets", id)
	}
	if want.IsValid() {
		want = want.Unmap()
		for _, s := range subs {
			if !s.Prefix.Contains(want) {
				continue
			}
			if !s.usable(want) {
				return netip.Prefix{}, errdefs.InvalidParameterf("invalid address %s: it is the network or broadcast address of %s", want, s.Prefix)
			}
			if _, taken := s.Addrs[want]; taken {
				return netip.Prefix{}, ErrIPInUse
			}
			s.Addrs[want] = owner
			a.touchLocked(id, false)
			return netip.PrefixFrom(want, s.Prefix.Bits()), nil
		}
		return netip.Prefix{}, errdefs.InvalidParameterf("Invalid address %s: It does not belong to any of this network's subnets", want)
	}
	for _, s := range subs {
		if s.Is6() != v6 {
			continue
		}
		addr, ok := s.nextFree()
		if !ok {
			continue
		}
		s.Addrs[addr] = owner
		a.touchLocked(id, false)
		return netip.PrefixFrom(addr, s.Prefix.Bits()), nil
	}
	return netip.Prefix{}, ErrNoAvailableIP
}

// maxScan bounds one search for a free address: an IPv6 /64 is never full
// in practice, and an IPv4 subnet is at most 2^24 addresses.
const maxScan = 1 << 24

// nextFree is the lowest free address of the dynamic range.
func (s *Subnet) nextFree() (netip.Addr, bool) {
	r := s.dynamicRange()
	last := lastAddr(r)
	a := r.Masked().Addr()
	for n := 0; n < maxScan; n++ {
		if _, taken := s.Addrs[a]; !taken && s.usable(a) {
			return a, true
		}
		if a == last {
			break
		}
		a = a.Next()
	}
	return netip.Addr{}, false
}

// ReleaseAddress frees addr in network id. Releasing an address that is
// not allocated is not an error, so that cleanup after a crash can repeat.
func (a *Allocator) ReleaseAddress(id string, addr netip.Addr) error {
	a.mu.Lock()
	addr = addr.Unmap()
	var owner string
	var from *Subnet
	for _, s := range a.st.Networks[id] {
		o, ok := s.Addrs[addr]
		if !ok || o == OwnerGateway || len(o) > len(auxPrefix) && o[:len(auxPrefix)] == auxPrefix {
			continue
		}
		delete(s.Addrs, addr)
		owner, from = o, s
		a.touchLocked(id, false)
	}
	a.mu.Unlock()
	if from == nil {
		return nil
	}
	if err := a.Sync(id); err != nil {
		a.mu.Lock()
		if _, taken := from.Addrs[addr]; !taken {
			from.Addrs[addr] = owner
			a.touchLocked(id, false)
		}
		a.mu.Unlock()
		return err
	}
	return nil
}

// EndpointOwners lists the owners of the addresses given out in network
// id other than its gateway and auxiliary addresses: the endpoints.
func (a *Allocator) EndpointOwners(id string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	set := map[string]bool{}
	for _, s := range a.st.Networks[id] {
		for _, o := range s.Addrs {
			if o != OwnerGateway && !strings.HasPrefix(o, auxPrefix) {
				set[o] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// ReleaseOwner frees every address owner holds in network id, puts that
// on disk, and returns them. The addresses are free in memory even when
// the write fails (the error says so): kept, they would be held for good.
func (a *Allocator) ReleaseOwner(id, owner string) ([]netip.Addr, error) {
	freed := a.Unreserve(id, owner)
	if len(freed) == 0 {
		return nil, nil
	}
	return freed, a.Sync(id)
}

// Unreserve frees every address owner holds in network id, in memory only
// (see Reserve), and returns them.
func (a *Allocator) Unreserve(id, owner string) []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	var freed []netip.Addr
	for _, s := range a.st.Networks[id] {
		for addr, o := range s.Addrs {
			if o == owner {
				delete(s.Addrs, addr)
				freed = append(freed, addr)
			}
		}
	}
	if len(freed) > 0 {
		a.touchLocked(id, false)
	}
	return freed
}

// unreserve undoes one Reserve whose Sync failed, unless the address
// changed hands since.
func (a *Allocator) unreserve(id string, addr netip.Addr, owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.st.Networks[id] {
		if s.Addrs[addr] == owner {
			delete(s.Addrs, addr)
			a.touchLocked(id, false)
		}
	}
}

// Status counts the addresses in use and still free for dynamic
// allocation in each subnet of network id (GET /networks/{id} Status,
// API 1.52+).
func (a *Allocator) Status(id string) map[netip.Prefix][2]uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[netip.Prefix][2]uint64{}
	for _, s := range a.st.Networks[id] {
		inUse := uint64(len(s.Addrs))
		r := s.dynamicRange()
		hostBits := r.Addr().BitLen() - r.Bits()
		var total uint64
		if hostBits >= 64 {
			total = ^uint64(0)
		} else {
			total = 1 << hostBits
		}
		// Exclude unusable and taken addresses inside the dynamic range.
		var taken uint64
		for addr := range s.Addrs {
			if r.Contains(addr) {
				taken++
			}
		}
		unusable := uint64(1)
		if !s.Is6() && s.Prefix.Bits() < 31 {
			if r.Contains(lastAddr(s.Prefix)) {
				unusable++
			}
		}
		if !r.Contains(s.Prefix.Masked().Addr()) {
			unusable--
		}
		free := uint64(0)
		if total != ^uint64(0) && total > taken+unusable {
			free = total - taken - unusable
		} else if total == ^uint64(0) {
			free = total
		}
		out[s.Prefix] = [2]uint64{inUse, free}
	}
	return out
}
