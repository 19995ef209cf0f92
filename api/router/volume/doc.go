// Package volume routes the Engine API's volume endpoints: GET /volumes,
// POST /volumes/create, GET, PUT and DELETE /volumes/{name} and
// POST /volumes/prune.
package volume
