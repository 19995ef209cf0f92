// Package jsonstr writes strings as JSON string bodies with the escaping
// of encoding/json, for the hand-written encoders on berth's hot paths
// (json-file log lines, the container list), whose output must be the
// bytes encoding/json (or dockerd) would write. Mode covers the two
// variants they need: HTML characters escaped or not, and \b and \f by
// name (encoding/json since Go 1.22) or as \u0008 and \u000c (dockerd's
// json-file logs).
package jsonstr
