package filters

import (
	"errors"
	"testing"
)

// FuzzFromJSON feeds the `filters` query value, in both the current map
// form and the legacy list form, to the parser and then to every matcher:
// no panic, and a bad value is an InvalidFilterError (a 400).
func FuzzFromJSON(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `"x"`,
		`{"label":{"a=b":true,"c":true},"name":{"x":true}}`,
		`{"label":["a=b","c"],"name":["x"]}`,
		`{"dangling":{"true":true}}`, `{"dangling":["false"]}`, `{"dangling":{"maybe":true}}`,
		`{"name":{"^we(b":true}}`, `{"name":{"[[:alpha:]]+$":true}}`, `{"name":{"(a*)*b":true}}`,
		`{"label":{"a=b":false}}`, `{"label":null}`, `{"label":3}`, `{"label":{"a":"yes"}}`,
		`{"until":["10m"],"label!":["x=y"]}`, `{"id":["abc"],"id":["def"]}`,
		`{"label":`, `{"a":{"":true}}`, "{\"\xff\":[\"\xfe\"]}",
	} {
		f.Add(s, "label", "name", "web", "a=b")
	}
	f.Fuzz(func(t *testing.T, s, key, name, cand, kv string) {
		a, err := FromJSON(s)
		if err != nil {
			var ife *InvalidFilterError
			if !errors.As(err, &ife) {
				t.Fatalf("FromJSON(%q) error %T is not an InvalidFilterError: %v", s, err, err)
			}
			return
		}
		_ = a.Len()
		for _, k := range append(a.Keys(), key) {
			a.Get(k)
			a.Contains(k)
			a.ExactMatch(k, cand)
			a.ExactMatchAny(k, cand, name)
			a.FuzzyMatch(k, cand)
			a.Match(k, cand)
			a.MatchKVList(k, map[string]string{kv: cand, name: ""})
			if _, err := a.GetBoolOrDefault(k, true); err != nil {
				var ife *InvalidFilterError
				if !errors.As(err, &ife) {
					t.Fatalf("GetBoolOrDefault error %T: %v", err, err)
				}
			}
		}
		if err := a.Validate(map[string]bool{"label": true, key: true}); err != nil {
			var ife *InvalidFilterError
			if !errors.As(err, &ife) {
				t.Fatalf("Validate error %T: %v", err, err)
			}
		}
	})
}
