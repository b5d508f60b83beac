// Command echo is the built-in echo plugin built as its own executable, as
// a third-party plugin would be; the host's tests pin and run it.
package main

import (
	"github.com/retain-crm/retain/plugins/builtin/echo"
	"github.com/retain-crm/retain/plugins/sdk"
)

func main() { sdk.Serve(echo.New()) }
