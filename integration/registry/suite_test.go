package registry

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/integration/internal/harness"
)

func sha256Sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func imageID(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(d.DockerT(t, "inspect", "-f", "{{.Id}}", ref))
}

// removeAllImages leaves the daemon without images, so that every layer
// has to come from the registry.
func removeAllImages(t *testing.T) {
	t.Helper()
	ids := strings.Fields(d.DockerT(t, "images", "-aq"))
	if len(ids) > 0 {
		d.DockerT(t, append([]string{"rmi", "-f"}, ids...)...)
	}
	if out := strings.TrimSpace(d.DockerT(t, "images", "-aq")); out != "" {
		t.Fatalf("images left: %s", out)
	}
}

// layerDirs lists the layer store's layers and its temporary entries.
func layerDirs(t *testing.T) (layers, tmp []string) {
	t.Helper()
	root := filepath.Join(d.DataRoot, "image", "layers")
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if len(e.Name()) == 64 {
			layers = append(layers, e.Name())
		}
	}
	ents, _ = os.ReadDir(filepath.Join(root, "tmp"))
	for _, e := range ents {
		tmp = append(tmp, e.Name())
	}
	return layers, tmp
}

var pushDigest = regexp.MustCompile(`(?m)^(\S+): digest: (sha256:[0-9a-f]{64}) size: (\d+)$`)

// push pushes ref with the CLI and returns the manifest digest it reports.
func push(t *testing.T, ref string) (string, string) {
	t.Helper()
	out := d.DockerT(t, "push", ref)
	m := pushDigest.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("push %s: no digest line in:\n%s", ref, out)
	}
	return m[2], out
}

