// Package atomicfile writes files so that a reader, or a daemon restarted
// after a crash at any instant, sees either the old content or the new one,
// never a torn mix: write a temporary file beside the target, fsync it,
// rename it over the target, then fsync the directory so the rename itself
// is durable.
package atomicfile
