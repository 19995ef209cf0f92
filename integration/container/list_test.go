package container

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func sameSet(a, b []string) bool {
	a, b = append([]string{}, a...), append([]string{}, b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, ",") == strings.Join(b, ",")
}

func TestPsFilters(t *testing.T) {
	setup(t, d)
	n := func(s string) string { return uniqueName(t, s) }
	// Created in this order, so before/since have something to cut.
	docker(t, "run", "--name", n("exit0"), "busybox", "true")
	docker(t, "create", "--name", n("created"), "--expose", "8080", "busybox", "true")
	dockerRes(t, d, "run", "--name", n("exit3"), "busybox2", "sh", "-c", "exit 3")
	runD(t, d, "--name", n("running"), "-l", "color=blue", "-l", "flag", "-v", "/psvol", "busybox", "sleep", "600")
	runD(t, d, "--name", n("healthy"), "--network", "none", "--health-cmd", "true", "--health-interval", "200ms", "busybox", "sleep", "600")
	harness.Eventually(t, 15*time.Second, "the healthcheck to pass", func() bool {
		return format(t, d, n("healthy"), "{{.State.Health.Status}}") == "healthy"
	})
	all := []string{n("exit0"), n("created"), n("exit3"), n("running"), n("healthy")}

	check := func(desc string, got []string, want ...string) {
		t.Helper()
		if !sameSet(got, want) {
			t.Errorf("%s: got %v, want %v", desc, got, want)
		}
	}
	check("ps", psNames(t), n("running"), n("healthy"))
	check("ps -a", psNames(t, "-a"), all...)
	runningID := format(t, d, n("running"), "{{.Id}}")
	check("id", psNames(t, "-a", "--filter", "id="+runningID[:10]), n("running"))
	check("name", psNames(t, "-a", "--filter", "name="+n("exit")), n("exit0"), n("exit3"))
	check("name anchored", psNames(t, "-a", "--filter", "name=^/"+n("created")+"$"), n("created"))
	check("label key", psNames(t, "-a", "--filter", "label=flag"), n("running"))
	check("label key=value", psNames(t, "-a", "--filter", "label=color=blue"), n("running"))
	check("label other value", psNames(t, "-a", "--filter", "label=color=red"))
	check("status running", psNames(t, "-a", "--filter", "status=running"), n("running"), n("healthy"))
	check("status exited", psNames(t, "-a", "--filter", "status=exited"), n("exit0"), n("exit3"))
	check("status created", psNames(t, "-a", "--filter", "status=created"), n("created"))
	check("two statuses", psNames(t, "-a", "--filter", "status=created", "--filter", "status=exited"), n("created"), n("exit0"), n("exit3"))
	check("exited=3", psNames(t, "-a", "--filter", "exited=3"), n("exit3"))
	check("exited=0", psNames(t, "-a", "--filter", "exited=0"), n("exit0"))
	check("ancestor busybox2", psNames(t, "-a", "--filter", "ancestor=busybox2"), n("exit3"))
	check("ancestor busybox:latest", psNames(t, "-a", "--filter", "ancestor=busybox:latest"), n("exit0"), n("created"), n("running"), n("healthy"))
	check("before", psNames(t, "-a", "--filter", "before="+n("exit3")), n("exit0"), n("created"))
	check("since", psNames(t, "-a", "--filter", "since="+n("exit3")), n("running"), n("healthy"))
	vol := format(t, d, n("running"), "{{range .Mounts}}{{.Name}}{{end}}")
	check("volume by name", psNames(t, "-a", "--filter", "volume="+vol), n("running"))
	check("volume by destination", psNames(t, "-a", "--filter", "volume=/psvol"), n("running"))
	check("network none", psNames(t, "--filter", "network=none"), n("healthy"))
	check("network bridge", psNames(t, "--filter", "network=bridge"), n("running"))
	check("health healthy", psNames(t, "-a", "--filter", "health=healthy"), n("healthy"))
	check("health none", psNames(t, "-a", "--filter", "health=none"), n("exit0"), n("created"), n("exit3"), n("running"))
	check("expose", psNames(t, "-a", "--filter", "expose=8080"), n("created"))
	check("expose proto", psNames(t, "-a", "--filter", "expose=8080/tcp"), n("created"))
	check("is-task", psNames(t, "-a", "--filter", "is-task=true"))

	// -n / --last and -l count from the newest, all states included.
	check("-n 2", psNames(t, "-n", "2"), n("running"), n("healthy"))
	check("--last 3", psNames(t, "--last", "3"), n("exit3"), n("running"), n("healthy"))
	check("-l", psNames(t, "-l"), n("healthy"))

	// A bad filter is a 400 with dockerd's message.
	// (dockerd's exact wording is in known_gaps_test.go.)
	code, body := api(t, d, "GET", `/containers/json?filters={"nosuch":{"x":true}}`, "")
	if code != 400 || !strings.Contains(strings.ToLower(apiMessage(body)), "invalid filter 'nosuch'") {
		t.Errorf("unknown filter: %d %s", code, body)
	}
	code, body = api(t, d, "GET", `/containers/json?all=1&filters={"status":{"bogus":true}}`, "")
	if code != 400 {
		t.Errorf("bad status: %d %s", code, body)
	}
}

