package cri

// SandboxBackend is what the pod sandbox calls need from the engine.
type SandboxBackend interface{}
