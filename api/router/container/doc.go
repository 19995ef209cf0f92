// Package container routes the Engine API's container endpoints
// (/containers/...). Handlers parse the request and call the daemon through
// Backend; the container logic is in package daemon and package container.
package container