func TestPsSize(t *testing.T) {
	setup(t, d)
	name := uniqueName(t, "sz")
	docker(t, "run", "--name", name, "busybox", "dd", "if=/dev/zero", "of=/big", "bs=1024", "count=1024")
	out := strings.TrimSpace(docker(t, "ps", "-a", "-s", "--filter", "name="+name, "--format", "{{.Size}}"))
	// 1 MiB written, the image's size as virtual.
	if !strings.HasPrefix(out, "1.05MB (virtual ") {
		t.Fatalf("ps -s size %q", out)
	}
	code, body := api(t, d, "GET", `/containers/json?all=1&size=1&filters={"name":["`+name+`"]}`, "")
	if code != 200 || !strings.Contains(body, `"SizeRw":1048576`) || !strings.Contains(body, `"SizeRootFs":`) {
		t.Fatalf("size=1: %d %s", code, body)
	}
	// Without size the fields are left out.
	_, body = api(t, d, "GET", `/containers/json?all=1&filters={"name":["`+name+`"]}`, "")
	if strings.Contains(body, "SizeRw") {
		t.Fatalf("SizeRw without size=1: %s", body)
	}
}

// TestPsThousand checks that `docker ps -a` lists 1000 containers
// correctly; how fast is `make bench`'s business.
func TestPsThousand(t *testing.T) {
	setup(t, d)
	label := testLabel(t)
	kv := strings.SplitN(label, "=", 2)
	const n = 1000
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			body := fmt.Sprintf(`{"Image":"busybox","Cmd":["true"],"Labels":{%q:%q}}`, kv[0], kv[1])
			code, resp := api(t, d, "POST", fmt.Sprintf("/containers/create?name=%s", uniqueName(t, fmt.Sprint(i))), body)
			if code != 201 {
				errs <- fmt.Sprintf("create %d: %d %s", i, code, resp)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	out := docker(t, "ps", "-a", "--format", "{{.Names}}", "--filter", "label="+label)
	names := strings.Fields(out)
	if len(names) != n {
		t.Fatalf("ps -a lists %d of %d", len(names), n)
	}
	seen := map[string]bool{}
	for _, nm := range names {
		seen[nm] = true
	}
	for i := 0; i < n; i++ {
		if !seen[uniqueName(t, fmt.Sprint(i))] {
			t.Fatalf("container %d missing", i)
		}
	}
	// The plain table too (what a user types).
	out = docker(t, "ps", "-a")
	if lines := strings.Count(out, "\n"); lines < n+1 {
		t.Fatalf("docker ps -a printed %d lines", lines)
	}
	// Remove through the API in parallel; Cleanup is the backstop.
	var wg2 sync.WaitGroup
	for _, nm := range names {
		wg2.Add(1)
		sem <- struct{}{}
		go func(nm string) {
			defer wg2.Done()
			defer func() { <-sem }()
			api(t, d, "DELETE", "/containers/"+nm+"?force=1", "")
		}(nm)
	}
	wg2.Wait()
}
