package image

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berthd/berth/image/tarexport/archivetest"
	"github.com/berthd/berth/integration/internal/harness"
)

// layerState lists what the layer store holds on disk: layer directories,
// short aliases, and litter in tmp/.
type layerState struct {
	dirs, links, tmp []string
}

func stateOf(dd *harness.Daemon) layerState {
	root := filepath.Join(dd.DataRoot, "image", "layers")
	var s layerState
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if len(e.Name()) == 64 {
			s.dirs = append(s.dirs, e.Name())
		}
	}
	for sub, into := range map[string]*[]string{"l": &s.links, "tmp": &s.tmp} {
		ents, _ := os.ReadDir(filepath.Join(root, sub))
		for _, e := range ents {
			*into = append(*into, e.Name())
		}
	}
	return s
}

// checkStore fails unless the store holds exactly want layers, each with
// its alias, and nothing in tmp/.
func checkStore(t *testing.T, dd *harness.Daemon, want int) {
	t.Helper()
	s := stateOf(dd)
	if len(s.dirs) != want || len(s.links) != want || len(s.tmp) != 0 {
		t.Fatalf("layer store: %d layers (want %d), %d aliases, tmp %v", len(s.dirs), want, len(s.links), s.tmp)
	}
	root := filepath.Join(dd.DataRoot, "image", "layers")
	for _, l := range s.links {
		if _, err := os.Stat(filepath.Join(root, "l", l)); err != nil {
			t.Fatalf("dangling alias l/%s: %v", l, err)
		}
	}
}

// verifySaved saves ref and checks that every layer in the archive has
// the content its digest names, and that the layers are want, in order:
// a layer damaged on disk would be rebuilt with other bytes.
func verifySaved(t *testing.T, dd *harness.Daemon, ref string, want []archivetest.Layer) {
	t.Helper()
	resp, err := dd.HTTPClient().Get("http://x/v1.50/images/" + ref + "/get")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("save %s: status %d", ref, resp.StatusCode)
	}
	tr := tar.NewReader(bufio.NewReaderSize(resp.Body, 1<<20))
	got := map[string]bool{}
	var manifest []struct{ Layers []string }
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("save %s: %v", ref, err)
		}
		if h.Name == "manifest.json" {
			json.NewDecoder(tr).Decode(&manifest)
			continue
		}
		hex64, ok := strings.CutPrefix(h.Name, "blobs/sha256/")
		if !ok || h.Typeflag != tar.TypeReg {
			continue
		}
		sum := sha256.New()
		io.Copy(sum, tr)
		if hex.EncodeToString(sum.Sum(nil)) != hex64 {
			t.Fatalf("save %s: blob %s has other content", ref, hex64)
		}
		got[hex64] = true
	}
	if len(manifest) != 1 || len(manifest[0].Layers) != len(want) {
		t.Fatalf("save %s: manifest %+v", ref, manifest)
	}
	for i, l := range want {
		h := strings.TrimPrefix(l.DiffID, "sha256:")
		if manifest[0].Layers[i] != "blobs/sha256/"+h || !got[h] {
			t.Fatalf("save %s: layer %d is %s, want %s", ref, i, manifest[0].Layers[i], h)
		}
	}
}

