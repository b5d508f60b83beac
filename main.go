// Command retain is a self-hosted customer-retention CRM in one binary.
// Run `retain --help` for the commands; everything is wired in core/app.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/retain-crm/retain/core/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args, &app.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ()})
	stop()
	os.Exit(code)
}
