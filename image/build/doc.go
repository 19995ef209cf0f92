// Package build is the classic Dockerfile builder behind POST /build: what
// `docker build` uses when BuildKit is off (DOCKER_BUILDKIT=0, or a CLI
// without the buildx plugin).
//
// It owns the build context (a tar, plain or compressed, or a remote: a git
// repository, a tarball or a Dockerfile fetched by URL) and its
// .dockerignore filtering, the parsing of the Dockerfile (with the
// Dockerfile syntax's own parser, instruction and shell-lexer packages from
// BuildKit's dockerfile frontend), the step executor that turns each
// instruction into an image, the JSON progress stream the CLI prints
// ("Step 1/5 : …", " ---> Running in …", " ---> <id>") and the build cache
// that reuses a step's image when its parent, its instruction and the
// content it copies are the same.
//
// It does not import the daemon. Running a RUN step's container and
// registering the images it makes go through the small Backend interface,
// which daemon/build.go implements on top of the container and image code;
// the images it produces are configured exactly as dockerd's classic
// builder configures them (the same Config, history entries and
// empty_layer marks), so a Dockerfile built by either gives the same
// `docker inspect` Config.
package build
