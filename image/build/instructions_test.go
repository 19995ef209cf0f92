package build

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthd/berth/pkg/errdefs"
)

// The tests of the instructions that change only the image config: each
// runs the instruction through dispatch (word expansion, the instruction,
// the commit) against stepBackend, and checks the stage's config and the
// step's history text, which is also its cache key.

const sh = "/bin/sh -c #(nop)  "

func TestEnvReplacesInPlaceAndAppends(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, "ENV HOME=/home/me NEW=1 OTHER='a b'")
	if want := sh + "ENV HOME=/home/me NEW=1 OTHER=a b"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	want := []string{"PATH=/bin", "HOME=/home/me", "NEW=1", "OTHER=a b"}
	if !slices.Equal(st.cfg.Env, want) {
		t.Errorf("Env %q, want %q", st.cfg.Env, want)
	}
}

func TestEnvExpansion(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	mustStep(t, b, st,
		"ENV A=hi",
		// One ENV's words are expanded before any of its keys is set, so
		// B sees the A from before this line (dockerd's rule).
		`ENV A=bye B=$A C=${A}x D=${UNSET:-dflt} E=\$A F=${A:+set}`,
		"ENV ${A}_KEY=$PATH")
	for _, want := range []string{"A=bye", "B=hi", "C=hix", "D=dflt", "E=$A", "F=set", "bye_KEY=/bin"} {
		if !slices.Contains(st.cfg.Env, want) {
			t.Errorf("Env %q lacks %q", st.cfg.Env, want)
		}
	}
	if _, err := step(t, b, st, "ENV G=${UNSET:?unset}"); err == nil || !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Errorf("ENV of an unset ${X:?}: %v, want an invalid-parameter error", err)
	}
}

func TestArgScoping(t *testing.T) {
	bk := newStepBackend()
	img, out, err := buildImage(t, bk, Options{BuildArgs: map[string]*string{"X": strp("override"), "NOPE": strp("1")}}, `
ARG V=1
ARG W=w
FROM base:$V AS one
ARG V
ARG X=x
ENV ONE_V=$V ONE_X=$X ONE_W=$W
FROM base
ENV TWO_V=$V TWO_X=$X
ARG Y=y
RUN true
`)
	if err != nil {
		t.Fatal(err)
	}
	// An ARG before FROM is for FROM lines; inside a stage only an ARG
	// without a default brings its value back.
	if !slices.Contains(bk.gets, "base:1") {
		t.Errorf("FROM base:$V looked up %q, want base:1", bk.gets)
	}
	one := bk.commits[2].Config.Env
	for _, want := range []string{"ONE_V=1", "ONE_X=override", "ONE_W="} {
		if !slices.Contains(one, want) {
			t.Errorf("stage one's Env %q lacks %q", one, want)
		}
	}
	// Args do not cross stages.
	for _, want := range []string{"TWO_V=", "TWO_X="} {
		if !slices.Contains(img.Config.Env, want) {
			t.Errorf("stage two's Env %q lacks %q", img.Config.Env, want)
		}
	}
	// RUN sees the stage's args in its environment; the image does not keep them.
	if len(bk.runs) != 1 || !slices.Contains(bk.runs[0].Env, "Y=y") {
		t.Errorf("RUN's containers %+v, want one with Y=y", bk.runs)
	}
	if slices.ContainsFunc(img.Config.Env, func(e string) bool { return strings.HasPrefix(e, "Y=") }) {
		t.Errorf("the image kept the arg: Env %q", img.Config.Env)
	}
	if created := bk.lastCommit(t).CreatedBy; created != "|1 Y=y /bin/sh -c true" {
		t.Errorf("RUN's history %q, want the arg before the command", created)
	}
	if !strings.Contains(out, "[Warning] One or more build-args [NOPE] were not consumed") {
		t.Errorf("no warning of the unused build-arg in %q", out)
	}
}

func TestLabel(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, `LABEL a=b "c d"=e`, "LABEL a=$PATH")
	if want := sh + "LABEL a=/bin"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	if want := map[string]string{"a": "/bin", "c d": "e"}; !reflect.DeepEqual(st.cfg.Labels, want) {
		t.Errorf("Labels %v, want %v", st.cfg.Labels, want)
	}
}

func TestLabelOptionsOverrideTheDockerfile(t *testing.T) {
	bk := newStepBackend()
	img, _, err := buildImage(t, bk, Options{Labels: map[string]string{"b": "opt", "a": "opt"}}, "FROM base\nLABEL a=file c=file\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"a": "opt", "b": "opt", "c": "file"}; !reflect.DeepEqual(img.Config.Labels, want) {
		t.Errorf("Labels %v, want %v", img.Config.Labels, want)
	}
	if got := bk.lastCommit(t).CreatedBy; got != sh+"LABEL b=opt" {
		t.Errorf("the last option's history %q", got)
	}
}

