// Package plugintest serves a v1 volume plugin over a unix socket for
// tests: volumes are directories under a root the test owns, and every
// call is recorded so a test can check what the engine asked.
package plugintest
