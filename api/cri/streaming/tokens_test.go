package streaming

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestGetRefusesWhatKubeletRefuses(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	for name, get := range map[string]func() error{
		"exec without container": func() error {
			_, err := s.GetExec(&runtimeapi.ExecRequest{Cmd: []string{"sh"}, Stdout: true})
			return err
		},
		"exec without cmd": func() error {
			_, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Stdout: true})
			return err
		},
		"exec without streams": func() error {
			_, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}})
			return err
		},
		"exec tty with stderr": func() error {
			_, err := s.GetExec(&runtimeapi.ExecRequest{ContainerId: "c1", Cmd: []string{"sh"}, Stdout: true, Stderr: true, Tty: true})
			return err
		},
		"attach without container": func() error {
			_, err := s.GetAttach(&runtimeapi.AttachRequest{Stdin: true})
			return err
		},
		"attach tty with stderr": func() error {
			_, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c1", Stderr: true, Tty: true})
			return err
		},
		"port-forward without sandbox": func() error {
			_, err := s.GetPortForward(&runtimeapi.PortForwardRequest{Port: []int32{80}})
			return err
		},
		"port-forward port 0": func() error {
			_, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1", Port: []int32{0}})
			return err
		},
		"port-forward port 65536": func() error {
			_, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1", Port: []int32{65536}})
			return err
		},
	} {
		if err := get(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}
	if len(s.tokens.pending) != 0 {
		t.Fatalf("refused requests left %d tokens", len(s.tokens.pending))
	}
}

func TestURLsPointAtTheServer(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	exec := execURL(t, s, allStreams)
	attach, err := s.GetAttach(&runtimeapi.AttachRequest{ContainerId: "c1", Stdin: true})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := s.GetPortForward(&runtimeapi.PortForwardRequest{PodSandboxId: "p1"})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr() + "/"
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || strings.HasSuffix(s.Addr(), ":0") {
		t.Fatalf("listening on %s", s.Addr())
	}
	for kind, u := range map[string]string{"exec": exec, "attach": attach.Url, "portforward": pf.Url} {
		token, ok := strings.CutPrefix(u, base+kind+"/")
		if !ok || len(token) < 10 || strings.Contains(token, "/") {
			t.Errorf("%s URL %s", kind, u)
		}
	}
	if exec == execURL(t, s, allStreams) {
		t.Fatal("two requests got the same URL")
	}
}

// get answers a plain GET of u, as a client that cannot upgrade would.
func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestTokensAreSingleUse(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	u := execURL(t, s, allStreams)
	// The first use is redeemed (and fails the upgrade: no SPDY headers).
	if code := get(t, u); code != http.StatusBadRequest {
		t.Fatalf("first use: %d", code)
	}
	if code := get(t, u); code != http.StatusNotFound {
		t.Fatalf("second use: %d", code)
	}
}

func TestTokensExpireAfterAMinute(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	now := time.Now()
	s.tokens.now = func() time.Time { return now }
	fresh := execURL(t, s, allStreams)
	stale := execURL(t, s, allStreams)
	now = now.Add(59 * time.Second)
	if code := get(t, fresh); code != http.StatusBadRequest {
		t.Fatalf("at 59 s: %d", code)
	}
	now = now.Add(time.Second)
	if code := get(t, stale); code != http.StatusNotFound {
		t.Fatalf("at 60 s: %d", code)
	}
}

func TestTokensServeOnlyTheirKind(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	u := strings.Replace(execURL(t, s, allStreams), "/exec/", "/attach/", 1)
	if code := get(t, u); code != http.StatusNotFound {
		t.Fatalf("exec token at /attach: %d", code)
	}
	if code := get(t, "http://"+s.Addr()+"/exec/nosuchtoken"); code != http.StatusNotFound {
		t.Fatalf("unknown token: %d", code)
	}
}

func TestTokensInFlightAreBounded(t *testing.T) {
	s := newServer(t, Config{}, shout(0))
	now := time.Now()
	s.tokens.now = func() time.Time { return now }
	for range maxInFlight {
		execURL(t, s, allStreams)
	}
	if _, err := s.GetExec(allStreams); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("request %d: %v", maxInFlight+1, err)
	}
	now = now.Add(tokenTTL)
	execURL(t, s, allStreams) // expired ones make room
	if n := len(s.tokens.pending); n != 1 {
		t.Fatalf("%d tokens pending", n)
	}
}

func TestNoRuntimeNoURLs(t *testing.T) {
	s := newServer(t, Config{}, nil)
	if _, err := s.GetExec(allStreams); status.Code(err) != codes.Unimplemented {
		t.Fatalf("GetExec without a runtime: %v", err)
	}
}