func TestWorkdirRelativePaths(t *testing.T) {
	bk := newStepBackend()
	b, _ := newStepBuilder(t, bk, Options{}, "")
	st := stepState(t, b)
	lines := []string{"WORKDIR /a", "WORKDIR b", "WORKDIR ../c/", "WORKDIR /x//y/.", "ENV D=data", "WORKDIR $D", "WORKDIR /"}
	want := []string{"/a", "/a/b", "/a/c", "/x/y", "/x/y", "/x/y/data", "/"}
	var got []string
	for _, l := range lines {
		mustStep(t, b, st, l)
		got = append(got, st.cfg.WorkingDir)
	}
	if !slices.Equal(got, want) {
		t.Errorf("after %q WorkingDir is %q, want %q", lines, got, want)
	}
	// WORKDIR makes the directory: its step has a layer, and its history
	// text is one word after the shell (commitFiles).
	mustStep(t, b, st, "WORKDIR /w")
	c := bk.lastCommit(t)
	if c.Fill == nil || c.CreatedBy != "/bin/sh -c #(nop) WORKDIR /w" {
		t.Errorf("WORKDIR committed %q with a fill: %v", c.CreatedBy, c.Fill != nil)
	}
}

func TestUser(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, "ENV U=1000", "USER $U:${U}")
	if st.cfg.User != "1000:1000" || got != sh+"USER 1000:1000" {
		t.Errorf("User %q, history %q", st.cfg.User, got)
	}
}

func TestMaintainerIsTheAuthor(t *testing.T) {
	bk := newStepBackend()
	b, _ := newStepBuilder(t, bk, Options{}, "")
	st := stepState(t, b)
	mustStep(t, b, st, "MAINTAINER me <me@example.org>", "USER 1")
	if got := bk.lastCommit(t).Author; got != "me <me@example.org>" {
		t.Errorf("a later step's author is %q", got)
	}
}

func TestExpose(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, "ENV P=\"9000 9001/SCTP\"", "EXPOSE 80 53/udp 8000-8002 127.0.0.1:81 $P")
	// The parser sorts the words before they are expanded.
	if want := sh + "EXPOSE 9000 9001/SCTP 127.0.0.1:81 53/udp 80 8000-8002"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	var ports []string
	for p := range st.cfg.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	want := []string{"53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp", "81/tcp", "9000/tcp", "9001/sctp"}
	if !slices.Equal(ports, want) {
		t.Errorf("ExposedPorts %q, want %q", ports, want)
	}
	for _, bad := range []string{"EXPOSE 99999", "EXPOSE 80/icmp", "EXPOSE 10-5", "EXPOSE http"} {
		if _, err := step(t, b, st, bad); !errdefs.Is(err, errdefs.InvalidParameter) {
			t.Errorf("%q: %v, want an invalid-parameter error", bad, err)
		}
	}
}

func TestVolume(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, `VOLUME ["/data", "/x"]`, "VOLUME /y")
	if want := sh + "VOLUME [/y]"; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	if len(st.cfg.Volumes) != 3 {
		t.Errorf("Volumes %v, want /data, /x and /y", st.cfg.Volumes)
	}
	// The parser refuses an empty path; one that expands to nothing is
	// refused here.
	if _, err := step(t, b, st, `VOLUME ["/z", "$UNSET"]`); !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Errorf("a volume that expands to nothing: %v, want an invalid-parameter error", err)
	}
}

func TestCmdAndEntrypoint(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	// ENTRYPOINT drops the base's CMD...
	got := mustStep(t, b, st, `ENTRYPOINT ["/e"]`)
	if st.cfg.Cmd != nil || !slices.Equal(st.cfg.Entrypoint, []string{"/e"}) || got != sh+`ENTRYPOINT ["/e"]` {
		t.Errorf("Cmd %q, Entrypoint %q, history %q", st.cfg.Cmd, st.cfg.Entrypoint, got)
	}
	// ...but not one set in this stage.
	got = mustStep(t, b, st, "CMD echo $HOME", "ENTRYPOINT exec /e")
	if want := []string{"/bin/sh", "-c", "echo $HOME"}; !slices.Equal(st.cfg.Cmd, want) {
		t.Errorf("Cmd %q, want %q (the shell expands it, not the builder)", st.cfg.Cmd, want)
	}
	if want := []string{"/bin/sh", "-c", "exec /e"}; !slices.Equal(st.cfg.Entrypoint, want) || got != sh+`ENTRYPOINT ["/bin/sh" "-c" "exec /e"]` {
		t.Errorf("Entrypoint %q, history %q", st.cfg.Entrypoint, got)
	}
}

func TestShell(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, `SHELL ["/bin/bash", "-ec"]`)
	if got != "/bin/bash -ec #(nop)  SHELL [/bin/bash -ec]" {
		t.Errorf("SHELL's own history %q is not in its new shell (dockerd's order)", got)
	}
	// Later shell forms and history entries use the new shell.
	got = mustStep(t, b, st, "CMD echo hi")
	if want := []string{"/bin/bash", "-ec", "echo hi"}; !slices.Equal(st.cfg.Cmd, want) {
		t.Errorf("Cmd %q, want %q", st.cfg.Cmd, want)
	}
	if want := `/bin/bash -ec #(nop)  CMD ["/bin/bash" "-ec" "echo hi"]`; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
}

