package container

import (
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// Legacy links are bound to the container at create, as dockerd's link
// graph binds them: the target is listed under "/parent/alias" too, a
// rename of the target keeps the link, and inspect shows the links in
// dockerd's "/target:/parent/alias" form.
func TestLegacyLinkNamesAndRename(t *testing.T) {
	setup(t, d)
	a, b := uniqueName(t, "a"), uniqueName(t, "b")
	aID := runD(t, d, "--name", a, "busybox", "sleep", "600")
	_, errOut, code := dockerRes(t, d, "run", "-d", "--name", b, "--link", a+":db", "busybox", "sleep", "600")
	if code != 0 {
		t.Fatalf("run with --link: %s", errOut)
	}
	if !strings.Contains(errOut, "Links on the default bridge network are deprecated") {
		t.Errorf("no deprecation warning for --link: %q", errOut)
	}
	// The CLI shows link names with --no-trunc only.
	names := strings.TrimSpace(docker(t, "ps", "--no-trunc", "--filter", "name=^/"+a+"$", "--format", "{{.Names}}"))
	if names != a+","+b+"/db" {
		t.Fatalf("names of the link target: %q, want %q", names, a+","+b+"/db")
	}
	if got, want := format(t, d, b, "{{json .HostConfig.Links}}"), `["/`+a+`:/`+b+`/db"]`; got != want {
		t.Fatalf("inspect links: %s, want %s", got, want)
	}
	// The link name resolves to the target.
	if got := format(t, d, b+"/db", "{{.ID}}"); got != aID {
		t.Fatalf("%s/db resolves to %s, want %s", b, got, aID)
	}

	// A renamed target keeps the link; a new container under the old
	// name is not linked.
	a1 := uniqueName(t, "a1")
	docker(t, "rename", a, a1)
	runD(t, d, "--name", a, "busybox", "sleep", "600")
	if got, want := format(t, d, b, "{{json .HostConfig.Links}}"), `["/`+a1+`:/`+b+`/db"]`; got != want {
		t.Fatalf("links after the target's rename: %s, want %s", got, want)
	}
	// The linking container's rename moves the link names.
	b1 := uniqueName(t, "b1")
	docker(t, "rename", b, b1)
	if got := format(t, d, b1+"/db", "{{.ID}}"); got != aID {
		t.Fatalf("%s/db after rename resolves to %s, want %s", b1, got, aID)
	}
	if _, _, code := dockerRes(t, d, "inspect", b+"/db"); code == 0 {
		t.Fatal("the old link name still resolves")
	}

	// rm --link drops the link, not a container.
	docker(t, "rm", "--link", b1+"/db")
	if got := format(t, d, b1, "{{json .HostConfig.Links}}"); got != "null" {
		t.Fatalf("links after rm --link: %s", got)
	}
	if got := format(t, d, aID, "{{.State.Running}}"); got != "true" {
		t.Fatalf("rm --link touched the target: running=%s", got)
	}
	if _, errOut, code := dockerRes(t, d, "rm", "--link", a1); code == 0 || !strings.Contains(errOut, "cannot remove the default link name") {
		t.Fatalf("rm --link of a plain name: %d %q", code, errOut)
	}
}

// dockerd no longer gives linked containers the ALIAS_* variables unless
// DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS=1 is in its environment.
func TestLegacyLinkEnvVars(t *testing.T) {
	setup(t, d)
	target := uniqueName(t, "t")
	runD(t, d, "--name", target, "-e", "SECRET=s3", "--expose", "6379", "busybox", "sleep", "600")
	out := runOut(t, "--link", target+":db", "busybox", "env")
	if strings.Contains(out, "DB_") {
		t.Fatalf("link env vars without %s:\n%s", "DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS", out)
	}

	t.Setenv("DOCKER_KEEP_DEPRECATED_LEGACY_LINKS_ENV_VARS", "1")
	dd := fresh(t, harness.Options{})
	setup(t, dd)
	runD(t, dd, "--name", target, "-e", "SECRET=s3", "--expose", "6379", "busybox", "sleep", "600")
	out = dockerOn(t, dd, "run", "--rm", "--link", target+":db", "busybox", "env")
	for _, want := range []string{"DB_PORT=tcp://", "DB_PORT_6379_TCP_PORT=6379", "DB_ENV_SECRET=s3", "DB_NAME=/"} {
		if !strings.Contains(out, want) {
			t.Fatalf("want %q with the escape hatch set:\n%s", want, out)
		}
	}
}

// On a user-defined network a --link is a DNS alias, not a legacy link:
// dockerd binds nothing and inspect shows no links.
func TestLegacyLinkNotOnUserNetwork(t *testing.T) {
	setup(t, d)
	n := uniqueName(t, "net")
	docker(t, "network", "create", n)
	t.Cleanup(func() {
		// The containers go first: a network with endpoints stays.
		removeTestContainers(d, t)
		d.Docker("network", "rm", n)
	})
	a := uniqueName(t, "a")
	runD(t, d, "--name", a, "--network", n, "busybox", "sleep", "600")
	b := runD(t, d, "--network", n, "--link", a+":db", "busybox", "sleep", "600")
	if got := format(t, d, b, "{{json .HostConfig.Links}}"); got != "null" {
		t.Fatalf("links on a user-defined network: %s", got)
	}
	if out, _, code := dockerRes(t, d, "exec", b, "nslookup", "db"); code != 0 {
		t.Fatalf("the link alias does not resolve:\n%s", out)
	}
}
