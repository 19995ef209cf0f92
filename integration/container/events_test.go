package container

import (
	"strings"
	"testing"
	"time"
)

// TestContainerEvents walks a container through every action and checks
// the event stream names each one, with dockerd's attributes.
func TestContainerEvents(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "ev")
	renamed := uniqueName(t, "ev2")
	since := time.Now()
	id := strings.TrimSpace(docker(t, "create", "--name", name, "-l", "evlabel=x", "busybox", "sleep", "600"))
	docker(t, "start", name)
	docker(t, "pause", name)
	docker(t, "unpause", name)
	docker(t, "exec", name, "true")
	docker(t, "update", "--cpus", "0.5", name)
	docker(t, "rename", name, renamed)
	docker(t, "kill", "-s", "USR1", renamed)
	docker(t, "stop", "-t", "0", renamed)
	docker(t, "rm", renamed)
	evs := eventsBetween(t, d, id, since)
	got := actions(evs)
	want := []string{"create", "start", "pause", "unpause", "exec_create: true", "exec_start: true", "exec_die", "update", "rename", "kill", "kill", "kill", "die", "stop", "destroy"}
	// dockerd sends die before stop; berth the other way round
	// (TestEventsDieBeforeStop in known_gaps_test.go): compare as a set here.
	if !sameSet(got, want) {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
	for _, e := range evs {
		if e.Type != "container" || e.Actor.ID != id {
			t.Errorf("event %+v: type/actor", e)
		}
		if e.Actor.Attributes["image"] != "busybox" || e.Actor.Attributes["evlabel"] != "x" {
			t.Errorf("%s: attributes %v lack image and labels", e.Action, e.Actor.Attributes)
		}
		switch e.Action {
		case "kill":
			if s := e.Actor.Attributes["signal"]; s != "10" && s != "15" && s != "9" {
				t.Errorf("kill signal attribute %q", s)
			}
		case "die":
			if e.Actor.Attributes["exitCode"] != "137" {
				t.Errorf("die exitCode %q", e.Actor.Attributes["exitCode"])
			}
		case "exec_die":
			if e.Actor.Attributes["exitCode"] != "0" || e.Actor.Attributes["execID"] == "" {
				t.Errorf("exec_die attributes %v", e.Actor.Attributes)
			}
		case "rename":
			if e.Actor.Attributes["oldName"] != "/"+name {
				t.Errorf("rename oldName %q", e.Actor.Attributes["oldName"])
			}
		}
	}
	// The first kill is USR1 (10); the stop sends the stop signal (15)
	// and, with -t 0, SIGKILL (9) right after.
	var sigs []string
	for _, e := range evs {
		if e.Action == "kill" {
			sigs = append(sigs, e.Actor.Attributes["signal"])
		}
	}
	if strings.Join(sigs, ",") != "10,15,9" {
		t.Errorf("kill signals %v, want 10, 15, 9", sigs)
	}
}

// TestEventsFilters: the events endpoint filters by container and event.
func TestEventsFilters(t *testing.T) {
	setup(t, d)
	since := time.Now()
	id := runD(t, d, "busybox", "sh", "-c", "exit 4")
	waitState(t, d, id, "exited", 5*time.Second)
	until := time.Now().Add(100 * time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	out := docker(t, "events", "--since", since.Format(time.RFC3339Nano), "--until", until.Format(time.RFC3339Nano),
		"--filter", "container="+id, "--filter", "event=die", "--format", "{{.Action}} {{index .Actor.Attributes \"exitCode\"}}")
	if strings.TrimSpace(out) != "die 4" {
		t.Fatalf("filtered events %q", out)
	}
}
