package jsonlog

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/berthd/berth/pkg/jsonstr"
)

// Entry is one log line.
type Entry struct {
	Log    []byte
	Stream string // "stdout" or "stderr"
	Time   time.Time
	Attrs  map[string]string
}

// appendString appends s as a JSON string body (without quotes), escaping
// as dockerd's json-file logs do (HTML characters included, \b and \f by
// number), so files read the same by any JSON tool.
func appendString(dst, s []byte) []byte { return jsonstr.Append(dst, s, jsonstr.Mode{HTML: true}) }

// Append appends e as one json-file line, newline included, with the field
// order dockerd writes: log, stream, attrs, time.
func Append(dst []byte, e *Entry) []byte {
	dst = append(dst, `{"log":"`...)
	dst = appendString(dst, e.Log)
	dst = append(dst, `","stream":"`...)
	dst = append(dst, e.Stream...)
	dst = append(dst, '"')
	if len(e.Attrs) > 0 {
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		dst = append(dst, `,"attrs":{`...)
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = appendString(dst, []byte(k))
			dst = append(dst, `":"`...)
			dst = appendString(dst, []byte(e.Attrs[k]))
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"time":"`...)
	dst = e.Time.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, "\"}\n"...)
}

// ErrMalformed is returned for a line that is not a json-file entry.
var ErrMalformed = errors.New("malformed json-file log line")

// Parse decodes one line (with or without its newline) into e. e.Log may
// alias a scratch buffer that the next Parse with the same e reuses; copy
// it to keep it. wantTime=false skips parsing the timestamp, which is most
// of the cost when the caller does not need it.
func Parse(line []byte, e *Entry, wantTime bool) error {
	line = bytes.TrimRight(line, "\n")
	rest, ok := bytes.CutPrefix(line, []byte(`{"log":"`))
	if !ok {
		return parseSlow(line, e)
	}
	end, escaped := scanString(rest)
	if end < 0 {
		return parseSlow(line, e)
	}
	raw := rest[:end]
	if escaped {
		var err error
		e.Log, err = unescape(e.Log[:0], raw)
		if err != nil {
			return parseSlow(line, e)
		}
	} else {
		e.Log = append(e.Log[:0], raw...)
	}
	rest = rest[end+1:]
	rest, ok = bytes.CutPrefix(rest, []byte(`,"stream":"`))
	if !ok {
		return parseSlow(line, e)
	}
	send := bytes.IndexByte(rest, '"')
	if send < 0 {
		return parseSlow(line, e)
	}
	switch string(rest[:send]) {
	case "stdout":
		e.Stream = "stdout"
	case "stderr":
		e.Stream = "stderr"
	default:
		e.Stream = string(rest[:send])
	}
	rest = rest[send+1:]
	e.Attrs = nil
	if bytes.HasPrefix(rest, []byte(`,"attrs":`)) {
		return parseSlow(line, e)
	}
	ts, ok := bytes.CutPrefix(rest, []byte(`,"time":"`))
	if !ok || !bytes.HasSuffix(ts, []byte(`"}`)) {
		return parseSlow(line, e)
	}
	ts = ts[:len(ts)-2]
	if wantTime {
		t, err := time.Parse(time.RFC3339Nano, string(ts))
		if err != nil {
			return parseSlow(line, e)
		}
		e.Time = t
	} else {
		e.Time = time.Time{}
	}
	return nil
}

// scanString finds the closing quote of a JSON string body and whether it
// contains escapes.
func scanString(b []byte) (int, bool) {
	escaped := false
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			escaped = true
			i++
		case '"':
			return i, escaped
		}
	}
	return -1, escaped
}

func unescape(dst, s []byte) ([]byte, error) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(s) {
			return nil, ErrMalformed
		}
		switch s[i] {
		case '"', '\\', '/':
			dst = append(dst, s[i])
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'u':
			if i+4 >= len(s) {
				return nil, ErrMalformed
			}
			v, err := strconv.ParseUint(string(s[i+1:i+5]), 16, 32)
			if err != nil {
				return nil, ErrMalformed
			}
			r := rune(v)
			i += 4
			if r >= 0xd800 && r < 0xdc00 && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if lo, err := strconv.ParseUint(string(s[i+3:i+7]), 16, 32); err == nil && lo >= 0xdc00 && lo < 0xe000 {
					r = (r-0xd800)<<10 + (rune(lo) - 0xdc00) + 0x10000
					i += 6
				}
			}
			dst = utf8.AppendRune(dst, r)
		default:
			return nil, ErrMalformed
		}
	}
	return dst, nil
}

func parseSlow(line []byte, e *Entry) error {
	var v struct {
		Log    string            `json:"log"`
		Stream string            `json:"stream"`
		Attrs  map[string]string `json:"attrs"`
		Time   time.Time         `json:"time"`
	}
	if err := json.Unmarshal(line, &v); err != nil {
		return ErrMalformed
	}
	e.Log = append(e.Log[:0], v.Log...)
	e.Stream = v.Stream
	e.Attrs = v.Attrs
	e.Time = v.Time
	return nil
}
