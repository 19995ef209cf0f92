// Package backend holds the request and response shapes that routers in
// api/ and the daemon share where the official types module has none (for
// example the API 1.50 shape of GET /system/df), the parsed form of requests
// (build, network inspect, events) and the API version constants that
// GET /version reports. It imports only the types module and pkg/, so both
// sides can depend on it without depending on each other.
package backend
