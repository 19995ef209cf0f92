// Package distribution owns pull, push, login and manifest inspection
// against registries that speak the OCI distribution spec (the Docker
// Registry HTTP API v2). It has its own small registry client rather than
// a general-purpose library, because berth's progress stream, shared
// downloads and streaming extraction need to sit inside the transfer
// loop:
//
//   - endpoints.go: which URLs serve a registry: the mirrors of its
//     hosts.toml (package hosts, containerd's format) in order and as
//     their capabilities allow, registry-mirrors for docker.io, then the
//     server, https then plain http for insecure registries;
//   - tls.go: the TLS settings from the certs.d directory (HOST:PORT/*.crt,
//     client *.cert/*.key) and hosts.toml's ca, client and skip_verify;
//   - client.go: one repository on one endpoint: the /v2/ ping, basic and
//     bearer auth (registryauth does the token exchange), retries with
//     back-off on 5xx and dropped connections, resumable blob reads,
//     monolithic and chunked uploads, cross-repository mounts;
//   - manifest.go: docker schema 2 and OCI manifests, manifest lists and
//     OCI indexes, platform selection;
//   - pull.go / transfer.go: a pull resolves the manifest, then downloads
//     the layers it does not have in parallel (at most
//     max-concurrent-downloads at once, daemon-wide), extracting each one
//     while it downloads. A layer is keyed by its chain ID, so two pulls
//     that need the same layer at the same time share one download. Every
//     blob is verified against its digest and every layer against its
//     diff ID before it is committed; a mismatch commits nothing;
//   - push.go: layers are compressed from the layer store while they
//     upload (at most max-concurrent-uploads at once); what was pushed or
//     pulled before is remembered per diff ID (metadata.go) so that a
//     re-push says "Layer already exists" and a push to another repository
//     of the same registry mounts the blob instead of uploading it.
//
// On disk, under DATA_ROOT/image/distribution: one JSON file per diff ID
// listing the compressed blobs known for it and where they live.
package distribution
