// Package core is the domain of retain: customers, their interactions, users and
// API tokens, import jobs, and the services that validate and apply changes to them.
//
// It also declares the ports (interfaces) that the storage (store/), search
// (search/) and plugin (plugins/host) packages implement. core imports the
// standard library only; arch_test.go enforces that, and that no package below
// core/ reaches past the ports into store, search or plugins.
package core
