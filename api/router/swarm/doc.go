// Package swarm routes the Engine API's swarm-mode endpoints (/swarm,
// /nodes, /services, /tasks, /secrets, /configs). berth never joins a swarm,
// so each answers what dockerd answers on a node outside one: clients such
// as docker-py test for those 503s (leave_swarm in every tear-down).
package swarm
