// Package procstat reads what identifies a process over time from
// /proc/PID/stat: its start time, which tells a process from a later one
// that was given the same PID. The runtime records it with each container's
// init; the integration harness with each test process whose daemon roots
// it may have to sweep.
package procstat
