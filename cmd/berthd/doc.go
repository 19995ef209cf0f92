// Command berthd is the berth container engine daemon, a drop-in
// replacement for dockerd. This package owns the command line (cobra flags
// with dockerd's names), loading daemon.json on top of it, signals
// (SIGHUP reloads, SIGTERM/SIGINT shut down gracefully), sd_notify and the
// pidfile; the engine itself is package daemon.
package main
