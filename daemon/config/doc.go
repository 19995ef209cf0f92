// Package config is the daemon's configuration: the Config struct whose
// JSON keys are dockerd's daemon.json keys, its defaults, loading the file
// on top of the command-line flags (a key given both ways is an error, an
// unknown key is an error, as in dockerd), validation, and the subset that
// SIGHUP reloads.
package config