func TestHealthcheckFlags(t *testing.T) {
	b, out := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	got := mustStep(t, b, st, "HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --retries=4 CMD curl -f localhost")
	h := st.cfg.Healthcheck
	if h == nil || !slices.Equal(h.Test, []string{"CMD-SHELL", "curl -f localhost"}) ||
		h.Interval != 5*time.Second || h.Timeout != 3*time.Second || h.StartPeriod != time.Minute || h.Retries != 4 {
		t.Fatalf("Healthcheck %+v", h)
	}
	if want := sh + `HEALTHCHECK &{["CMD-SHELL" "curl -f localhost"] "5s" "3s" "1m0s" '\x04'}`; got != want {
		t.Errorf("history %q, want %q", got, want)
	}
	if out.Len() != 0 {
		t.Errorf("the first HEALTHCHECK printed %q", out.String())
	}
	mustStep(t, b, st, "HEALTHCHECK NONE")
	if !strings.Contains(out.String(), `Note: overriding previous HEALTHCHECK: [CMD-SHELL curl -f localhost]`) {
		t.Errorf("replacing a check printed %q", out.String())
	}
	if !slices.Equal(st.cfg.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("HEALTHCHECK NONE left %+v", st.cfg.Healthcheck)
	}
	out.Reset()
	mustStep(t, b, st, `HEALTHCHECK CMD ["/ok"]`)
	if out.Len() != 0 {
		t.Errorf("replacing NONE printed %q", out.String())
	}
}

func TestStopSignal(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	for _, sig := range []string{"SIGKILL", "9", "SIGRTMIN+3"} {
		got := mustStep(t, b, st, "STOPSIGNAL "+sig)
		if st.cfg.StopSignal != sig || got != sh+"STOPSIGNAL "+sig {
			t.Errorf("StopSignal %q, history %q", st.cfg.StopSignal, got)
		}
	}
	if _, err := step(t, b, st, "STOPSIGNAL SIGBOGUS"); !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Errorf("an unknown signal: %v, want an invalid-parameter error", err)
	}
	if st.cfg.StopSignal != "SIGRTMIN+3" {
		t.Errorf("a refused signal changed StopSignal to %q", st.cfg.StopSignal)
	}
}

func TestOnbuildRecordsTheTrigger(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := stepState(t, b)
	// A trigger is kept unexpanded: it is expanded in the build that runs it.
	got := mustStep(t, b, st, "ONBUILD RUN echo $HOME", "ONBUILD ENV X=1")
	if want := []string{"RUN echo $HOME", "ENV X=1"}; !slices.Equal(st.cfg.OnBuild, want) {
		t.Errorf("OnBuild %q, want %q", st.cfg.OnBuild, want)
	}
	if got != sh+"ONBUILD ENV X=1" {
		t.Errorf("history %q", got)
	}
}

func TestOnbuildTriggersRunOnce(t *testing.T) {
	bk := newStepBackend()
	parent, _, err := buildImage(t, bk, Options{}, "FROM base\nONBUILD ENV T=$HOME\nONBUILD LABEL l=v\n")
	if err != nil {
		t.Fatal(err)
	}
	bk.images["parent"] = parent
	img, out, err := buildImage(t, bk, Options{}, "FROM parent\nUSER 1\n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "# Executing 2 build triggers\n") {
		t.Errorf("output %q", out)
	}
	if !slices.Contains(img.Config.Env, "T=/root") || img.Config.Labels["l"] != "v" {
		t.Errorf("the triggers did not run: Env %q, Labels %v", img.Config.Env, img.Config.Labels)
	}
	if img.Config.OnBuild != nil {
		t.Errorf("the child kept its parent's triggers %q", img.Config.OnBuild)
	}
	bk.images["bad"] = &Image{ID: fuzzID("bad"), Config: parent.Config}
	bk.images["bad"].Config.OnBuild = []string{"ENV A=1\nENV B=2"}
	if _, _, err := buildImage(t, bk, Options{}, "FROM bad\n"); err == nil || !strings.Contains(err.Error(), "onbuild trigger should be a single expression") {
		t.Errorf("a trigger of two instructions: %v", err)
	}
}

func TestStepsNeedFrom(t *testing.T) {
	b, _ := newStepBuilder(t, newStepBackend(), Options{}, "")
	st := &state{args: b.args.forStage(), shlex: stepState(t, b).shlex}
	if _, err := step(t, b, st, "ENV A=1"); !errdefs.Is(err, errdefs.InvalidParameter) {
		t.Errorf("a step before FROM: %v, want an invalid-parameter error", err)
	}
}
