// Package plugins is the home of retain's plugin system: the gRPC protocol
// (plugins/proto), the SDK plugin authors import (plugins/sdk), the host that
// launches and supervises plugin subprocesses (plugins/host) and the
// built-in channel and pack plugins (plugins/builtin). See DESIGN.md,
// "Plugins react, the host acts". The subpackages arrive with the plugins
// issue; this file only reserves the tree and says what goes where.
package plugins
