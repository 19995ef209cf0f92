// Package image tests the local image API end to end: load, save, import,
// tag, rmi, prune, history and inspect through the real docker CLI, loads
// racing each other and a kill -9, and archives exchanged with a real
// dockerd.
package image
