package router

import (
	"context"
	"net/http"
)

// APIFunc handles one API request. vars holds the path variables. An error
// it returns is written as JSON with the status its class maps to.
type APIFunc func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error

// Route is one method and path.
type Route struct {
	Method  string
	Path    string
	Handler APIFunc
}

// Router is a group of routes for one resource.
type Router interface {
	Routes() []Route
}

// Get, Post, Put, Delete and Head build routes tersely.
func Get(path string, h APIFunc) Route    { return Route{http.MethodGet, path, h} }
func Post(path string, h APIFunc) Route   { return Route{http.MethodPost, path, h} }
func Put(path string, h APIFunc) Route    { return Route{http.MethodPut, path, h} }
func Delete(path string, h APIFunc) Route { return Route{http.MethodDelete, path, h} }
func Head(path string, h APIFunc) Route   { return Route{http.MethodHead, path, h} }
