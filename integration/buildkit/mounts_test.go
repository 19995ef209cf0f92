package buildkit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestRunMountCache: a cache mount keeps its content between builds whose
// RUN step is not cached (a changed build arg reruns it), and is not part
// of the image.
func TestRunMountCache(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
ARG RUNID
RUN --mount=type=cache,target=/cache,id=bkcli-cache \
    echo "$RUNID" >> /cache/runs && cp /cache/runs /seen
`})
	buildx(t, "--load", "-t", name, "--build-arg", "RUNID=one", dir)
	buildx(t, "--load", "-t", name, "--build-arg", "RUNID=two", dir)
	expectRun(t, name, "cat /seen; ls /cache 2>/dev/null | wc -l", "one\ntwo\n0")
	// docker builder prune --filter type=exec.cachemount drops it: the
	// next run starts from an empty cache.
	mustCLI(t, "builder", "prune", "-f", "--filter", "type=exec.cachemount")
	buildx(t, "--load", "-t", name, "--build-arg", "RUNID=three", dir)
	expectRun(t, name, "cat /seen", "three")
}

// TestRunMountSecret: --secret from a file and from an environment
// variable, read in RUN through a secret mount (file and env=), and not
// left in the image; a required secret that was not given fails with its
// id in the error.
func TestRunMountSecret(t *testing.T) {
	setup(t)
	name := imageName(t)
	secretFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secretFile, []byte("file-s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN --mount=type=secret,id=tok \
    --mount=type=secret,id=envtok,env=ENVTOK \
    { cat /run/secrets/tok; echo; echo "$ENVTOK"; } | md5sum > /sums && ls -A /run/secrets > /listing
`})
	r := cliIn(t, "", []string{"BKCLI_SECRET=env-s3cret"}, "buildx", "build", "--progress=plain", "--load", "-t", name,
		"--secret", "id=tok,src="+secretFile, "--secret", "id=envtok,env=BKCLI_SECRET", dir)
	if r.Code != 0 {
		t.Fatalf("build with secrets: %s", lastLines(r.Combined(), 60))
	}
	if strings.Contains(r.Combined(), "s3cret") {
		t.Fatal("a secret's value appears in the build output")
	}
	got := runIn(t, name, "cat /sums; cat /listing; test -e /run/secrets/tok && echo LEFT; true")
	wantSum := strings.Fields(strings.TrimSpace(hostMD5(t, "file-s3cret\nenv-s3cret\n")))[0]
	if !strings.HasPrefix(got, wantSum) || !strings.Contains(got, "tok") || strings.Contains(got, "LEFT") {
		t.Fatalf("got %q, want md5 %s, the listing, and no secret in the image", got, wantSum)
	}
	out := mustCLI(t, "history", "--no-trunc", name)
	if strings.Contains(out, "s3cret") {
		t.Fatalf("secret in history:\n%s", out)
	}

	missing := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=nosuchsecret,required=true cat /run/secrets/nosuchsecret\n"})
	fail := mustFail(t, "buildx", "build", "--progress=plain", missing)
	expectContains(t, "missing secret", fail.Combined(), "nosuchsecret", "not found")
}

// hostMD5 is md5sum of s as busybox prints it.
func hostMD5(t *testing.T, s string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "in")
	os.WriteFile(f, []byte(s), 0o644)
	out, err := execOut("md5sum", f)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunMountSSH: --ssh default=KEYFILE forwards an agent holding the key
