// Package host runs retain's plugins: it finds them (built-ins compiled into
// the binary, started by re-executing it as `retain plugin serve NAME`;
// third-party executables in the plugins folder, each pinned by SHA-256),
// launches each as a subprocess through go-plugin (AutoMTLS, its own process
// group, an allowlisted environment, killed with the host), supervises them
// (health pings, restart with backoff, disable after repeated crashes), serves
// them the Host API limited to their grants, and adapts them to core's ports
// (core.Channels, core.Plugins).
//
// It imports core, core/config, plugins/sdk and plugins/proto; never store,
// search or web (core/app wires the store in through the small interfaces
// below).
package host
