package backend

import "time"

// CRIImage is an image as the CRI ImageService describes it.
type CRIImage struct {
	// ID is the image ID, sha256:….
	ID string
	// RepoTags and RepoDigests are full names (docker.io/library/…),
	// as kubelet compares them.
	RepoTags, RepoDigests []string
	Size                  uint64
	// User is the image config's User (user[:group]), for kubelet's
	// runAsNonRoot checks.
	User string
	// Config is the image config JSON, for ImageStatus's verbose info.
	Config []byte
}

// RegistryAuth is the credentials kubelet passes with a pull.
type RegistryAuth struct {
	Username, Password string
	// Auth is base64(username:password).
	Auth          string
	ServerAddress string
	IdentityToken string
	RegistryToken string
}

// CRIFilesystem is the usage of one filesystem the engine writes to.
type CRIFilesystem struct {
	Mountpoint string
	UsedBytes  uint64
	UsedInodes uint64
	Timestamp  time.Time
}

// CRIFsInfo is ImageFsInfo's answer: where images live and where
// containers' writable layers do.
type CRIFsInfo struct {
	Images, Containers CRIFilesystem
}
