// Package layerprogress owns how a pull or push that berth's own
// distribution code runs for a build (FROM of an image that is not local,
// --push) shows in the build's progress: one line per layer, as BuildKit's
// own puller and pusher show theirs.
package layerprogress
