// Command logplugin is a managed log driver plugin for berth's plugin
// tests: for each container it reads the entries the engine streams into
// the FIFO StartLogging names, decodes them (a big-endian uint32 length,
// then a LogEntry protobuf) and appends "stream|line|partial" lines to
// /out/<container ID>.log, which the test reads from the plugin's root.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
)

type entry struct {
	source  string
	timeNs  int64
	line    []byte
	partial bool
}

// decode reads the fields of a LogEntry this test needs.
func decode(b []byte) (entry, error) {
	var e entry
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return e, fmt.Errorf("bad key")
		}
		b = b[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return e, fmt.Errorf("bad varint")
			}
			b = b[n:]
			switch field {
			case 2:
				e.timeNs = int64(v)
			case 4:
				e.partial = v != 0
			}
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || int(l) > len(b)-n {
				return e, fmt.Errorf("bad length")
			}
			v := b[n : n+int(l)]
			b = b[n+int(l):]
			switch field {
			case 1:
				e.source = string(v)
			case 3:
				e.line = v
			}
		default:
			return e, fmt.Errorf("wire type %d", wire)
		}
	}
	return e, nil
}

func consume(file, id string) {
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer f.Close()
	os.MkdirAll("/out", 0o755)
	out, err := os.OpenFile(filepath.Join("/out", id+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer out.Close()
	r := bufio.NewReader(f)
	var lenBuf [4]byte
	for {
		if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint32(lenBuf[:]))
		if _, err := io.ReadFull(r, msg); err != nil {
			return
		}
		e, err := decode(msg)
		if err != nil || e.timeNs == 0 {
			fmt.Fprintf(out, "BAD|%v|%d\n", err, e.timeNs)
			continue
		}
		fmt.Fprintf(out, "%s|%s|%v\n", e.source, e.line, e.partial)
	}
}

func main() {
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/vnd.docker.plugins.v1.2+json")
		json.NewEncoder(w).Encode(v)
	}
	http.HandleFunc("/LogDriver.StartLogging", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			File string
			Info struct{ ContainerID, ContainerName string }
		}
		json.NewDecoder(r.Body).Decode(&req)
		if req.Info.ContainerID == "" {
			reply(w, map[string]string{"Err": "no container ID in Info"})
			return
		}
		go consume(req.File, req.Info.ContainerID)
		reply(w, map[string]string{"Err": ""})
	})
	http.HandleFunc("/LogDriver.StopLogging", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{"Err": ""})
	})
	http.HandleFunc("/LogDriver.Capabilities", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]any{"Cap": map[string]bool{"ReadLogs": false}})
	})
	os.MkdirAll("/run/docker/plugins", 0o755)
	l, err := net.Listen("unix", "/run/docker/plugins/log.sock")
	if err != nil {
		panic(err)
	}
	http.Serve(l, nil)
}
