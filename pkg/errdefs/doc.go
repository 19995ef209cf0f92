// Package errdefs classifies errors without changing their messages.
//
// Managers wrap an error with NotFound, InvalidParameter, Conflict, … and
// the API layer maps the class to an HTTP status in one place. The wrappers
// implement the marker methods that github.com/containerd/errdefs (and
// moby) recognise, so errdefs.IsNotFound and errhttp.ToHTTP see through
// them and through fmt.Errorf("…: %w") chains.
package errdefs
