// Package timestamp parses the time values of the Engine API's since/until
// parameters ("seconds" or "seconds.nanoseconds" since the epoch, which the
// docker CLI sends after converting durations and RFC 3339 dates) and does
// that conversion for callers that take human input.
package timestamp
