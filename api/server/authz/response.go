package authz

import (
	"bufio"
	"encoding/json"
	"encoding/pem"
	"net"
	"net/http"
)

// maxHeld is how much of a response is held for the plugins; past it the
// response is sent as it comes.
const maxHeld = 64 << 10

// heldResponse holds a handler's status, headers and body until the
// plugins have seen them, unless the handler streams (Flush), hijacks the
// connection, or writes more than maxHeld.
type heldResponse struct {
	w      http.ResponseWriter
	header http.Header
	status int
	body   []byte
	// sent is set once the status and headers went to w; from then on
	// writes go straight through.
	sent bool
}

func newHeldResponse(w http.ResponseWriter) *heldResponse {
	return &heldResponse{w: w, header: http.Header{}}
}

func (h *heldResponse) Header() http.Header {
	if h.sent {
		return h.w.Header()
	}
	return h.header
}

func (h *heldResponse) WriteHeader(code int) {
	if h.sent {
		h.w.WriteHeader(code)
		return
	}
	if h.status == 0 {
		h.status = code
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	if h.sent {
		return h.w.Write(b)
	}
	if len(h.body)+len(b) > maxHeld {
		h.send()
		return h.w.Write(b)
	}
	h.body = append(h.body, b...)
	return len(b), nil
}

func (h *heldResponse) statusCode() int {
	if h.status == 0 {
		return http.StatusOK
	}
	return h.status
}

// send writes what is held to the client.
func (h *heldResponse) send() {
	if h.sent {
		return
	}
	h.sent = true
	dst := h.w.Header()
	for k, v := range h.header {
		dst[k] = v
	}
	h.w.WriteHeader(h.statusCode())
	if len(h.body) > 0 {
		h.w.Write(h.body)
		h.body = nil
	}
}

// Flush sends what is held and flushes: the handler streams.
func (h *heldResponse) Flush() {
	h.send()
	if f, ok := h.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack hands the connection to the handler (attach, exec): the headers
// set so far go with it, and nothing more is held.
func (h *heldResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	dst := h.w.Header()
	for k, v := range h.header {
		dst[k] = v
	}
	h.sent = true
	return http.NewResponseController(h.w).Hijack()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (h *heldResponse) Unwrap() http.ResponseWriter { return h.w }

// peerCert is a client certificate, shown to plugins as PEM in a JSON
// string, as dockerd shows it.
type peerCert []byte

func (c peerCert) MarshalJSON() ([]byte, error) {
	return json.Marshal(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c}))
}

func (c *peerCert) UnmarshalJSON(b []byte) error {
	var raw []byte
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	if blk, _ := pem.Decode(raw); blk != nil {
		*c = blk.Bytes
	}
	return nil
}
