package gelf

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The chunked-datagram framing: a datagram holds at most chunkSize bytes,
// a message at most maxChunks datagrams (Graylog drops the rest).
const (
	chunkSize      = 1420
	chunkHeaderLen = 12
	chunkDataLen   = chunkSize - chunkHeaderLen
	maxChunks      = 128
)

var chunkMagic = []byte{0x1e, 0x0f}

// compression is how a udp message is compressed.
type compression int

const (
	compressGzip compression = iota
	compressZlib
	compressNone
)

// appendMessage appends the GELF JSON of one line: the standard fields,
// then extra (already JSON, "{...}", or empty).
func appendMessage(dst []byte, host string, line []byte, t time.Time, level int, extra []byte) []byte {
	dst = append(dst, `{"version":"1.1","host":`...)
	dst = appendJSON(dst, host)
	dst = append(dst, `,"short_message":`...)
	dst = appendJSON(dst, string(line))
	// Milliseconds, as dockerd rounds them.
	dst = append(dst, `,"timestamp":`...)
	dst = strconv.AppendFloat(dst, float64(t.UnixMilli())/1000, 'f', -1, 64)
	dst = append(dst, `,"level":`...)
	dst = strconv.AppendInt(dst, int64(level), 10)
	if len(extra) > 2 {
		dst = append(dst, ',')
		dst = append(dst, extra[1:len(extra)-1]...)
	}
	return append(dst, '}')
}

func appendJSON(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// compress compresses msg for udp.
func compress(msg []byte, c compression, level int) ([]byte, error) {
	var b bytes.Buffer
	var w interface {
		Write([]byte) (int, error)
		Close() error
	}
	var err error
	switch c {
	case compressNone:
		return msg, nil
	case compressZlib:
		w, err = zlib.NewWriterLevel(&b, level)
	default:
		w, err = gzip.NewWriterLevel(&b, level)
	}
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(msg); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// chunks splits a (compressed) message into the datagrams that carry it:
// itself when it fits in one, else GELF chunks under one random ID.
func chunks(msg []byte) ([][]byte, error) {
	if len(msg) <= chunkSize {
		return [][]byte{msg}, nil
	}
	n := int(math.Ceil(float64(len(msg)) / chunkDataLen))
	if n > maxChunks {
		return nil, fmt.Errorf("msg too large, would need %d chunks", n)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	out := make([][]byte, 0, n)
	for i := 0; i < n; i++ {
		data := msg[i*chunkDataLen : min((i+1)*chunkDataLen, len(msg))]
		c := make([]byte, 0, chunkHeaderLen+len(data))
		c = append(c, chunkMagic...)
		c = append(c, id...)
		c = append(c, byte(i), byte(n))
		out = append(out, append(c, data...))
	}
	return out, nil
}

// defaultLevel is the compression level when gelf-compression-level is
// unset: fast, as dockerd's.
const defaultLevel = flate.BestSpeed
