package container

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/berthd/berth/api/server/servertest"
	"github.com/berthd/berth/daemon/backend"
	"github.com/berthd/berth/pkg/errdefs"
)

// tableBackend has one container, "c1", and records the last call. What
// the table does not reach stays nil in the embedded Backend.
type tableBackend struct {
	Backend
	call    string
	ref     string
	signal  string
	timeout *int
	list    backend.ContainerListOptions
	rm      backend.ContainerRmConfig
	create  backend.ContainerCreateConfig
	logs    backend.ContainerLogsOptions
	h, w    int
}

func (b *tableBackend) find(call, ref string) error {
	b.call, b.ref = call, ref
	if ref != "c1" {
		return errdefs.NotFoundf("No such container: %s", ref)
	}
	return nil
}

func (b *tableBackend) ContainerCreate(_ context.Context, p backend.ContainerCreateConfig) (container.CreateResponse, error) {
	b.call, b.create = "create", p
	if p.Name == "c1" {
		return container.CreateResponse{}, errdefs.Conflictf(`Conflict. The container name "/c1" is already in use`)
	}
	return container.CreateResponse{ID: "c2", Warnings: []string{}}, nil
}

func (b *tableBackend) ContainerInspect(_ context.Context, ref string, _ bool) (*container.InspectResponse, error) {
	if err := b.find("inspect", ref); err != nil {
		return nil, err
	}
	return &container.InspectResponse{ID: "c1", Name: "/c1", State: &container.State{Status: container.StateRunning}}, nil
}

func (b *tableBackend) Containers(_ context.Context, opts backend.ContainerListOptions) ([]*container.Summary, error) {
	b.call, b.list = "list", opts
	return []*container.Summary{{ID: "c1", Names: []string{"/c1"}}}, nil
}

func (b *tableBackend) ContainerRm(_ context.Context, ref string, cfg backend.ContainerRmConfig) error {
	b.rm = cfg
	if err := b.find("rm", ref); err != nil {
		return err
	}
	if !cfg.ForceRemove {
		return errdefs.Conflictf("cannot remove container %q: container is running: stop the container before removing or force remove", ref)
	}
	return nil
}

func (b *tableBackend) ContainerRename(ref, name string) error {
	if err := b.find("rename", ref); err != nil {
		return err
	}
	if name == "" {
		return errdefs.InvalidParameterf("Neither old nor new names may be empty")
	}
	return nil
}

func (b *tableBackend) ContainerWait(_ context.Context, ref string, cond container.WaitCondition, ready func()) (container.WaitResponse, error) {
	if err := b.find("wait "+string(cond), ref); err != nil {
		return container.WaitResponse{}, err
	}
	ready()
	return container.WaitResponse{StatusCode: 3}, nil
}

func (b *tableBackend) ContainersPrune(context.Context, string) (*container.PruneReport, error) {
	return &container.PruneReport{ContainersDeleted: []string{"old"}}, nil
}

func (b *tableBackend) ContainerLogs(_ context.Context, ref string, o backend.ContainerLogsOptions, begin func(bool) io.Writer) error {
	b.logs = o
	if err := b.find("logs", ref); err != nil {
		return err
	}
	_, err := begin(true).Write([]byte("hello\n"))
	return err
}

func (b *tableBackend) ContainerStart(_ context.Context, ref string) error {
	return b.find("start", ref)
}

func (b *tableBackend) ContainerStop(_ context.Context, ref, signal string, timeout *int) error {
	b.signal, b.timeout = signal, timeout
	return b.find("stop", ref)
}

func (b *tableBackend) ContainerRestart(_ context.Context, ref, signal string, timeout *int) error {
	b.signal, b.timeout = signal, timeout
	return b.find("restart", ref)
}

func (b *tableBackend) ContainerKill(_ context.Context, ref, signal string) error {
	b.signal = signal
	if err := b.find("kill", ref); err != nil {
		return err
	}
	if signal == "SIGNOPE" {
		return errdefs.InvalidParameterf("Invalid signal: %s", signal)
	}
	return nil
}

func (b *tableBackend) ContainerPause(_ context.Context, ref string) error {
	if err := b.find("pause", ref); err != nil {
		return err
	}
	return errdefs.Conflictf("container %s is already paused", ref)
}

func (b *tableBackend) ContainerResize(_ context.Context, ref string, h, w int) error {
	b.h, b.w = h, w
	return b.find("resize", ref)
}

func (b *tableBackend) ContainerExecCreate(_ context.Context, ref string, cfg container.ExecCreateRequest) (string, error) {
	if err := b.find("exec", ref); err != nil {
		return "", err
	}
	return "e1", nil
}

