// Package image routes the Engine API's local image endpoints: list,
// inspect, history, tag, delete, prune, load, save (get) and import
// (create?fromSrc=). Pull and push belong to the registry router.
package image
