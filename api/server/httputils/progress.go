package httputils

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/moby/moby/api/types/jsonstream"
)

// ProgressWriter writes a JSON message stream whose status line is sent
// with the first message: an error before any progress (an unknown
// manifest, refused credentials) is then a plain HTTP error, which the
// CLI prints as "Error response from daemon: …", as dockerd does.
type ProgressWriter struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	mu      sync.Mutex
	started bool
}

func NewProgressWriter(w http.ResponseWriter) *ProgressWriter {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &ProgressWriter{w: w, enc: enc}
}

func (p *ProgressWriter) Write(m jsonstream.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.start()
	if err := p.enc.Encode(m); err != nil {
		return err
	}
	Flush(p.w)
	return nil
}

func (p *ProgressWriter) start() {
	if !p.started {
		p.started = true
		p.w.Header().Set("Content-Type", "application/json")
		p.w.WriteHeader(http.StatusOK)
	}
}

// Finish ends the stream: err goes in it when the stream has begun, and
// is returned for the router to send as an HTTP error when it has not.
func (p *ProgressWriter) Finish(err error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil {
		p.start()
		return nil
	}
	if !p.started {
		return err
	}
	// Both fields: current CLIs read errorDetail, old ones read error.
	_ = p.enc.Encode(struct {
		ErrorDetail *jsonstream.Error `json:"errorDetail"`
		Error       string            `json:"error"`
	}{&jsonstream.Error{Message: err.Error()}, err.Error()})
	Flush(p.w)
	return nil
}
