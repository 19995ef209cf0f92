//go:build gaps

// Tests of dockerd behaviour berth does not have yet. CI runs the package
// without the tag; `go test -tags gaps ./integration/container` runs these
// too. Each asserts what dockerd 20.10 (Debian's docker.io) does, checked
// against a real dockerd on its own socket; move a test back to its topic
// file when it passes.
package container

import (
	"strings"
	"testing"
)

// TestRemoveRunningMessage: dockerd 20.10's wording for rm of a running
// container (the issue quotes it).
func TestRemoveRunningMessage(t *testing.T) {
	setup(t, d)
	id := runD(t, d, "busybox", "sleep", "600")
	code, body := api(t, d, "DELETE", "/containers/"+id, "")
	if code != 409 || apiMessage(body) != "You cannot remove a running container "+id+". Stop the container before attempting removal or force remove" {
		t.Fatalf("rm running: %d %s", code, body)
	}
}

// TestRestartPolicyMessages: dockerd 20.10's words for bad restart
// policies, at create and update, with nothing created or changed.
func TestRestartPolicyMessages(t *testing.T) {
	setup(t, d)
	before := psAll(t, d)
	for _, c := range []struct{ body, msg string }{
		{`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"bogus"}}}`, "invalid restart policy 'bogus'"},
		{`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"always","MaximumRetryCount":3}}}`, "maximum retry count cannot be used with restart policy 'always'"},
		{`{"Image":"busybox","HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":-1}}}`, "maximum retry count cannot be negative"},
	} {
		code, body := api(t, d, "POST", "/containers/create", c.body)
		if code != 400 || apiMessage(body) != c.msg {
			t.Errorf("%s: %d %q, want 400 %q", c.body, code, apiMessage(body), c.msg)
		}
	}
	if after := psAll(t, d); after != before {
		t.Errorf("docker ps -a changed")
	}
	_, e, code := dockerRes(t, d, "run", "--restart", "bogus", "busybox", "true")
	if code != 125 || !strings.Contains(e, "invalid restart policy 'bogus'") {
		t.Errorf("docker run --restart bogus: %d %q", code, e)
	}
	id := runD(t, d, "busybox", "sleep", "600")
	code, body := api(t, d, "POST", "/containers/"+id+"/update", `{"RestartPolicy":{"Name":"always","MaximumRetryCount":2}}`)
	if code != 400 || apiMessage(body) != "maximum retry count cannot be used with restart policy 'always'" {
		t.Errorf("update: %d %s", code, body)
	}
}

// TestExecPausedMessage: dockerd names the container as the user did.
func TestExecPausedMessage(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "p")
	runD(t, d, "--name", name, "busybox", "sleep", "600")
	docker(t, "pause", name)
	defer docker(t, "unpause", name)
	code, body := api(t, d, "POST", "/containers/"+name+"/exec", `{"Cmd":["true"]}`)
	if code != 409 || apiMessage(body) != "Container "+name+" is paused, unpause the container before exec" {
		t.Fatalf("exec paused: %d %s", code, body)
	}
}

// TestPsFilterMessages: dockerd 20.10 capitalises "Invalid filter".
func TestPsFilterMessages(t *testing.T) {
	setup(t, d)
	code, body := api(t, d, "GET", `/containers/json?filters={"nosuch":{"x":true}}`, "")
	if code != 400 || apiMessage(body) != "Invalid filter 'nosuch'" {
		t.Errorf("unknown filter: %d %s", code, body)
	}
	code, body = api(t, d, "GET", `/containers/json?all=1&filters={"status":{"bogus":true}}`, "")
	if code != 400 || apiMessage(body) != "Invalid filter 'status=bogus'" {
		t.Errorf("bad status: %d %s", code, body)
	}
}
