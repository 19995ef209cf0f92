package buildkit

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berthd/berth/integration/internal/harness"
)

// compareDockerfile uses every instruction that shapes an image's config,
// in a build that dockerd 20.10's embedded BuildKit (v0.8) also runs.
const compareDockerfile = `FROM busybox AS base
ARG VERSION=1.0
LABEL org.example.version=$VERSION "two words"="a b"
ENV PATH=/opt/bin:$PATH APP_HOME=/opt/app
WORKDIR /opt/app
COPY --chown=1000:1000 app.sh bin/
RUN chmod 0755 bin/app.sh && mkdir -p /data && echo "$VERSION" > /version
EXPOSE 8080 9090/udp
VOLUME /data
USER 1000:1000
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --retries=2 CMD ["/opt/app/bin/app.sh", "health"]
SHELL ["/bin/sh", "-ec"]
ONBUILD RUN echo child
ENTRYPOINT ["/opt/app/bin/app.sh"]
CMD ["serve"]
`

// configKeys are the image config fields both engines must agree on.
var configKeys = []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild"}

// builtConfig is the chosen config fields and the layer count of ref on
// the engine at host.
func builtConfig(t *testing.T, host, ref string) (map[string]any, int) {
	t.Helper()
	r := cliIn(t, "", []string{"DOCKER_HOST=" + host}, "image", "inspect", "-f", "{{json .Config}}|{{len .RootFS.Layers}}", ref)
	if r.Code != 0 {
		t.Fatalf("inspect %s on %s: %s", ref, host, r.Combined())
	}
	cfgJSON, layers, _ := strings.Cut(strings.TrimSpace(r.Out), "|")
	var all map[string]any
	if err := json.Unmarshal([]byte(cfgJSON), &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]any{}
	for _, k := range configKeys {
		out[k] = all[k]
	}
	n := 0
	for _, c := range layers {
		n = n*10 + int(c-'0')
	}
	return out, n
}

// compareCase is one build run on both engines: its context, extra
// buildx flags, and a script whose output (run in the result with sh as
// the entrypoint) must be the same on both.
type compareCase struct {
	name   string
	files  map[string]string
	args   []string
	script string
}

// compareCases are builds that dockerd 20.10's BuildKit (v0.8, built-in
// Dockerfile frontend 1.2) supports: heredocs, COPY --link and --chmod are
// newer and tested on berthd alone.
var compareCases = []compareCase{
	{
		name:   "config",
		files:  map[string]string{"Dockerfile": compareDockerfile, "app.sh": "#!/bin/sh\necho \"app $*\"\n"},
		args:   []string{"--build-arg", "VERSION=2.5"},
		script: "stat -c '%a %u:%g %n' /opt/app/bin/app.sh /data; cat /version; /opt/app/bin/app.sh x",
	},
	{
		name: "multi-stage target",
		files: map[string]string{"Dockerfile": `FROM busybox AS build
RUN mkdir -p /out && echo built > /out/a && ln -s a /out/link
FROM busybox AS final
COPY --from=build --chown=12:34 /out /srv
WORKDIR /srv
CMD ["cat", "a"]
FROM final AS debug
RUN false
`},
		args:   []string{"--target", "final"},
		script: "ls -ln /srv | awk '{print $1, $3, $4, $9, $10, $11}'; cat /srv/link",
	},
	{
		name: "run mounts",
		files: map[string]string{"data.txt": "bound\n", "Dockerfile": `FROM busybox
RUN --mount=type=bind,source=data.txt,target=/d cp /d /copied
RUN --mount=type=cache,target=/c echo cached > /c/x && cp /c/x /fromcache
RUN --mount=type=tmpfs,target=/t touch /t/gone && echo tmp > /tmpfs-ran
`},
		// Not whether /c and /t exist: BuildKit since v0.10 removes the
		// empty mount-point stubs that dockerd 20.10's v0.8 leaves.
		script: "cat /copied /fromcache /tmpfs-ran; test -e /c/x -o -e /t/gone && echo LEAKED || echo clean",
	},
}

// TestConfigMatchesDockerd: the same builds through `docker buildx build
// --load` on berthd and on Debian's dockerd (its embedded BuildKit) give
// the same image config, layer count and files.
func TestConfigMatchesDockerd(t *testing.T) {
	setup(t)
	dd := harness.StartDockerd(t)
	if dd == nil {
		return
	}
	p, _ := d.WriteTestImage(t, harness.BusyboxImage, false)
	if r := cliIn(t, "", []string{"DOCKER_HOST=" + dd.Host()}, "load", "-i", p); r.Code != 0 {
		t.Fatalf("load into dockerd: %s", r.Combined())
	}
	// buildx keeps per-endpoint state; dockerd's in a directory of its own.
	dockerdEnv := []string{"DOCKER_HOST=" + dd.Host(), "BUILDX_CONFIG=" + filepath.Join(t.TempDir(), "buildx")}
	for _, tc := range compareCases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeContext(t, tc.files)
			name := imageName(t)
			build := append([]string{"buildx", "build", "--progress=plain", "--network", "none", "--load", "-t", name}, tc.args...)
			build = append(build, dir)
			if r := cliIn(t, "", dockerdEnv, build...); r.Code != 0 {
				t.Fatalf("build on dockerd: %s", lastLines(r.Combined(), 40))
			}
			t.Cleanup(func() { cliIn(t, "", dockerdEnv, "rmi", "-f", name) })
			if r := cliIn(t, "", nil, build...); r.Code != 0 {
				t.Fatalf("build on berthd: %s\n%s", lastLines(r.Combined(), 40), d.LogTail(30))
			}
			berthCfg, berthLayers := builtConfig(t, d.Host(), name)
			dockerdCfg, dockerdLayers := builtConfig(t, dd.Host(), name)
			for _, k := range configKeys {
				if !reflect.DeepEqual(berthCfg[k], dockerdCfg[k]) {
					t.Errorf("Config.%s: berthd %v, dockerd %v", k, berthCfg[k], dockerdCfg[k])
				}
			}
			if berthLayers != dockerdLayers {
				t.Errorf("layers: berthd %d, dockerd %d", berthLayers, dockerdLayers)
			}
			on := func(host string) string {
				r := cliIn(t, "", []string{"DOCKER_HOST=" + host}, "run", "--rm", "--network", "none", "--entrypoint", "sh", name, "-c", tc.script)
				if r.Code != 0 {
					t.Fatalf("run on %s: %s", host, r.Combined())
				}
				return r.Out
			}
			if b, dk := on(d.Host()), on(dd.Host()); b != dk {
				t.Errorf("files: berthd\n%s\ndockerd\n%s", b, dk)
			}
		})
	}
}
