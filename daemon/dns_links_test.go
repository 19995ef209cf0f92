package daemon

import "testing"

func TestParseLink(t *testing.T) {
	for in, want := range map[string][2]string{
		"db":           {"db", "db"},
		"/db":          {"db", "db"},
		"db:cache":     {"db", "cache"},
		"/db:/web/alt": {"db", "alt"},
	} {
		name, alias, err := parseLink(in)
		if err != nil || name != want[0] || alias != want[1] {
			t.Errorf("parseLink(%q) = %q, %q, %v; want %q", in, name, alias, err, want)
		}
	}
	for _, bad := range []string{"", "a:b:c"} {
		if _, _, err := parseLink(bad); err == nil {
			t.Errorf("parseLink(%q) accepted", bad)
		}
	}
}
