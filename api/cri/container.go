package cri

// ContainerBackend is what the container calls (and exec, attach, logs,
// stats) need from the engine.
type ContainerBackend interface{}
