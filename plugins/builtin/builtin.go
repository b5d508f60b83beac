// Package builtin is the registry of the plugins compiled into the retain
// binary. The host starts each one by re-executing the binary as
// `retain plugin serve NAME`, which calls Serve. Each plugin lives in its
// own subpackage and imports only plugins/sdk.
package builtin

import (
	"fmt"
	"sort"

	"github.com/retain-crm/retain/plugins/builtin/echo"
	"github.com/retain-crm/retain/plugins/builtin/email"
	"github.com/retain-crm/retain/plugins/builtin/sms"
	"github.com/retain-crm/retain/plugins/builtin/webhook"
	"github.com/retain-crm/retain/plugins/sdk"
)

// registry maps a built-in's name to its constructor.
var registry = map[string]func() sdk.Plugin{
	"echo":    echo.New,
	"email":   email.New,
	"sms":     sms.New,
	"webhook": webhook.New,
}

// Names lists the built-in plugins.
func Names() []string {
	out := make([]string, 0, len(registry))
	for n := range registry {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Has reports whether name is a built-in plugin.
func Has(name string) bool { _, ok := registry[name]; return ok }

// Serve runs built-in name as a plugin process (it returns only on error).
func Serve(name string) error {
	newPlugin, ok := registry[name]
	if !ok {
		return fmt.Errorf("no built-in plugin %q (built-ins: %v)", name, Names())
	}
	sdk.Serve(newPlugin())
	return nil
}
