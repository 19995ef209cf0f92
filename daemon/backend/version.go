package backend

// DefaultAPIVersion is the newest Engine API version berth serves: the one
// of the github.com/moby/moby/api types module it encodes with, as dockerd
// serves the version of its own. Requests without a version prefix get it.
// It lives here, not in api/, because GET /version reports it from the
// daemon and the daemon may not import api/.
const DefaultAPIVersion = "1.56"

// MinAPIVersion is the oldest version a client may ask for.
const MinAPIVersion = "1.24"
