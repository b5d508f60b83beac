// Package pluginpb is retain's plugin protocol: plugin.proto and the Go code
// protoc generates from it (plugin.pb.go, plugin_grpc.pb.go; regenerate with
// gen.sh, gen_test.go checks they are current), plus the go-plugin handshake
// constants every plugin, in any language, must match. It imports only the
// protobuf and gRPC runtimes; plugin authors use it through plugins/sdk.
package pluginpb

// The go-plugin handshake. A plugin refuses to start unless its environment
// holds MagicCookieKey=MagicCookieValue (so running a plugin by hand prints
// a hint instead of hanging), and host and plugin agree on ProtocolVersion
// (go-plugin's VersionedPlugins: a host may serve several versions).
const (
	ProtocolVersion  = 1
	MagicCookieKey   = "RETAIN_PLUGIN"
	MagicCookieValue = "b1d1c0a8-retain-plugin-protocol"
)

// The names of the services in go-plugin's plugin set (the keys of
// VersionedPlugins[ProtocolVersion]).
const (
	ServicePlugin  = "plugin"
	ServiceChannel = "channel"
	ServicePack    = "pack"
)
