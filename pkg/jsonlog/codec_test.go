package jsonlog

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCodecAppendMatchesEncodingJSONAndRoundTrips(t *testing.T) {
	ts := time.Date(2026, 11, 25, 10, 0, 0, 123456789, time.UTC)
	lines := []string{"hello\n", "", "tab\there \"quoted\" back\\slash <html> & co\n", "ctrl \x01\x1f\r\n", "utf8 ünïcödé 🚢\n", "bad \xff byte\n", "sep \u2028 x"}
	for _, l := range lines {
		e := &Entry{Log: []byte(l), Stream: "stderr", Time: ts}
		got := Append(nil, e)
		var std struct {
			Log    string `json:"log"`
			Stream string `json:"stream"`
			Time   string `json:"time"`
		}
		if err := json.Unmarshal(got, &std); err != nil {
			t.Fatalf("%q: not JSON: %s", l, got)
		}
		want, _ := json.Marshal(l)
		if !strings.Contains(string(got), `"log":`+string(want)+`,`) {
			t.Errorf("escaping differs from encoding/json:\n got %s\nwant %s", got, want)
		}
		var back Entry
		if err := Parse(got, &back, true); err != nil {
			t.Fatal(err)
		}
		if string(back.Log) != std.Log || back.Stream != "stderr" || !back.Time.Equal(ts) {
			t.Errorf("round trip %q → %q %s %v", l, back.Log, back.Stream, back.Time)
		}
	}
}

func TestCodecParseAttrsAndMalformed(t *testing.T) {
	e := &Entry{Log: []byte("x\n"), Stream: "stdout", Time: time.Unix(1, 0), Attrs: map[string]string{"b": "2", "a": "1"}}
	line := Append(nil, e)
	if !strings.Contains(string(line), `"attrs":{"a":"1","b":"2"}`) {
		t.Fatalf("attrs: %s", line)
	}
	var back Entry
	if err := Parse(line, &back, true); err != nil || back.Attrs["a"] != "1" || string(back.Log) != "x\n" {
		t.Fatalf("attrs parse: %+v %v", back, err)
	}
	if err := Parse([]byte("not json"), &back, false); err == nil {
		t.Fatal("garbage parsed")
	}
}

func BenchmarkParse(b *testing.B) {
	line := Append(nil, &Entry{Log: []byte("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ\n"), Stream: "stdout", Time: time.Now()})
	var e Entry
	b.SetBytes(int64(len(line)))
	for i := 0; i < b.N; i++ {
		Parse(line, &e, false)
	}
}
