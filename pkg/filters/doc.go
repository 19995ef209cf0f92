// Package filters parses and evaluates the `filters` query parameter of the
// Engine API: a JSON object from filter name to values, in either the current
// form {"label":{"a=b":true}} or the legacy form {"label":["a=b"]}.
package filters
