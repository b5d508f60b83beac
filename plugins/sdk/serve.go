package sdk

import (
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/retain-crm/retain/plugins/proto"
)

// Serve runs impl as a plugin until the host stops it. It serves Channel
// when impl implements Channel and Pack when it implements Pack. Call it
// from main; it does not return normally. Started by hand (without the
// host's handshake), it prints a hint and exits with status 1.
func Serve(impl Plugin) {
	if os.Getenv(pb.MagicCookieKey) != pb.MagicCookieValue {
		fmt.Fprintln(os.Stderr, "This is a retain plugin. The CRM starts it; it is not meant to be run by hand.")
		os.Exit(1)
	}
	go exitWithParent(os.Getppid())
	plugin.Serve(ServeConfig(impl))
}

// exitWithParent ends the plugin when the host is gone (its parent changes
// to init or a subreaper), even if the host died without killing it.
func exitWithParent(ppid int) {
	for {
		time.Sleep(time.Second)
		if os.Getppid() != ppid {
			os.Exit(0)
		}
	}
}

// ServeConfig is the go-plugin configuration Serve uses; tests and hosts
// that embed plugins may adjust it.
func ServeConfig(impl Plugin) *plugin.ServeConfig {
	set := plugin.PluginSet{pb.ServicePlugin: &PluginGRPC{Impl: impl}}
	if ch, ok := impl.(Channel); ok {
		set[pb.ServiceChannel] = &ChannelGRPC{Impl: ch}
	}
	if p, ok := impl.(Pack); ok {
		set[pb.ServicePack] = &PackGRPC{Impl: p}
	}
	return &plugin.ServeConfig{
		HandshakeConfig:  Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{pb.ProtocolVersion: set},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, GRPCServerOptions()...)...)
		},
		// JSON lines on stderr: the host parses them into its log.
		Logger: hclog.New(&hclog.LoggerOptions{Output: os.Stderr, JSONFormat: true, Level: hclog.Info}),
	}
}
