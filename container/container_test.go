package container

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/pkg/errdefs"
)

func TestStateTransitions(t *testing.T) {
	s := &State{}
	if s.Status() != container.StateCreated || s.String() != "Created" {
		t.Fatalf("new: %s %q", s.Status(), s.String())
	}
	s.SetRunning(42, true)
	if s.Status() != container.StateRunning || !strings.HasPrefix(s.String(), "Up ") || s.Pid != 42 {
		t.Fatalf("running: %s %q", s.Status(), s.String())
	}
	s.SetPaused()
	if s.Status() != container.StatePaused || !strings.HasSuffix(s.String(), "(Paused)") {
		t.Fatalf("paused: %s %q", s.Status(), s.String())
	}
	s.SetUnpaused()
	s.SetStopped(3, false)
	if s.Status() != container.StateExited || !strings.HasPrefix(s.String(), "Exited (3) ") || s.Pid != 0 {
		t.Fatalf("exited: %s %q", s.Status(), s.String())
	}
	s.SetRestarting(1, false)
	if s.Status() != container.StateRestarting || !strings.HasPrefix(s.String(), "Restarting (1)") {
		t.Fatalf("restarting: %s %q", s.Status(), s.String())
	}
	if err := s.SetRemovalInProgress(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetRemovalInProgress(); !errdefs.Is(err, errdefs.Conflict) {
		t.Fatalf("second removal: %v", err)
	}
	if s.Status() != container.StateRemoving {
		t.Fatalf("removing: %s", s.Status())
	}
	api := s.API()
	if _, err := time.Parse(time.RFC3339Nano, api.StartedAt); err != nil {
		t.Fatalf("StartedAt %q: %v", api.StartedAt, err)
	}
	if (&State{}).API().FinishedAt != "0001-01-01T00:00:00Z" {
		t.Fatalf("zero time: %s", (&State{}).API().FinishedAt)
	}
}

func TestWaitConditions(t *testing.T) {
	s := &State{}
	// not-running on a created container returns at once.
	select {
	case st := <-s.Wait(context.Background(), container.WaitConditionNotRunning):
		if st.ExitCode != 0 {
			t.Fatal(st)
		}
	case <-time.After(time.Second):
		t.Fatal("not-running wait blocked on a stopped container")
	}
	s.SetRunning(1, true)
	notRunning := s.Wait(context.Background(), container.WaitConditionNotRunning)
	nextExit := s.Wait(context.Background(), container.WaitConditionNextExit)
	removed := s.Wait(context.Background(), container.WaitConditionRemoved)
	s.SetStopped(7, false)
	for _, ch := range []<-chan StateStatus{notRunning, nextExit} {
		select {
		case st := <-ch:
			if st.ExitCode != 7 {
				t.Fatalf("exit %d", st.ExitCode)
			}
		case <-time.After(time.Second):
			t.Fatal("stop waiter not woken")
		}
	}
	select {
	case <-removed:
		t.Fatal("removed waiter woken by a stop")
	default:
	}
	s.SetRemoved()
	select {
	case <-removed:
	case <-time.After(time.Second):
		t.Fatal("removed waiter not woken")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s2 := &State{}
	s2.SetRunning(1, true)
	ch := s2.Wait(ctx, container.WaitConditionNextExit)
	cancel()
	if st := <-ch; st.Err == nil {
		t.Fatal("cancelled wait returned no error")
	}
}

func TestStoreNamesAndLookup(t *testing.T) {
	s := NewStore(t.TempDir())
	a := New("aaaa1111", s.Dir("aaaa1111"))
	a.Name = "/web"
	if err := s.ReserveName("web", a.ID); err != nil {
		t.Fatal(err)
	}
	s.Add(a)
	b := New("aaaa2222", s.Dir("aaaa2222"))
	err := s.ReserveName("/web", b.ID)
	if !errdefs.Is(err, errdefs.Conflict) || !strings.Contains(err.Error(), `The container name "/web" is already in use by container "aaaa1111"`) {
		t.Fatalf("name conflict: %v", err)
	}
	name, err := s.GenerateAndReserveName(b.ID)
	if err != nil || !strings.Contains(name, "_") {
		t.Fatalf("generated %q %v", name, err)
	}
	b.Name = name
	s.Add(b)
	for ref, want := range map[string]string{"aaaa1111": "aaaa1111", "web": "aaaa1111", "/web": "aaaa1111", "aaaa2": "aaaa2222", strings.TrimPrefix(name, "/"): "aaaa2222"} {
		c, err := s.Get(ref)
		if err != nil || c.ID != want {
			t.Errorf("Get(%q) = %v, %v", ref, c, err)
		}
	}
	if _, err := s.Get("aaaa"); err == nil || !strings.Contains(err.Error(), "multiple IDs found with provided prefix: aaaa") {
		t.Fatalf("ambiguous prefix: %v", err)
	}
	if _, err := s.Get("nope"); !errdefs.Is(err, errdefs.NotFound) || err.Error() != "No such container: nope" {
		t.Fatalf("missing: %v", err)
	}
	if err := s.Rename(a, "api"); err != nil {
		t.Fatal(err)
	}
	a.Name = "/api"
	if err := s.ReserveName("web", "x"); err != nil {
		t.Fatalf("old name still held after rename: %v", err)
	}
	if err := s.Rename(b, "api"); err == nil {
		t.Fatal("rename onto a taken name accepted")
	}
	s.Delete(a)
	if _, err := s.Get("api"); err == nil {
		t.Fatal("deleted container still found by name")
	}
}

func TestSaveLoadAndCrashLeftovers(t *testing.T) {
	root := t.TempDir()
	s := NewStore(root)
	c := New("abc123", s.Dir("abc123"))
	c.Name = "/x"
	c.Config = &container.Config{Image: "busybox", Cmd: []string{"sh"}}
	c.HostConfig = &container.HostConfig{NetworkMode: "none"}
	c.State.SetRunning(5, true)
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	// A directory whose config was never written: a crash during create.
	os.MkdirAll(filepath.Join(root, "half"), 0o700)
	loaded, err := NewStore(root).LoadAll(func(dir string) { os.RemoveAll(dir) })
	if err != nil || len(loaded) != 1 {
		t.Fatalf("LoadAll: %v %v", loaded, err)
	}
	got := loaded[0]
	if got.Name != "/x" || got.Config.Image != "busybox" || got.HostConfig.NetworkMode != "none" || got.State.Pid != 5 || !got.State.Running {
		t.Fatalf("round trip: %+v %+v", got, got.State)
	}
	if _, err := os.Stat(filepath.Join(root, "half")); !os.IsNotExist(err) {
		t.Fatal("half-created directory not cleaned")
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"web", "/web", "a1", "my_app.v2-x"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"a", "-x", "bad name", "ünï", "x/y"} {
		err := ValidateName(bad)
		if err == nil || !strings.Contains(err.Error(), "only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// SaveState replaces the config (and so the State) and keeps the host
// config as Save last wrote it.
func TestSaveStateKeepsHostConfig(t *testing.T) {
	root := t.TempDir()
	s := NewStore(root)
	c := New("abc123", s.Dir("abc123"))
	c.Name = "/x"
	c.Config = &container.Config{Image: "busybox"}
	c.HostConfig = &container.HostConfig{NetworkMode: "none"}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	c.State.SetRunning(7, true)
	if err := c.SaveState(); err != nil {
		t.Fatal(err)
	}
	loaded, err := NewStore(root).LoadAll(func(string) {})
	if err != nil || len(loaded) != 1 {
		t.Fatalf("LoadAll: %v %v", loaded, err)
	}
	if got := loaded[0]; got.State.Pid != 7 || !got.State.Running || got.HostConfig.NetworkMode != "none" {
		t.Fatalf("after SaveState: %+v %+v", got.State, got.HostConfig)
	}
	if tmp, _ := filepath.Glob(filepath.Join(s.Dir("abc123"), ".*tmp*")); len(tmp) != 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
}

// TestForgetLeavesCleanupWork: a container whose removal began (Forget)
// and was cut short by a crash is a leftover for LoadAll's cleanup, not a
// container without its files (found by hack/torture).
func TestForgetLeavesCleanupWork(t *testing.T) {
	root := t.TempDir()
	s := NewStore(root)
	c := New("abc123", s.Dir("abc123"))
	c.Config = &container.Config{Image: "busybox"}
	c.HostConfig = &container.HostConfig{}
	if err := c.Save(); err != nil {
		t.Fatal(err)
	}
	if err := c.Forget(); err != nil {
		t.Fatal(err)
	}
	var cleaned []string
	loaded, err := NewStore(root).LoadAll(func(dir string) { cleaned = append(cleaned, filepath.Base(dir)) })
	if err != nil || len(loaded) != 0 || len(cleaned) != 1 || cleaned[0] != "abc123" {
		t.Fatalf("LoadAll after Forget: loaded %v, cleaned %v, %v", loaded, cleaned, err)
	}
}
