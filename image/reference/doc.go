// Package reference owns the reference store: the names (`name:tag` and
// `name@digest`) that point at image IDs, normalised the way docker does
// (`busybox` is `docker.io/library/busybox:latest`), kept in one JSON file
// that is rewritten atomically on every change.
//
// It also holds the parsing rules every image endpoint shares: Parse turns
// user input into a reference or an image ID with dockerd's error words
// (`invalid reference format`).
package reference
