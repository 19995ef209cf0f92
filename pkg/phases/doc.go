// Package phases times the steps of one operation — a container start,
// an exec — so that a slow one says where its milliseconds went. A trace
// is made only when asked for (the daemon's debug mode); every method is a
// no-op on a nil *Trace, so the code it measures carries the marks at no
// cost otherwise.
package phases
