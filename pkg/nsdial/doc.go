// Package nsdial opens connections from inside another network namespace
// (a pod's), the way CRI port forwarding reaches a port that listens only
// on the pod's loopback.
//
// A socket belongs for life to the namespace it was created in, so only
// the socket(2) call runs inside the target namespace, on a thread locked
// for it and moved back at once; the connect and every read and write
// after happen on ordinary goroutines. A thread that cannot be moved back
// is never handed back to the Go scheduler: its goroutine ends locked, and
// the runtime ends the thread with it.
package nsdial