func (b *tableBackend) ContainerExecInspect(id string) (*container.ExecInspectResponse, error) {
	if id != "e1" {
		return nil, errdefs.NotFoundf("No such exec instance: %s", id)
	}
	return &container.ExecInspectResponse{ID: "e1", ContainerID: "c1"}, nil
}

func (b *tableBackend) ContainerTop(_ context.Context, ref, psArgs string) (*container.TopResponse, error) {
	b.signal = psArgs
	if err := b.find("top", ref); err != nil {
		return nil, err
	}
	return &container.TopResponse{Titles: []string{"PID"}, Processes: [][]string{{"1"}}}, nil
}

func TestContainerRoutes(t *testing.T) {
	b := &tableBackend{}
	called := func(call string) func(*testing.T, *httptest.ResponseRecorder) {
		return func(t *testing.T, _ *httptest.ResponseRecorder) {
			if b.call != call {
				t.Errorf("backend call %q, want %q", b.call, call)
			}
		}
	}
	servertest.Run(t, servertest.Handler(New(b)), func() { *b = tableBackend{} }, []servertest.Case{
		{Name: "list", Path: "/containers/json", Query: `all=1&limit=5&size=true&filters={"status":["running"]}`, Status: http.StatusOK, Contains: []string{`"Id":"c1"`},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if o := b.list; !o.All || o.Limit != 5 || !o.Size || o.Filters != `{"status":["running"]}` {
					t.Errorf("list options %+v", o)
				}
			}},
		{Name: "list: bad limit", Path: "/containers/json", Query: "limit=x", Status: http.StatusBadRequest},
		{Name: "inspect", Path: "/containers/c1/json", Status: http.StatusOK, Contains: []string{`"Name":"/c1"`}},
		{Name: "inspect missing", Path: "/containers/nope/json", Status: http.StatusNotFound, Contains: []string{"No such container: nope"}},
		{Name: "create", Method: "POST", Path: "/containers/create", Query: "name=web&platform=linux/amd64", Body: `{"Image":"busybox","HostConfig":{"PidsLimit":-1}}`, Status: http.StatusCreated,
			Contains: []string{`"Id":"c2"`},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				c := b.create
				if c.Name != "web" || c.Platform != "linux/amd64" || c.Config == nil || c.Config.Image != "busybox" || c.HostConfig == nil || c.HostConfig.PidsLimit != nil {
					t.Errorf("create config %+v", c)
				}
			}},
		{Name: "create: platform ignored before 1.41", Version: "1.40", Method: "POST", Path: "/containers/create", Query: "platform=linux/amd64", Body: `{"Image":"busybox"}`,
			Status: http.StatusCreated, Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.create.Platform != "" {
					t.Errorf("platform %q", b.create.Platform)
				}
			}},
		{Name: "create: no body", Method: "POST", Path: "/containers/create", Status: http.StatusBadRequest, Contains: []string{"invalid JSON: EOF"}, Check: called("")},
		{Name: "create: bad platform", Method: "POST", Path: "/containers/create", Query: "platform=linux/*", Body: `{"Image":"busybox"}`, Status: http.StatusBadRequest, Check: called("")},
		{Name: "create: name in use", Method: "POST", Path: "/containers/create", Query: "name=c1", Body: `{"Image":"busybox"}`, Status: http.StatusConflict},
		{Name: "start", Method: "POST", Path: "/containers/c1/start", Status: http.StatusNoContent, Check: called("start")},
		{Name: "start missing", Method: "POST", Path: "/containers/nope/start", Status: http.StatusNotFound},
		{Name: "start with a HostConfig body", Method: "POST", Path: "/containers/c1/start", Body: `{"Binds":["/a:/b"]}`, Status: http.StatusBadRequest,
			Contains: []string{"removed in v1.24"}, Check: called("")},
		{Name: "start from a checkpoint", Method: "POST", Path: "/containers/c1/start", Query: "checkpoint=cp1", Status: http.StatusNotImplemented, Check: called("")},
		{Name: "stop with t and signal", Method: "POST", Path: "/containers/c1/stop", Query: "t=3&signal=SIGINT", Status: http.StatusNoContent,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.call != "stop" || b.signal != "SIGINT" || b.timeout == nil || *b.timeout != 3 {
					t.Errorf("stop(%q, %v)", b.signal, b.timeout)
				}
			}},
		{Name: "stop: bad t", Method: "POST", Path: "/containers/c1/stop", Query: "t=soon", Status: http.StatusBadRequest, Contains: []string{"invalid value for t: soon"}, Check: called("")},
		{Name: "restart without t", Method: "POST", Path: "/containers/c1/restart", Status: http.StatusNoContent,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.call != "restart" || b.timeout != nil {
					t.Errorf("restart timeout %v", b.timeout)
				}
			}},
		{Name: "kill", Method: "POST", Path: "/containers/c1/kill", Query: "signal=HUP", Status: http.StatusNoContent},
		{Name: "kill: bad signal", Method: "POST", Path: "/containers/c1/kill", Query: "signal=SIGNOPE", Status: http.StatusBadRequest, Contains: []string{"Invalid signal: SIGNOPE"}},
		{Name: "pause twice", Method: "POST", Path: "/containers/c1/pause", Status: http.StatusConflict},
		{Name: "resize", Method: "POST", Path: "/containers/c1/resize", Query: "h=40&w=120", Status: http.StatusOK,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.h != 40 || b.w != 120 {
					t.Errorf("resize %dx%d", b.h, b.w)
				}
			}},
		{Name: "resize: bad height", Method: "POST", Path: "/containers/c1/resize", Query: "h=tall&w=1", Status: http.StatusBadRequest, Check: called("")},
		{Name: "rename", Method: "POST", Path: "/containers/c1/rename", Query: "name=web", Status: http.StatusNoContent},
		{Name: "rename to nothing", Method: "POST", Path: "/containers/c1/rename", Status: http.StatusBadRequest},
		{Name: "wait", Method: "POST", Path: "/containers/c1/wait", Query: "condition=next-exit", Status: http.StatusOK, Contains: []string{`"StatusCode":3`}, Check: called("wait next-exit")},
		{Name: "wait missing", Method: "POST", Path: "/containers/nope/wait", Status: http.StatusNotFound},
		{Name: "remove running", Method: "DELETE", Path: "/containers/c1", Status: http.StatusConflict},
		{Name: "remove forced", Method: "DELETE", Path: "/containers/c1", Query: "force=1&v=1&link=0", Status: http.StatusNoContent,
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.rm != (backend.ContainerRmConfig{ForceRemove: true, RemoveVolume: true}) {
					t.Errorf("rm config %+v", b.rm)
				}
			}},
		{Name: "prune", Method: "POST", Path: "/containers/prune", Status: http.StatusOK, Contains: []string{`"ContainersDeleted":["old"]`}},
		{Name: "logs", Path: "/containers/c1/logs", Query: "stdout=1&tail=10&timestamps=1", Status: http.StatusOK, Contains: []string{"hello"},
			Check: func(t *testing.T, rec *httptest.ResponseRecorder) {
				if o := b.logs; !o.ShowStdout || o.ShowStderr || o.Tail != "10" || !o.Timestamps {
					t.Errorf("logs options %+v", o)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/vnd.docker.raw-stream" {
					t.Errorf("content type %q", ct)
				}
			}},
		{Name: "logs missing is JSON", Path: "/containers/nope/logs", Query: "stdout=1", Status: http.StatusNotFound, Contains: []string{`"message":"No such container: nope"`}},
		{Name: "top", Path: "/containers/c1/top", Query: "ps_args=aux", Status: http.StatusOK, Contains: []string{`"Titles":["PID"]`},
			Check: func(t *testing.T, _ *httptest.ResponseRecorder) {
				if b.signal != "aux" {
					t.Errorf("ps_args %q", b.signal)
				}
			}},
		{Name: "exec create", Method: "POST", Path: "/containers/c1/exec", Body: `{"Cmd":["true"]}`, Status: http.StatusCreated, Contains: []string{`"Id":"e1"`}},
		{Name: "exec create missing", Method: "POST", Path: "/containers/nope/exec", Body: `{"Cmd":["true"]}`, Status: http.StatusNotFound},
		{Name: "exec create: not JSON", Method: "POST", Path: "/containers/c1/exec", Body: `{"Cmd":`, Status: http.StatusBadRequest, Check: called("")},
		{Name: "exec inspect", Path: "/exec/e1/json", Status: http.StatusOK, Contains: []string{`"ContainerID":"c1"`}},
		{Name: "exec inspect missing", Path: "/exec/e9/json", Status: http.StatusNotFound, Contains: []string{"No such exec instance: e9"}},
		{Name: "exec resize: bad width", Method: "POST", Path: "/exec/e1/resize", Query: "h=1&w=-1", Status: http.StatusBadRequest},
	})
}
