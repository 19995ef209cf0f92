// Package container owns the container model: a Container's configuration
// and state as they are kept on disk (DATA_ROOT/containers/<id>/), the state
// machine with dockerd's transition rules and messages, waiting on state
// changes, and the store that indexes containers by ID, ID prefix and name
// (with name reservation and generated adjective_noun names).
//
// It knows nothing of the runtime, images or networks: package daemon
// drives the transitions when the runtime reports them.
package container