type message struct {
	Status         string `json:"status"`
	ID             string `json:"id"`
	ProgressDetail struct {
		Current int64 `json:"current"`
		Total   int64 `json:"total"`
	} `json:"progressDetail"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// apiPull pulls through the API and returns the decoded stream, the HTTP
// status and the body of an error response.
func apiPull(t *testing.T, ctx context.Context, query url.Values, auth string, each func(message)) (int, string) {
	t.Helper()
	return apiPullOn(t, d, ctx, query, auth, each)
}

func apiPullOn(t *testing.T, d *harness.Daemon, ctx context.Context, query url.Values, auth string, each func(message)) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://d/v1.50/images/create?"+query.Encode(), nil)
	if auth != "" {
		req.Header.Set("X-Registry-Auth", auth)
	}
	c := d.HTTPClient()
	c.Timeout = 0
	resp, err := c.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, ""
		}
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("bad stream line %q: %v", sc.Text(), err)
		}
		if each != nil {
			each(m)
		}
	}
	return resp.StatusCode, ""
}

func expectContains(t *testing.T, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("missing %q in:\n%s", sub, s)
		}
	}
}

// roundTrip pushes the test images, removes them, and pulls them back by
// tag and by digest, checking IDs, the rendered output and the events.
func roundTrip(t *testing.T, r *testRegistry, auth string) {
	d.LoadTestImages(t)
	since := time.Now().Unix()
	type img struct{ local, remote, id, digest string }
	imgs := []*img{
		{local: harness.BusyboxImage, remote: r.Addr + "/test/busybox:v1"},
		{local: harness.TwoLayerImage, remote: r.Addr + "/test/busybox2:v1"},
	}
	for _, im := range imgs {
		im.id = imageID(t, im.local)
		d.DockerT(t, "tag", im.local, im.remote)
		dg, out := push(t, im.remote)
		im.digest = dg
		expectContains(t, out, "The push refers to repository ["+strings.Split(im.remote, ":v1")[0]+"]", ": Preparing", "v1: digest: ")
	}
	// A second push finds every layer there already.
	_, out := push(t, imgs[1].remote)
	expectContains(t, out, "Layer already exists")

	removeAllImages(t)
	for _, im := range imgs {
		out := d.DockerT(t, "pull", im.remote)
		expectContains(t, out, "v1: Pulling from "+strings.Split(im.remote, ":v1")[0], ": Pulling fs layer", ": Verifying Checksum",
			": Download complete", ": Pull complete", "Digest: "+im.digest, "Status: Downloaded newer image for "+im.remote)
		if got := imageID(t, im.remote); got != im.id {
			t.Errorf("%s: pulled ID %s, pushed %s", im.remote, got, im.id)
		}
	}
	// busybox2's base layer came with busybox.
	removeAllImages(t)
	d.DockerT(t, "pull", imgs[0].remote)
	out = d.DockerT(t, "pull", imgs[1].remote)
	expectContains(t, out, ": Already exists", ": Pull complete")
	out = d.DockerT(t, "pull", imgs[1].remote)
	expectContains(t, out, "Status: Image is up to date for "+imgs[1].remote)

	removeAllImages(t)
	for _, im := range imgs {
		byDigest := strings.Split(im.remote, ":v1")[0] + "@" + im.digest
		out := d.DockerT(t, "pull", byDigest)
		expectContains(t, out, "Digest: "+im.digest, "Status: Downloaded newer image for "+byDigest)
		if got := imageID(t, byDigest); got != im.id {
			t.Errorf("%s: pulled ID %s, pushed %s", byDigest, got, im.id)
		}
	}

	// The raw stream carries byte progress and the extraction step.
	removeAllImages(t)
	q := url.Values{"fromImage": {strings.Split(imgs[1].remote, ":v1")[0]}, "tag": {"v1"}}
	statuses := map[string]bool{}
	var sawBytes bool
	code, body := apiPull(t, context.Background(), q, auth, func(m message) {
		statuses[m.Status] = true
		if m.Status == "Downloading" && m.ProgressDetail.Total > 0 && m.ProgressDetail.Current > 0 {
			sawBytes = true
		}
		if m.ErrorDetail != nil {
			t.Errorf("stream error: %s", m.ErrorDetail.Message)
		}
	})
	if code != 200 {
		t.Fatalf("API pull: %d %s", code, body)
	}
	for _, s := range []string{"Pulling fs layer", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"} {
		if !statuses[s] {
			t.Errorf("API pull stream lacks %q (got %v)", s, statuses)
		}
	}
	if !sawBytes {
		t.Error("no Downloading message with progressDetail current/total")
	}

	ev := d.DockerT(t, "events", "--since", itoa(since), "--until", itoa(time.Now().Unix()+1), "--filter", "type=image", "--format", "{{.Action}} {{.Actor.ID}}")
	expectContains(t, ev, "push "+imgs[0].remote, "pull "+imgs[1].remote)
	d.LoadTestImages(t)
}

func itoa(n int64) string { return strconvI(n) }

// manifestList builds, through the registry API, an index with the amd64
// test image and an arm64 variant of it, and checks platform selection.
func manifestList(t *testing.T, r *testRegistry, auth string) {
	d.LoadTestImages(t)
	repo := "test/multi"
	ref := r.Addr + "/" + repo
	d.DockerT(t, "tag", harness.BusyboxImage, ref+":amd64")
	amdDigest, _ := push(t, ref+":amd64")
	amdID := imageID(t, ref+":amd64")

	var m map[string]any
	mb := r.get(t, "/v2/"+repo+"/manifests/"+amdDigest)
	json.Unmarshal(mb, &m)
	cfgDesc := m["config"].(map[string]any)
	cfgRaw := r.get(t, "/v2/"+repo+"/blobs/"+cfgDesc["digest"].(string))
	var cfg map[string]any
	json.Unmarshal(cfgRaw, &cfg)
	cfg["architecture"], cfg["variant"] = "arm64", "v8"
	armCfg, _ := json.Marshal(cfg)
	armCfgDigest := r.putBlob(t, repo, armCfg)
	m["config"] = map[string]any{"mediaType": cfgDesc["mediaType"], "size": len(armCfg), "digest": armCfgDigest}
	armManifest, _ := json.Marshal(m)
	armDigest := r.putManifest(t, repo, "arm64", "application/vnd.docker.distribution.manifest.v2+json", armManifest)

	list, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.docker.distribution.manifest.list.v2+json",
		"manifests": []map[string]any{
			{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": armDigest, "size": len(armManifest),
				"platform": map[string]string{"architecture": "arm64", "os": "linux", "variant": "v8"}},
			{"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "digest": amdDigest, "size": len(mb),
				"platform": map[string]string{"architecture": "amd64", "os": "linux"}},
		},
	})
	listDigest := r.putManifest(t, repo, "multi", "application/vnd.docker.distribution.manifest.list.v2+json", list)

	// GET /distribution/{name}/json sees both platforms.
	req, _ := http.NewRequest(http.MethodGet, "http://d/v1.50/distribution/"+ref+":multi/json", nil)
	if auth != "" {
		req.Header.Set("X-Registry-Auth", auth)
	}
	resp, err := d.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("distribution inspect: %d %s", resp.StatusCode, b)
	}
	expectContains(t, string(b), listDigest, `"architecture":"arm64"`, `"architecture":"amd64"`, "manifest.list.v2+json")

	// The same image as an OCI manifest, and an OCI index of it.
	var om map[string]any
	json.Unmarshal(mb, &om)
	om["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
	om["config"].(map[string]any)["mediaType"] = "application/vnd.oci.image.config.v1+json"
	for _, l := range om["layers"].([]any) {
		l.(map[string]any)["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
	}
	ociManifest, _ := json.Marshal(om)
	ociDigest := r.putManifest(t, repo, "oci", "application/vnd.oci.image.manifest.v1+json", ociManifest)
	ociIndex, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests": []map[string]any{{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ociDigest, "size": len(ociManifest),
			"platform": map[string]string{"architecture": "amd64", "os": "linux"}}},
	})
	r.putManifest(t, repo, "oci-index", "application/vnd.oci.image.index.v1+json", ociIndex)

	removeAllImages(t)
	for _, tag := range []string{"oci", "oci-index"} {
		d.DockerT(t, "pull", ref+":"+tag)
		if got := imageID(t, ref+":"+tag); got != amdID {
			t.Errorf("%s pulled %s, want %s", tag, got, amdID)
		}
	}

	removeAllImages(t)
	out := d.DockerT(t, "pull", ref+":multi")
	expectContains(t, out, "Digest: "+listDigest)
	if got := imageID(t, ref+":multi"); got != amdID {
		t.Errorf("default platform pulled %s, want the amd64 image %s", got, amdID)
	}
	d.DockerT(t, "pull", "--platform", "linux/arm64", ref+":multi")
	if got := imageID(t, ref+":multi"); got != armCfgDigest {
		t.Errorf("linux/arm64 pulled %s, want %s", got, armCfgDigest)
	}
	_, errOut, err := d.Docker("pull", "--platform", "linux/s390x", ref+":multi")
	if err == nil {
		t.Fatal("pull of a platform the list lacks succeeded")
	}
	expectContains(t, errOut, "no matching manifest for linux/s390x in the manifest list entries")
	removeAllImages(t)
	d.LoadTestImages(t)
}

// corruptBlob damages a layer in the registry's storage: the pull must
// fail and leave neither an image nor a layer behind.
func corruptBlob(t *testing.T, r *testRegistry) {
	d.LoadTestImages(t)
	ref := r.Addr + "/test/corrupt:v1"
	d.DockerT(t, "tag", harness.TwoLayerImage, ref)
	dg, _ := push(t, ref)
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	json.Unmarshal(r.get(t, "/v2/test/corrupt/manifests/"+dg), &m)
	if len(m.Layers) != 2 {
		t.Fatalf("want 2 layers, got %d", len(m.Layers))
	}
	p := r.blobPath(m.Layers[1].Digest)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	for i := len(b) / 3; i < len(b)/3+16 && i < len(b); i++ {
		b[i] ^= 0xff
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	removeAllImages(t)
	_, errOut, err := d.Docker("pull", ref)
	if err == nil {
		t.Fatal("pull of a corrupted blob succeeded")
	}
	expectContains(t, errOut, "filesystem layer verification failed for digest "+m.Layers[1].Digest)
	if out := strings.TrimSpace(d.DockerT(t, "images", "-aq")); out != "" {
		t.Errorf("images after a failed pull: %s", out)
	}
	time.Sleep(200 * time.Millisecond)
	layers, tmp := layerDirs(t)
	if len(layers) != 0 || len(tmp) != 0 {
		t.Errorf("layers left after a failed pull: %v, tmp: %v", layers, tmp)
	}
	d.LoadTestImages(t)
}

func TestPlainHTTPRegistry(t *testing.T) {
	r := startRegistry(t, plainHTTP)
	t.Run("login", func(t *testing.T) {
		out := d.DockerT(t, "login", "-u", "anyone", "-p", "anything", r.Addr)
		expectContains(t, out, "Login Succeeded")
		d.Docker("logout", r.Addr)
	})
	t.Run("roundtrip", func(t *testing.T) { roundTrip(t, r, "") })
	t.Run("mount", func(t *testing.T) {
		d.LoadTestImages(t)
		// The roundtrip pushed these layers to test/busybox2: pushing
		// them to another repository mounts them from there.
		d.DockerT(t, "tag", harness.TwoLayerImage, r.Addr+"/b/two:v1")
		_, out := push(t, r.Addr+"/b/two:v1")
		expectContains(t, out, "Mounted from test/busybox2")
	})
	t.Run("errors", func(t *testing.T) {
		_, errOut, err := d.Docker("pull", r.Addr+"/test/busybox:nope")
		if err == nil {
			t.Fatal("pull of an unknown tag succeeded")
		}
		expectContains(t, errOut, "manifest for "+r.Addr+"/test/busybox:nope not found: manifest unknown")
		_, errOut, _ = d.Docker("pull", "127.0.0.1:1/x:y")
		expectContains(t, errOut, "127.0.0.1:1", "connection refused")
		_, errOut, _ = d.Docker("push", r.Addr+"/nothing/here:v1")
		expectContains(t, errOut, "An image does not exist locally with the tag: "+r.Addr+"/nothing/here")
	})
	t.Run("all-tags", func(t *testing.T) {
		d.LoadTestImages(t)
		for _, tag := range []string{"a", "b"} {
			d.DockerT(t, "tag", harness.BusyboxImage, r.Addr+"/tags/bb:"+tag)
			push(t, r.Addr+"/tags/bb:"+tag)
		}
		removeAllImages(t)
		out := d.DockerT(t, "pull", "--all-tags", r.Addr+"/tags/bb")
		expectContains(t, out, "a: Pulling from", "b: Pulling from", "Status: Downloaded newer image for "+r.Addr+"/tags/bb")
		imageID(t, r.Addr+"/tags/bb:a")
		imageID(t, r.Addr+"/tags/bb:b")
		d.LoadTestImages(t)
	})
	t.Run("tty-render", func(t *testing.T) {
		// On a terminal the CLI draws byte progress bars per layer.
		_, err := exec.LookPath("script")
		harness.Require(t, err == nil, "script (Debian package bsdutils)")
		ref := r.Addr + "/test/busybox2:v1"
		removeAllImages(t)
		cmd := d.DockerCmd()
		cmd.Path, _ = exec.LookPath("script")
		cmd.Args = []string{"script", "-qec", "docker pull " + ref, os.DevNull}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		expectContains(t, string(out), "Pulling fs layer", "Downloading", "Pull complete", "Status: Downloaded newer image for "+ref)
		d.LoadTestImages(t)
	})
	t.Run("manifest-list", func(t *testing.T) { manifestList(t, r, "") })
	t.Run("corrupt-blob", func(t *testing.T) { corruptBlob(t, r) })
}

func TestTLSRegistryWithCertsD(t *testing.T) {
	r := startRegistry(t, withTLS)
	d.LoadTestImages(t)
	ref := r.Addr + "/tls/busybox:v1"
	d.DockerT(t, "tag", harness.BusyboxImage, ref)

	// A CA that did not sign the registry's certificate: refused.
	other, _, _ := makeCerts(t)
	installCA(t, r.Addr, other)
	_, errOut, err := d.Docker("push", ref)
	if err == nil {
		t.Fatal("push with the wrong CA succeeded")
	}
	expectContains(t, errOut, "certificate")

	installCA(t, r.Addr, r.CAPEM)
	t.Run("login", func(t *testing.T) {
		expectContains(t, d.DockerT(t, "login", "-u", "anyone", "-p", "anything", r.Addr), "Login Succeeded")
		d.Docker("logout", r.Addr)
	})
	t.Run("roundtrip", func(t *testing.T) { roundTrip(t, r, "") })
	t.Run("manifest-list", func(t *testing.T) { manifestList(t, r, "") })
	t.Run("corrupt-blob", func(t *testing.T) { corruptBlob(t, r) })
}

func TestBasicAuthRegistry(t *testing.T) {
	r := startRegistry(t, withAuth)
	d.LoadTestImages(t)
	ref := r.Addr + "/auth/busybox:v1"
	d.DockerT(t, "tag", harness.BusyboxImage, ref)
	t.Cleanup(func() { d.Docker("logout", r.Addr) })

	_, errOut, err := d.Docker("push", ref)
	if err == nil {
		t.Fatal("push without login succeeded")
	}
	expectContains(t, errOut, "no basic auth credentials")
	_, errOut, err = d.Docker("pull", ref)
	if err == nil {
		t.Fatal("pull without login succeeded")
	}
	expectContains(t, errOut, "no basic auth credentials")

	_, errOut, err = d.Docker("login", "-u", testUser, "-p", "wrong", r.Addr)
	if err == nil {
		t.Fatal("login with a wrong password succeeded")
	}
	expectContains(t, errOut, "401 Unauthorized")
	out := d.DockerT(t, "login", "-u", testUser, "-p", testPass, r.Addr)
	expectContains(t, out, "Login Succeeded")

	auth := authHeader(testUser, testPass, r.Addr)
	t.Run("roundtrip", func(t *testing.T) { roundTrip(t, r, auth) })
	t.Run("wrong-credentials", func(t *testing.T) {
		code, body := apiPull(t, context.Background(), url.Values{"fromImage": {r.Addr + "/test/busybox"}, "tag": {"v1"}}, authHeader(testUser, "bad", r.Addr), nil)
		// Never 401: the CLI would prompt for a password.
		if code == http.StatusOK || code == http.StatusUnauthorized {
			t.Errorf("pull with bad credentials: %d %s", code, body)
		}
		expectContains(t, body, "unauthorized")
	})
	t.Run("manifest-list", func(t *testing.T) { manifestList(t, r, auth) })
	t.Run("corrupt-blob", func(t *testing.T) { corruptBlob(t, r) })
}

// TestSharedAndRetriedDownloads puts a fault-injecting proxy in front of
// a plain registry: two pulls sharing a layer download it once; 5xx
// answers and dropped connections are retried; a client that hangs up
// cancels the pull and leaves no partial layer.
func TestSharedAndRetriedDownloads(t *testing.T) {
	r := startRegistry(t, plainHTTP)
	d.LoadTestImages(t)
	for _, name := range []string{"share/a:v1", "share/b:v1"} {
		d.DockerT(t, "tag", map[string]string{"share/a:v1": harness.BusyboxImage, "share/b:v1": harness.TwoLayerImage}[name], r.Addr+"/"+name)
		push(t, r.Addr+"/"+name)
	}
	p := startProxy(t, r)
	var m struct {
		Layers []struct{ Digest string } `json:"layers"`
	}
	json.Unmarshal(r.get(t, "/v2/share/b/manifests/v1"), &m)
	base := m.Layers[0].Digest

	t.Run("shared", func(t *testing.T) {
		removeAllImages(t)
		p.set(func(p *faultProxy) { p.delay = 500 * time.Millisecond })
		defer p.set(func(p *faultProxy) { p.delay = 0 })
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, name := range []string{"share/a:v1", "share/b:v1"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = d.Docker("pull", p.Addr+"/"+name)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := p.gets(base); n != 1 {
			t.Errorf("shared base layer downloaded %d times, want 1", n)
		}
	})
	t.Run("retries", func(t *testing.T) {
		removeAllImages(t)
		p.set(func(p *faultProxy) { p.fail5xx = 2; p.dropFirst = true })
		defer p.set(func(p *faultProxy) { p.fail5xx = 0; p.dropFirst = false })
		d.DockerT(t, "pull", p.Addr+"/share/b:v1")
		if p.failures.Load() < 3 {
			t.Errorf("only %d faults injected", p.failures.Load())
		}
		d.DockerT(t, "save", "-o", filepath.Join(t.TempDir(), "b.tar"), p.Addr+"/share/b:v1")
	})
	t.Run("hang-up", func(t *testing.T) {
		removeAllImages(t)
		p.set(func(p *faultProxy) { p.delay = 3 * time.Second })
		defer p.set(func(p *faultProxy) { p.delay = 0 })
		ctx, cancel := context.WithCancel(context.Background())
		started := make(chan struct{})
		var once sync.Once
		done := make(chan struct{})
		go func() {
			defer close(done)
			apiPull(t, ctx, url.Values{"fromImage": {p.Addr + "/share/b"}, "tag": {"v1"}}, "", func(m message) {
				if m.Status == "Pulling fs layer" {
					once.Do(func() { close(started) })
				}
			})
		}()
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("pull did not start")
		}
		time.Sleep(300 * time.Millisecond)
		cancel()
		<-done
		time.Sleep(time.Second)
		if out := strings.TrimSpace(d.DockerT(t, "images", "-aq")); out != "" {
			t.Errorf("image after a cancelled pull: %s", out)
		}
		layers, tmp := layerDirs(t)
		if len(layers) != 0 || len(tmp) != 0 {
			t.Errorf("layers left after a cancelled pull: %v, tmp: %v", layers, tmp)
		}
		// The layer is fetched in full by the next pull.
		p.set(func(p *faultProxy) { p.delay = 0 })
		d.DockerT(t, "pull", p.Addr+"/share/b:v1")
	})
	removeAllImages(t)
	d.LoadTestImages(t)
}

func strconvI(n int64) string { return strconv.FormatInt(n, 10) }

// TestMaxConcurrentDownloads: with max-concurrent-downloads 1 in
// daemon.json, the second layer of a pull waits for the first.
func TestMaxConcurrentDownloads(t *testing.T) {
	r := startRegistry(t, plainHTTP)
	fd := harness.Fresh(t, harness.Options{Config: `{"max-concurrent-downloads": 1}`})
	fd.LoadTestImages(t)
	ref := r.Addr + "/limit/busybox2:v1"
	fd.DockerT(t, "tag", harness.TwoLayerImage, ref)
	fd.DockerT(t, "push", ref)
	ids := strings.Fields(fd.DockerT(t, "images", "-aq"))
	fd.DockerT(t, append([]string{"rmi", "-f"}, ids...)...)
	waiting := 0
	code, body := apiPullOn(t, fd, context.Background(), url.Values{"fromImage": {r.Addr + "/limit/busybox2"}, "tag": {"v1"}}, "", func(m message) {
		if m.Status == "Waiting" {
			waiting++
		}
	})
	if code != 200 {
		t.Fatalf("pull: %d %s", code, body)
	}
	if waiting != 1 {
		t.Errorf("%d layers waited, want 1", waiting)
	}
}
