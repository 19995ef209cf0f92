package firewall

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// portElems sorts ports into the elements of one family's sets.
func (x *tx) portElems(ports []Port, v6 bool) (specific, any, loop []nftables.SetElement) {
	for _, p := range ports {
		if p.OpenOnly || p.is6() != v6 {
			continue
		}
		proto, _ := protoNum(p.Proto)
		val := append(p.ContainerIP.AsSlice(), port32(p.ContainerPort)...)
		if p.anyHost() {
			any = append(any, nftables.SetElement{Key: append(proto32(proto), port32(p.HostPort)...), Val: val})
			continue
		}
		key := slices.Concat(p.HostIP.AsSlice(), proto32(proto), port32(p.HostPort))
		if p.HostIP.IsLoopback() {
			loop = append(loop, nftables.SetElement{Key: key})
			if v6 {
				// Never DNATed (see the layout): its socket serves it.
				continue
			}
		}
		specific = append(specific, nftables.SetElement{Key: key, Val: val})
	}
	return
}

func (x *tx) addPorts(ports []Port) { x.setPorts(ports, true) }

func (x *tx) delPorts(ports []Port) { x.setPorts(ports, false) }

// setPorts adds or deletes the ports' elements in both families' sets. A
// large change is sent in more than one batch, so the order is kept safe
// at every batch boundary: the drop-remote-loopback guard is filled before
// the DNAT maps, and emptied after them, so that a port published on
// loopback is never DNATed without its guard.
func (x *tx) setPorts(ports []Port, add bool) {
	l := x.l
	for _, fam := range []struct {
		v6                        bool
		loop, dnat, dnatAny, self *nftables.Set
	}{{false, l.loop4, l.dnat4, l.dnat4any, l.self4}, {true, l.loop6, l.dnat6, l.dnat6any, l.self6}} {
		s, a, lo := x.portElems(ports, fam.v6)
		steps := []struct {
			set *nftables.Set
			els []nftables.SetElement
		}{{fam.loop, lo}, {fam.dnat, s}, {fam.dnatAny, a}}
		if x.f.opts.UserlandProxy {
			steps = append(steps, struct {
				set *nftables.Set
				els []nftables.SetElement
			}{fam.self, x.selfElems(ports, fam.v6, add)})
		}
		if !add {
			slices.Reverse(steps)
		}
		for _, st := range steps {
			x.elems(st.set, add, st.els)
		}
	}
}

// selfElems are the self-set elements of ports of a family: the
// container's address, the protocol and the host port, once each. When
// deleting, an element another published port still needs is kept.
func (x *tx) selfElems(ports []Port, v6, add bool) []nftables.SetElement {
	key := func(p Port) string { return fmt.Sprintf("%s/%s/%d", p.Proto, p.ContainerIP, p.HostPort) }
	keep := map[string]bool{}
	if !add {
		for _, p := range x.f.ports {
			keep[key(p)] = true
		}
	}
	var out []nftables.SetElement
	for _, p := range ports {
		if p.OpenOnly || p.is6() != v6 || p.ContainerIP.Is6() != v6 || keep[key(p)] {
			continue
		}
		keep[key(p)] = true
		proto, _ := protoNum(p.Proto)
		out = append(out, nftables.SetElement{Key: slices.Concat(p.ContainerIP.AsSlice(), proto32(proto), port32(p.HostPort))})
	}
	return out
}

// setOpen adds or deletes the open-port elements of ports (one each).
func (x *tx) setOpen(ports []Port, add bool) {
	var e4, e6 []nftables.SetElement
	for _, p := range ports {
		proto, _ := protoNum(p.Proto)
		key := slices.Concat(p.ContainerIP.AsSlice(), proto32(proto), port32(p.ContainerPort))
		if p.ContainerIP.Is6() {
			e6 = append(e6, nftables.SetElement{Key: key})
		} else {
			e4 = append(e4, nftables.SetElement{Key: key})
		}
	}
	x.elems(x.l.open4, add, e4)
	x.elems(x.l.open6, add, e6)
}

func ifkey(name string) []byte {
	b := make([]byte, 16)
	copy(b, name)
	return b
}

// port32 and proto32 are a port and a protocol as concatenations hold
// them: network byte order, padded to 4 bytes.
func port32(p uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, p)
	return b
}

func proto32(p byte) []byte { return []byte{p, 0, 0, 0} }
