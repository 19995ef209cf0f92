package config

import (
	"reflect"
	"testing"
)

// The CDI directories in effect follow dockerd's rules: defaults when none
// are configured, none when "cdi" is switched off or "" is the only one.
func TestCDISpecDirsInUse(t *testing.T) {
	off, on := map[string]bool{"cdi": false}, map[string]bool{"cdi": true}
	for _, tc := range []struct {
		name     string
		features map[string]bool
		dirs     []string
		want     []string
	}{
		{"defaults", nil, nil, DefaultCDISpecDirs},
		{"enabled, defaults", on, nil, DefaultCDISpecDirs},
		{"given", on, []string{"/foo/bar", "/baz/qux"}, []string{"/foo/bar", "/baz/qux"}},
		{"empty string", on, []string{""}, []string{}},
		{"empty list", on, []string{}, []string{}},
		{"disabled", off, nil, []string{}},
		{"disabled, given", off, []string{"/foo/bar"}, []string{}},
	} {
		c := &Config{Features: tc.features, CDISpecDirs: tc.dirs}
		if got := c.CDISpecDirsInUse(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, got, tc.want)
		}
		// Clone must not turn an empty list into an absent one.
		if got := c.Clone().CDISpecDirsInUse(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s after Clone: got %#v, want %#v", tc.name, got, tc.want)
		}
	}
}

func TestMergeFileFeaturesAndCDISpecDirs(t *testing.T) {
	c := Default()
	p := writeFile(t, `{"features":{"cdi":true},"cdi-spec-dirs":[]}`)
	if err := MergeFile(c, p, nil); err != nil {
		t.Fatal(err)
	}
	if !c.CDIEnabled() || c.CDISpecDirs == nil || len(c.CDISpecDirs) != 0 {
		t.Fatalf("features %v, cdi-spec-dirs %#v", c.Features, c.CDISpecDirs)
	}
}
