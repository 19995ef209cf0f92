package firewall

import (
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
)

// A netlink batch is sent with one sendmsg, which must fit the socket's
// send buffer (net.core.wmem_default, 208 KiB on most hosts), and every
// message in it is acknowledged into the receive buffer of the same size,
// each ack costing about a page of buffer: too many messages is the
// ENOBUFS that made network creation fail. Batches are cut well below
// both, and element lists are split across messages.
const (
	maxBatchMsgs   = 96
	maxBatchBytes  = 64 << 10
	maxElemsPerMsg = 256
	costRule       = 512
	costElem       = 64
	costObject     = 256
)

// tx queues changes and flushes them in bounded batches. A change that
// fits one batch is atomic; a bigger one is not, and a failure part-way
// is repaired by rewriting the whole table (Firewall.commit).
type tx struct {
	f     *Firewall
	l     *layout
	c     *nftables.Conn
	msgs  int
	bytes int
	err   error
}

func (f *Firewall) newTx() (*tx, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, err
	}
	return &tx{f: f, l: f.layout(), c: c}, nil
}

// room makes space for a message of the given size, sending what is
// queued if it would not fit.
func (x *tx) room(bytes int) bool {
	if x.err != nil {
		return false
	}
	if x.msgs > 0 && (x.msgs+1 > maxBatchMsgs || x.bytes+bytes > maxBatchBytes) {
		x.send()
	}
	x.msgs++
	x.bytes += bytes
	return x.err == nil
}

func (x *tx) send() {
	if x.err != nil || x.msgs == 0 {
		return
	}
	if err := x.c.Flush(); err != nil {
		x.err = fmt.Errorf("program nftables table %s: %w", x.f.table, err)
	}
	x.msgs, x.bytes = 0, 0
}

func (x *tx) flush() error {
	x.send()
	return x.err
}

func (x *tx) rule(ch *nftables.Chain, tag string, exprs ...expr.Any) {
	if !x.room(costRule) {
		return
	}
	r := &nftables.Rule{Table: x.l.t, Chain: ch, Exprs: exprs}
	if tag != "" {
		r.UserData = userdata.AppendString(nil, userdata.TypeComment, tag)
	}
	x.c.AddRule(r)
}

func (x *tx) elems(s *nftables.Set, add bool, els []nftables.SetElement) {
	for len(els) > 0 {
		n := min(len(els), maxElemsPerMsg)
		if !x.room(costObject + n*costElem) {
			return
		}
		var err error
		if add {
			err = x.c.SetAddElements(s, els[:n])
		} else {
			err = x.c.SetDeleteElements(s, els[:n])
		}
		if err != nil {
			x.err = err
			return
		}
		els = els[n:]
	}
}
