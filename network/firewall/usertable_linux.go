package firewall

import (
	"errors"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"
)

// UserTable is the table berth makes for administrators' rules beside
// its own table: berth's DOCKER-USER.
func UserTable(table string) string { return table + "-user" }

// userForwardPriority runs the administrators' chain just before berth's
// forward chain (priority filter), as DOCKER-USER runs first in dockerd's
// FORWARD chain.
var userForwardPriority = nftables.ChainPriorityRef(*nftables.ChainPriorityFilter - 1)

// removeUnusedUserTable deletes the administrators' table only while it is
// exactly what EnsureUserTable made: one chain, no rule, no set.
func removeUnusedUserTable(table string) error {
	name := UserTable(table)
	c, err := nftables.New()
	if err != nil {
		return err
	}
	t, err := c.ListTableOfFamily(name, nftables.TableFamilyINet)
	if errors.Is(err, unix.ENOENT) {
		return nil
	} else if err != nil {
		return err
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return err
	}
	var mine []*nftables.Chain
	for _, ch := range chains {
		if ch.Table.Name == name {
			mine = append(mine, ch)
		}
	}
	if len(mine) != 1 || mine[0].Name != "forward" {
		return nil
	}
	if rules, err := c.GetRules(t, mine[0]); err != nil || len(rules) > 0 {
		return err
	}
	if sets, err := c.GetSets(t); err != nil || len(sets) > 0 {
		return err
	}
	return DeleteTable(name)
}

// EnsureUserTable creates the administrators' table, with an empty base
// chain "forward" at priority filter - 1, if it does not exist. An existing
// one is never touched: not its rules, not its chains' policies, even if
// the administrator changed them; berth never flushes or deletes it, so its
// rules outlive restarts of berth and rewrites of berth's table.
func EnsureUserTable(table string) error {
	name := UserTable(table)
	if ok, err := TableExists(name); err != nil || ok {
		return err
	}
	c, err := nftables.New()
	if err != nil {
		return err
	}
	accept := nftables.ChainPolicyAccept
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyINet, Name: name})
	c.AddChain(&nftables.Chain{Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: userForwardPriority, Policy: &accept})
	return c.Flush()
}
