package filters

import "testing"

func TestFromJSONBothForms(t *testing.T) {
	for _, in := range []string{`{"label":{"a=b":true,"c":true},"name":{"x":true}}`, `{"label":["a=b","c"],"name":["x"]}`} {
		a, err := FromJSON(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.Get("label"); len(got) != 2 || got[0] != "a=b" || got[1] != "c" {
			t.Fatalf("%s: label = %v", in, got)
		}
		if !a.ExactMatch("name", "x") || a.ExactMatch("name", "y") || !a.ExactMatch("other", "z") {
			t.Fatalf("%s: ExactMatch wrong", in)
		}
	}
	if _, err := FromJSON(`{"label":`); err == nil {
		t.Fatal("malformed JSON accepted")
	}
	if _, err := FromJSON(`{"label":3}`); err == nil {
		t.Fatal("non-list value accepted")
	}
}

func TestValidateAndMatchers(t *testing.T) {
	a, _ := FromJSON(`{"bogus":["1"]}`)
	if err := a.Validate(map[string]bool{"label": true}); err == nil || err.Error() != "invalid filter 'bogus'" {
		t.Fatalf("Validate = %v", err)
	}
	a = NewArgs([2]string{"label", "a=b"}, [2]string{"label", "c"}, [2]string{"id", "abc"}, [2]string{"name", "^we"})
	if !a.MatchKVList("label", map[string]string{"a": "b", "c": ""}) || a.MatchKVList("label", map[string]string{"a": "x", "c": ""}) || a.MatchKVList("label", map[string]string{"a": "b"}) {
		t.Fatal("MatchKVList wrong")
	}
	if !a.FuzzyMatch("id", "abcdef") || a.FuzzyMatch("id", "xabc") {
		t.Fatal("FuzzyMatch wrong")
	}
	if !a.Match("name", "web") || a.Match("name", "aweb") {
		t.Fatal("Match wrong")
	}
	neg := NewArgs([2]string{"label", "a!=b"})
	if neg.MatchKVList("label", map[string]string{"a": "b"}) || !neg.MatchKVList("label", map[string]string{"a": "c"}) {
		t.Fatal("negated label wrong")
	}
	b := NewArgs([2]string{"dangling", "true"})
	if v, err := b.GetBoolOrDefault("dangling", false); err != nil || !v {
		t.Fatal("GetBoolOrDefault wrong")
	}
	b = NewArgs([2]string{"dangling", "maybe"})
	if _, err := b.GetBoolOrDefault("dangling", false); err == nil {
		t.Fatal("bad bool accepted")
	}
}

// Match reads values as regular expressions, compiled once per Args; an
// invalid one matches nothing, every time; a zero Args matches all.
func TestMatchPatterns(t *testing.T) {
	a := NewArgs([2]string{"name", "^web-[0-9]+$"}, [2]string{"name", "("})
	for i := 0; i < 3; i++ {
		if !a.Match("name", "web-12") || a.Match("name", "db-1") || a.Match("name", "(") {
			t.Fatalf("round %d: wrong matches", i)
		}
	}
	if len(a.patterns.re) != 2 || a.patterns.re["("] != nil {
		t.Errorf("cache %v", a.patterns.re)
	}
	var zero Args
	if !zero.Match("name", "anything") {
		t.Error("zero Args does not match")
	}
}
