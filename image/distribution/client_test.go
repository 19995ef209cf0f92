package distribution

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
)

// fakeRegistry serves one blob for download (failing the first GET with
// 503 and cutting the second half way) and accepts uploads in chunks.
type fakeRegistry struct {
	blob []byte

	mu       sync.Mutex
	gets     int
	ranges   []string
	uploaded bytes.Buffer
	patches  int
	final    string
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/"):
		f.gets++
		f.ranges = append(f.ranges, r.Header.Get("Range"))
		switch f.gets {
		case 1:
			http.Error(w, "busy", http.StatusServiceUnavailable)
		case 2:
			w.Header().Set("Content-Length", strconv.Itoa(len(f.blob)))
			w.Write(f.blob[:len(f.blob)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		default:
			var start int
			if rg := r.Header.Get("Range"); rg != "" {
				fmt.Sscanf(rg, "bytes=%d-", &start)
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(f.blob)-1, len(f.blob)))
				w.WriteHeader(http.StatusPartialContent)
			}
			w.Write(f.blob[start:])
		}
	case r.Method == http.MethodPost:
		w.Header().Set("Location", "/v2/x/blobs/uploads/1")
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPatch:
		var start, end int
		if _, err := fmt.Sscanf(r.Header.Get("Content-Range"), "%d-%d", &start, &end); err != nil || start != f.uploaded.Len() {
			http.Error(w, "bad range", http.StatusRequestedRangeNotSatisfiable)
			return
		}
		n, _ := io.Copy(&f.uploaded, r.Body)
		if int(n) != end-start+1 {
			http.Error(w, "short chunk", http.StatusBadRequest)
			return
		}
		f.patches++
		w.Header().Set("Location", fmt.Sprintf("/v2/x/blobs/uploads/1?part=%d", f.patches))
		w.WriteHeader(http.StatusAccepted)
	case r.Method == http.MethodPut:
		f.final = r.URL.Query().Get("digest")
		if digest.FromBytes(f.uploaded.Bytes()).String() != f.final {
			http.Error(w, "digest", http.StatusBadRequest)
			return
		}
		w.Header().Set("Docker-Content-Digest", f.final)
		w.WriteHeader(http.StatusCreated)
	default:
		http.NotFound(w, r)
	}
}

func testRepo(t *testing.T, h http.Handler) *repository {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return &repository{ep: &endpoint{host: u.Host, base: u, client: srv.Client()}, name: "x", userAgent: "test"}
}

func TestBlobRetriesAndResumes(t *testing.T) {
	blob := make([]byte, 1<<20)
	rand.Read(blob)
	f := &fakeRegistry{blob: blob}
	r := testRepo(t, f)
	d := digest.FromBytes(blob)
	rc, _, err := r.openBlob(context.Background(), d, int64(len(blob)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, blob) {
		t.Fatal("resumed blob differs")
	}
	if f.gets != 3 || !strings.HasPrefix(f.ranges[2], "bytes=") {
		t.Fatalf("gets %d, ranges %q: want a 503, a cut, then a Range request", f.gets, f.ranges)
	}
}

func TestChunkedUpload(t *testing.T) {
	f := &fakeRegistry{}
	r := testRepo(t, f)
	data := make([]byte, 3500)
	rand.Read(data)
	loc, err := r.startUpload(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dg := digest.SHA256.Digester()
	src := io.TeeReader(bytes.NewReader(data), dg.Hash())
	if err := r.uploadStream(context.Background(), loc, src, 1000, dg.Digest); err != nil {
		t.Fatal(err)
	}
	if f.patches != 4 || !bytes.Equal(f.uploaded.Bytes(), data) || f.final != digest.FromBytes(data).String() {
		t.Fatalf("patches %d, %d bytes, digest %s", f.patches, f.uploaded.Len(), f.final)
	}
}

// TestBlobRedirect: registries hand blobs off to storage elsewhere.
func TestBlobRedirect(t *testing.T) {
	blob := []byte("layer bytes served by the storage backend")
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(blob) }))
	defer storage.Close()
	r := testRepo(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, storage.URL+"/signed?x=1", http.StatusTemporaryRedirect)
	}))
	got, err := r.getBlobBytes(context.Background(), digest.FromBytes(blob))
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := r.getBlobBytes(context.Background(), digest.FromString("other")); err == nil {
		t.Fatal("blob with the wrong digest accepted")
	}
}
