package jsonstr

import "unicode/utf8"

// Mode says how Append escapes.
type Mode struct {
	// HTML escapes <, > and & as \u003c, \u003e and \u0026, as
	// encoding/json does by default and dockerd's json-file logs do.
	HTML bool
	// NamedBF writes backspace and form feed as \b and \f, as
	// encoding/json does since Go 1.22; otherwise as \u0008 and \u000c.
	NamedBF bool
}

const hexDigits = "0123456789abcdef"

// plain and html mark the ASCII bytes that go out as they are.
var plain, html = func() (p, h [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		p[c] = c != '"' && c != '\\'
		h[c] = p[c] && c != '<' && c != '>' && c != '&'
	}
	return p, h
}()

// Append appends s to dst as the body of a JSON string (without the
// quotes): control characters, quotes and backslashes escaped (and HTML
// characters if m.HTML), invalid UTF-8 as \ufffd, and U+2028 and U+2029
// escaped, as encoding/json does.
func Append[T string | []byte](dst []byte, s T, m Mode) []byte {
	safe := &plain
	if m.HTML {
		safe = &html
	}
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if safe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch {
			case c == '\\' || c == '"':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c == '\b' && m.NamedBF:
				dst = append(dst, '\\', 'b')
			case c == '\f' && m.NamedBF:
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		n := min(len(s)-i, utf8.UTFMax)
		r, size := utf8.DecodeRuneInString(string(s[i : i+n]))
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
