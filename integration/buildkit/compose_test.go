package buildkit

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// composeProject writes a compose project of two services built from two
// Dockerfiles (one with a build arg and a target) and returns its
// directory and the images compose names.
func composeProject(t *testing.T, project string) (string, []string) {
	t.Helper()
	web, worker := project+"-web:latest", project+"-worker:latest"
	dir := writeContext(t, map[string]string{
		"compose.yaml": fmt.Sprintf(`services:
  web:
    build:
      context: ./web
      args:
        GREETING: hello-compose
    image: %s
    command: ["sh", "-c", "cat /greeting; sleep 300"]
  worker:
    build:
      context: ./worker
      target: final
    image: %s
    command: ["sh", "-c", "cat /stage; sleep 300"]
`, web, worker),
		"web/Dockerfile":    "FROM busybox\nARG GREETING\nRUN echo \"$GREETING\" > /greeting\n",
		"worker/Dockerfile": "FROM busybox AS base\nRUN echo base > /stage\nFROM base AS final\nRUN echo final >> /stage\nFROM base AS unused\nRUN false\n",
	})
	t.Cleanup(func() {
		cliIn(t, dir, nil, "compose", "-p", project, "down", "--remove-orphans", "-t", "0")
		cli(t, "rmi", "-f", web, worker)
	})
	return dir, []string{web, worker}
}

// TestComposeBuild: `docker compose build` builds every service through
// BuildKit (buildx bake or buildx build: progress is BuildKit's), with
// build args and targets, into images named as the file says.
func TestComposeBuild(t *testing.T) {
	setup(t)
	project := "bkcli-build"
	dir, images := composeProject(t, project)
	r := cliIn(t, dir, nil, "compose", "-p", project, "--progress", "plain", "build")
	if r.Code != 0 {
		t.Fatalf("compose build: exit %d\n%s\n%s", r.Code, lastLines(r.Combined(), 60), d.LogTail(30))
	}
	if strings.Contains(r.Combined(), "Step 1/") {
		t.Fatalf("compose used the classic builder:\n%s", r.Combined())
	}
	expectRun(t, images[0], "cat /greeting", "hello-compose")
	expectRun(t, images[1], "cat /stage", "base\nfinal")
}

// TestComposeUpBuild: `docker compose up --build -d` builds and starts the
// services; their logs show what the build wrote; a changed Dockerfile
// is rebuilt by the next `up --build`.
func TestComposeUpBuild(t *testing.T) {
	setup(t)
	project := "bkcli-up"
	dir, _ := composeProject(t, project)
	r := cliIn(t, dir, nil, "compose", "-p", project, "--progress", "plain", "up", "--build", "-d")
	if r.Code != 0 {
		t.Fatalf("compose up --build: exit %d\n%s\n%s", r.Code, lastLines(r.Combined(), 60), d.LogTail(30))
	}
	waitLogs := func(want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			logs := cliIn(t, dir, nil, "compose", "-p", project, "logs", "--no-color", "web")
			if strings.Contains(logs.Combined(), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("web logs never showed %q:\n%s", want, logs.Combined())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitLogs("hello-compose")
	ps := cliIn(t, dir, nil, "compose", "-p", project, "ps", "--format", "{{.Service}} {{.State}}")
	expectContains(t, "compose ps", ps.Out, "web running", "worker running")

	writeFiles(t, dir, map[string]string{"web/Dockerfile": "FROM busybox\nARG GREETING\nRUN echo \"$GREETING again\" > /greeting\n"})
	r = cliIn(t, dir, nil, "compose", "-p", project, "--progress", "plain", "up", "--build", "-d")
	if r.Code != 0 {
		t.Fatalf("second compose up --build: %s", lastLines(r.Combined(), 40))
	}
	waitLogs("hello-compose again")
}
