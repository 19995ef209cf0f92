package config

import (
	"strings"
	"testing"
)

func TestMergeFileReadsDockerdBuilderSection(t *testing.T) {
	// dockerd's documented example, with both filter forms.
	p := writeFile(t, `{"builder":{"gc":{"enabled":true,"defaultKeepStorage":"10GB","policy":[
		{"keepStorage":"10GB","filter":["unused-for=2200h"]},
		{"keepStorage":"50GB","filter":{"unused-for":{"3300h":true}}},
		{"reservedSpace":"100GB","all":true}]},
		"entitlements":{"network-host":false}}}`)
	c := Default()
	if err := MergeFile(c, p, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	gc := c.Builder.GC
	if !gc.GCEnabled() || len(gc.Policy) != 3 {
		t.Fatalf("gc = %+v", gc)
	}
	if d, _ := gc.DefaultSpaces(); d.Reserved != 10<<30 {
		t.Errorf("defaultKeepStorage read as %d", d.Reserved)
	}
	if s, _ := gc.Policy[1].Spaces(); s.Reserved != 50<<30 {
		t.Errorf("keepStorage read as %d", s.Reserved)
	}
	if f := gc.Policy[1].FilterPairs(); len(f) != 1 || f[0] != [2]string{"unused-for", "3300h"} {
		t.Errorf("map filter read as %v", f)
	}
	if f := gc.Policy[0].FilterPairs(); len(f) != 1 || f[0] != [2]string{"unused-for", "2200h"} {
		t.Errorf("list filter read as %v", f)
	}
	if !gc.Policy[2].All {
		t.Error("all lost")
	}
	if e := c.Builder.Entitlements; e.NetworkHost == nil || *e.NetworkHost || e.SecurityInsecure != nil {
		t.Errorf("entitlements = %+v", e)
	}
	// Clone (a JSON round trip) keeps it.
	if cl := c.Clone(); len(cl.Builder.GC.Policy) != 3 || cl.Builder.GC.Policy[1].Filter[0] != "unused-for=3300h" {
		t.Errorf("clone lost the builder section: %+v", cl.Builder)
	}
}

func TestValidateRefusesBadBuilderSizes(t *testing.T) {
	for _, js := range []string{
		`{"builder":{"gc":{"defaultKeepStorage":"lots"}}}`,
		`{"builder":{"gc":{"policy":[{"maxUsedSpace":"1XB"}]}}}`,
	} {
		c := Default()
		if err := MergeFile(c, writeFile(t, js), nil); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "failed to parse builder.gc") {
			t.Errorf("%s: validate = %v", js, err)
		}
	}
	c := Default()
	if err := MergeFile(c, writeFile(t, `{"builder":{"gc":{"enabled":false}}}`), nil); err != nil || c.Builder.GC.GCEnabled() {
		t.Errorf("gc.enabled=false: %v %+v", err, c.Builder.GC)
	}
}
