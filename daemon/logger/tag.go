package logger

import (
	"bytes"
	"encoding/json"
	"strings"
	"text/template"
)

// DefaultTag is the tag template when the `tag` option is unset.
const DefaultTag = "{{.ID}}"

// templateFuncs are the functions dockerd's templates offer.
var templateFuncs = template.FuncMap{
	"json": func(v any) string {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v)
		return strings.TrimSpace(b.String())
	},
	"split": strings.Split,
	"join":  strings.Join,
	"title": func(s string) string {
		// strings.Title's rule: each word's first letter up.
		prev := ' '
		return strings.Map(func(r rune) rune {
			up := prev == ' ' || prev == '\t' || prev == '\n'
			prev = r
			if up {
				return []rune(strings.ToUpper(string(r)))[0]
			}
			return r
		}, s)
	},
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"pad": func(s string, prefix, suffix int) string {
		if s == "" {
			return s
		}
		return strings.Repeat(" ", prefix) + s + strings.Repeat(" ", suffix)
	},
	"truncate": func(s string, n int) string {
		if len(s) < n {
			return s
		}
		return s[:n]
	},
}

// Tag expands the `tag` option (a literal or a Go template over Info,
// e.g. "{{.Name}}/{{.ImageName}}"), or DefaultTag when it is unset.
func Tag(info *Info) (string, error) {
	text := info.Config[AttrTag]
	if text == "" {
		text = DefaultTag
	}
	if !strings.Contains(text, "{{") {
		return text, nil
	}
	tmpl, err := template.New("log-tag").Funcs(templateFuncs).Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, info); err != nil {
		return "", err
	}
	return b.String(), nil
}