// into RUN --mount=type=ssh (SSH_AUTH_SOCK is a socket there); without
// --ssh a required ssh mount fails.
func TestRunMountSSH(t *testing.T) {
	setup(t)
	name := imageName(t)
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "bkcli test key")
	if err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(key, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN --mount=type=ssh test -S "$SSH_AUTH_SOCK" && echo "agent at $SSH_AUTH_SOCK" > /ssh
`})
	buildx(t, "--load", "-t", name, "--ssh", "default="+key, dir)
	if got := runIn(t, name, "cat /ssh"); !strings.HasPrefix(got, "agent at /run/buildkit/ssh_agent") {
		t.Fatalf("got %q", got)
	}
	fail := mustFail(t, "buildx", "build", "--progress=plain", "--no-cache", dir)
	expectContains(t, "ssh without --ssh", strings.ToLower(fail.Combined()), "ssh")
}

// TestRunMountBindAndTmpfs: a bind mount of the context (read-only: a
// write fails) and of another stage, and a tmpfs mount whose files do not
// reach the image.
func TestRunMountBindAndTmpfs(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{
		"data.txt": "bound\n",
		"Dockerfile": `FROM busybox AS other
RUN echo other-stage > /o
FROM busybox
RUN --mount=type=bind,source=data.txt,target=/mnt/data.txt \
    --mount=type=bind,from=other,source=/o,target=/mnt/o \
    cat /mnt/data.txt /mnt/o > /bound && (echo x > /mnt/data.txt && echo WRITABLE || echo readonly) >> /bound
RUN --mount=type=bind,source=.,target=/src,rw echo scribble > /src/new && test -f /src/new && echo rw-ok >> /bound
RUN --mount=type=tmpfs,target=/scratch \
    grep -q ' /scratch tmpfs ' /proc/mounts && echo tmp > /scratch/f && echo tmpfs-ok >> /bound
`})
	buildx(t, "--load", "-t", name, dir)
	got := runIn(t, name, "cat /bound; ls /scratch /src 2>/dev/null | wc -l")
	if got != "bound\nother-stage\nreadonly\nrw-ok\ntmpfs-ok\n0" {
		t.Fatalf("got %q", got)
	}
	// An rw bind mount's writes are discarded: the context is unchanged.
	if _, err := os.Stat(filepath.Join(dir, "new")); err == nil {
		t.Fatal("rw bind mount wrote into the client's context")
	}
}

// TestRunNetwork: RUN's default network is the engine's bridge (an eth0
// beside lo); --network=none has only lo; --network=host needs the
// network.host entitlement (--allow) and then sees the host's interfaces,
// berthd's bridge among them.
func TestRunNetwork(t *testing.T) {
	setup(t)
	name := imageName(t)
	dir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
ARG N=0
RUN echo $N; awk -F: 'NR>2{gsub(/ /,"",$1); print $1}' /proc/net/dev | sort | tr '\n' ' ' > /default
RUN --network=none awk -F: 'NR>2{gsub(/ /,"",$1); print $1}' /proc/net/dev | sort | tr '\n' ' ' > /none
`})
	buildx(t, "--load", "-t", name, dir)
	got := runIn(t, name, "cat /default; echo; cat /none")
	lines := strings.Split(got, "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "eth0") || strings.TrimSpace(lines[1]) != "lo" {
		t.Fatalf("default / none interfaces: %q", got)
	}

	hostDir := writeContext(t, map[string]string{"Dockerfile": `FROM busybox
RUN --network=host cat /proc/net/dev > /host
`})
	fail := mustFail(t, "buildx", "build", "--progress=plain", hostDir)
	expectContains(t, "host network without --allow", fail.Combined(), "network.host")
	hostName := imageName(t)
	buildx(t, "--allow", "network.host", "--load", "-t", hostName, hostDir)
	if got := runIn(t, hostName, "cat /host"); !strings.Contains(got, d.Bridge+":") {
		t.Fatalf("host network step does not see %s:\n%s", d.Bridge, got)
	}
	// buildx build --network=host sets it for every RUN.
	allDir := writeContext(t, map[string]string{"Dockerfile": "FROM busybox\nRUN cat /proc/net/dev > /host\n"})
	allName := imageName(t)
	buildx(t, "--network", "host", "--allow", "network.host", "--load", "-t", allName, allDir)
	if got := runIn(t, allName, "cat /host"); !strings.Contains(got, d.Bridge+":") {
		t.Fatalf("--network host: step does not see %s:\n%s", d.Bridge, got)
	}
	noneName := imageName(t)
	buildx(t, "--network", "none", "--load", "-t", noneName, allDir)
	expectRun(t, noneName, "awk -F: 'NR>2{print $1}' /host | tr -d ' '", "lo")
}
