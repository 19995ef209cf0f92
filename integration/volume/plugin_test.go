package volume

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthd/berth/volume/plugin/plugintest"
)

// servePlugin serves a fake volume plugin as NAME.sock in the daemon's
// private plugin directory until the test ends.
func servePlugin(t *testing.T, name string) *plugintest.Plugin {
	t.Helper()
	p, err := plugintest.Serve(filepath.Join(pluginDir, name+".sock"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestVolumePlugin(t *testing.T) {
	p := servePlugin(t, "myplugin")
	p.Scope = "global"
	name := uniq(t, "pv")
	rmAll(t, d, name)

	if out := strings.TrimSpace(d.DockerT(t, "volume", "create", "-d", "myplugin", "-o", "size=10", "--label", "l=1", name)); out != name {
		t.Fatalf("create printed %q", out)
	}
	if !p.Has(name) || p.Count("Plugin.Activate") != 1 {
		t.Fatalf("plugin calls %+v", p.Calls())
	}
	for _, c := range p.Calls() {
		if c.Method == "VolumeDriver.Create" && (c.Name != name || c.Opts["size"] != "10") {
			t.Fatalf("create call %+v", c)
		}
	}
	v := inspect(t, d, name)
	if v.Driver != "myplugin" || v.Scope != "global" || v.Mountpoint != filepath.Join(p.Root, name) || v.Labels["l"] != "1" || v.Status == nil {
		t.Fatalf("inspect %+v", v)
	}
	if got := ls(t, d, "driver=myplugin"); !slices.Equal(got, []string{name}) {
		t.Fatalf("ls driver=myplugin: %v", got)
	}
	out := d.DockerT(t, "volume", "ls", "--filter", "name="+name)
	if !strings.Contains(out, "myplugin") {
		t.Fatalf("ls table:\n%s", out)
	}
	d.DockerT(t, "volume", "rm", name)
	if p.Has(name) {
		t.Fatal("plugin still has the volume after rm")
	}

	// Plugin errors come back to the client.
	if got := dockerErr(t, d, "volume", "create", "-d", "myplugin", "-o", "fail=no space left", uniq(t, "f")); !strings.HasSuffix(got, ": no space left") {
		t.Fatalf("plugin error: %q", got)
	}
}

func TestVolumePluginSpecFiles(t *testing.T) {
	// One plugin process, reached by a .spec file and a .json file.
	sock := filepath.Join(t.TempDir(), "p.sock")
	p, err := plugintest.Serve(sock, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	spec := filepath.Join(specDir, "specplug.spec")
	js := filepath.Join(specDir, "jsonplug.json")
	os.WriteFile(spec, []byte("unix://"+sock+"\n"), 0o644)
	os.WriteFile(js, []byte(fmt.Sprintf(`{"Name":"jsonplug","Addr":"unix://%s"}`, sock)), 0o644)
	t.Cleanup(func() { os.Remove(spec); os.Remove(js) })

	for _, drv := range []string{"specplug", "jsonplug"} {
		name := uniq(t, drv)
		d.DockerT(t, "volume", "create", "-d", drv, name)
		if v := inspect(t, d, name); v.Driver != drv || !p.Has(name) {
			t.Fatalf("%s: %+v", drv, v)
		}
		d.DockerT(t, "volume", "rm", name)
	}
}
