package filters

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Args is a parsed set of filters: name → set of values.
type Args struct {
	fields map[string]map[string]bool
	// patterns caches Match's compiled expressions: a listing matches
	// every container against the same few values.
	patterns *patternCache
}

type patternCache struct {
	mu sync.Mutex
	re map[string]*regexp.Regexp // nil for a value that does not compile
}

// pattern returns v compiled, nil if it is not a valid expression.
func (a Args) pattern(v string) *regexp.Regexp {
	if a.patterns == nil {
		re, _ := regexp.Compile(v)
		return re
	}
	a.patterns.mu.Lock()
	defer a.patterns.mu.Unlock()
	re, ok := a.patterns.re[v]
	if !ok {
		re, _ = regexp.Compile(v)
		a.patterns.re[v] = re
	}
	return re
}

// InvalidFilterError is returned for malformed filters or unknown names. The
// API layer maps it to 400.
type InvalidFilterError struct{ msg string }

func (e *InvalidFilterError) Error() string { return e.msg }

// InvalidParameter marks the error as a client error (see containerd/errdefs).
func (e *InvalidFilterError) InvalidParameter() {}

// NewArgs returns filters from name/value pairs.
func NewArgs(pairs ...[2]string) Args {
	a := Args{fields: map[string]map[string]bool{}, patterns: &patternCache{re: map[string]*regexp.Regexp{}}}
	for _, p := range pairs {
		a.Add(p[0], p[1])
	}
	return a
}

// FromJSON parses the `filters` query value. An empty string means no filters.
func FromJSON(s string) (Args, error) {
	a := NewArgs()
	if s == "" {
		return a, nil
	}
	raw := map[string]json.RawMessage{}
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return a, &InvalidFilterError{msg: "invalid filter: " + err.Error()}
	}
	for name, v := range raw {
		set := map[string]bool{}
		if err := json.Unmarshal(v, &set); err != nil {
			var list []string
			if err2 := json.Unmarshal(v, &list); err2 != nil {
				return a, &InvalidFilterError{msg: fmt.Sprintf("invalid filter: invalid value for '%s'", name)}
			}
			for _, s := range list {
				set[s] = true
			}
		}
		for val, on := range set {
			if on {
				a.Add(name, val)
			}
		}
		if _, ok := a.fields[name]; !ok {
			a.fields[name] = map[string]bool{}
		}
	}
	return a, nil
}

// Add adds a value to a filter name.
func (a Args) Add(name, value string) {
	if a.fields[name] == nil {
		a.fields[name] = map[string]bool{}
	}
	a.fields[name][value] = true
}

// Len is the number of filter names given.
func (a Args) Len() int { return len(a.fields) }

// Contains reports whether the filter name was given.
func (a Args) Contains(name string) bool {
	_, ok := a.fields[name]
	return ok
}

// Keys lists the filter names given, sorted.
func (a Args) Keys() []string {
	keys := make([]string, 0, len(a.fields))
	for k := range a.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Get returns the values of a filter name, sorted.
func (a Args) Get(name string) []string {
	vals := make([]string, 0, len(a.fields[name]))
	for v := range a.fields[name] {
		vals = append(vals, v)
	}
	sort.Strings(vals)
	return vals
}

// Validate rejects filter names not in accepted, with dockerd's message.
func (a Args) Validate(accepted map[string]bool) error {
	for _, k := range a.Keys() {
		if !accepted[k] {
			return &InvalidFilterError{msg: fmt.Sprintf("invalid filter '%s'", k)}
		}
	}
	return nil
}

// ExactMatch is true when the filter is absent or one of its values equals s.
func (a Args) ExactMatch(name, s string) bool {
	vals, ok := a.fields[name]
	if !ok || len(vals) == 0 {
		return true
	}
	return vals[s]
}

// ExactMatchAny is true when the filter is absent or one of its values equals
// one of candidates (for example a name given with or without its leading /).
func (a Args) ExactMatchAny(name string, candidates ...string) bool {
	vals, ok := a.fields[name]
	if !ok || len(vals) == 0 {
		return true
	}
	for _, c := range candidates {
		if vals[c] {
			return true
		}
	}
	return false
}

// FuzzyMatch is true when the filter is absent, or a value equals s or is a
// prefix of it (ID filters take prefixes).
func (a Args) FuzzyMatch(name, s string) bool {
	vals, ok := a.fields[name]
	if !ok || len(vals) == 0 {
		return true
	}
	for v := range vals {
		if strings.HasPrefix(s, v) {
			return true
		}
	}
	return false
}

// Match is true when the filter is absent or a value, read as a regular
// expression, matches s (dockerd's name filter).
func (a Args) Match(name, s string) bool {
	vals, ok := a.fields[name]
	if !ok || len(vals) == 0 {
		return true
	}
	for v := range vals {
		if re := a.pattern(v); re != nil && re.MatchString(s) {
			return true
		}
	}
	return false
}

// MatchKVList is true when the filter is absent or every value ("key" or
// "key=value", "key!=value") holds for the labels given. All values must
// hold, as dockerd's label filters require.
func (a Args) MatchKVList(name string, labels map[string]string) bool {
	vals, ok := a.fields[name]
	if !ok || len(vals) == 0 {
		return true
	}
	for v := range vals {
		if k, want, neg := strings.Cut(v, "!="); neg {
			if got, has := labels[k]; has && got == want {
				return false
			}
			continue
		}
		k, want, hasValue := strings.Cut(v, "=")
		got, has := labels[k]
		if !has || (hasValue && got != want) {
			return false
		}
	}
	return true
}

// GetBoolOrDefault reads a boolean filter such as dangling=true. Values
// other than true/false/1/0 are an error.
func (a Args) GetBoolOrDefault(name string, def bool) (bool, error) {
	vals, ok := a.fields[name]
	if !ok || len(vals) == 0 {
		return def, nil
	}
	if len(vals) > 1 {
		return false, &InvalidFilterError{msg: fmt.Sprintf("invalid filter '%s': only one value is expected", name)}
	}
	for v := range vals {
		switch strings.ToLower(v) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return false, &InvalidFilterError{msg: fmt.Sprintf("invalid filter '%s=%s'", name, v)}
	}
	return def, nil
}
