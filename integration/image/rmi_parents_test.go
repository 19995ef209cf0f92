package image

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berthd/berth/integration/internal/harness"
)

// rmiEngine is one daemon as TestRmiPrunesUntaggedParents drives it.
type rmiEngine struct {
	name   string
	docker func(args ...string) string
	http   *http.Client
}

func (e rmiEngine) call(t *testing.T, method, path string) (int, []byte) {
	t.Helper()
	resp, b := harness.Request(t, e.http, method, path, "")
	return resp.StatusCode, []byte(b)
}

// names gives each image of the trees below refs a name that is the same
// on both engines: the tag, or the tag it was first reached from with ^N
// for the Nth parent. Image IDs differ between the engines (creation
// times are in the configs); the shape of the trees does not.
func (e rmiEngine) names(t *testing.T, refs ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, ref := range refs {
		code, b := e.call(t, "GET", "/v1.41/images/"+ref+"/json")
		if code != 200 {
			t.Fatalf("%s: inspect %s: %d %s", e.name, ref, code, b)
		}
		type inspect struct {
			Id, Parent string
			RootFS     struct{ Layers []digest.Digest }
		}
		var img inspect
		json.Unmarshal(b, &img)
		for n := 0; img.Id != ""; n++ {
			if _, seen := out[img.Id]; !seen {
				name := ref
				if n > 0 {
					name = fmt.Sprintf("%s^%d", ref, n)
				}
				out[img.Id] = name
				// The layer stack, as rmi reports a removed layer (its
				// chain ID). The engines' COPY layers need not be the
				// same bytes; which layer goes is what is compared.
				if chain := chainID(img.RootFS.Layers); chain != "" {
					if _, seen := out[chain]; !seen {
						out[chain] = "layers of " + name
					}
				}
			}
			if img.Parent == "" {
				break
			}
			_, b = e.call(t, "GET", "/v1.41/images/"+img.Parent+"/json")
			img = inspect{}
			json.Unmarshal(b, &img)
		}
	}
	return out
}

func chainID(diffIDs []digest.Digest) string {
	if len(diffIDs) == 0 {
		return ""
	}
	chain := diffIDs[0]
	for _, d := range diffIDs[1:] {
		chain = digest.FromString(chain.String() + " " + d.String())
	}
	return chain.String()
}

func normalise(s string, names map[string]string) string {
	for id, n := range names {
		s = strings.ReplaceAll(s, id, "<"+n+">")
	}
	return s
}

// docker rmi of an image whose untagged parent (a step image of a classic
// build) has other children deletes the image and its untagged parents up
// to the first that has other children or a name, without an error, and
// reports the same Untagged/Deleted entries as dockerd 20.10, through the
// CLI and through DELETE /images/{name}.
func TestRmiPrunesUntaggedParents(t *testing.T) {
	dd := harness.StartDockerd(t)
	p, _ := d.WriteTestImage(t, "it-rmip-base:1", false)
	ctx := t.TempDir()
	shared := "FROM it-rmip-base:1\nENV T=rmi-parents\nCOPY s.txt /s.txt\n"
	files := map[string]string{
		"s.txt":        "shared\n",
		"a.txt":        "only a\n",
		"Dockerfile.a": shared + "LABEL which=a\nCOPY a.txt /a.txt\n",
		"Dockerfile.b": shared + "LABEL which=b\n",
		"Dockerfile.c": shared + "LABEL which=c\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(ctx, n), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	engines := []rmiEngine{
		{"berthd", func(a ...string) string { t.Helper(); return d.DockerT(t, a...) }, d.HTTPClient()},
		{"dockerd", func(a ...string) string { t.Helper(); return dd.Docker(t, a...) }, dd.Client()},
	}
	type result struct {
		cli        string
		apiB, apiC any
	}
	var results []result
	for _, e := range engines {
		e.docker("load", "-i", p)
		for _, x := range []string{"a", "b", "c"} {
			e.docker("build", "--pull=false", "--network", "none", "-q", "-f", filepath.Join(ctx, "Dockerfile."+x), "-t", "it-rmip-"+x, ctx)
		}
		names := e.names(t, "it-rmip-a", "it-rmip-b", "it-rmip-c")
		var r result
		// a's parent chain joins b's and c's at the COPY s.txt step: the
		// CLI removes a, its LABEL step and its layer, and stops there.
		r.cli = normalise(e.docker("rmi", "it-rmip-a"), names)
		// b stops at the same step, which c still builds on.
		code, body := e.call(t, "DELETE", "/v1.41/images/it-rmip-b")
		if code != 200 {
			t.Fatalf("%s: DELETE it-rmip-b: %d %s", e.name, code, body)
		}
		json.Unmarshal([]byte(normalise(string(body), names)), &r.apiB)
		// c takes the shared steps with it, up to the tagged base.
		code, body = e.call(t, "DELETE", "/v1.41/images/it-rmip-c")
		if code != 200 {
			t.Fatalf("%s: DELETE it-rmip-c: %d %s", e.name, code, body)
		}
		json.Unmarshal([]byte(normalise(string(body), names)), &r.apiC)
		left := strings.Fields(e.docker("images", "-a", "-q", "--no-trunc"))
		for _, id := range left {
			if n := names[id]; n != "" && n != "it-rmip-a^4" {
				t.Errorf("%s: image %s (%s) survived", e.name, id, n)
			}
		}
		e.docker("rmi", "it-rmip-base:1")
		results = append(results, r)
	}
	ours, theirs := results[0], results[1]
	t.Logf("dockerd: rmi it-rmip-a:\n%s", theirs.cli)
	if ours.cli != theirs.cli {
		t.Errorf("docker rmi output differs:\n  dockerd: %q\n  berthd:  %q", theirs.cli, ours.cli)
	}
	for _, c := range []struct {
		name       string
		ours, want any
	}{{"it-rmip-b", ours.apiB, theirs.apiB}, {"it-rmip-c", ours.apiC, theirs.apiC}} {
		if !reflect.DeepEqual(c.ours, c.want) {
			a, _ := json.Marshal(c.want)
			b, _ := json.Marshal(c.ours)
			t.Errorf("DELETE /images/%s differs:\n  dockerd: %s\n  berthd:  %s", c.name, a, b)
		}
	}
}
