package daemon

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/daemon/backend"
)

// psNames lists the names docker ps shows for filters (all containers).
func (d *fakeDaemon) psNames(t *testing.T, all bool, filters string) []string {
	t.Helper()
	list, err := d.Containers(context.Background(), backend.ContainerListOptions{All: all, Filters: filters})
	if err != nil {
		t.Fatalf("ps %s: %v", filters, err)
	}
	var out []string
	for _, s := range list {
		out = append(out, strings.TrimPrefix(s.Names[0], "/"))
	}
	slices.Sort(out)
	return out
}

// docker ps sees each container in the state the rules above left it,
// with dockerd's filters on state and exit code.
func TestListFiltersByState(t *testing.T) {
	d := newFakeDaemon(t)
	d.prepare(t, "made", created)
	d.prepare(t, "up", running)
	d.prepare(t, "frozen", paused)
	d.prepare(t, "done", exited) // stopped: 143
	gone := d.run(t, "killed")
	if err := d.ContainerKill(context.Background(), gone, "KILL"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		all     bool
		filters string
		want    string
	}{
		{false, "", "frozen,up"},
		{true, "", "done,frozen,killed,made,up"},
		{true, `{"status":{"running":true}}`, "up"},
		{true, `{"status":{"paused":true}}`, "frozen"},
		{true, `{"status":{"created":true}}`, "made"},
		{true, `{"status":{"exited":true}}`, "done,killed"},
		{true, `{"exited":{"137":true}}`, "killed"},
		{true, `{"exited":{"143":true}}`, "done"},
		{true, `{"name":{"do":true}}`, "done"},
		{true, `{"status":{"exited":true,"created":true}}`, "done,killed,made"},
	} {
		if got := strings.Join(d.psNames(t, tc.all, tc.filters), ","); got != tc.want {
			t.Errorf("ps all=%v %s: %s, want %s", tc.all, tc.filters, got, tc.want)
		}
	}
	for _, bad := range []struct{ filters, msg string }{
		// moby prefixes "invalid filter 'status=sleeping': ", dockerd
		// 20.10 says only "Invalid filter 'status=sleeping'" (a known
		// gap, integration's TestPsFilterMessages).
		{`{"status":{"sleeping":true}}`, "invalid value for state (sleeping)"},
		{`{"exited":{"x":true}}`, "invalid filter 'exited=x'"},
	} {
		_, err := d.Containers(context.Background(), backend.ContainerListOptions{All: true, Filters: bad.filters})
		if statusOf(err) != 400 || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(bad.msg)) {
			t.Errorf("ps %s: %d %v, want 400 %q", bad.filters, statusOf(err), err, bad.msg)
		}
	}
}

// waitFor starts a docker wait and returns its answer's channel once the
// wait is registered.
func (d *fakeDaemon) waitFor(id string, cond container.WaitCondition) <-chan container.WaitResponse {
	out := make(chan container.WaitResponse, 1)
	registered := make(chan struct{})
	go func() {
		resp, err := d.ContainerWait(context.Background(), id, cond, func() { close(registered) })
		if err != nil {
			resp.StatusCode = -1
		}
		out <- resp
	}()
	<-registered
	return out
}

func waitAnswer(t *testing.T, ch <-chan container.WaitResponse) container.WaitResponse {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("docker wait did not answer")
		return container.WaitResponse{}
	}
}

// docker wait's conditions: not-running answers at once for a stopped
// container, next-exit waits for the coming exit, removed for the rm.
func TestWaitConditions(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.run(t, "web")
	next := d.waitFor(id, container.WaitConditionNextExit)
	notRunning := d.waitFor(id, container.WaitConditionNotRunning)
	removed := d.waitFor(id, container.WaitConditionRemoved)
	d.exitOnItsOwn(t, id, 3)
	if r := waitAnswer(t, next); r.StatusCode != 3 {
		t.Errorf("next-exit: %+v", r)
	}
	if r := waitAnswer(t, notRunning); r.StatusCode != 3 {
		t.Errorf("not-running: %+v", r)
	}
	d.waitState(t, id, exited)
	if r := waitAnswer(t, d.waitFor(id, container.WaitConditionNotRunning)); r.StatusCode != 3 {
		t.Errorf("not-running of an exited container: %+v", r)
	}
	select {
	case r := <-removed:
		t.Fatalf("removed answered before the rm: %+v", r)
	default:
	}
	if err := d.ContainerRm(context.Background(), id, backend.ContainerRmConfig{}); err != nil {
		t.Fatal(err)
	}
	if r := waitAnswer(t, removed); r.StatusCode != 3 {
		t.Errorf("removed: %+v", r)
	}
	_, err := d.ContainerWait(context.Background(), "web2", "bogus", func() {})
	if statusOf(err) != 400 || err.Error() != `invalid condition: "bogus"` {
		t.Errorf("bad condition: %d %v", statusOf(err), err)
	}
}

// docker container prune removes the stopped containers only.
func TestPruneRemovesStoppedOnly(t *testing.T) {
	d := newFakeDaemon(t)
	made := d.prepare(t, "made", created)
	d.prepare(t, "up", running)
	d.prepare(t, "frozen", paused)
	done := d.prepare(t, "done", exited)
	report, err := d.ContainersPrune(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(report.ContainersDeleted)
	want := []string{made, done}
	slices.Sort(want)
	if !slices.Equal(report.ContainersDeleted, want) {
		t.Errorf("pruned %v, want %v", report.ContainersDeleted, want)
	}
	if got := strings.Join(d.psNames(t, true, ""), ","); got != "frozen,up" {
		t.Errorf("left %s", got)
	}
}

// A rename and an update are on disk: a daemon restart finds the new
// name (the old one free) and the new restart policy.
func TestRenameAndUpdateSurviveRestart(t *testing.T) {
	d := newFakeDaemon(t)
	id := d.prepare(t, "web", exited)
	if err := d.ContainerRename("web", "site"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ContainerUpdate(context.Background(), id, container.UpdateConfig{RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}}); err != nil {
		t.Fatal(err)
	}
	acts := d.actions(id)
	if got := strings.Join(acts[len(acts)-2:], ","); got != "rename,update" {
		t.Errorf("events %v", acts)
	}
	d = d.restart(t)
	c, err := d.containers.Get("site")
	if err != nil {
		t.Fatal(err)
	}
	c.Lock()
	name, policy := c.Name, c.HostConfig.RestartPolicy
	c.Unlock()
	if name != "/site" || policy.Name != "on-failure" || policy.MaximumRetryCount != 3 {
		t.Errorf("after restart: name %s, policy %+v", name, policy)
	}
	if _, err := d.containers.Get("web"); statusOf(err) != 404 {
		t.Errorf("old name: %v, want not found", err)
	}
	d.create(t, "web")
}