type loadMsg struct {
	Stream   string `json:"stream"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	Progress string `json:"progress"`
	Detail   *struct {
		Current, Total int64
	} `json:"progressDetail"`
	ErrorDetail *struct{ Message string } `json:"errorDetail"`
}

// loadStream posts an archive to /images/load and decodes the stream.
func loadStream(t *testing.T, c *http.Client, archive string, quiet bool) []loadMsg {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	q := "0"
	if quiet {
		q = "1"
	}
	resp, err := c.Post("http://x/images/load?quiet="+q, "application/x-tar", f)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("load: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	var out []loadMsg
	dec := json.NewDecoder(resp.Body)
	for {
		var m loadMsg
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// finalProgress maps each layer ID in a load stream to its last
// progressDetail, checking the messages' form on the way.
func finalProgress(t *testing.T, msgs []loadMsg) map[string][2]int64 {
	t.Helper()
	last := map[string][2]int64{}
	for _, m := range msgs {
		if m.Status == "" {
			continue
		}
		if m.Status != "Loading layer" || len(m.ID) != 12 || m.Detail == nil || m.Detail.Total <= 0 || m.Detail.Current <= 0 || !strings.Contains(m.Progress, "/") {
			t.Fatalf("progress message %+v", m)
		}
		if prev, ok := last[m.ID]; ok && m.Detail.Current < prev[0] {
			t.Fatalf("progress of %s went back: %+v", m.ID, m)
		}
		last[m.ID] = [2]int64{m.Detail.Current, m.Detail.Total}
	}
	return last
}

func TestLoadProgress(t *testing.T) {
	dir := t.TempDir()
	// Four layers: three large ones unpacked while the archive streams,
	// one small one unpacked from memory.
	var layers []archivetest.Layer
	for i, size := range []int64{3 << 20, 5 << 20, 2 << 20, 64 << 10} {
		l, err := archivetest.RandomLayer(filepath.Join(dir, fmt.Sprint(i)), fmt.Sprint("p", i), uint64(100+i), 2, size)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	archive := filepath.Join(dir, "img.tar")
	if _, err := archivetest.WriteArchive(archive, "it-progress:1", layers, "progress"); err != nil {
		t.Fatal(err)
	}
	c := d.HTTPClient()
	msgs := loadStream(t, c, archive, false)
	last := finalProgress(t, msgs)
	if len(last) != len(layers) {
		t.Fatalf("progress for %d layers, want %d: %+v", len(last), len(layers), msgs)
	}
	for _, l := range layers {
		p, ok := last[strings.TrimPrefix(l.DiffID, "sha256:")[:12]]
		if !ok || p[0] != p[1] || p[1] != l.Size {
			t.Fatalf("layer %s: final progress %v, want %d/%d", l.DiffID, p, l.Size, l.Size)
		}
	}
	if end := msgs[len(msgs)-1]; end.Stream != "Loaded image: it-progress:1\n" {
		t.Fatalf("last message %+v", end)
	}
	// Quiet: only what was loaded.
	msgs = loadStream(t, c, archive, true)
	if len(msgs) != 1 || msgs[0].Stream != "Loaded image: it-progress:1\n" {
		t.Fatalf("quiet load: %+v", msgs)
	}
	// An archive that fails after progress was sent reports the error in
	// the stream, as dockerd does.
	bad := filepath.Join(dir, "bad.tar")
	badLayers := append([]archivetest.Layer(nil), layers...)
	badLayers[1].DiffID = layers[0].DiffID // config names the wrong layer
	if _, err := archivetest.WriteArchive(bad, "it-progress:bad", badLayers, "bad"); err != nil {
		t.Fatal(err)
	}
	msgs = loadStream(t, c, bad, false)
	if end := msgs[len(msgs)-1]; end.ErrorDetail == nil || end.ErrorDetail.Message == "" {
		t.Fatalf("failed load ends with %+v", end)
	}
	d.DockerT(t, "rmi", "it-progress:1")
}

// Two loads of images sharing a base layer at once store the base once,
// whoever commits first; removing both leaves nothing.
func TestConcurrentLoadsShareLayers(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	dir := t.TempDir()
	base, err := archivetest.RandomLayer(filepath.Join(dir, "base"), "base", 1, 8, 48<<20)
	if err != nil {
		t.Fatal(err)
	}
	mid, err := archivetest.RandomLayer(filepath.Join(dir, "mid"), "mid", 2, 2, 8<<20)
	if err != nil {
		t.Fatal(err)
	}
	type img struct {
		ref, archive, id string
		layers           []archivetest.Layer
	}
	var imgs []img
	for i := 0; i < 3; i++ {
		top, err := archivetest.RandomLayer(filepath.Join(dir, fmt.Sprint("top", i)), fmt.Sprint("top", i), uint64(10+i), 2, 8<<20)
		if err != nil {
			t.Fatal(err)
		}
		ls := []archivetest.Layer{base, mid, top}
		ref := fmt.Sprintf("it-share:%d", i)
		p := filepath.Join(dir, fmt.Sprint("img", i, ".tar"))
		id, err := archivetest.WriteArchive(p, ref, ls, ref)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img{ref, p, id, ls})
	}
	for round := 0; round < 4; round++ {
		// Round 3 loads the same image twice at once.
		pick := imgs
		if round == 3 {
			pick = []img{imgs[0], imgs[0]}
		}
		var wg sync.WaitGroup
		errs := make([]error, len(pick))
		for i, im := range pick {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, errOut, err := dd.Docker("load", "-i", im.archive); err != nil {
					errs[i] = fmt.Errorf("%v: %s", err, errOut)
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d load %d: %v", round, i, err)
			}
		}
		distinct := map[string]img{}
		for _, im := range pick {
			distinct[im.ref] = im
		}
		for _, im := range distinct {
			if got := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.Id}}", im.ref)); got != im.id {
				t.Fatalf("round %d: %s is %s, want %s", round, im.ref, got, im.id)
			}
		}
		checkStore(t, dd, 2+len(distinct)) // base and mid once, a top each
		for _, im := range distinct {
			verifySaved(t, dd, im.ref, im.layers)
		}
		for _, im := range distinct {
			dd.DockerT(t, "rmi", im.ref)
		}
		checkStore(t, dd, 0)
	}
}

// Removing an image while a load of another image that shares its layers
// runs breaks neither: the load's image is whole, the removed one gone,
// the shared layers kept once.
func TestRemoveWhileLoadSharesLayer(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	dir := t.TempDir()
	base, err := archivetest.RandomLayer(filepath.Join(dir, "base"), "base", 21, 8, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, seed uint64) (string, []archivetest.Layer) {
		top, err := archivetest.RandomLayer(filepath.Join(dir, name+"-top"), name, seed, 2, 16<<20)
		if err != nil {
			t.Fatal(err)
		}
		ls := []archivetest.Layer{base, top}
		p := filepath.Join(dir, name+".tar")
		if _, err := archivetest.WriteArchive(p, "it-rmload:"+name, ls, name); err != nil {
			t.Fatal(err)
		}
		return p, ls
	}
	pa, _ := mk("a", 22)
	pb, lb := mk("b", 23)
	// The removal lands at different points of the load: before it
	// reaches the layers, during the unpacking, around the commit.
	for _, delay := range []time.Duration{0, 20 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, 800 * time.Millisecond} {
		dd.DockerT(t, "load", "-i", pa)
		var wg sync.WaitGroup
		var loadErr, rmiErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, e, err := dd.Docker("load", "-i", pb); err != nil {
				loadErr = fmt.Errorf("%v: %s", err, e)
			}
		}()
		go func() {
			defer wg.Done()
			time.Sleep(delay)
			if _, e, err := dd.Docker("rmi", "it-rmload:a"); err != nil {
				rmiErr = fmt.Errorf("%v: %s", err, e)
			}
		}()
		wg.Wait()
		if loadErr != nil || rmiErr != nil {
			t.Fatalf("delay %s: load %v, rmi %v", delay, loadErr, rmiErr)
		}
		if _, _, err := dd.Docker("inspect", "it-rmload:a"); err == nil {
			t.Fatalf("delay %s: removed image still there", delay)
		}
		checkStore(t, dd, 2)
		verifySaved(t, dd, "it-rmload:b", lb)
		dd.DockerT(t, "rmi", "it-rmload:b")
		checkStore(t, dd, 0)
	}
}

// A daemon killed with SIGKILL during a load comes back with the whole
// image (with its name) or none of it, and a layer store without orphans.
func TestKillDuringLoad(t *testing.T) {
	dd := harness.Fresh(t, harness.Options{})
	dir := t.TempDir()
	const ref = "it-crash:1"
	archive, id, layers, err := archivetest.RandomImage(dir, "crash", ref, 31, 5, 6, 48<<20)
	if err != nil {
		t.Fatal(err)
	}
	// How long an undisturbed load takes, to place the kills.
	t0 := time.Now()
	dd.DockerT(t, "load", "-i", archive)
	full := time.Since(t0)
	dd.DockerT(t, "rmi", ref)
	t.Logf("an undisturbed load takes %s", full)

	layersDir := filepath.Join(dd.DataRoot, "image", "layers")
	imagesDir := filepath.Join(dd.DataRoot, "image", "images")
	// Kill points: fractions of the load's duration, and events seen on
	// disk (first layer unpacking, first and last layer committed, the
	// image record written).
	type point struct {
		name string
		when func() bool
		// arm, when set, runs before the load and returns what undoes it.
		arm func() func()
	}
	countLayers := func() int { return len(stateOf(dd).dirs) }
	var points []point
	for _, f := range []float64{0.05, 0.2, 0.4, 0.6, 0.8, 0.95} {
		deadline := time.Duration(float64(full) * f)
		var start time.Time
		points = append(points, point{fmt.Sprintf("at %.0f%%", f*100), func() bool {
			if start.IsZero() {
				start = time.Now()
			}
			return time.Since(start) >= deadline
		}, nil})
	}
	points = append(points,
		point{"first unpack", func() bool { e, _ := os.ReadDir(filepath.Join(layersDir, "tmp")); return len(e) > 0 }, nil},
		point{"first commit", func() bool { return countLayers() >= 1 }, nil},
		point{"last commit", func() bool { return countLayers() >= len(layers) }, nil},
		point{"image record", func() bool {
			_, err := os.Stat(filepath.Join(imagesDir, strings.TrimPrefix(id, "sha256:")+".json"))
			return err == nil
		}, nil},
		// The one instant a poll cannot hit: the config blob is written
		// and the record is not. strace kills the daemon as it renames
		// the record into place (the rename fails first, so it never
		// happens).
		point{"before the record", func() bool { return dd.Exited() }, func() func() {
			return killAtRename(t, dd, filepath.Join(imagesDir, strings.TrimPrefix(id, "sha256:")+".json"))
		}},
	)
	outcomes := map[string]int{}
	for _, p := range points {
		disarm := func() {}
		if p.arm != nil {
			disarm = p.arm()
		}
		cmd := dd.DockerCmd("load", "-i", archive)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		fired := false
	watch:
		for {
			select {
			case <-done:
				break watch
			default:
			}
			if p.when() {
				fired = true
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		if p.arm != nil {
			// Killed by strace, or the load got by it.
			fired = dd.Exited()
		}
		dd.Kill()
		<-done
		disarm()
		if err := dd.Restart(true); err != nil {
			t.Fatal(err)
		}
		// Any image call waits for the start's clean-up.
		out := strings.TrimSpace(dd.DockerT(t, "images", "-q", "--no-trunc"))
		outcome := "none"
		switch out {
		case "":
			checkStore(t, dd, 0)
			// No config blob either: the start removes the config of an
			// image whose record was never written.
			checkNoConfigs(t, dd, p.name)
		case id:
			outcome = "whole"
			if got := strings.TrimSpace(dd.DockerT(t, "inspect", "-f", "{{.Id}}", ref)); got != id {
				t.Fatalf("%s: image back without its name (%q)", p.name, got)
			}
			checkStore(t, dd, len(layers))
			verifySaved(t, dd, ref, layers)
			dd.DockerT(t, "rmi", ref)
			checkStore(t, dd, 0)
			checkNoConfigs(t, dd, p.name+", then rmi")
		default:
			t.Fatalf("%s: images after restart: %q", p.name, out)
		}
		if ents, _ := os.ReadDir(imagesDir); len(ents) != 0 {
			t.Fatalf("%s: image records left: %v", p.name, ents)
		}
		if !fired {
			outcome += " (load ended before the kill)"
		}
		outcomes[outcome]++
		t.Logf("kill %s: %s", p.name, outcome)
	}
	if outcomes["none"] == 0 || outcomes["whole"] == 0 {
		t.Fatalf("kills never split the load both ways: %v", outcomes)
	}
}

// checkNoConfigs fails if the content store (where image configs live)
// holds any blob or ingest file.
func checkNoConfigs(t *testing.T, dd *harness.Daemon, when string) {
	t.Helper()
	for _, sub := range []string{"blobs/sha256", "ingest"} {
		ents, err := os.ReadDir(filepath.Join(dd.DataRoot, "image", "content", sub))
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if len(ents) != 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Fatalf("%s: content/%s holds %v with no image", when, sub, names)
		}
	}
}

// killAtRename has strace SIGKILL the daemon when it renames a file onto
// target, failing the rename first, and returns what stops strace.
func killAtRename(t *testing.T, dd *harness.Daemon, target string) func() {
	t.Helper()
	tr := traceDaemonWith(t, dd, "-P", target, "-e", "trace=rename,renameat,renameat2",
		"-e", "inject=rename,renameat,renameat2:error=EIO:signal=SIGKILL")
	return func() { tr.stop(t) }
}
