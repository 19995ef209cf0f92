package jsonstr

import (
	"bytes"
	"encoding/json"
	"testing"
)

var samples = []string{
	"", "plain text", "quote \" backslash \\ slash /",
	"\n\r\t\b\f\x00\x01\x1f\x7f", "<html> & </html>",
	"é 日本 \u2028 \u2029 end", "bad \xff\xfe utf8 \xc3", "\xe6\x97", "tail\xe6",
}

// With NamedBF, Append writes what encoding/json writes, HTML escaped or
// not.
func TestAppendMatchesEncodingJSON(t *testing.T) {
	for _, html := range []bool{false, true} {
		for _, s := range samples {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(html)
			enc.Encode(s)
			want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
			got := append(append([]byte{'"'}, Append(nil, s, Mode{HTML: html, NamedBF: true})...), '"')
			if !bytes.Equal(got, want) {
				t.Errorf("html=%v %q: got %s, want %s", html, s, got, want)
			}
			if b := Append(nil, []byte(s), Mode{HTML: html, NamedBF: true}); !bytes.Equal(b, got[1:len(got)-1]) {
				t.Errorf("[]byte and string differ for %q", s)
			}
		}
	}
}

// Without NamedBF, \b and \f are escaped by number, as dockerd's
// json-file logs have them.
func TestAppendNumberedBF(t *testing.T) {
	if got := string(Append(nil, "a\bb\fc<", Mode{HTML: true})); got != `a\u0008b\u000cc\u003c` {
		t.Errorf("got %s", got)
	}
}
