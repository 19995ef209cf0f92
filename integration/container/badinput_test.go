package container

import (
	"strings"
	"testing"
)

// TestBadCreateInput: each bad value gets dockerd's 400 (or 409) message
// and nothing is created.
func TestBadCreateInput(t *testing.T) {
	setup(t, d)
	existing := uniqueName(t, "taken")
	existingID := strings.TrimSpace(docker(t, "create", "--name", existing, "busybox", "true"))
	cases := []struct {
		name   string
		query  string
		body   string
		status int
		msg    string
	}{
		{"negative memory", "", `{"Image":"busybox","HostConfig":{"Memory":-1}}`, 400, "Minimum memory limit allowed is 6MB"},
		{"memory below 6MB", "", `{"Image":"busybox","HostConfig":{"Memory":4194304}}`, 400, "Minimum memory limit allowed is 6MB"},
		{"bad stop signal", "", `{"Image":"busybox","StopSignal":"FOO"}`, 400, "Invalid signal: FOO"},
		{"cpuset out of range", "", `{"Image":"busybox","HostConfig":{"CpusetCpus":"0-63"}}`, 400, "Requested CPUs are not available - requested 0-63, available: "},
		{"bad name", "?name=bad/name", `{"Image":"busybox"}`, 400, "Invalid container name (bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"},
		{"duplicate name", "?name=" + existing, `{"Image":"busybox"}`, 409, `Conflict. The container name "/` + existing + `" is already in use by container "` + existingID + `". You have to remove (or rename) that container to be able to reuse that name.`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := psAll(t, d)
			code, body := api(t, d, "POST", "/containers/create"+c.query, c.body)
			msg := apiMessage(body)
			if code != c.status || !strings.HasPrefix(msg, c.msg) {
				t.Errorf("%d %q, want %d %q", code, msg, c.status, c.msg)
			}
			if after := psAll(t, d); after != before {
				t.Errorf("docker ps -a changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	// Through the CLI the same refusals exit 125 with the daemon's words.
	before := psAll(t, d)
	_, e, code := dockerRes(t, d, "run", "--stop-signal", "FOO", "busybox", "true")
	if code != 125 || !strings.Contains(e, "Invalid signal: FOO") {
		t.Errorf("docker run --stop-signal FOO: %d %q", code, e)
	}
	_, e, code = dockerRes(t, d, "run", "-m", "4m", "busybox", "true")
	if code != 125 || !strings.Contains(e, "Minimum memory limit allowed is 6MB") {
		t.Errorf("docker run -m 4m: %d %q", code, e)
	}
	if after := psAll(t, d); after != before {
		t.Errorf("docker ps -a changed:\nbefore %s\nafter  %s", before, after)
	}
}

func TestBadStateTransitions(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "run")
	id := runD(t, d, "--name", name, "busybox", "sleep", "600")

	code, body := api(t, d, "POST", "/containers/"+name+"/kill?signal=BOGUS", "")
	if code != 400 || apiMessage(body) != "Invalid signal: BOGUS" {
		t.Errorf("kill BOGUS: %d %s", code, body)
	}
	if format(t, d, id, "{{.State.Running}}") != "true" {
		t.Fatal("bad kill stopped the container")
	}
	code, body = api(t, d, "DELETE", "/containers/"+name, "")
	if code != 409 || format(t, d, id, "{{.State.Running}}") != "true" {
		t.Errorf("rm running: %d %s", code, body)
	}
	docker(t, "pause", name)
	code, body = api(t, d, "POST", "/containers/"+name+"/start", "")
	if code != 409 || apiMessage(body) != "cannot start a paused container, try unpause instead" {
		t.Errorf("start paused: %d %s", code, body)
	}
	code, body = api(t, d, "POST", "/containers/"+name+"/exec", `{"Cmd":["true"]}`)
	if code != 409 || !strings.Contains(apiMessage(body), "is paused, unpause the container before exec") {
		t.Errorf("exec paused: %d %s", code, body)
	}
	docker(t, "unpause", name)
	code, body = api(t, d, "POST", "/containers/nosuch-"+name+"/start", "")
	if code != 404 || apiMessage(body) != "No such container: nosuch-"+name {
		t.Errorf("start missing: %d %s", code, body)
	}
	code, body = api(t, d, "POST", "/containers/"+name+"/update", `{"RestartPolicy":{"Name":"always","MaximumRetryCount":2}}`)
	if code != 400 {
		t.Errorf("update bad restart policy: %d %s", code, body)
	}
	if got := format(t, d, id, "{{.HostConfig.RestartPolicy.Name}}"); got != "no" && got != "" {
		t.Errorf("restart policy changed by a refused update: %q", got)
	}
}
