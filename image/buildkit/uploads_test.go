package buildkit

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUploadedContextIsServedOnce(t *testing.T) {
	var u uploads
	url, remove := u.add(io.NopCloser(strings.NewReader("tar bytes")))
	defer remove()
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		return u.RoundTrip(req)
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); string(b) != "tar bytes" || resp.StatusCode != http.StatusOK {
		t.Errorf("served %d %q", resp.StatusCode, b)
	}
	if _, err := get(); err == nil {
		t.Error("an uploaded context was served twice")
	}
	req, _ := http.NewRequest(http.MethodPut, "http://"+uploadHostPrefix+"x", nil)
	if _, err := u.RoundTrip(req); err == nil {
		t.Error("a PUT to an upload host went through")
	}
}

func TestUploadMeetsItsBuild(t *testing.T) {
	b := &Builder{}
	uploaded := make(chan error, 1)
	go func() { uploaded <- b.Upload(context.Background(), "b1", strings.NewReader("ctx")) }()
	up, err := b.builds.waitUpload(context.Background(), "b1")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(up.body); string(got) != "ctx" {
		t.Errorf("build read %q", got)
	}
	select {
	case <-uploaded:
		t.Fatal("the upload request ended before its build was done with the body")
	case <-time.After(50 * time.Millisecond):
	}
	close(up.read)
	if err := <-uploaded; err != nil {
		t.Fatal(err)
	}
}
